package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"signet/config"
	"signet/signingcore/pki"
	"signet/trust"
)

const caUsage = `usage: signet ca <init|status> [--data DIR] [--base-url URL]

  init     create the platform CA hierarchy (root, issuing CA, TSA) in the data
           folder, or open it unchanged if it exists; prints its status
  status   print the CA hierarchy

The keys live in a software key store in <data>/keys, encrypted under
<data>/master.key (created 0600 by init), the certificates and revocations in
<data>/pki. --data defaults to SIGNET_DATA_DIR, then ./data; --base-url (the
server's public URL, written into certificates) to SIGNET_BASE_URL.
`

// caFlags are the flags shared by the ca and pdf commands.
type caFlags struct {
	dataDir string
	baseURL string
}

// register adds --data and --base-url to fs with their environment and
// config defaults.
func (f *caFlags) register(fs *flag.FlagSet, getenv func(string) string) {
	def := config.Default()
	env := func(name, fallback string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return fallback
	}
	fs.StringVar(&f.dataDir, "data", env("SIGNET_DATA_DIR", def.DataDir), "data folder (SIGNET_DATA_DIR)")
	fs.StringVar(&f.baseURL, "base-url", env("SIGNET_BASE_URL", def.BaseURL), "public URL of the server (SIGNET_BASE_URL)")
}

// openCA opens the platform CA in the data folder (package trust). With
// create, a missing master key is created and the hierarchy made; without
// it, a missing one is trust.ErrNoCA.
func openCA(ctx context.Context, f caFlags, create bool) (*trust.Services, pki.Status, error) {
	return trust.Open(ctx, trust.Config{DataDir: f.dataDir, BaseURL: f.baseURL, Create: create})
}

// runCA runs `signet ca init` and `signet ca status`.
func runCA(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, caUsage)
		return errors.New("ca: missing subcommand")
	}
	sub := args[0]
	if sub == "-h" || sub == "--help" || sub == "help" {
		fmt.Fprint(stdout, caUsage)
		return nil
	}
	if sub != "init" && sub != "status" {
		fmt.Fprint(stderr, caUsage)
		return fmt.Errorf("ca: unknown subcommand %q", sub)
	}
	fs := flag.NewFlagSet("signet ca "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f caFlags
	f.register(fs, getenv)
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("ca %s: unexpected arguments %v", sub, fs.Args())
	}
	p, st, err := openCA(ctx, f, sub == "init")
	if err != nil {
		return err
	}
	defer p.Close()
	if sub == "init" {
		fmt.Fprintf(stdout, "platform CA ready in %s\n", f.dataDir)
	}
	fmt.Fprint(stdout, st.String())
	return nil
}
