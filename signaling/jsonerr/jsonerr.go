// Package jsonerr says what is wrong with a client's JSON in the client's terms: which
// field, what was expected and what came, instead of encoding/json's Go-typed messages.
// It has no state; its functions are safe for concurrent use.
package jsonerr

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"time"
)

// Describe returns a message for err, an error of json.Unmarshal or json.Decoder.Decode
// on the value named root ("payload", "data"; "" for a request body). A type mismatch
// names the field's path from root ("payload.on: expected a boolean, got a string").
func Describe(root string, err error) string {
	var (
		typeErr   *json.UnmarshalTypeError
		syntaxErr *json.SyntaxError
		timeErr   *time.ParseError
	)
	switch {
	case errors.As(err, &typeErr):
		return fmt.Sprintf("%s: expected %s, got %s", path(root, typeErr.Field), kind(typeErr.Type), got(typeErr.Value))
	case errors.As(err, &syntaxErr):
		return fmt.Sprintf("%s is not valid JSON: %s at byte %d", name(root), syntax(syntaxErr.Error()), syntaxErr.Offset)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return name(root) + " is not valid JSON: it ends in the middle of a value"
	case errors.As(err, &timeErr):
		return fmt.Sprintf("%s: expected an RFC 3339 time such as 2026-03-01T10:15:30Z, got %q", name(root), timeErr.Value)
	default:
		// A value's own UnmarshalJSON refused it (time.Time given a non-string).
		msg := err.Error()
		if i := strings.LastIndex(msg, ": "); i >= 0 {
			msg = msg[i+2:]
		}
		return name(root) + ": " + msg
	}
}

func name(root string) string {
	if root == "" {
		return "the body"
	}
	return root
}

func path(root, field string) string {
	switch {
	case field == "":
		return name(root)
	case root == "":
		return field
	}
	return root + "." + field
}

// kind names a Go type as the JSON value it decodes from.
func kind(t reflect.Type) string {
	if t == nil {
		return "a value"
	}
	if t == reflect.TypeFor[time.Time]() {
		return "an RFC 3339 time string"
	}
	switch t.Kind() {
	case reflect.Pointer:
		return kind(t.Elem())
	case reflect.Bool:
		return "a boolean"
	case reflect.String:
		return "a string"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Map, reflect.Struct:
		return "an object"
	}
	return "a " + t.Kind().String()
}

// got names the JSON value encoding/json reports ("string", "number", "number 1.5",
// "bool", "array", "object").
func got(v string) string {
	switch {
	case v == "string":
		return "a string"
	case v == "bool":
		return "a boolean"
	case v == "array":
		return "an array"
	case v == "object":
		return "an object"
	case v == "number":
		return "a number"
	case strings.HasPrefix(v, "number "):
		return "the number " + strings.TrimPrefix(v, "number ")
	}
	return v
}

// syntax rewrites encoding/json's syntax messages ("invalid character 'x' looking for
// beginning of value") as "unexpected 'x'".
func syntax(msg string) string {
	if rest, ok := strings.CutPrefix(msg, "invalid character "); ok {
		if i := strings.Index(rest, " "); i > 0 && strings.HasPrefix(rest, "'") {
			return "unexpected " + rest[:i]
		}
		if strings.HasPrefix(rest, "'") {
			return "unexpected " + rest
		}
	}
	if msg == "unexpected end of JSON input" {
		return "it ends in the middle of a value"
	}
	return msg
}
