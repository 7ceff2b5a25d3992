// Command signet-ukey is Signet's certificate helper (证书应用环境): a small
// program the user runs on a PC with a UKey. It listens on 127.0.0.1 only and
// lets the Signet page (its origin given by --origin) list the token's
// certificates and sign login challenges and contract digests, each confirmed
// in this program's window, where the PIN is typed. See package signet/ukey
// for the protocol and the README for the vendors' PKCS#11 modules.
//
//	signet-ukey --origin https://sign.example.com --module /usr/lib/libshuttle_p11v220.so
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"signet/ukey"
	"signet/ukey/helper"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "signet-ukey:", err)
		os.Exit(1)
	}
}

// config is what the flags say.
type config struct {
	addr     string
	origins  []string
	module   string
	pairings string
	yes      bool
	pinFile  string
}

func parse(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	fs := flag.NewFlagSet("signet-ukey", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c config
	var origins string
	fs.StringVar(&c.addr, "addr", envOr(getenv, "SIGNET_UKEY_ADDR", helper.Addr(ukey.DefaultPort)), "listen address, loopback only (SIGNET_UKEY_ADDR)")
	fs.StringVar(&origins, "origin", envOr(getenv, "SIGNET_UKEY_ORIGIN", "http://localhost:8080"),
		"Signet origin(s) allowed to use the helper, comma-separated, e.g. https://sign.example.com (SIGNET_UKEY_ORIGIN)")
	fs.StringVar(&c.module, "module", getenv("SIGNET_UKEY_MODULE"), "the UKey vendor's PKCS#11 module (SIGNET_UKEY_MODULE); see the README for common paths")
	fs.StringVar(&c.pairings, "pairings", envOr(getenv, "SIGNET_UKEY_PAIRINGS", defaultPairingsFile()), "file remembering paired pages (empty: forget on exit)")
	fs.BoolVar(&c.yes, "yes", false, "TESTS ONLY: confirm every signature without asking")
	fs.StringVar(&c.pinFile, "pin-file", "", "TESTS ONLY: read the PIN from this file instead of the terminal")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: signet-ukey [flags]\n\nSignet 证书应用环境 %s: lets the Signet page use your UKey.\n\n", version)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	for _, o := range strings.Split(origins, ",") {
		if o = strings.TrimSpace(o); o != "" {
			if err := ukey.CheckOrigin(o); err != nil {
				return config{}, fmt.Errorf("--origin: %w", err)
			}
			c.origins = append(c.origins, o)
		}
	}
	if len(c.origins) == 0 {
		return config{}, errors.New("--origin: name the Signet origin, e.g. https://sign.example.com")
	}
	if c.module == "" {
		return config{}, errors.New("--module: name your UKey's PKCS#11 module (see the README for common paths)")
	}
	if err := helper.CheckLoopback(c.addr); err != nil {
		return config{}, fmt.Errorf("--addr: %w", err)
	}
	return c, nil
}

func envOr(getenv func(string) string, name, def string) string {
	if v := getenv(name); v != "" {
		return v
	}
	return def
}

func defaultPairingsFile() string {
	dir, err := os.UserConfigDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "signet-ukey", "pairings.json")
}

func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	c, err := parse(args, getenv, stderr)
	if err != nil {
		return err
	}
	if _, err := os.Stat(c.module); err != nil {
		return fmt.Errorf("--module: %w", err)
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	console := helper.NewTerminalConsole(stdin, stdout, helper.ConsoleOptions{Yes: c.yes, PINFile: c.pinFile})
	srv, err := helper.New(helper.Config{
		Origins: c.origins, Token: helper.PKCS11Token{Module: c.module}, Console: console,
		PairingsFile: c.pairings, Logger: logger,
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", c.addr)
	if err != nil {
		return fmt.Errorf("listen on %s (is another signet-ukey running?): %w", c.addr, err)
	}
	console.Show(fmt.Sprintf("Signet 证书应用环境 %s 已启动：ws://%s%s\n允许的网页：%s\nPKCS#11 模块：%s\n请保持此窗口打开；配对码和签名确认会显示在这里。",
		version, ln.Addr(), ukey.Path, strings.Join(c.origins, ", "), c.module))
	if c.yes || c.pinFile != "" {
		console.Show("警告：--yes / --pin-file 仅用于自动化测试，签名不再逐次确认。")
	}
	return srv.Serve(ctx, ln)
}
