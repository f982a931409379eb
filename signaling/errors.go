package signaling

import "fmt"

// Error codes of the wire contract that signaling produces. Web maps them to HTTP
// statuses; the hub sends them as error messages.
const (
	CodeBadRequest    = "bad_request"
	CodeForbidden     = "forbidden"
	CodeNotFound      = "not_found"
	CodeNotLinked     = "not_linked"
	CodeTargetOffline = "target_offline"
	CodeBusy          = "busy"
	CodeConflict      = "conflict"
	CodeUnavailable   = "unavailable"
	CodeInternal      = "internal"
)

// Error is a refusal a client sees: a wire error code and a human-readable message.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

func errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}
