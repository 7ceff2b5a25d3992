package identity

import (
	"context"
	"time"
)

// Person is who a check is about.
type Person struct {
	Name     string
	IDNumber string
	Phone    string
}

// CheckResult is a provider's answer to an element check. Match false with
// a Reason (Chinese, for the user) is a definite "does not match"; errors are
// for checks that could not be done.
type CheckResult struct {
	// TxnID is the provider's transaction id, kept as evidence.
	TxnID  string
	Match  bool
	Reason string
}

// ElementChecker checks a person's details against authoritative records:
// the carrier's real-name registration (three elements: name, ID number,
// phone) and the bank's (four elements: plus the bank card).
//
// Both return an error only when the check could not be done (timeout,
// outage): the user may retry later; nothing about the person is concluded.
type ElementChecker interface {
	CheckThree(ctx context.Context, p Person) (CheckResult, error)
	CheckFour(ctx context.Context, p Person, cardNumber string) (CheckResult, error)
}

// FaceRequest starts a face liveness session.
type FaceRequest struct {
	Person
	// ReturnURL is where the provider's page sends the user's browser when
	// the session ends.
	ReturnURL string
	// CallbackURL is where the provider notifies the platform (server to
	// server) that the session ended; the platform then asks for the result.
	CallbackURL string
}

// FaceSession is a started liveness session.
type FaceSession struct {
	ID string
	// RedirectURL is the provider's page the user opens on a phone to do the
	// liveness check.
	RedirectURL string
	ExpiresAt   time.Time
}

// FaceStatus is the state of a liveness session.
type FaceStatus string

// Face session states.
const (
	FacePending FaceStatus = "pending"
	FacePassed  FaceStatus = "passed"
	FaceFailed  FaceStatus = "failed"
)

// FaceResult is the authoritative outcome of a session. The provider keeps
// the video; the platform keeps only this.
type FaceResult struct {
	Status FaceStatus
	TxnID  string
	// Score is the similarity to the ID photo, 0–100, when known.
	Score  int
	Reason string
}

// FaceProvider runs face liveness + comparison with the ID photo on record.
// StartLiveness returns an error when the provider cannot be reached; Result
// returns FacePending until the user finishes (or the session expires, then
// FaceFailed).
type FaceProvider interface {
	StartLiveness(ctx context.Context, req FaceRequest) (FaceSession, error)
	Result(ctx context.Context, sessionID string) (FaceResult, error)
}
