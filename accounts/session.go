package accounts

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"strings"
	"time"

	"entgo.io/ent/dialect"
	"entgo.io/ent/dialect/sql"

	"signet/ent"
	"signet/ent/predicate"
	"signet/ent/session"
	"signet/ent/user"
	"signet/errs"
	"signet/viewer"
)

// Session login methods.
const (
	MethodSMS         = session.MethodSms
	MethodPassword    = session.MethodPassword
	MethodCertificate = session.MethodCertificate
)

const tokenPrefix = "sgt_"

// AuthResult is a successful login or registration.
type AuthResult struct {
	// Token is the bearer token; it is shown once and only its hash is stored.
	Token   string
	User    *ent.User
	Session *ent.Session
}

func userPhone(phone string) predicate.User { return user.Phone(phone) }

// newSession creates a session for u inside tx and returns its token.
func (s *Service) newSession(ctx context.Context, tx *ent.Tx, u *ent.User, method session.Method) (AuthResult, error) {
	raw := make([]byte, 32)
	if _, err := io.ReadFull(s.rand, raw); err != nil {
		return AuthResult{}, fmt.Errorf("session token: %w", err)
	}
	token := tokenPrefix + base64.RawURLEncoding.EncodeToString(raw)
	sum := sha256.Sum256([]byte(token))
	now := s.now()
	client := viewer.ClientFrom(ctx)
	sess, err := tx.Session.Create().
		SetUserID(u.ID).SetTokenHash(sum[:]).SetMethod(method).
		SetIP(client.IP).SetUserAgent(truncate(client.UserAgent, 512)).
		SetLastSeenAt(now).SetExpiresAt(now.Add(s.policy.SessionTTL)).
		Save(viewer.System(ctx))
	if err != nil {
		return AuthResult{}, fmt.Errorf("create session: %w", err)
	}
	return AuthResult{Token: token, User: u, Session: sess}, nil
}

// unwrap detaches the result's entities from the transaction that made them,
// so their edges can be loaded after commit.
func (r AuthResult) unwrap() AuthResult {
	r.User = r.User.Unwrap()
	r.Session = r.Session.Unwrap()
	return r
}

// become makes the rest of the request act as the new session's user.
func become(ctx context.Context, res AuthResult) {
	viewer.Become(ctx, viewer.Viewer{UserID: res.User.ID, SessionID: res.Session.ID, Phone: res.User.Phone})
}

// Authenticate resolves a bearer token to a viewer. A missing, unknown,
// revoked or expired token is Unauthenticated. Use keeps the session alive
// (its expiry slides by Policy.SessionTTL, written at most once a minute).
func (s *Service) Authenticate(ctx context.Context, token string) (viewer.Viewer, error) {
	token = strings.TrimSpace(token)
	if !strings.HasPrefix(token, tokenPrefix) {
		return viewer.Viewer{}, errs.New(errs.Unauthenticated, "登录已失效，请重新登录")
	}
	sys := viewer.System(ctx)
	sum := sha256.Sum256([]byte(token))
	now := s.now()
	cs, found := s.sessions.Get(sum, now)
	if found && !now.Before(cs.expires) {
		return viewer.Viewer{}, errs.New(errs.Unauthenticated, "登录已过期，请重新登录")
	}
	if !found {
		query, ok := sessionSQL[s.db.Dialect()]
		if !ok {
			return viewer.Viewer{}, fmt.Errorf("authenticate: unsupported database %q", s.db.Dialect())
		}
		gen := s.sessions.Generation()
		var revoked sql.NullTime
		found, err := s.queryRow(sys, query, []any{sum[:]}, &cs.id, &cs.userID, &cs.lastSeen, &cs.expires, &revoked, &cs.phone)
		if err != nil {
			return viewer.Viewer{}, fmt.Errorf("authenticate: %w", err)
		}
		if !found {
			return viewer.Viewer{}, errs.New(errs.Unauthenticated, "登录已失效，请重新登录")
		}
		if revoked.Valid || !now.Before(cs.expires) {
			return viewer.Viewer{}, errs.New(errs.Unauthenticated, "登录已过期，请重新登录")
		}
		s.sessions.Put(sum, cs, gen, now, now.Add(sessionCacheTTL))
	}
	if now.Sub(cs.lastSeen) > time.Minute {
		// One UPDATE statement (UpdateOne would add a transaction and a re-read).
		expires := now.Add(s.policy.SessionTTL)
		err := s.db.Session.Update().Where(session.ID(cs.id)).
			SetLastSeenAt(now).SetExpiresAt(expires).Exec(sys)
		if err != nil {
			s.log.WarnContext(ctx, "touch session", "err", err)
		} else {
			s.sessions.Update(sum, func(cs *cachedSession) { cs.lastSeen, cs.expires = now, expires })
		}
	}
	return viewer.Viewer{UserID: cs.userID, SessionID: cs.id, Phone: cs.phone}, nil
}

