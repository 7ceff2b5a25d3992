package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"signet/config"
	"signet/errs"
	"signet/signingcore/keystore"
	"signet/signingcore/pki"
)

// The platform CA's layout in the data folder.
const (
	caKeysDir   = "keys"       // the software key store
	caMasterKey = "master.key" // its master key (0600)
	caRepoDir   = "pki"        // the pki.FileRepository
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

// platformCA is an opened platform CA with the key store it must close.
type platformCA struct {
	ca   *pki.CA
	keys *keystore.SoftStore
}

// Close releases the key store.
func (p *platformCA) Close() error { return p.keys.Close() }

// errNoCA says that the data folder holds no CA yet.
var errNoCA = errors.New("no platform CA in the data folder: run `signet ca init` first")

// openCA opens the CA in the data folder. With create, a missing master key
// is created and the hierarchy made (Init); without it, a missing master
// key or hierarchy is errNoCA.
func openCA(ctx context.Context, f caFlags, create bool) (*platformCA, pki.Status, error) {
	if f.dataDir == "" {
		return nil, pki.Status{}, errors.New("--data: the data folder must not be empty")
	}
	master := filepath.Join(f.dataDir, caMasterKey)
	if !create {
		if _, err := os.Stat(master); errors.Is(err, os.ErrNotExist) {
			return nil, pki.Status{}, fmt.Errorf("%w (%s is missing)", errNoCA, master)
		}
	} else if err := os.MkdirAll(f.dataDir, 0o700); err != nil {
		return nil, pki.Status{}, fmt.Errorf("ca: data folder: %w", err)
	}
	keys, err := keystore.OpenSoft(keystore.SoftConfig{Dir: filepath.Join(f.dataDir, caKeysDir), MasterKeyFile: master, CreateMasterKey: create})
	if err != nil {
		return nil, pki.Status{}, fmt.Errorf("ca: open key store: %w", err)
	}
	p := &platformCA{keys: keys}
	fail := func(err error) (*platformCA, pki.Status, error) {
		keys.Close()
		return nil, pki.Status{}, err
	}
	repo, err := pki.OpenFileRepository(filepath.Join(f.dataDir, caRepoDir))
	if err != nil {
		return fail(fmt.Errorf("ca: open repository: %w", err))
	}
	if p.ca, err = pki.New(pki.Config{Keys: keys, Repo: repo, BaseURL: f.baseURL}); err != nil {
		return fail(fmt.Errorf("ca: %w", err))
	}
	var st pki.Status
	if create {
		st, err = p.ca.Init(ctx)
	} else if err = p.ca.Load(ctx); err == nil {
		st, err = p.ca.Status()
	}
	switch {
	case errs.Is(err, errs.NotFound):
		return fail(errNoCA)
	case err != nil:
		return fail(fmt.Errorf("ca: %w", err))
	}
	return p, st, nil
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
