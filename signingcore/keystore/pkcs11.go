//go:build cgo

package keystore

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/miekg/pkcs11"

	"signet/errs"
)

// DefaultPKCS11Sessions is the session pool size when PKCS11Config.Sessions
// is zero.
const DefaultPKCS11Sessions = 4

// PKCS11Config configures a PKCS#11 key store. Its String, GoString and
// LogValue never show the PIN, so it may be printed and logged.
type PKCS11Config struct {
	// ModulePath is the PKCS#11 module (shared library), for example
	// /usr/lib/softhsm/libsofthsm2.so.
	ModulePath string
	// TokenLabel selects the token by its label (slot numbers are not stable).
	TokenLabel string
	// PIN is the user PIN. Exactly one of PIN and PINFile must be set.
	PIN Secret
	// PINFile names a file holding the user PIN (trailing newlines ignored).
	PINFile string
	// Sessions is the size of the session pool, and so the number of
	// concurrent operations on the token; DefaultPKCS11Sessions when zero.
	Sessions int
}

func (c PKCS11Config) pinSource() string {
	switch {
	case c.PIN != "" && c.PINFile != "":
		return "pin and pin file (invalid)"
	case c.PIN != "":
		return "pin " + redacted
	case c.PINFile != "":
		return "pin file " + c.PINFile
	}
	return "no pin"
}

// String describes the configuration without the PIN.
func (c PKCS11Config) String() string {
	return fmt.Sprintf("pkcs11 module %s token %q sessions %d %s", c.ModulePath, c.TokenLabel, c.Sessions, c.pinSource())
}

// GoString is String, so %#v does not show the PIN either.
func (c PKCS11Config) GoString() string { return "keystore.PKCS11Config{" + c.String() + "}" }

// LogValue implements slog.LogValuer without the PIN.
func (c PKCS11Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("module", c.ModulePath),
		slog.String("token", c.TokenLabel),
		slog.Int("sessions", c.Sessions),
		slog.String("pin", c.pinSource()),
	)
}

// tokenMatch selects a token; empty fields match anything.
type tokenMatch struct{ label, manufacturer, serial, model string }

func (m tokenMatch) matches(ti pkcs11.TokenInfo) bool {
	return (m.label == "" || strings.TrimRight(ti.Label, " ") == m.label) &&
		(m.manufacturer == "" || strings.TrimRight(ti.ManufacturerID, " ") == m.manufacturer) &&
		(m.serial == "" || strings.TrimRight(ti.SerialNumber, " ") == m.serial) &&
		(m.model == "" || strings.TrimRight(ti.Model, " ") == m.model)
}

// PKCS11Store keeps keys on a PKCS#11 token. Keys are token objects: the
// private half sensitive and not extractable. It pools sessions, logs in on
// each new session and replaces lost sessions (token reset or re-inserted),
// retrying an operation up to three times before reporting
// ErrTokenUnavailable. It is safe for concurrent use.
type PKCS11Store struct {
	mod   *p11Module
	match tokenMatch
	pin   Secret

	life   sync.RWMutex // operations hold R; Close holds W
	closed bool

	slotMu sync.Mutex
	slot   uint
	token  pkcs11.TokenInfo

	sem  chan struct{}             // one per session in use or idle
	idle chan pkcs11.SessionHandle // idle sessions, logged in
	gen  sync.Mutex                // serialises label checks with generation
	hits atomic.Int64              // sessions opened, for tests

	cacheMu sync.Mutex
	cache   map[string]*p11Key // Find results by URI, re-validated on use
}

// OpenPKCS11 loads the module, finds the token by label and logs in. A wrong
// PIN gives an errs.Unauthenticated error, a locked one errs.Forbidden, a
// missing token errs.NotFound.
func OpenPKCS11(cfg PKCS11Config) (*PKCS11Store, error) {
	if cfg.TokenLabel == "" {
		return nil, errors.New("keystore: open PKCS#11 store: TokenLabel is required")
	}
	pin := cfg.PIN
	switch {
	case cfg.PIN != "" && cfg.PINFile != "":
		return nil, errors.New("keystore: open PKCS#11 store: set PIN or PINFile, not both")
	case cfg.PINFile != "":
		b, err := os.ReadFile(cfg.PINFile)
		if err != nil {
			return nil, fmt.Errorf("keystore: open PKCS#11 store: read PIN file: %w", err)
		}
		pin = Secret(strings.TrimRight(string(b), "\r\n"))
		clear(b)
	}
	if pin == "" {
		return nil, errors.New("keystore: open PKCS#11 store: no PIN configured (PIN or PINFile)")
	}
	return openPKCS11(cfg.ModulePath, tokenMatch{label: cfg.TokenLabel}, pin, cfg.Sessions)
}