// queryRow runs a statement written by hand and scans its first row into
// dest; found is false when there is none.
func (s *Service) queryRow(ctx context.Context, query string, args []any, dest ...any) (found bool, err error) {
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return false, err
	}
	if found = rows.Next(); found {
		err = rows.Scan(dest...)
	}
	if cerr := rows.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = rows.Err()
	}
	return found, err
}

// sessionSQL reads a session by its token's hash, joined with its user's
// phone: every request pays for it, so it is one statement written once per
// database, reading only the columns Authenticate uses and scanning them
// into plain variables — ent's query building and entity scanning were
// about a hundred allocations of each request, for one row.
var sessionSQL = map[string]string{
	dialect.SQLite:   buildSessionSQL(dialect.SQLite),
	dialect.Postgres: buildSessionSQL(dialect.Postgres),
}

func buildSessionSQL(d string) string {
	s, u := sql.Table(session.Table).As("s"), sql.Table(user.Table).As("u")
	q, _ := sql.Dialect(d).Select(s.C(session.FieldID), s.C(session.FieldUserID), s.C(session.FieldLastSeenAt),
		s.C(session.FieldExpiresAt), s.C(session.FieldRevokedAt), u.C(user.FieldPhone)).
		From(s).Join(u).On(s.C(session.FieldUserID), u.C(user.FieldID)).
		Where(sql.EQ(s.C(session.FieldTokenHash), []byte(nil))).Query()
	return q
}

// Logout revokes the viewer's current session.
func (s *Service) Logout(ctx context.Context) error {
	v := viewer.FromContext(ctx)
	if !v.Authenticated() {
		return errs.New(errs.Unauthenticated, "请先登录")
	}
	if err := s.revoke(ctx, v.UserID, v.SessionID); err != nil {
		return err
	}
	viewer.Become(ctx, viewer.Viewer{})
	return nil
}

// RevokeSession revokes one of the viewer's own sessions. Another user's
// session is NotFound, exactly like a session that does not exist.
func (s *Service) RevokeSession(ctx context.Context, id int) error {
	v := viewer.FromContext(ctx)
	if !v.Authenticated() {
		return errs.New(errs.Unauthenticated, "请先登录")
	}
	return s.revoke(ctx, v.UserID, id)
}

func (s *Service) revoke(ctx context.Context, userID, sessionID int) error {
	n, err := s.db.Session.Update().
		Where(session.ID(sessionID), session.UserID(userID), session.RevokedAtIsNil()).
		SetRevokedAt(s.now()).Save(viewer.System(ctx))
	if err != nil {
		return fmt.Errorf("revoke session: %w", err)
	}
	if n == 0 {
		return errs.New(errs.NotFound, "会话不存在或已下线")
	}
	s.sessionsChanged(ctx, userID)
	return nil
}

// revokeAll revokes the user's live sessions except keep (0 keeps none).
func (s *Service) revokeAll(ctx context.Context, tx *ent.Tx, userID, keep int) error {
	q := tx.Session.Update().Where(session.UserID(userID), session.RevokedAtIsNil())
	if keep != 0 {
		q = q.Where(session.IDNEQ(keep))
	}
	if _, err := q.SetRevokedAt(s.now()).Save(viewer.System(ctx)); err != nil {
		return fmt.Errorf("revoke sessions: %w", err)
	}
	s.sessionsChangeWith(ctx, tx, userID)
	return nil
}

// Me returns the viewer's user.
func (s *Service) Me(ctx context.Context) (*ent.User, error) { return s.currentUser(ctx) }

func (s *Service) currentUser(ctx context.Context) (*ent.User, error) {
	v := viewer.FromContext(ctx)
	if !v.Authenticated() {
		return nil, errs.New(errs.Unauthenticated, "请先登录")
	}
	u, err := s.db.User.Get(viewer.System(ctx), v.UserID)
	if ent.IsNotFound(err) {
		return nil, errs.New(errs.Unauthenticated, "登录已失效，请重新登录")
	}
	if err != nil {
		return nil, fmt.Errorf("current user: %w", err)
	}
	return u, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	// Cut on a rune boundary.
	for n > 0 && n < len(s) && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}
