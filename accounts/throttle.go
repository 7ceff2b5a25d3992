package accounts

import (
	"context"
	"fmt"

	"signet/ent/loginattempt"
	"signet/errs"
	"signet/viewer"
)

// checkLoginThrottle refuses a login attempt for phone when the account or
// the client IP has failed too often within Policy.LoginWindow.
func (s *Service) checkLoginThrottle(ctx context.Context, phone string) error {
	sys := viewer.System(ctx)
	since := s.now().Add(-s.policy.LoginWindow)
	mins := int(s.policy.LoginWindow.Minutes())
	n, err := s.db.LoginAttempt.Query().
		Where(loginattempt.Phone(phone), loginattempt.CreatedAtGT(since)).Count(sys)
	if err != nil {
		return fmt.Errorf("login throttle: %w", err)
	}
	if n >= s.policy.LoginMaxPerPhone {
		return errs.Newf(errs.RateLimited, "登录失败次数过多，账号已临时锁定，请%d分钟后再试", mins)
	}
	if ip := viewer.ClientFrom(ctx).IP; ip != "" {
		n, err := s.db.LoginAttempt.Query().
			Where(loginattempt.IP(ip), loginattempt.CreatedAtGT(since)).Count(sys)
		if err != nil {
			return fmt.Errorf("login throttle: %w", err)
		}
		if n >= s.policy.LoginMaxPerIP {
			return errs.Newf(errs.RateLimited, "当前网络登录失败次数过多，请%d分钟后再试", mins)
		}
	}
	return nil
}

// recordLoginFailure counts a failed login for phone and the client IP.
func (s *Service) recordLoginFailure(ctx context.Context, phone, method string) {
	err := s.db.LoginAttempt.Create().
		SetPhone(truncate(phone, 32)).SetIP(viewer.ClientFrom(ctx).IP).SetMethod(method).
		SetCreatedAt(s.now()).Exec(viewer.System(ctx))
	if err != nil {
		s.log.ErrorContext(ctx, "record login failure", "err", err)
	}
}

// clearLoginFailures forgets an account's failures after a successful login.
func (s *Service) clearLoginFailures(ctx context.Context, phone string) {
	if _, err := s.db.LoginAttempt.Delete().Where(loginattempt.Phone(phone)).Exec(viewer.System(ctx)); err != nil {
		s.log.ErrorContext(ctx, "clear login failures", "err", err)
	}
}
