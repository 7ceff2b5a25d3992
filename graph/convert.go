package graph

import "signet/accounts"

// authPayload converts a domain login result.
func authPayload(res accounts.AuthResult, err error) (*AuthPayload, error) {
	if err != nil {
		return nil, err
	}
	return &AuthPayload{Token: res.Token, User: res.User, Session: res.Session}, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
