package wire

import (
	"fmt"
	"net/http"

	"github.com/securecam/securecam/hub"
)

// Application error codes: data.code of an error message, code of a problem document.
// The hub sends the first five on its own and declares them.
const (
	CodeBadRequest  = hub.CodeBadRequest
	CodeUnknownType = hub.CodeUnknownType
	CodeInternal    = hub.CodeInternal
	CodeUnavailable = hub.CodeUnavailable
	CodeRateLimited = hub.CodeRateLimited

	CodeInvalidCredentials = "invalid_credentials"
	CodeUnauthorized       = "unauthorized"
	CodeForbidden          = "forbidden"
	CodeNotFound           = "not_found"
	CodeNotLinked          = "not_linked"
	CodeTargetOffline      = "target_offline"
	CodeBusy               = "busy"
	CodeConflict           = "conflict"
	CodeTooLarge           = "too_large"
	// CodeInsufficientStorage (507, REST only): the account's storage quota is used up,
	// or the hub's disk is down to its reserve.
	CodeInsufficientStorage = "insufficient_storage"
)

// httpStatus is the HTTP status of a REST answer carrying each code.
var httpStatus = map[string]int{
	CodeBadRequest:          http.StatusBadRequest,
	CodeUnknownType:         http.StatusBadRequest, // socket only
	CodeInternal:            http.StatusInternalServerError,
	CodeUnavailable:         http.StatusServiceUnavailable,
	CodeInvalidCredentials:  http.StatusUnauthorized,
	CodeUnauthorized:        http.StatusUnauthorized,
	CodeForbidden:           http.StatusForbidden,
	CodeNotFound:            http.StatusNotFound,
	CodeNotLinked:           http.StatusForbidden,
	CodeTargetOffline:       http.StatusConflict,
	CodeBusy:                http.StatusConflict,
	CodeConflict:            http.StatusConflict,
	CodeTooLarge:            http.StatusRequestEntityTooLarge,
	CodeInsufficientStorage: http.StatusInsufficientStorage,
	CodeRateLimited:         http.StatusTooManyRequests,
}

// HTTPStatus returns the HTTP status of a REST answer with code: 500 for a code this
// table does not know.
func HTTPStatus(code string) int {
	if s, ok := httpStatus[code]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// Error is a refusal a client sees: a code and a human-readable message. Validators
// and signaling return it; the socket sends it as an error message, web as a problem
// document with HTTPStatus(Code).
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Errorf returns an *Error with code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}