func openPKCS11(modulePath string, match tokenMatch, pin Secret, sessions int) (*PKCS11Store, error) {
	if sessions <= 0 {
		sessions = DefaultPKCS11Sessions
	}
	mod, err := modules.acquire(modulePath)
	if err != nil {
		return nil, err
	}
	s := &PKCS11Store{mod: mod, match: match, pin: pin,
		sem: make(chan struct{}, sessions), idle: make(chan pkcs11.SessionHandle, sessions),
		cache: map[string]*p11Key{}}
	if err := s.resolveSlot(); err != nil {
		modules.release(mod)
		return nil, err
	}
	// Open and log in one session now, so a wrong PIN fails here.
	sh, err := s.getSession(context.Background())
	if err != nil {
		modules.release(mod)
		return nil, err
	}
	s.putSession(sh, true)
	return s, nil
}

// tokenID identifies the store's token within its module.
func (s *PKCS11Store) tokenID() string {
	s.slotMu.Lock()
	defer s.slotMu.Unlock()
	return s.token.Label + "\x00" + s.token.SerialNumber
}

// resolveSlot finds the slot holding the token.
func (s *PKCS11Store) resolveSlot() error {
	ctx := s.mod.ctx
	slots, err := ctx.GetSlotList(true)
	if err != nil {
		return fmt.Errorf("keystore: list PKCS#11 slots: %w", err)
	}
	var found []uint
	var infos []pkcs11.TokenInfo
	var present []string
	for _, slot := range slots {
		ti, err := ctx.GetTokenInfo(slot)
		if err != nil || ti.Flags&pkcs11.CKF_TOKEN_INITIALIZED == 0 {
			continue // removed between the two calls, or a blank token
		}
		present = append(present, fmt.Sprintf("%q", strings.TrimRight(ti.Label, " ")))
		if s.match.matches(ti) {
			found = append(found, slot)
			infos = append(infos, ti)
		}
	}
	switch len(found) {
	case 0:
		return errs.Wrap(fmt.Errorf("keystore: no PKCS#11 token matching %s (tokens present: %s): %w",
			s.match.describe(), strings.Join(present, ", "), ErrTokenUnavailable),
			errs.NotFound, "未找到密钥设备（令牌），请确认设备已连接并已初始化")
	case 1:
	default:
		return errs.Wrap(fmt.Errorf("keystore: %d PKCS#11 tokens match %s", len(found), s.match.describe()),
			errs.Invalid, "找到多个符合条件的密钥设备，请指明令牌名称或序列号")
	}
	s.slotMu.Lock()
	s.slot, s.token = found[0], infos[0]
	s.slotMu.Unlock()
	return nil
}

func (m tokenMatch) describe() string {
	var parts []string
	for _, p := range [][2]string{{"label", m.label}, {"manufacturer", m.manufacturer}, {"serial", m.serial}, {"model", m.model}} {
		if p[1] != "" {
			parts = append(parts, fmt.Sprintf("%s=%q", p[0], p[1]))
		}
	}
	if len(parts) == 0 {
		return "(any token)"
	}
	return strings.Join(parts, " ")
}

// openSession opens a read-write session and logs it in, resolving the slot
// again if the token moved.
func (s *PKCS11Store) openSession() (pkcs11.SessionHandle, error) {
	ctx := s.mod.ctx
	s.slotMu.Lock()
	slot := s.slot
	s.slotMu.Unlock()
	sh, err := ctx.OpenSession(slot, pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION)
	if err != nil && isTokenGone(err) {
		if rerr := s.resolveSlot(); rerr != nil {
			return 0, rerr
		}
		s.slotMu.Lock()
		slot = s.slot
		s.slotMu.Unlock()
		sh, err = ctx.OpenSession(slot, pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION)
	}
	if err != nil {
		if isTokenGone(err) {
			return 0, fmt.Errorf("keystore: open PKCS#11 session: %w: %w", ErrTokenUnavailable, err)
		}
		return 0, fmt.Errorf("keystore: open PKCS#11 session: %w", err)
	}
	s.hits.Add(1)
	token := s.tokenID()
	switch err := ctx.Login(sh, pkcs11.CKU_USER, string(s.pin)); {
	case err == nil:
		s.mod.rememberPIN(token, s.pin)
	case errors.Is(err, pkcs11.Error(pkcs11.CKR_USER_ALREADY_LOGGED_IN)):
		// Login state is shared by every session of the process. Someone
		// else's login must not let a wrong PIN through.
		if !s.mod.samePIN(token, s.pin) {
			ctx.CloseSession(sh)
			return 0, wrongPIN(pkcs11.Error(pkcs11.CKR_PIN_INCORRECT))
		}
	default:
		ctx.CloseSession(sh)
		err = loginError(err)
		if errs.CodeOf(err) == errs.Internal && !errors.Is(err, ErrTokenUnavailable) {
			// A vague failure (CKR_GENERAL_ERROR, ...): tell a vanished
			// token apart from other trouble.
			if rerr := s.resolveSlot(); rerr != nil {
				return 0, fmt.Errorf("%w (%w)", rerr, err)
			}
		}
		return 0, err
	}
	return sh, nil
}

