// Package app serves the browser app of SecureCam Hub: buildless ES modules
// embedded in the binary from static/.
//
// Handler answers GET and HEAD only. A path naming an embedded file gets that
// file with its content type, an ETag and "Cache-Control: no-cache" (file
// names carry no content hash, so browsers revalidate and never run a stale
// module after an upgrade). The app's own client-side routes (see [routes])
// get index.html. Every other path is 404: anything under /api/ as a problem
// document, so a mistyped API call never receives HTML, the rest as plain
// text, so a mistyped health-check path never looks healthy. Directories are
// never listed.
//
// Concurrency: the handler only reads immutable data built once at package
// initialisation and is safe for concurrent use.
package app

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/securecam/securecam/hub"
	"github.com/securecam/securecam/signaling/wire"
)

//go:embed static
var static embed.FS

// contentTypes covers every extension shipped in static/; anything else is
// served as opaque bytes.
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
	".json": "application/manifest+json",
	".md":   "text/markdown; charset=utf-8",
}

// securityHeaders go on every answer. The token in /reset-password?token=…
// must not leak through Referer; media and images come from this hub or from
// blob: URLs (snapshots, local previews).
var securityHeaders = map[string]string{
	"Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; " +
		"img-src 'self' blob: data:; media-src 'self' blob:; connect-src 'self' ws: wss:; " +
		"object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
	"X-Content-Type-Options": "nosniff",
	"Referrer-Policy":        "no-referrer",
	"Permissions-Policy":     "camera=(self), microphone=(self), fullscreen=(self)",
}

// routes are the client-side routes of the app (web/app/static/js/ui/app.js):
// exact paths, and prefixes ending in "/" followed by exactly one segment.
var routes = map[string]bool{
	"/": true, "/devices": true, "/camera": true, "/live": true, "/live/": true, "/events": true, "/events/": true,
	"/links": true, "/notifications": true, "/sign-in": true, "/sign-up": true,
	"/forgot-password": true, "/reset-password": true, "/verify-email": true,
	"/settings": true, "/sharing": true, "/shares/accept": true,
}

// isRoute reports whether the cleaned path is one of the app's routes.
func isRoute(name string) bool {
	if routes[name] {
		return true
	}
	dir, last := path.Split(name)
	return dir != "/" && routes[dir] && last != ""
}

type asset struct {
	body        []byte
	contentType string
	etag        string
}

var assets = mustLoad()

func mustLoad() map[string]asset {
	root, err := fs.Sub(static, "static")
	if err != nil {
		panic(fmt.Sprintf("app: %v", err))
	}
	out := map[string]asset{}
	err = fs.WalkDir(root, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := fs.ReadFile(root, name)
		if err != nil {
			return fmt.Errorf("read %s: %w", name, err)
		}
		sum := sha256.Sum256(body)
		ct, ok := contentTypes[path.Ext(name)]
		if !ok {
			ct = "application/octet-stream"
		}
		out["/"+name] = asset{body: body, contentType: ct, etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
		return nil
	})
	if err != nil {
		panic(fmt.Sprintf("app: load embedded files: %v", err))
	}
	if _, ok := out["/index.html"]; !ok {
		panic("app: static/index.html missing")
	}
	return out
}

// Handler returns the handler of the browser app, meant to be mounted at "/"
// after the API, /ws and the health endpoints.
func Handler() http.Handler {
	return http.HandlerFunc(serve)
}

func serve(w http.ResponseWriter, r *http.Request) {
	for k, v := range securityHeaders {
		w.Header().Set(k, v)
	}
	name := path.Clean("/" + r.URL.Path)
	if name == "/api" || strings.HasPrefix(name, "/api/") {
		hub.WriteProblem(w, http.StatusNotFound, wire.CodeNotFound, "no such endpoint")
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	a, ok := assets[name]
	switch {
	case ok:
	case isRoute(name):
		a = assets["/index.html"]
	default:
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", a.contentType)
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", a.etag)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
}
