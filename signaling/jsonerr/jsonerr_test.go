package jsonerr_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/securecam/securecam/signaling/jsonerr"
)

type payload struct {
	On       bool            `json:"on"`
	Name     string          `json:"name"`
	Count    int             `json:"count"`
	Level    float64         `json:"level"`
	Tags     []string        `json:"tags"`
	At       time.Time       `json:"at"`
	Limit    *int            `json:"limit"`
	Settings map[string]bool `json:"settings"`
	Nested   struct {
		Quality string `json:"quality"`
	} `json:"nested"`
}

// Every way a client's JSON can be wrong is told in the client's terms: the field's
// path, what was expected, what came.
func TestDescribe(t *testing.T) {
	tests := []struct {
		root, in, want string
	}{
		{"payload", `{"on":"yes"}`, "payload.on: expected a boolean, got a string"},
		{"payload", `{"name":5}`, "payload.name: expected a string, got a number"},
		{"payload", `{"count":1.5}`, "payload.count: expected an integer, got the number 1.5"},
		{"payload", `{"count":"3"}`, "payload.count: expected an integer, got a string"},
		{"payload", `{"level":true}`, "payload.level: expected a number, got a boolean"},
		{"payload", `{"tags":{}}`, "payload.tags: expected an array, got an object"},
		{"payload", `{"limit":[]}`, "payload.limit: expected an integer, got an array"},
		{"payload", `{"settings":"on"}`, "payload.settings: expected an object, got a string"},
		{"payload", `{"nested":{"quality":1}}`, "payload.nested.quality: expected a string, got a number"},
		{"payload", `[]`, "payload: expected an object, got an array"},
		{"", `{"on":1}`, "on: expected a boolean, got a number"},
		{"", `"text"`, "the body: expected an object, got a string"},
		{"data", `{"at":"yesterday"}`, `data: expected an RFC 3339 time such as 2026-03-01T10:15:30Z, got "yesterday"`},
		{"data", `{"at":5}`, "data: input is not a JSON string"},
		{"data", `{"on":tru}`, "data is not valid JSON: unexpected '}' at byte 10"},
		{"", `{"on":true,}`, "the body is not valid JSON: unexpected '}' at byte 12"},
		{"", `{"on":`, "the body is not valid JSON: it ends in the middle of a value at byte 6"},
	}
	for _, tt := range tests {
		var p payload
		err := json.Unmarshal([]byte(tt.in), &p)
		if err == nil {
			t.Fatalf("%s decoded without error", tt.in)
		}
		if got := jsonerr.Describe(tt.root, err); got != tt.want {
			t.Errorf("Describe(%q, %s)\n got %q\nwant %q", tt.root, tt.in, got, tt.want)
		}
	}
}

// A decoder that runs out of input mid-value says so, not "unexpected EOF".
func TestDescribeTruncatedStream(t *testing.T) {
	var p payload
	err := json.NewDecoder(strings.NewReader(`{"on": tr`)).Decode(&p)
	if err == nil {
		t.Fatal("decoded a truncated stream")
	}
	if got, want := jsonerr.Describe("", err), "the body is not valid JSON: it ends in the middle of a value"; got != want {
		t.Errorf("Describe = %q, want %q", got, want)
	}
}
