package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"signet/trust"
	"testing"
)

var rootSHA = regexp.MustCompile(`(?s)root CA\n.*?sha256\s+(\S+)`)

func TestCAInitAndStatus(t *testing.T) {
	ctx := context.Background()
	data := filepath.Join(t.TempDir(), "data")
	getenv := env(map[string]string{"SIGNET_DATA_DIR": data, "SIGNET_BASE_URL": "https://sign.example.cn"})

	var out, errOut bytes.Buffer
	if err := runCA(ctx, []string{"status"}, getenv, &out, &errOut); !errors.Is(err, trust.ErrNoCA) {
		t.Fatalf("status before init: %v, want trust.ErrNoCA", err)
	}
	if err := runCA(ctx, []string{"init"}, getenv, &out, &errOut); err != nil {
		t.Fatalf("init: %v\n%s", err, errOut.String())
	}
	first := rootSHA.FindStringSubmatch(out.String())
	if first == nil {
		t.Fatalf("init output has no root fingerprint:\n%s", out.String())
	}
	st, err := os.Stat(filepath.Join(data, "master.key"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("master.key: %v, mode %v; want 0600", err, st.Mode())
	}
	for _, d := range []string{"keys", "pki"} {
		if fi, err := os.Stat(filepath.Join(data, d)); err != nil || !fi.IsDir() {
			t.Errorf("%s: %v", d, err)
		}
	}
	// init again opens the same hierarchy; status shows it.
	for _, sub := range []string{"init", "status"} {
		out.Reset()
		if err := runCA(ctx, []string{sub, "--data", data}, env(nil), &out, &errOut); err != nil {
			t.Fatalf("%s: %v", sub, err)
		}
		again := rootSHA.FindStringSubmatch(out.String())
		if again == nil || again[1] != first[1] {
			t.Errorf("%s: root %v, want %s\n%s", sub, again, first[1], out.String())
		}
	}
	// A wrong master key is refused, not replaced.
	if err := os.WriteFile(filepath.Join(data, "master.key"), bytes.Repeat([]byte("ab"), 32), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := runCA(ctx, []string{"status", "--data", data}, env(nil), &out, &errOut); err == nil {
		t.Error("status with a wrong master key succeeded")
	}
}

func TestCAUsageErrors(t *testing.T) {
	var out, errOut bytes.Buffer
	for _, args := range [][]string{nil, {"rotate"}, {"init", "extra"}, {"status", "--bogus"}} {
		if err := runCA(context.Background(), args, env(nil), &out, &errOut); err == nil {
			t.Errorf("ca %v: no error", args)
		}
	}
}
