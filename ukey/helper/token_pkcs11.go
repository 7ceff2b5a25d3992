//go:build cgo

package helper

import (
	"context"
	"crypto"
	"crypto/x509"
	"fmt"
	"strings"

	"github.com/miekg/pkcs11"

	"signet/signingcore/keystore"
)

// PKCS11Token is a Token behind a vendor's PKCS#11 module. Each call loads
// and initialises the module afresh and finalises it afterwards, so a token
// inserted or removed between two requests is seen, and no session or login
// outlives a request. Calls must not overlap (the helper serialises them).
type PKCS11Token struct {
	Module string
}

// Certificates implements Token: certificate objects are public, so no login
// is needed.
func (t PKCS11Token) Certificates(ctx context.Context) ([]TokenCertificate, error) {
	p := pkcs11.New(t.Module)
	if p == nil {
		return nil, fmt.Errorf("cannot load the PKCS#11 module %s", t.Module)
	}
	defer p.Destroy()
	if err := p.Initialize(); err != nil {
		return nil, fmt.Errorf("initialise the PKCS#11 module %s: %w", t.Module, err)
	}
	defer p.Finalize()
	slots, err := p.GetSlotList(true)
	if err != nil {
		return nil, fmt.Errorf("list slots: %w", err)
	}
	var out []TokenCertificate
	tokens := 0
	for _, slot := range slots {
		ti, err := p.GetTokenInfo(slot)
		if err != nil || ti.Flags&pkcs11.CKF_TOKEN_INITIALIZED == 0 {
			continue // SoftHSM's free slot, or a token being reset
		}
		tokens++
		certs, err := slotCertificates(p, slot, strings.TrimRight(ti.Label, " "))
		if err != nil {
			return nil, err
		}
		out = append(out, certs...)
	}
	if tokens == 0 {
		return nil, ErrNoToken
	}
	return out, nil
}

func slotCertificates(p *pkcs11.Ctx, slot uint, token string) ([]TokenCertificate, error) {
	sh, err := p.OpenSession(slot, pkcs11.CKF_SERIAL_SESSION)
	if err != nil {
		return nil, fmt.Errorf("open session on %q: %w", token, err)
	}
	defer p.CloseSession(sh)
	if err := p.FindObjectsInit(sh, []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_CERTIFICATE),
		pkcs11.NewAttribute(pkcs11.CKA_CERTIFICATE_TYPE, pkcs11.CKC_X_509),
	}); err != nil {
		return nil, fmt.Errorf("find certificates: %w", err)
	}
	var handles []pkcs11.ObjectHandle
	for {
		hs, _, err := p.FindObjects(sh, 64)
		if err != nil {
			_ = p.FindObjectsFinal(sh)
			return nil, fmt.Errorf("find certificates: %w", err)
		}
		if len(hs) == 0 {
			break
		}
		handles = append(handles, hs...)
	}
	if err := p.FindObjectsFinal(sh); err != nil {
		return nil, fmt.Errorf("find certificates: %w", err)
	}
	var out []TokenCertificate
	for _, h := range handles {
		attrs, err := p.GetAttributeValue(sh, h, []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_VALUE, nil),
			pkcs11.NewAttribute(pkcs11.CKA_ID, nil),
			pkcs11.NewAttribute(pkcs11.CKA_LABEL, nil),
		})
		if err != nil {
			continue
		}
		var der, id []byte
		var label string
		for _, a := range attrs {
			switch a.Type {
			case pkcs11.CKA_VALUE:
				der = a.Value
			case pkcs11.CKA_ID:
				id = a.Value
			case pkcs11.CKA_LABEL:
				label = string(a.Value)
			}
		}
		cert, err := x509.ParseCertificate(der)
		if err != nil || len(id) == 0 {
			continue // not a certificate we can use: no key is tied to it
		}
		uri := (&keystore.PKCS11URI{Token: token, ID: id, Type: "private"}).String()
		out = append(out, TokenCertificate{Certificate: cert, KeyID: id, Token: token, Label: label, KeyURI: uri})
	}
	return out, nil
}

// Sign implements Token through keystore.SignDigest (CKM_ECDSA converted to
// DER, or CKM_RSA_PKCS over the SHA-256 DigestInfo).
func (t PKCS11Token) Sign(ctx context.Context, c TokenCertificate, pin keystore.Secret, digest []byte) ([]byte, error) {
	sig, err := keystore.SignDigest(ctx, t.Module, c.KeyURI, pin, digest, crypto.SHA256)
	if err != nil {
		return nil, err
	}
	return sig, nil
}

var _ Token = PKCS11Token{}
