package hub

import (
	"encoding/json"
	"net/http"
)

// WriteProblem writes an RFC 9457 problem document with the extra member code:
// the hub's refusals before an upgrade, and every error answer of package web.
// Headers the caller set before (Retry-After, Cache-Control) are kept.
func WriteProblem(w http.ResponseWriter, status int, code, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(struct {
		Type   string `json:"type"`
		Title  string `json:"title"`
		Status int    `json:"status"`
		Detail string `json:"detail,omitempty"`
		Code   string `json:"code"`
	}{"about:blank", http.StatusText(status), status, detail, code})
}