func wrongPIN(err error) error {
	return errs.Wrap(fmt.Errorf("keystore: PKCS#11 login: %w", err), errs.Unauthenticated, "密钥设备 PIN 不正确")
}

func loginError(err error) error {
	var code pkcs11.Error
	if errors.As(err, &code) {
		switch code {
		case pkcs11.CKR_PIN_INCORRECT, pkcs11.CKR_PIN_INVALID, pkcs11.CKR_PIN_LEN_RANGE:
			return wrongPIN(err)
		case pkcs11.CKR_PIN_LOCKED:
			return errs.Wrap(fmt.Errorf("keystore: PKCS#11 login: %w", err), errs.Forbidden, "密钥设备 PIN 已锁定，请联系管理员解锁")
		case pkcs11.CKR_PIN_EXPIRED:
			return errs.Wrap(fmt.Errorf("keystore: PKCS#11 login: %w", err), errs.Forbidden, "密钥设备 PIN 已过期，请先修改 PIN")
		}
	}
	if isTokenGone(err) {
		return fmt.Errorf("keystore: PKCS#11 login: %w: %w", ErrTokenUnavailable, err)
	}
	return fmt.Errorf("keystore: PKCS#11 login: %w", err)
}

// isTokenGone reports errors after which the slot must be found again.
func isTokenGone(err error) bool {
	var code pkcs11.Error
	if !errors.As(err, &code) {
		return false
	}
	switch code {
	case pkcs11.CKR_SLOT_ID_INVALID, pkcs11.CKR_TOKEN_NOT_PRESENT, pkcs11.CKR_DEVICE_REMOVED,
		pkcs11.CKR_TOKEN_NOT_RECOGNIZED:
		return true
	}
	return false
}

// isSessionLost reports errors after which a fresh session may succeed.
func isSessionLost(err error) bool {
	var code pkcs11.Error
	if !errors.As(err, &code) {
		return false
	}
	switch code {
	case pkcs11.CKR_SESSION_HANDLE_INVALID, pkcs11.CKR_SESSION_CLOSED, pkcs11.CKR_USER_NOT_LOGGED_IN,
		pkcs11.CKR_DEVICE_ERROR:
		return true
	}
	return isTokenGone(err)
}

// isHandleStale reports errors after which an object must be found again.
func isHandleStale(err error) bool {
	var code pkcs11.Error
	return errors.As(err, &code) && (code == pkcs11.CKR_OBJECT_HANDLE_INVALID || code == pkcs11.CKR_KEY_HANDLE_INVALID)
}

