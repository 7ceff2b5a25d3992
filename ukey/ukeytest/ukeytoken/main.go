// Command ukeytoken prepares a stand-in UKey for the browser end-to-end test
// (mobile/e2e/ukey.test.mjs), as a CA prepares a real one: a SoftHSM token
// whose key pair pkcs11-tool generates, a personal certificate for that key
// issued by the platform CA of a Signet data folder (subject: the verified
// name and the pseudonymous id of the ID number, as the platform derives
// it), written to the token by pkcs11-tool. It prints JSON with the token's
// SOFTHSM2_CONF, module, label and PIN. Test use only.
//
//	go run ./ukey/ukeytest/ukeytoken --dir /tmp/ukey --data /tmp/signet-data --base-url http://127.0.0.1:8080 --name 王小明 --id-number 110101198808083214
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"signet/signingcore/pki"
	"signet/trust"
	"signet/ukey/ukeytest"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "ukeytoken:", err)
		os.Exit(1)
	}
}

func run() error {
	dir := flag.String("dir", "", "folder for the token (created)")
	data := flag.String("data", "", "the Signet data folder whose CA issues the certificate")
	baseURL := flag.String("base-url", "", "the server's base URL (written into certificates)")
	name := flag.String("name", "", "the verified real name")
	idNumber := flag.String("id-number", "", "the verified ID number (only its pseudonym goes into the certificate)")
	flag.Parse()
	if *dir == "" || *data == "" || *baseURL == "" || *name == "" || *idNumber == "" {
		return fmt.Errorf("--dir, --data, --base-url, --name and --id-number are required")
	}
	if err := os.MkdirAll(*dir, 0o700); err != nil {
		return err
	}
	tok, err := ukeytest.Create(*dir, ukeytest.ECP256)
	if err != nil {
		return err
	}
	pub, err := tok.PublicKey()
	if err != nil {
		return err
	}
	key, err := os.ReadFile(filepath.Join(*data, "pseudonym.key"))
	if err != nil {
		return err
	}
	subjectID, err := pki.PseudonymousID(key, *idNumber)
	if err != nil {
		return err
	}
	ctx := context.Background()
	ts, _, err := trust.Open(ctx, trust.Config{DataDir: *data, BaseURL: *baseURL})
	if err != nil {
		return err
	}
	defer ts.Close()
	iss, err := ts.CA.IssuePerson(ctx, pki.PersonRequest{Name: *name, SubjectID: subjectID, Key: pki.SubjectKey{PublicKey: pub}})
	if err != nil {
		return err
	}
	if err := tok.WriteCertificate(iss.DER(), "signet-ukey"); err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(map[string]string{
		"conf": tok.Conf, "module": tok.Module, "label": tok.Label, "pin": tok.PIN, "serial": iss.Serial,
	})
}
