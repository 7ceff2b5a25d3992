// Package errs is Signet's error vocabulary: a handful of codes that every
// edge (GraphQL, HTTP handlers, the CLI) maps once, each error carrying a clear
// Simplified Chinese message for the person who caused it and, separately, the
// internal detail that is logged but never shown.
//
// Domain code returns errors made here (or wraps them with fmt.Errorf("op: %w"));
// anything else that reaches an edge is treated as Internal.
package errs

import (
	"errors"
	"fmt"
)

// Code classifies an error for clients. The string values are the GraphQL
// extensions.code values.
type Code string

// The codes an edge may return.
const (
	Invalid         Code = "INVALID_ARGUMENT"
	Unauthenticated Code = "UNAUTHENTICATED"
	Forbidden       Code = "FORBIDDEN"
	NotFound        Code = "NOT_FOUND"
	Conflict        Code = "CONFLICT"
	RateLimited     Code = "RATE_LIMITED"
	Internal        Code = "INTERNAL"
)

// defaultMessages are shown when an error carries no message of its own.
var defaultMessages = map[Code]string{
	Invalid:         "请求参数不正确",
	Unauthenticated: "请先登录",
	Forbidden:       "没有权限执行此操作",
	NotFound:        "请求的内容不存在",
	Conflict:        "操作与当前状态冲突，请刷新后重试",
	RateLimited:     "操作过于频繁，请稍后再试",
	Internal:        "系统繁忙，请稍后再试",
}

// Error is a classified error. Message is safe to show to the user; Field, when
// set, names the input that was wrong; Cause is internal and only logged.
type Error struct {
	Code    Code
	Message string
	Field   string
	Cause   error
}

// Error implements error. It includes the cause for logs.
func (e *Error) Error() string {
	s := string(e.Code) + ": " + e.Message
	if e.Field != "" {
		s += " (field " + e.Field + ")"
	}
	if e.Cause != nil {
		s += ": " + e.Cause.Error()
	}
	return s
}

// Unwrap returns the internal cause.
func (e *Error) Unwrap() error { return e.Cause }

// New returns an error with the code and user-facing message.
func New(code Code, message string) *Error {
	return &Error{Code: code, Message: message}
}

// Newf is New with a formatted message.
func Newf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// InvalidField returns an Invalid error naming the offending input field.
func InvalidField(field, message string) *Error {
	return &Error{Code: Invalid, Message: message, Field: field}
}

// Wrap returns an error with the code and message whose cause is err (logged,
// never shown).
func Wrap(err error, code Code, message string) *Error {
	return &Error{Code: code, Message: message, Cause: err}
}

// As returns the first *Error in err's chain, or nil.
func As(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return nil
}

// CodeOf returns the code of err: the code of the first *Error in its chain,
// Internal for any other non-nil error, and "" for nil.
func CodeOf(err error) Code {
	if err == nil {
		return ""
	}
	if e := As(err); e != nil {
		return e.Code
	}
	return Internal
}

// Is reports whether err carries the code.
func Is(err error, code Code) bool { return CodeOf(err) == code }

// MessageOf returns the user-facing message for err. Errors that are not
// classified (and Internal ones) get the generic internal message, so no
// internal detail is ever shown.
func MessageOf(err error) string {
	e := As(err)
	if e == nil || e.Code == Internal {
		return defaultMessages[Internal]
	}
	if e.Message != "" {
		return e.Message
	}
	return defaultMessages[e.Code]
}