func (s *PKCS11Store) getSession(ctx context.Context) (pkcs11.SessionHandle, error) {
	select {
	case s.sem <- struct{}{}:
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	select {
	case sh := <-s.idle:
		return sh, nil
	default:
	}
	sh, err := s.openSession()
	if err != nil {
		<-s.sem
		return 0, err
	}
	return sh, nil
}

// putSession returns a session to the pool, or closes it when !ok.
func (s *PKCS11Store) putSession(sh pkcs11.SessionHandle, ok bool) {
	if ok {
		s.idle <- sh
	} else {
		s.mod.ctx.CloseSession(sh)
	}
	<-s.sem
}

// do runs fn with a pooled session. A session that saw a PKCS#11 error is
// closed rather than reused; if it was lost (token reset, re-inserted,
// logged out) the idle sessions are closed too and fn runs again on a fresh
// session, at most three times in all.
func (s *PKCS11Store) do(ctx context.Context, fn func(*pkcs11.Ctx, pkcs11.SessionHandle) error) error {
	s.life.RLock()
	defer s.life.RUnlock()
	if s.closed {
		return ErrClosed
	}
	for attempt := 0; ; attempt++ {
		sh, err := s.getSession(ctx)
		if err != nil {
			return err
		}
		err = fn(s.mod.ctx, sh)
		var code pkcs11.Error
		if !errors.As(err, &code) {
			s.putSession(sh, true)
			return err
		}
		s.putSession(sh, false)
		if !isSessionLost(err) {
			return err
		}
		// Sessions die together (token reset, logout): close the idle ones
		// too, so the retry opens a fresh, logged-in session.
		s.drainIdle()
		if attempt >= 2 {
			return fmt.Errorf("%w: %w", ErrTokenUnavailable, err)
		}
	}
}

// drainIdle closes every idle session.
func (s *PKCS11Store) drainIdle() {
	for {
		select {
		case sh := <-s.idle:
			s.mod.ctx.CloseSession(sh)
		default:
			return
		}
	}
}

// Close closes every session and releases the module (finalising it when no
// other store uses it). It waits for operations in flight. Keys of a closed
// store fail with ErrClosed.
func (s *PKCS11Store) Close() error {
	s.life.Lock()
	defer s.life.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	s.drainIdle()
	modules.release(s.mod)
	return nil
}

func findObjects(p *pkcs11.Ctx, sh pkcs11.SessionHandle, tmpl []*pkcs11.Attribute) ([]pkcs11.ObjectHandle, error) {
	if err := p.FindObjectsInit(sh, tmpl); err != nil {
		return nil, err
	}
	var out []pkcs11.ObjectHandle
	for {
		hs, _, err := p.FindObjects(sh, 64)
		if err != nil {
			p.FindObjectsFinal(sh)
			return nil, err
		}
		if len(hs) == 0 {
			break
		}
		out = append(out, hs...)
	}
	if err := p.FindObjectsFinal(sh); err != nil {
		return nil, err
	}
	return out, nil
}

// attrUint decodes a CK_ULONG attribute value.
func attrUint(b []byte) (uint64, bool) {
	switch len(b) {
	case 8:
		return binary.NativeEndian.Uint64(b), true
	case 4:
		return uint64(binary.NativeEndian.Uint32(b)), true
	}
	return 0, false
}

// keyRef is what identifies a key object on the token: its CKA_ID, or its
// label when the ID is empty (keys made by other tools).
type keyRef struct {
	id    []byte
	label string
}

func (r keyRef) template(class uint) []*pkcs11.Attribute {
	t := []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_CLASS, class)}
	if len(r.id) > 0 {
		return append(t, pkcs11.NewAttribute(pkcs11.CKA_ID, r.id))
	}
	return append(t, pkcs11.NewAttribute(pkcs11.CKA_LABEL, r.label))
}

var (
	oidP256 = asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 7}
	oidP384 = asn1.ObjectIdentifier{1, 3, 132, 0, 34}
	oidP521 = asn1.ObjectIdentifier{1, 3, 132, 0, 35}
)

func curveFromParams(params []byte) (elliptic.Curve, error) {
	var oid asn1.ObjectIdentifier
	if rest, err := asn1.Unmarshal(params, &oid); err != nil || len(rest) != 0 {
		return nil, fmt.Errorf("keystore: CKA_EC_PARAMS is not a named curve OID")
	}
	switch {
	case oid.Equal(oidP256):
		return elliptic.P256(), nil
	case oid.Equal(oidP384):
		return elliptic.P384(), nil
	case oid.Equal(oidP521):
		return elliptic.P521(), nil
	}
	return nil, fmt.Errorf("keystore: unsupported curve %v", oid)
}

// parseECPoint accepts CKA_EC_POINT as a DER OCTET STRING (the standard
// form) or as the bare uncompressed point (some tokens).
func parseECPoint(curve elliptic.Curve, point []byte) (*ecdsa.PublicKey, error) {
	var inner []byte
	if rest, err := asn1.Unmarshal(point, &inner); err == nil && len(rest) == 0 {
		if pub, err := ecdsa.ParseUncompressedPublicKey(curve, inner); err == nil {
			return pub, nil
		}
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(curve, point)
	if err != nil {
		return nil, fmt.Errorf("keystore: parse CKA_EC_POINT: %w", err)
	}
	return pub, nil
}

func ecAlgorithm(curve elliptic.Curve) Algorithm {
	if curve == elliptic.P256() {
		return ECP256
	}
	return Algorithm("EC-" + curve.Params().Name)
}

func rsaAlgorithm(pub *rsa.PublicKey) Algorithm {
	return Algorithm(fmt.Sprintf("RSA-%d", pub.N.BitLen()))
}

// describe reads a private key object's label, ID and public key. The public
// key comes from the public key object with the same ID, or for RSA from the
// private object, or from a certificate with the same ID (tokens that keep
// only the private key and its certificate).
func (s *PKCS11Store) describe(p *pkcs11.Ctx, sh pkcs11.SessionHandle, priv pkcs11.ObjectHandle) (*p11Key, error) {
	attrs, err := p.GetAttributeValue(sh, priv, []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, nil),
		pkcs11.NewAttribute(pkcs11.CKA_ID, nil),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, nil),
	})
	if err != nil {
		return nil, err
	}
	keyType, _ := attrUint(attrs[0].Value)
	ref := keyRef{id: attrs[1].Value, label: string(attrs[2].Value)}
	var pub crypto.PublicKey
	switch keyType {
	case pkcs11.CKK_EC:
		pub, err = s.ecPublic(p, sh, ref)
	case pkcs11.CKK_RSA:
		pub, err = s.rsaPublic(p, sh, priv, ref)
	default:
		return nil, fmt.Errorf("keystore: key %q has unsupported key type %#x", ref.label, keyType)
	}
	if err != nil {
		return nil, err
	}
	k := &p11Key{store: s, ref: ref}
	k.handle.Store(uint64(priv))
	k.info = KeyInfo{URI: s.keyURI(ref), Label: ref.label, Public: pub}
	switch pub := pub.(type) {
	case *ecdsa.PublicKey:
		k.info.Algorithm = ecAlgorithm(pub.Curve)
		k.ecSize = (pub.Curve.Params().BitSize + 7) / 8
	case *rsa.PublicKey:
		k.info.Algorithm = rsaAlgorithm(pub)
	}
	return k, nil
}

