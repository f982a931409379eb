package web

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"

	"github.com/securecam/securecam/web/internal/betterauth"
)

// parseTrustedProxies reads CIDRs or single addresses.
func parseTrustedProxies(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range list {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("trusted proxy %q: not a CIDR or an IP address", s)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}

func (c *credentials) trusted(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range c.trustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// clientIP is the peer address, or, when the peer is a trusted proxy, the right-most
// X-Forwarded-For hop that is not itself a trusted proxy (hops left of it could be
// forged by the client).
func (s *Server) clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	peer = peer.Unmap()
	if !s.creds.trusted(peer) {
		return peer.String()
	}
	client := peer
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		hop := strings.TrimSpace(hops[i])
		if hop == "" {
			continue
		}
		a, err := netip.ParseAddr(hop)
		if err != nil {
			break // garbage: believe no further
		}
		client = a.Unmap()
		if !s.creds.trusted(client) {
			break
		}
	}
	return client.String()
}

// withClientAddr passes next the request with RemoteAddr naming the client (see
// clientIP) instead of a trusted proxy: the hub keys its budget of failed socket
// authentications by RemoteAddr, and behind a proxy every client would share one.
func (s *Server) withClientAddr(next http.Handler) http.Handler {
	if len(s.creds.trustedProxies) == 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, port, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil {
			port = "0"
		}
		// A shallow copy: the caller's request stays as it was. The context remembers
		// that the peer was a trusted proxy, for its X-Forwarded-Proto.
		r = r.WithContext(context.WithValue(r.Context(), viaTrustedProxyKey{}, s.creds.peerTrusted(r)))
		r.RemoteAddr = net.JoinHostPort(s.clientIP(r), port)
		next.ServeHTTP(w, r)
	})
}

type viaTrustedProxyKey struct{}

// peerTrusted reports whether r's peer is a trusted proxy, also after
// withClientAddr replaced its address with the client's.
func (c *credentials) peerTrusted(r *http.Request) bool {
	if v, ok := r.Context().Value(viaTrustedProxyKey{}).(bool); ok {
		return v
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	peer, err := netip.ParseAddr(host)
	return err == nil && c.trusted(peer)
}

// originOf returns "scheme://host[:port]" in lower case without the scheme's
// default port, or "" if raw is not an origin.
func originOf(raw string) string {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.Scheme == "" || u.Host == "" {
		return ""
	}
	scheme, host := strings.ToLower(u.Scheme), strings.ToLower(u.Host)
	if p := u.Port(); (scheme == "http" && p == "80") || (scheme == "https" && p == "443") {
		host = strings.TrimSuffix(host, ":"+p)
	}
	return scheme + "://" + host
}

// requestOrigin is the origin the request was sent to: https when it came over TLS
// (or a trusted proxy says X-Forwarded-Proto: https), and its Host.
func (c *credentials) requestOrigin(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	} else if proto := strings.ToLower(strings.TrimSpace(r.Header.Get("X-Forwarded-Proto"))); (proto == "https" || proto == "http") && c.peerTrusted(r) {
		scheme = proto
	}
	return originOf(scheme + "://" + r.Host)
}

// presentedOrigin is the request's Origin header or, without one, the expo-origin
// header Better Auth's Expo plugin sends in its place (native apps have no Origin).
func presentedOrigin(r *http.Request) string {
	if o := r.Header.Get("Origin"); o != "" {
		return o
	}
	return r.Header.Get("Expo-Origin")
}

// originAllowed applies the browser rule: an Origin (or expo-origin) equal to the
// request's own (scheme, host and port), or one of the allowed origins; without
// either, Sec-Fetch-Site: same-origin.
func (s *Server) originAllowed(r *http.Request) bool {
	o := presentedOrigin(r)
	if o == "" {
		return r.Header.Get("Sec-Fetch-Site") == "same-origin"
	}
	return s.creds.originOK(r, o)
}

// originOK checks a present Origin header value of r: the origin r was sent to, an
// allowed origin, or a URL of an allowed app scheme.
func (c *credentials) originOK(r *http.Request, origin string) bool {
	for _, p := range c.appOrigins {
		if betterauth.MatchAppOrigin(origin, p) {
			return true
		}
	}
	o := originOf(origin)
	if o == "" {
		return false // includes "null"
	}
	return o == c.requestOrigin(r) || c.allowedOrigins[o]
}
