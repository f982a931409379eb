package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/mail"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/go-chi/chi/v5"
	"github.com/google/uuid"

	"github.com/securecam/securecam/signaling/jsonerr"
	"github.com/securecam/securecam/signaling/wire"
	"github.com/securecam/securecam/store"
)

// Input bounds.
const (
	maxEmailLen      = 254
	minPasswordRunes = 8
	maxPasswordRunes = 128 // Better Auth's default maximum
	maxNameRunes     = 100
	maxAppVersionLen = 64
	maxPushTokenLen  = 4096
	maxTokenLen      = 512 // any token we issue is far shorter
	maxPageLimit     = 200
)

// decodeJSON reads one JSON object from the body into dst: at most s.maxBody bytes
// (413 too_large beyond), no trailing data, types as declared; unknown fields are
// ignored. Anything but an object — null included — is 400.
func (s *Server) decodeJSON(w http.ResponseWriter, r *http.Request, dst any) error {
	if r.ContentLength > s.maxBody {
		return tooLarge(s.maxBody)
	}
	return decodeBody(http.MaxBytesReader(w, r.Body, s.maxBody), s.maxBody, dst)
}

// decodeBody is decodeJSON over a reader that fails with *http.MaxBytesError past
// limit bytes.
func decodeBody(rd io.Reader, limit int64, dst any) error {
	dec := json.NewDecoder(rd)
	var raw json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		return decodeError(err, limit)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		var syntaxErr *json.SyntaxError
		if err != nil && !errors.As(err, &syntaxErr) {
			return decodeError(err, limit)
		}
		return errBadRequest("the body has data after its JSON object")
	}
	// null decodes into an object as nothing at all, without an error.
	if string(raw) == "null" {
		return errBadRequest("the body: expected an object, got null")
	}
	if err := json.Unmarshal(raw, dst); err != nil {
		return decodeError(err, limit)
	}
	return nil
}

func tooLarge(limit int64) *Error {
	return &Error{Status: http.StatusRequestEntityTooLarge, Code: wire.CodeTooLarge,
		Detail: fmt.Sprintf("request body larger than %d bytes", limit)}
}

func decodeError(err error, limit int64) *Error {
	var maxErr *http.MaxBytesError
	switch {
	case errors.As(err, &maxErr):
		return tooLarge(limit)
	case errors.Is(err, errSlowBody):
		return errSlowBodyProblem
	case errors.Is(err, io.EOF):
		return errBadRequest("the body is empty; expected a JSON object")
	default:
		return errBadRequest("%s", jsonerr.Describe("", err))
	}
}

// parseID returns the canonical lower-case form of a UUID in its 36-character form.
func parseID(s string) (string, bool) {
	if len(s) != 36 {
		return "", false
	}
	u, err := uuid.Parse(s)
	if err != nil {
		return "", false
	}
	return u.String(), true
}

// pathID reads the {id} path parameter. A malformed id names no resource: 404.
func pathID(r *http.Request) (string, error) {
	id, ok := parseID(chi.URLParam(r, "id"))
	if !ok {
		return "", errNotFound("no such resource")
	}
	return id, nil
}

// bodyID validates an id given in a request body: malformed is 400.
func bodyID(field, v string) (string, error) {
	if v == "" {
		return "", errBadRequest("%s is required", field)
	}
	id, ok := parseID(v)
	if !ok {
		return "", errBadRequest("%s is not a UUID", field)
	}
	return id, nil
}

// pageParams reads the page of a list request (see pageOf).
func pageParams(r *http.Request) (store.Page, error) { return pageOf(r.URL.Query()) }

// list is the shape of every paginated answer.
type list[T any] struct {
	Items      []T     `json:"items"`
	NextCursor *string `json:"next_cursor"`
}

// newList converts a page of store rows to their wire form with from.
func newList[S, W any](rows []S, next string, from func(S) W) list[W] {
	items := make([]W, len(rows))
	for i, r := range rows {
		items[i] = from(r)
	}
	l := list[W]{Items: items}
	if next != "" {
		l.NextCursor = &next
	}
	return l
}

// normalizeEmail trims and lower-cases an address and checks that it is a bare
// address (no display name), as Better Auth stores it.
func normalizeEmail(v string) (string, error) {
	e := strings.ToLower(strings.TrimSpace(v))
	if e == "" {
		return "", errBadRequest("email is required")
	}
	if len(e) > maxEmailLen {
		return "", errBadRequest("email longer than %d bytes", maxEmailLen)
	}
	a, err := mail.ParseAddress(e)
	if err != nil || a.Address != e || !strings.Contains(e[strings.LastIndexByte(e, '@')+1:], ".") {
		return "", errBadRequest("email is not a valid address")
	}
	return e, nil
}

func checkPassword(v string) error {
	n := utf8.RuneCountInString(v)
	if n < minPasswordRunes || n > maxPasswordRunes {
		return errBadRequest("password must be %d to %d characters", minPasswordRunes, maxPasswordRunes)
	}
	return nil
}

// checkName trims a display name and requires 1..100 printable characters.
func checkName(field, v string) (string, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return "", errBadRequest("%s is required", field)
	}
	if utf8.RuneCountInString(v) > maxNameRunes {
		return "", errBadRequest("%s longer than %d characters", field, maxNameRunes)
	}
	if strings.IndexFunc(v, unicode.IsControl) >= 0 {
		return "", errBadRequest("%s contains control characters", field)
	}
	return v, nil
}

func checkAppVersion(v string) error {
	if len(v) > maxAppVersionLen || strings.IndexFunc(v, unicode.IsControl) >= 0 {
		return errBadRequest("app_version must be at most %d printable bytes", maxAppVersionLen)
	}
	return nil
}

func checkPushToken(v string) error {
	if len(v) > maxPushTokenLen {
		return errBadRequest("push_token longer than %d bytes", maxPushTokenLen)
	}
	return nil
}