func (s *PKCS11Store) keyURI(ref keyRef) string {
	s.slotMu.Lock()
	token := strings.TrimRight(s.token.Label, " ")
	s.slotMu.Unlock()
	u := PKCS11URI{Token: token, Object: ref.label, ID: ref.id, Type: "private"}
	return u.String()
}

func (s *PKCS11Store) ecPublic(p *pkcs11.Ctx, sh pkcs11.SessionHandle, ref keyRef) (crypto.PublicKey, error) {
	hs, err := findObjects(p, sh, append(ref.template(pkcs11.CKO_PUBLIC_KEY), pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_EC)))
	if err != nil {
		return nil, err
	}
	if len(hs) == 0 {
		return s.certPublic(p, sh, ref)
	}
	attrs, err := p.GetAttributeValue(sh, hs[0], []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_EC_PARAMS, nil),
		pkcs11.NewAttribute(pkcs11.CKA_EC_POINT, nil),
	})
	if err != nil {
		return nil, err
	}
	curve, err := curveFromParams(attrs[0].Value)
	if err != nil {
		return nil, err
	}
	return parseECPoint(curve, attrs[1].Value)
}

func (s *PKCS11Store) rsaPublic(p *pkcs11.Ctx, sh pkcs11.SessionHandle, priv pkcs11.ObjectHandle, ref keyRef) (crypto.PublicKey, error) {
	get := []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_MODULUS, nil),
		pkcs11.NewAttribute(pkcs11.CKA_PUBLIC_EXPONENT, nil),
	}
	attrs, err := p.GetAttributeValue(sh, priv, get)
	if err != nil {
		hs, ferr := findObjects(p, sh, append(ref.template(pkcs11.CKO_PUBLIC_KEY), pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_RSA)))
		if ferr != nil {
			return nil, ferr
		}
		if len(hs) == 0 {
			return s.certPublic(p, sh, ref)
		}
		if attrs, err = p.GetAttributeValue(sh, hs[0], get); err != nil {
			return nil, err
		}
	}
	e := new(big.Int).SetBytes(attrs[1].Value)
	if !e.IsInt64() || e.Int64() < 3 || e.Int64() > 1<<31-1 {
		return nil, fmt.Errorf("keystore: RSA key %q has an unusable public exponent", ref.label)
	}
	return &rsa.PublicKey{N: new(big.Int).SetBytes(attrs[0].Value), E: int(e.Int64())}, nil
}

func (s *PKCS11Store) certPublic(p *pkcs11.Ctx, sh pkcs11.SessionHandle, ref keyRef) (crypto.PublicKey, error) {
	hs, err := findObjects(p, sh, ref.template(pkcs11.CKO_CERTIFICATE))
	if err != nil {
		return nil, err
	}
	if len(hs) == 0 {
		return nil, fmt.Errorf("keystore: key %q: no public key object or certificate with its ID", ref.label)
	}
	attrs, err := p.GetAttributeValue(sh, hs[0], []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_VALUE, nil)})
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(attrs[0].Value)
	if err != nil {
		return nil, fmt.Errorf("keystore: key %q: certificate: %w", ref.label, err)
	}
	return cert.PublicKey, nil
}

