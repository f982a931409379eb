// Package pushtest provides local fakes of Apple Push Notification service and Firebase
// Cloud Messaging that speak the real wire protocols, for tests of push and of what uses
// it (delivery worker, end-to-end tests): point push.Config at them with the fake's
// Config method and send through the real apns2 and firebase clients.
//
// The fakes check credentials the way the services do (APNs: an ES256 provider JWT signed
// by the generated .p8 key; FCM: an OAuth2 JWT-bearer grant signed by the generated
// service-account key, then the access token it issued), answer as scripted per device
// token, and record every push request.
//
// Concurrency: a fake is safe for concurrent use; its methods may be called while the
// provider under test sends from other goroutines. Each fake is torn down by t.Cleanup.
package pushtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"
)

// WriteAPNsKey generates a P-256 key and writes it as an Apple .p8 auth key (PKCS #8
// PEM) in a temporary directory of t. It returns the file's path and the key.
func WriteAPNsKey(t testing.TB) (string, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("pushtest: generate APNs key: %v", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatalf("pushtest: encode APNs key: %v", err)
	}
	path := filepath.Join(t.TempDir(), "AuthKey.p8")
	writePEM(t, path, "PRIVATE KEY", der)
	return path, key
}

// WriteServiceAccount generates an RSA key and writes a Google service-account JSON key
// for projectID whose token_uri is tokenURI, in a temporary directory of t. It returns
// the file's path, the account's e-mail and the key.
func WriteServiceAccount(t testing.TB, projectID, tokenURI string) (string, string, *rsa.PrivateKey) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatalf("pushtest: generate service account key: %v", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatalf("pushtest: encode service account key: %v", err)
	}
	email := "securecam-push@" + projectID + ".iam.gserviceaccount.com"
	doc, err := json.MarshalIndent(map[string]string{
		"type":           "service_account",
		"project_id":     projectID,
		"private_key_id": "pushtest",
		"private_key":    string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email":   email,
		"client_id":      "1",
		"auth_uri":       "https://accounts.google.com/o/oauth2/auth",
		"token_uri":      tokenURI,
	}, "", "  ")
	if err != nil {
		t.Fatalf("pushtest: encode service account: %v", err)
	}
	path := filepath.Join(t.TempDir(), "service-account.json")
	if err := os.WriteFile(path, doc, 0o600); err != nil {
		t.Fatalf("pushtest: write service account: %v", err)
	}
	return path, email, key
}

func writePEM(t testing.TB, path, blockType string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: blockType, Bytes: der}), 0o600); err != nil {
		t.Fatalf("pushtest: write %s: %v", path, err)
	}
}
