package app_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/securecam/securecam/web/app"
)

func TestHandler(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(app.Handler())
	t.Cleanup(srv.Close)

	tests := []struct {
		name        string
		method      string
		path        string
		status      int
		contentType string
		bodyHas     string
	}{
		{"root is the app", http.MethodGet, "/", 200, "text/html; charset=utf-8", `<script type="module" src="/js/main.js">`},
		{"index.html itself", http.MethodGet, "/index.html", 200, "text/html; charset=utf-8", `id="app"`},
		{"client route falls back to index", http.MethodGet, "/devices", 200, "text/html; charset=utf-8", `id="app"`},
		{"nested client route with query", http.MethodGet, "/verify-email?token=abc", 200, "text/html; charset=utf-8", `id="app"`},
		{"live view route", http.MethodGet, "/live/0190f0e2-7b1c-7cc0-8000-000000000001", 200, "text/html; charset=utf-8", `id="app"`},
		{"every app route is the app", http.MethodGet, "/reset-password?token=abc", 200, "text/html; charset=utf-8", `id="app"`},
		{"settings route", http.MethodGet, "/settings", 200, "text/html; charset=utf-8", `id="app"`},
		{"sharing route", http.MethodGet, "/sharing", 200, "text/html; charset=utf-8", `id="app"`},
		{"the mailed share invitation link", http.MethodGet, "/shares/accept?token=abc", 200, "text/html; charset=utf-8", `id="app"`},
		{"other paths under /shares are 404", http.MethodGet, "/shares/other", 404, "text/plain; charset=utf-8", ""},
		{"trailing slash of a route", http.MethodGet, "/events/", 200, "text/html; charset=utf-8", `id="app"`},
		{"directory is not listed", http.MethodGet, "/js/", 404, "text/plain; charset=utf-8", ""},
		{"unknown path is 404", http.MethodGet, "/healthz-typo", 404, "text/plain; charset=utf-8", ""},
		{"unknown nested path is 404", http.MethodGet, "/devices/extra", 404, "text/plain; charset=utf-8", ""},
		{"live view with extra segment is 404", http.MethodGet, "/live/abc/def", 404, "text/plain; charset=utf-8", ""},
		{"unknown HEAD is 404", http.MethodHead, "/nope", 404, "text/plain; charset=utf-8", ""},
		{"module is javascript", http.MethodGet, "/js/main.js", 200, "text/javascript; charset=utf-8", "import"},
		{"vendored library", http.MethodGet, "/vendor/htm-preact.js", 200, "text/javascript; charset=utf-8", "export"},
		{"stylesheet", http.MethodGet, "/app.css", 200, "text/css; charset=utf-8", "body"},
		{"missing module is 404", http.MethodGet, "/js/nope.js", 404, "text/plain; charset=utf-8", ""},
		{"missing image is 404", http.MethodGet, "/favicon.ico", 404, "text/plain; charset=utf-8", ""},
		{"unknown API path is a problem", http.MethodGet, "/api/v1/nope", 404, "application/problem+json", `"detail":"no such endpoint","code":"not_found"`},
		{"unknown path under /api is a problem with a detail", http.MethodGet, "/api/nope", 404, "application/problem+json", `"detail":"no such endpoint","code":"not_found"`},
		{"any method under /api is a problem", http.MethodPost, "/api/nope", 404, "application/problem+json", `"detail":"no such endpoint","code":"not_found"`},
		{"HEAD works", http.MethodHead, "/js/api.js", 200, "text/javascript; charset=utf-8", ""},
		{"POST refused", http.MethodPost, "/", 405, "text/plain; charset=utf-8", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			req, err := http.NewRequest(tc.method, srv.URL+tc.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			res, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			body, err := io.ReadAll(res.Body)
			if err != nil {
				t.Fatal(err)
			}
			if res.StatusCode != tc.status {
				t.Fatalf("status = %d, want %d", res.StatusCode, tc.status)
			}
			if got := res.Header.Get("Content-Type"); got != tc.contentType {
				t.Errorf("Content-Type = %q, want %q", got, tc.contentType)
			}
			if !strings.Contains(string(body), tc.bodyHas) {
				t.Errorf("body does not contain %q:\n%.300s", tc.bodyHas, body)
			}
			if got := res.Header.Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("X-Content-Type-Options = %q, want nosniff", got)
			}
			if tc.status == 200 {
				if got := res.Header.Get("Cache-Control"); got != "no-cache" {
					t.Errorf("Cache-Control = %q, want no-cache", got)
				}
				if res.Header.Get("ETag") == "" {
					t.Error("no ETag")
				}
			}
		})
	}
}

func TestHandlerRevalidation(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(app.Handler())
	t.Cleanup(srv.Close)

	res, err := srv.Client().Get(srv.URL + "/js/main.js")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	etag := res.Header.Get("ETag")

	req, err := http.NewRequest(http.MethodGet, srv.URL+"/js/main.js", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("If-None-Match", etag)
	res, err = srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNotModified {
		t.Fatalf("status = %d, want 304 for a matching ETag", res.StatusCode)
	}
}

// Every module the app imports must be embedded, or the browser gets index.html
// (or a 404) instead of code.
func TestModuleImportsResolve(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(app.Handler())
	t.Cleanup(srv.Close)

	seen := map[string]bool{}
	queue := []string{"/js/main.js"}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		if seen[p] {
			continue
		}
		seen[p] = true
		res, err := srv.Client().Get(srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/javascript; charset=utf-8" {
			t.Fatalf("%s: status %d, type %q", p, res.StatusCode, res.Header.Get("Content-Type"))
		}
		for _, spec := range importSpecifiers(string(body)) {
			if !strings.HasPrefix(spec, ".") {
				t.Fatalf("%s imports %q: only relative imports work without a build step", p, spec)
			}
			u, err := res.Request.URL.Parse(spec)
			if err != nil {
				t.Fatal(err)
			}
			queue = append(queue, u.Path)
		}
	}
	if len(seen) < 5 {
		t.Fatalf("only %d modules reached from main.js", len(seen))
	}
}

// importSpecifiers finds the specifiers of static `import … from '…'` and
// `export … from '…'` statements (single- or multi-line) at the start of a line.
func importSpecifiers(src string) []string {
	var out []string
	for _, line := range strings.Split(src, "\n") {
		if !strings.HasPrefix(line, "import ") && !strings.HasPrefix(line, "export ") &&
			!strings.HasPrefix(line, "} from ") {
			continue
		}
		_, rest, ok := strings.Cut(line, " from '")
		if !ok {
			continue
		}
		if spec, _, ok := strings.Cut(rest, "'"); ok {
			out = append(out, spec)
		}
	}
	return out
}