// Generate creates a key pair on the token: token objects with CKA_ID (16
// random bytes) and CKA_LABEL; the private key sensitive, not extractable and
// private. A label already used by a key gives errs.Conflict. (The label check
// is atomic within the process; two processes generating the same label at
// the same instant could both succeed.)
func (s *PKCS11Store) Generate(ctx context.Context, label string, alg Algorithm) (Key, error) {
	if err := checkLabel(label); err != nil {
		return nil, err
	}
	alg, err := checkAlgorithm(alg)
	if err != nil {
		return nil, err
	}
	id := make([]byte, 16)
	if _, err := rand.Read(id); err != nil {
		return nil, fmt.Errorf("keystore: generate: %w", err)
	}
	common := func(class uint) []*pkcs11.Attribute {
		return []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_CLASS, class),
			pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
			pkcs11.NewAttribute(pkcs11.CKA_ID, id),
			pkcs11.NewAttribute(pkcs11.CKA_LABEL, label),
		}
	}
	pubT := append(common(pkcs11.CKO_PUBLIC_KEY), pkcs11.NewAttribute(pkcs11.CKA_VERIFY, true), pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, false))
	privT := append(common(pkcs11.CKO_PRIVATE_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_SIGN, true),
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true),
		pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true),
		pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, false),
		pkcs11.NewAttribute(pkcs11.CKA_DECRYPT, false),
	)
	var mech []*pkcs11.Mechanism
	switch alg {
	case ECP256:
		params, _ := asn1.Marshal(oidP256)
		mech = []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_EC_KEY_PAIR_GEN, nil)}
		pubT = append(pubT, pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_EC), pkcs11.NewAttribute(pkcs11.CKA_EC_PARAMS, params))
		privT = append(privT, pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_EC))
	case RSA2048, RSA3072:
		bits := 2048
		if alg == RSA3072 {
			bits = 3072
		}
		mech = []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_RSA_PKCS_KEY_PAIR_GEN, nil)}
		pubT = append(pubT, pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_RSA),
			pkcs11.NewAttribute(pkcs11.CKA_MODULUS_BITS, bits),
			pkcs11.NewAttribute(pkcs11.CKA_PUBLIC_EXPONENT, []byte{1, 0, 1}))
		privT = append(privT, pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_RSA))
	}
	s.gen.Lock()
	defer s.gen.Unlock()
	var key *p11Key
	err = s.do(ctx, func(p *pkcs11.Ctx, sh pkcs11.SessionHandle) error {
		for _, class := range []uint{pkcs11.CKO_PRIVATE_KEY, pkcs11.CKO_PUBLIC_KEY} {
			hs, err := findObjects(p, sh, keyRef{label: label}.template(class))
			if err != nil {
				return err
			}
			if len(hs) > 0 {
				return labelTaken(label)
			}
		}
		pubH, privH, err := p.GenerateKeyPair(sh, mech, pubT, privT)
		if err != nil {
			return err
		}
		key, err = s.describe(p, sh, privH)
		if err != nil {
			p.DestroyObject(sh, privH)
			p.DestroyObject(sh, pubH)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("keystore: generate %s on PKCS#11 token: %w", alg, err)
	}
	return key, nil
}

// lookup resolves a URI to one private key object; errs.NotFound when none.
func (s *PKCS11Store) lookup(ctx context.Context, uri string, fn func(*pkcs11.Ctx, pkcs11.SessionHandle, pkcs11.ObjectHandle) error) error {
	u, err := ParsePKCS11URI(uri)
	if err != nil {
		return err
	}
	if u.Type != "" && u.Type != "private" {
		return errs.Wrap(fmt.Errorf("keystore: URI names a %s object", u.Type), errs.Invalid, "密钥地址必须指向私钥（type=private）")
	}
	if len(u.ID) == 0 && u.Object == "" {
		return errs.Wrap(errors.New("keystore: URI has neither id nor object"), errs.Invalid, "密钥地址必须包含 id 或 object")
	}
	s.slotMu.Lock()
	ti := s.token
	s.slotMu.Unlock()
	if !(tokenMatch{label: u.Token, manufacturer: u.Manufacturer, serial: u.Serial, model: u.Model}).matches(ti) {
		return keyNotFound(uri)
	}
	tmpl := []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PRIVATE_KEY)}
	if len(u.ID) > 0 {
		tmpl = append(tmpl, pkcs11.NewAttribute(pkcs11.CKA_ID, u.ID))
	}
	if u.Object != "" {
		tmpl = append(tmpl, pkcs11.NewAttribute(pkcs11.CKA_LABEL, u.Object))
	}
	return s.do(ctx, func(p *pkcs11.Ctx, sh pkcs11.SessionHandle) error {
		hs, err := findObjects(p, sh, tmpl)
		if err != nil {
			return err
		}
		switch len(hs) {
		case 0:
			return keyNotFound(uri)
		case 1:
			return fn(p, sh, hs[0])
		}
		return errs.Wrap(fmt.Errorf("keystore: %d keys match %s", len(hs), uri), errs.Invalid, "密钥地址匹配到多个密钥，请用 id 指明")
	})
}

