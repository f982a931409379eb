package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/securecam/securecam/signaling/wire"
)

// apiSpec is openapi.json, loaded and validated once. Its component schemas (the
// answers' shapes) are made closed: an answer with a field the document does not list
// fails the test that got it. The document itself leaves them open, for clients: answers
// may gain fields.
var apiSpec = sync.OnceValues(func() (routers.Router, error) {
	raw, err := os.ReadFile("openapi.json")
	if err != nil {
		return nil, err
	}
	doc, err := openapi3.NewLoader().LoadFromData(raw)
	if err != nil {
		return nil, err
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, err
	}
	closed := map[*openapi3.Schema]bool{}
	for _, s := range doc.Components.Schemas {
		closeSchema(s.Value, closed)
	}
	return gorillamux.NewRouter(doc)
})

func init() {
	for _, ct := range []string{"video/mp4", "video/webm", "image/jpeg"} {
		openapi3filter.RegisterBodyDecoder(ct, openapi3filter.FileBodyDecoder)
	}
	for _, ct := range []string{"application/sdp", "application/trickle-ice-sdpfrag"} {
		openapi3filter.RegisterBodyDecoder(ct, openapi3filter.PlainBodyDecoder)
	}
}

// closeSchema forbids properties an object schema does not list, in it and its parts.
func closeSchema(s *openapi3.Schema, seen map[*openapi3.Schema]bool) {
	if s == nil || seen[s] {
		return
	}
	seen[s] = true
	if len(s.Properties) > 0 && s.AdditionalProperties.Has == nil && s.AdditionalProperties.Schema == nil {
		no := false
		s.AdditionalProperties.Has = &no
	}
	for _, p := range s.Properties {
		closeSchema(p.Value, seen)
	}
	if s.Items != nil {
		closeSchema(s.Items.Value, seen)
	}
}

func TestOpenAPIDocumentIsValid(t *testing.T) {
	if _, err := apiSpec(); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
}

// TestErrorTableListsEveryCode holds docs/api.md's promise that its error table lists
// every code the API answers with: the codes of the document's problem schema.
func TestErrorTableListsEveryCode(t *testing.T) {
	raw, err := os.ReadFile("openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Components struct {
			Schemas struct {
				ErrorCode struct {
					Enum []string `json:"enum"`
				} `json:"ErrorCode"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	apiMD, err := os.ReadFile("../docs/api.md")
	if err != nil {
		t.Fatal(err)
	}
	codes := doc.Components.Schemas.ErrorCode.Enum
	for _, code := range append(codes, wire.CodeBadRequest, wire.CodeInvalidCredentials, wire.CodeUnauthorized, wire.CodeForbidden,
		wire.CodeNotFound, wire.CodeConflict, wire.CodeTooLarge, wire.CodeRateLimited, wire.CodeUnavailable, wire.CodeInternal) {
		if !slices.Contains(codes, code) {
			t.Errorf("openapi.json's ErrorCode lacks %q", code)
		}
		if !strings.Contains(string(apiMD), "| `"+code+"` |") {
			t.Errorf("docs/api.md's error table lacks %q", code)
		}
	}
}

func TestOpenAPIDocumentIsServed(t *testing.T) {
	e := newEnv(t)
	res := e.do("GET", "/api/v1/openapi.json", nil)
	res.want(t, http.StatusOK, nil)
	want, err := os.ReadFile("openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(res.body, want) {
		t.Fatal("GET /api/v1/openapi.json is not openapi.json")
	}
}

// checkAPI validates one exchange against the OpenAPI document: the answer must be one
// the document lists for the operation (status, headers, body); a request the document
// refuses must have been refused (4xx); a path or method the API does not have must be a
// 404 or 405 problem. GET /ws is left to the socket tests.
func checkAPI(t *testing.T, req *http.Request, reqBody []byte, res *http.Response, resBody []byte) {
	t.Helper()
	if req.URL.Path == "/ws" {
		return // the socket's upgrade and messages are tested by the socket tests (protocol.md)
	}
	if strings.HasPrefix(req.URL.Path, "/api/auth/") {
		return // Better Auth's routes, not the hub's API: checked against Better Auth itself (better-auth.md)
	}
	router, err := apiSpec()
	if err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	vr := req.Clone(req.Context())
	vr.Body = io.NopCloser(bytes.NewReader(reqBody))
	route, params, err := router.FindRoute(vr)
	switch {
	case errors.Is(err, routers.ErrMethodNotAllowed):
		if res.StatusCode != http.StatusMethodNotAllowed || res.Header.Get("Allow") == "" {
			t.Fatalf("%s %s: the document has no such operation, answered %d (Allow %q), want 405 with Allow",
				req.Method, req.URL.Path, res.StatusCode, res.Header.Get("Allow"))
		}
		return
	case errors.Is(err, routers.ErrPathNotFound):
		if strings.HasPrefix(req.URL.Path, "/api/") && res.StatusCode != http.StatusNotFound {
			t.Fatalf("%s %s: the document has no such path, answered %d, want 404", req.Method, req.URL.Path, res.StatusCode)
		}
		return
	case err != nil:
		t.Fatalf("%s %s: find route: %v", req.Method, req.URL.Path, err)
	}
	in := &openapi3filter.RequestValidationInput{
		Request:    vr,
		PathParams: params,
		Route:      route,
		Options:    &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, MultiError: true},
	}
	if err := openapi3filter.ValidateRequest(req.Context(), in); err != nil && (res.StatusCode < 400 || res.StatusCode > 499) {
		t.Fatalf("%s %s: a request the document refuses was answered %d:\n%v", req.Method, req.URL.Path, res.StatusCode, err)
	}
	err = openapi3filter.ValidateResponse(req.Context(), &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in,
		Status:                 res.StatusCode,
		Header:                 res.Header,
		Body:                   io.NopCloser(bytes.NewReader(resBody)),
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	})
	if err != nil {
		t.Fatalf("%s %s: answer %d does not match the OpenAPI document: %v\nbody: %s", req.Method, req.URL.Path, res.StatusCode, err, resBody)
	}
}
