package browsertest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestPhoneOnTheNetwork checks what docs/browser-app.md tells phone users: at
// an address other than localhost, a page over plain HTTP cannot be a camera
// and says why; over HTTPS, with SECURECAM_TLS_CERT_FILE/_KEY_FILE and a
// certificate the browser trusts, it is a camera connected to the hub.
func TestPhoneOnTheNetwork(t *testing.T) {
	certFile, keyFile, spki := selfSignedCert(t, lanHost)
	// The browser trusts this one certificate, as a phone does once it is installed.
	b := startBrowser(t, chromedp.Flag("ignore-certificate-errors-spki-list", spki))
	plain := startHub(t, nil)
	secure := startHub(t, map[string]string{"SECURECAM_TLS_CERT_FILE": certFile, "SECURECAM_TLS_KEY_FILE": keyFile})
	if !strings.HasPrefix(secure.URL, "https://") {
		t.Fatalf("the hub with a certificate listens at %s, want https", secure.URL)
	}

	overHTTP := b.profile(t, "http")
	overHTTP.do("sign up over plain HTTP and open camera mode", pageTimeout,
		chromedp.Navigate(at(t, plain.URL, lanHost)+"/sign-up?next=/camera"),
		chromedp.SendKeys(chromedp.CSS("#sign-up-name"), "Owner"),
		chromedp.SendKeys(chromedp.CSS("#sign-up-email"), ownerEmail),
		chromedp.SendKeys(chromedp.CSS("#sign-up-password"), ownerPassword),
		chromedp.Click(button("Create account")),
		chromedp.WaitVisible(chromedp.CSS("#name-camera-form")),
		chromedp.Click(button("Start camera")),
	)
	waitFor[bool](overHTTP, "the camera to fail", `!!document.querySelector('.camera-status[data-media=error]')`, pageTimeout)
	if got, want := overHTTP.text("read the alert", ".camera-mode p.error[role=alert]"), "only available on a secure page"; !strings.Contains(got, want) {
		t.Errorf("camera error over HTTP = %q, want it to contain %q", got, want)
	}

	overHTTPS := b.profile(t, "https")
	overHTTPS.do("sign up over HTTPS and open camera mode", pageTimeout,
		chromedp.Navigate(at(t, secure.URL, lanHost)+"/sign-up?next=/camera"),
		chromedp.SendKeys(chromedp.CSS("#sign-up-name"), "Owner"),
		chromedp.SendKeys(chromedp.CSS("#sign-up-email"), ownerEmail),
		chromedp.SendKeys(chromedp.CSS("#sign-up-password"), ownerPassword),
		chromedp.Click(button("Create account")),
		chromedp.WaitVisible(chromedp.CSS("#name-camera-form")),
		chromedp.Click(button("Start camera")),
	)
	waitFor[bool](overHTTPS, "the camera to start and connect over wss", `
		location.protocol === 'https:' &&
		!!document.querySelector('.camera-status[data-media=on]') &&
		!!document.querySelector('.conn[data-status=open]')`, pageTimeout)
}

// at returns rawURL with its host name replaced by host (same port).
func at(t *testing.T, rawURL, host string) string {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = net.JoinHostPort(host, u.Port())
	return u.String()
}

// selfSignedCert writes a self-signed certificate for host, made like the one
// of docs/browser-app.md (its own authority, serverAuth), and its key. It
// returns their files and the base64 SHA-256 of its public key, which
// Chromium's --ignore-certificate-errors-spki-list takes.
func selfSignedCert(t *testing.T, host string) (certFile, keyFile, spki string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(now.UnixNano()),
		Subject:               pkix.Name{CommonName: "SecureCam Hub"},
		DNSNames:              []string{host},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "securecam.pem"), filepath.Join(dir, "securecam-key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return certFile, keyFile, base64.StdEncoding.EncodeToString(sum[:])
}