// Find returns the private key at a pkcs11: URI. Token attributes in the URI
// must match the store's token. See Store.
//
// Found keys are remembered by URI (at most maxKeyCache); a remembered key is
// returned after one attribute read confirms its object still exists, which
// is several times cheaper than a search.
func (s *PKCS11Store) Find(ctx context.Context, uri string) (Key, error) {
	if k := s.cached(ctx, uri); k != nil {
		return k, nil
	}
	var key *p11Key
	err := s.lookup(ctx, uri, func(p *pkcs11.Ctx, sh pkcs11.SessionHandle, h pkcs11.ObjectHandle) error {
		var err error
		key, err = s.describe(p, sh, h)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("keystore: find: %w", err)
	}
	s.cacheMu.Lock()
	if len(s.cache) >= maxKeyCache {
		clear(s.cache)
	}
	s.cache[uri] = key
	s.cacheMu.Unlock()
	return key, nil
}

// maxKeyCache bounds the Find cache; when full it starts over.
const maxKeyCache = 1024

// cached returns the remembered key for uri if its object is still the same
// private key on the token, else forgets it and returns nil.
func (s *PKCS11Store) cached(ctx context.Context, uri string) *p11Key {
	s.cacheMu.Lock()
	k := s.cache[uri]
	s.cacheMu.Unlock()
	if k == nil {
		return nil
	}
	valid := false
	err := s.do(ctx, func(p *pkcs11.Ctx, sh pkcs11.SessionHandle) error {
		attrs, err := p.GetAttributeValue(sh, pkcs11.ObjectHandle(k.handle.Load()), []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_CLASS, nil),
			pkcs11.NewAttribute(pkcs11.CKA_ID, nil),
			pkcs11.NewAttribute(pkcs11.CKA_LABEL, nil),
		})
		if isHandleStale(err) {
			return nil // deleted: valid stays false
		}
		if err != nil {
			return err
		}
		class, _ := attrUint(attrs[0].Value)
		valid = class == pkcs11.CKO_PRIVATE_KEY && bytes.Equal(attrs[1].Value, k.ref.id) && string(attrs[2].Value) == k.ref.label
		return nil
	})
	if err == nil && valid {
		return k
	}
	s.forget(uri)
	return nil
}

func (s *PKCS11Store) forget(uri string) {
	s.cacheMu.Lock()
	delete(s.cache, uri)
	s.cacheMu.Unlock()
}

// List returns every private key on the token, ordered by label then URI.
func (s *PKCS11Store) List(ctx context.Context) ([]KeyInfo, error) {
	var out []KeyInfo
	err := s.do(ctx, func(p *pkcs11.Ctx, sh pkcs11.SessionHandle) error {
		out = out[:0]
		hs, err := findObjects(p, sh, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PRIVATE_KEY)})
		if err != nil {
			return err
		}
		for _, h := range hs {
			k, err := s.describe(p, sh, h)
			if err != nil {
				var code pkcs11.Error
				if errors.As(err, &code) {
					return err
				}
				continue // a key this store cannot use (other type, no public half)
			}
			out = append(out, k.info)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("keystore: list: %w", err)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Label != out[j].Label {
			return out[i].Label < out[j].Label
		}
		return out[i].URI < out[j].URI
	})
	return out, nil
}

// Delete destroys the private key at uri and the public key object with the
// same ID (certificates are left alone). See Store.
func (s *PKCS11Store) Delete(ctx context.Context, uri string) error {
	err := s.lookup(ctx, uri, func(p *pkcs11.Ctx, sh pkcs11.SessionHandle, h pkcs11.ObjectHandle) error {
		attrs, err := p.GetAttributeValue(sh, h, []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_ID, nil),
			pkcs11.NewAttribute(pkcs11.CKA_LABEL, nil),
		})
		if err != nil {
			return err
		}
		ref := keyRef{id: attrs[0].Value, label: string(attrs[1].Value)}
		pubs, err := findObjects(p, sh, ref.template(pkcs11.CKO_PUBLIC_KEY))
		if err != nil {
			return err
		}
		if err := p.DestroyObject(sh, h); err != nil {
			return err
		}
		for _, ph := range pubs {
			if err := p.DestroyObject(sh, ph); err != nil {
				return err
			}
		}
		return nil
	})
	// Forget every remembered key: other URIs may name the deleted one.
	s.cacheMu.Lock()
	clear(s.cache)
	s.cacheMu.Unlock()
	if err != nil {
		return fmt.Errorf("keystore: delete: %w", err)
	}
	return nil
}

// p11Key is a private key object on the token.
type p11Key struct {
	store  *PKCS11Store
	ref    keyRef
	info   KeyInfo
	ecSize int           // bytes per coordinate for EC keys
	handle atomic.Uint64 // object handle, refreshed when stale
}

