package tsa

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"time"

	"signet/signingcore/cms"
)

// Info is a decoded TSTInfo.
type Info struct {
	Policy        asn1.ObjectIdentifier
	HashAlgorithm crypto.Hash
	HashedMessage []byte
	SerialNumber  *big.Int
	GenTime       time.Time
	Nonce         *big.Int
}

// NewRequest returns a DER TimeStampReq for digest (made with hash), with
// the nonce (nil for none) and certReq set so the token carries the TSA
// certificates.
func NewRequest(digest []byte, hash crypto.Hash, nonce *big.Int) ([]byte, error) {
	oid, ok := cms.OIDForHash(hash)
	if !ok {
		return nil, fmt.Errorf("tsa: new request: unsupported hash %v", hash)
	}
	if len(digest) != hash.Size() {
		return nil, errors.New("tsa: new request: digest length does not match the hash")
	}
	der, err := asn1.Marshal(timeStampReq{
		Version:        1,
		MessageImprint: messageImprint{HashAlgorithm: pkix.AlgorithmIdentifier{Algorithm: oid}, HashedMessage: digest},
		Nonce:          nonce,
		CertReq:        true,
	})
	if err != nil {
		return nil, fmt.Errorf("tsa: new request: %w", err)
	}
	return der, nil
}

// StatusError is a TimeStampResp that did not grant a token.
type StatusError struct {
	Status   int
	FailInfo FailureInfo // -1 when absent
	Text     string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("tsa: status %d failInfo %d: %s", e.Status, e.FailInfo, e.Text)
}

// ParseResponse decodes a DER TimeStampResp. A response that is not granted
// yields a *StatusError. On success it returns the token and its TSTInfo.
func ParseResponse(respDER []byte) ([]byte, *Info, error) {
	var body asn1.RawValue
	if rest, err := asn1.Unmarshal(respDER, &body); err != nil || len(rest) != 0 || body.Tag != asn1.TagSequence {
		return nil, nil, errors.New("tsa: parse response: malformed TimeStampResp")
	}
	var status pkiStatusInfo
	rest, err := asn1.Unmarshal(body.Bytes, &status)
	if err != nil {
		return nil, nil, fmt.Errorf("tsa: parse response status: %w", err)
	}
	if status.Status != StatusGranted && status.Status != StatusGrantedWithMods {
		se := &StatusError{Status: status.Status, FailInfo: -1}
		for i := 0; i < status.FailInfo.BitLength; i++ {
			if status.FailInfo.At(i) == 1 {
				se.FailInfo = FailureInfo(i)
				break
			}
		}
		if len(status.StatusString) > 0 {
			se.Text = string(status.StatusString[0].Bytes)
		}
		return nil, nil, se
	}
	if len(rest) == 0 {
		return nil, nil, errors.New("tsa: parse response: granted without a token")
	}
	info, err := ParseToken(rest)
	if err != nil {
		return nil, nil, err
	}
	return rest, info, nil
}

// ParseToken decodes a TimeStampToken, checks its CMS signature (not the
// certificate chain) and returns its TSTInfo.
func ParseToken(token []byte) (*Info, error) {
	sd, err := cms.Parse(token)
	if err != nil {
		return nil, fmt.Errorf("tsa: parse token: %w", err)
	}
	if !sd.ContentType.Equal(cms.OIDTSTInfo) {
		return nil, errors.New("tsa: parse token: content is not a TSTInfo")
	}
	if len(sd.Certificates) > 0 {
		if _, err := sd.Verify(nil); err != nil {
			return nil, fmt.Errorf("tsa: token signature: %w", err)
		}
	}
	var ti tstInfo
	if _, err := asn1.Unmarshal(sd.Content, &ti); err != nil {
		return nil, fmt.Errorf("tsa: parse TSTInfo: %w", err)
	}
	return &Info{
		Policy:        ti.Policy,
		HashAlgorithm: cms.HashForOID(ti.MessageImprint.HashAlgorithm.Algorithm),
		HashedMessage: ti.MessageImprint.HashedMessage,
		SerialNumber:  ti.SerialNumber,
		GenTime:       ti.GenTime,
		Nonce:         ti.Nonce,
	}, nil
}

// exchange builds a request with a random nonce, sends it with roundTrip and
// checks that the answer matches (imprint and nonce).
func exchange(digest []byte, hash crypto.Hash, roundTrip func(req []byte) ([]byte, error)) ([]byte, error) {
	nonce, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 63))
	if err != nil {
		return nil, fmt.Errorf("tsa: nonce: %w", err)
	}
	req, err := NewRequest(digest, hash, nonce)
	if err != nil {
		return nil, err
	}
	resp, err := roundTrip(req)
	if err != nil {
		return nil, err
	}
	token, info, err := ParseResponse(resp)
	if err != nil {
		return nil, err
	}
	if info.HashAlgorithm != hash || !bytes.Equal(info.HashedMessage, digest) {
		return nil, errors.New("tsa: token imprint does not match the request")
	}
	if info.Nonce == nil || info.Nonce.Cmp(nonce) != 0 {
		return nil, errors.New("tsa: token nonce does not match the request")
	}
	return token, nil
}

// Timestamp makes a token in process, as a Timestamper.
func (a *Authority) Timestamp(ctx context.Context, digest []byte, hash crypto.Hash) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return exchange(digest, hash, a.Respond)
}

// ServeHTTP answers RFC 3161 requests posted as application/timestamp-query.
func (a *Authority) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST application/timestamp-query", http.StatusMethodNotAllowed)
		return
	}
	req, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if err != nil {
		http.Error(w, "read request", http.StatusBadRequest)
		return
	}
	resp, err := a.Respond(req)
	if resp == nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	_ = err // a system failure is reported inside the response
	w.Header().Set("Content-Type", "application/timestamp-reply")
	_, _ = w.Write(resp)
}

// HTTPClient is a Timestamper that posts requests to a TSA URL.
type HTTPClient struct {
	// URL of the TSA.
	URL string
	// Client is the HTTP client; http.DefaultClient when nil.
	Client *http.Client
}

// Timestamp posts a request for digest and returns the checked token.
func (c *HTTPClient) Timestamp(ctx context.Context, digest []byte, hash crypto.Hash) ([]byte, error) {
	hc := c.Client
	if hc == nil {
		hc = http.DefaultClient
	}
	return exchange(digest, hash, func(req []byte) ([]byte, error) {
		hr, err := http.NewRequestWithContext(ctx, http.MethodPost, c.URL, bytes.NewReader(req))
		if err != nil {
			return nil, fmt.Errorf("tsa: http request: %w", err)
		}
		hr.Header.Set("Content-Type", "application/timestamp-query")
		resp, err := hc.Do(hr)
		if err != nil {
			return nil, fmt.Errorf("tsa: post %s: %w", c.URL, err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("tsa: post %s: HTTP %d", c.URL, resp.StatusCode)
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if err != nil {
			return nil, fmt.Errorf("tsa: read response: %w", err)
		}
		return body, nil
	})
}
