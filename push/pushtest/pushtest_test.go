package pushtest_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/securecam/securecam/push/pushtest"
)

// The certificate file trusts the APNs fake on its own (what a child process gets through
// SSL_CERT_FILE), and requests without a provider token are refused as APNs does.
func TestAPNsFakeRefusesMissingProviderToken(t *testing.T) {
	t.Parallel()
	f := pushtest.NewAPNs(t)
	pem, err := os.ReadFile(f.CertFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("%s holds no certificate", f.CertFile)
	}
	var h2 http.Protocols
	h2.SetHTTP2(true)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, Protocols: &h2}}
	tests := []struct {
		name, path, auth string
		status           int
		reason           string
	}{
		{"no token", "/3/device/abc", "", http.StatusForbidden, "MissingProviderToken"},
		{"forged token", "/3/device/abc", "bearer e30.e30.AAAA", http.StatusForbidden, "InvalidProviderToken"},
		{"bad path", "/2/device/abc", "", http.StatusNotFound, "BadPath"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, f.URL+tc.path, strings.NewReader(`{"aps":{}}`))
			if err != nil {
				t.Fatal(err)
			}
			if tc.auth != "" {
				req.Header.Set("authorization", tc.auth)
			}
			res, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			var body struct{ Reason string }
			if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
				t.Fatal(err)
			}
			if res.StatusCode != tc.status || body.Reason != tc.reason || res.ProtoMajor != 2 {
				t.Fatalf("got %s %d %q, want HTTP/2 %d %q", res.Proto, res.StatusCode, body.Reason, tc.status, tc.reason)
			}
		})
	}
}

func TestFCMFakeRefusesUnknownBearer(t *testing.T) {
	t.Parallel()
	f := pushtest.NewFCM(t)
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost,
		f.URL+"/v1/projects/"+f.ProjectID+"/messages:send", strings.NewReader(`{"message":{"token":"x"}}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer made-up")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var body struct {
		Error struct {
			Code   int
			Status string
		}
	}
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusUnauthorized || body.Error.Code != 401 || body.Error.Status != "UNAUTHENTICATED" {
		t.Fatalf("got %d %+v, want 401 UNAUTHENTICATED", res.StatusCode, body)
	}
	if len(f.Requests()) != 0 {
		t.Fatal("an unauthenticated send was logged as a push")
	}
}

func TestWaitRequestsEndsWithContext(t *testing.T) {
	t.Parallel()
	f := pushtest.NewAPNs(t)
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if reqs, err := f.WaitRequests(ctx, 1); err == nil {
		t.Fatalf("WaitRequests = %v with no request sent, want an error", reqs)
	}
}