func (k *p11Key) Public() crypto.PublicKey { return k.info.Public }

func (k *p11Key) Info() KeyInfo { return k.info }

// Sign signs a SHA-256/384/512 digest on the token: CKM_ECDSA (the r||s
// result converted to ASN.1 DER), CKM_RSA_PKCS over the DigestInfo, or
// CKM_RSA_PKCS_PSS when opts is *rsa.PSSOptions (salt length: the hash size
// for PSSSaltLengthAuto and PSSSaltLengthEqualsHash, else as given). rand is
// not used: the token makes its own randomness.
func (k *p11Key) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	h, err := signHash(digest, opts)
	if err != nil {
		return nil, err
	}
	var mech []*pkcs11.Mechanism
	input := digest
	switch k.info.Public.(type) {
	case *ecdsa.PublicKey:
		mech = []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_ECDSA, nil)}
	case *rsa.PublicKey:
		if pss, ok := opts.(*rsa.PSSOptions); ok {
			salt := pss.SaltLength
			if salt == rsa.PSSSaltLengthAuto || salt == rsa.PSSSaltLengthEqualsHash {
				salt = h.Size()
			}
			if salt < 0 {
				return nil, errs.Wrap(fmt.Errorf("keystore: PSS salt length %d", salt), errs.Invalid, "RSA-PSS 盐长度不正确")
			}
			hashMech, mgf := pssMechanisms(h)
			mech = []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_RSA_PKCS_PSS, pkcs11.NewPSSParams(hashMech, mgf, uint(salt)))}
		} else {
			mech = []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_RSA_PKCS, nil)}
			if input, err = RSADigestInfo(h, digest); err != nil {
				return nil, err
			}
		}
	}
	var sig []byte
	err = k.store.do(context.Background(), func(p *pkcs11.Ctx, sh pkcs11.SessionHandle) error {
		err := p.SignInit(sh, mech, pkcs11.ObjectHandle(k.handle.Load()))
		if isHandleStale(err) {
			if err = k.refresh(p, sh); err == nil {
				err = p.SignInit(sh, mech, pkcs11.ObjectHandle(k.handle.Load()))
			}
		}
		if err != nil {
			return err
		}
		sig, err = p.Sign(sh, input)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("keystore: sign with %s: %w", k.info.URI, err)
	}
	if k.ecSize > 0 {
		if len(sig) != 2*k.ecSize {
			return nil, fmt.Errorf("keystore: sign with %s: token returned a %d-byte ECDSA signature", k.info.URI, len(sig))
		}
		return ECDSARawToDER(sig)
	}
	return sig, nil
}

// refresh finds the key's object again (handles change when a token is
// re-inserted).
func (k *p11Key) refresh(p *pkcs11.Ctx, sh pkcs11.SessionHandle) error {
	hs, err := findObjects(p, sh, k.ref.template(pkcs11.CKO_PRIVATE_KEY))
	if err != nil {
		return err
	}
	if len(hs) != 1 {
		return keyNotFound(k.info.URI)
	}
	k.handle.Store(uint64(hs[0]))
	return nil
}

func pssMechanisms(h crypto.Hash) (hashMech, mgf uint) {
	switch h {
	case crypto.SHA384:
		return pkcs11.CKM_SHA384, pkcs11.CKG_MGF1_SHA384
	case crypto.SHA512:
		return pkcs11.CKM_SHA512, pkcs11.CKG_MGF1_SHA512
	}
	return pkcs11.CKM_SHA256, pkcs11.CKG_MGF1_SHA256
}

// SignDigest signs a digest with the private key a PKCS#11 URI names, on any
// PKCS#11 module, in one call: it loads the module at modulePath, picks the
// token the URI's token/manufacturer/serial/model attributes select (the only
// token present when the URI names none), logs in with pin, finds the key,
// signs and closes. ECDSA signatures come back ASN.1 DER; opts chooses the
// hash and, with *rsa.PSSOptions, RSA-PSS. It is meant for one-off signers
// such as the UKey helper; servers keep a PKCS11Store open instead.
func SignDigest(ctx context.Context, modulePath, uri string, pin Secret, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	u, err := ParsePKCS11URI(uri)
	if err != nil {
		return nil, err
	}
	if pin == "" {
		return nil, wrongPIN(errors.New("empty PIN"))
	}
	s, err := openPKCS11(modulePath, tokenMatch{label: u.Token, manufacturer: u.Manufacturer, serial: u.Serial, model: u.Model}, pin, 1)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	k, err := s.Find(ctx, uri)
	if err != nil {
		return nil, err
	}
	return k.Sign(nil, digest, opts)
}

var _ Store = (*PKCS11Store)(nil)
