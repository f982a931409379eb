package push

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	firebase "firebase.google.com/go/v4"
	"firebase.google.com/go/v4/errorutils"
	"firebase.google.com/go/v4/messaging"
	"google.golang.org/api/option"
)

// FCMConfig configures Firebase Cloud Messaging (HTTP v1 API) with a service account. The
// zero value means FCM is not configured; otherwise CredentialsFile is required.
type FCMConfig struct {
	// CredentialsFile is the path of the service account's JSON key (Firebase console →
	// Project settings → Service accounts).
	CredentialsFile string
	// ProjectID is the Firebase project; empty means the key's project_id.
	ProjectID string
	// Endpoint is the base URL of the FCM v1 API; empty means
	// https://fcm.googleapis.com/v1. It changes only where sends go: the service account
	// still signs in (at the key's token_uri) and its access token is still sent.
	Endpoint string
}

func (c FCMConfig) configured() bool {
	return c != (FCMConfig{})
}

// fcmProvider sends through one firebase messaging client, which keeps the OAuth2 access
// token (refreshed before it expires) and the HTTP connections across sends.
type fcmProvider struct {
	client *messaging.Client
	logger *slog.Logger
}

// serviceAccount is the part of a service-account key file checked before handing it to
// the Google libraries.
type serviceAccount struct {
	Type        string `json:"type"`
	ProjectID   string `json:"project_id"`
	ClientEmail string `json:"client_email"`
	PrivateKey  string `json:"private_key"`
}

func newFCM(cfg FCMConfig, logger *slog.Logger) (*fcmProvider, error) {
	if cfg.CredentialsFile == "" {
		return nil, fmt.Errorf("FCM credentials file is not set (a service account JSON key is needed)")
	}
	data, err := os.ReadFile(cfg.CredentialsFile)
	if err != nil {
		return nil, fmt.Errorf("read FCM credentials file %s: %w", cfg.CredentialsFile, err)
	}
	var sa serviceAccount
	if err := json.Unmarshal(data, &sa); err != nil {
		return nil, fmt.Errorf("parse FCM credentials file %s: %w", cfg.CredentialsFile, err)
	}
	if sa.Type != "service_account" || sa.ClientEmail == "" || sa.PrivateKey == "" {
		return nil, fmt.Errorf("FCM credentials file %s: not a service account key (want \"type\": \"service_account\" with client_email and private_key)", cfg.CredentialsFile)
	}
	project := cfg.ProjectID
	if project == "" {
		project = sa.ProjectID
	}
	if project == "" {
		return nil, fmt.Errorf("FCM project id is not set and %s has no project_id", cfg.CredentialsFile)
	}
	opts := []option.ClientOption{option.WithCredentialsJSON(data)}
	if cfg.Endpoint != "" {
		u, err := url.Parse(cfg.Endpoint)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return nil, fmt.Errorf("FCM endpoint %q: want a URL such as https://fcm.googleapis.com/v1", cfg.Endpoint)
		}
		opts = append(opts, option.WithEndpoint(strings.TrimSuffix(cfg.Endpoint, "/")))
	}
	// The SDK keeps the context it is built with for refreshing the access token, so it
	// gets one that never ends; building it does no I/O.
	app, err := firebase.NewApp(context.Background(), &firebase.Config{ProjectID: project}, opts...)
	if err != nil {
		return nil, fmt.Errorf("set up FCM with %s: %w", cfg.CredentialsFile, err)
	}
	client, err := app.Messaging(context.Background())
	if err != nil {
		return nil, fmt.Errorf("set up FCM with %s: %w", cfg.CredentialsFile, err)
	}
	return &fcmProvider{client: client, logger: logger}, nil
}

// message builds the FCM message for a validated message.
func (p *fcmProvider) message(m Message, ttl time.Duration) *messaging.Message {
	data := map[string]string{"securecam": m.objectJSON()}
	collapse := m.CollapseID
	if m.Kind == KindWake {
		if collapse == "" {
			collapse = wakeCollapseID
		}
	} else {
		data["title"] = m.Title
		data["body"] = m.Body
	}
	return &messaging.Message{
		Token: m.Token,
		Data:  data,
		Android: &messaging.AndroidConfig{
			CollapseKey: collapse,
			Priority:    "high",
			TTL:         &ttl,
		},
	}
}

func (p *fcmProvider) send(ctx context.Context, m Message, expiry time.Time) error {
	ttl := max(time.Until(expiry).Round(time.Second), 0)
	name, err := p.client.Send(ctx, p.message(m, ttl))
	if err != nil {
		return fcmError(ctx, err)
	}
	p.logger.Debug("push sent", "service", "fcm", "device_id", m.DeviceID, "kind", m.Kind, "fcm_name", name)
	return nil
}

// fcmErrorBody is the error document of the FCM v1 API (google.rpc.Status with an
// FcmError detail).
type fcmErrorBody struct {
	Error struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
		Status  string `json:"status"`
		Details []struct {
			Type      string `json:"@type"`
			ErrorCode string `json:"errorCode"`
		} `json:"details"`
	} `json:"error"`
}

const fcmErrorType = "type.googleapis.com/google.firebase.fcm.v1.FcmError"

// fcmError turns an error of messaging.Client.Send into an *Error.
func fcmError(ctx context.Context, err error) error {
	res := errorutils.HTTPResponse(err)
	if res == nil {
		// No answer: the context ended, the network failed (the SDK reports those as
		// UNKNOWN, UNAVAILABLE or DEADLINE_EXCEEDED), or the SDK refused the message.
		transport := ctx.Err() != nil || isTransient(err) ||
			errorutils.IsUnknown(err) || errorutils.IsUnavailable(err) || errorutils.IsDeadlineExceeded(err)
		if !transport {
			return &Error{Service: "fcm", Class: ClassPermanent, Err: err}
		}
		return &Error{Service: "fcm", Class: ClassRetryable, Err: err}
	}
	var body fcmErrorBody
	if b, readErr := io.ReadAll(res.Body); readErr == nil {
		_ = json.Unmarshal(b, &body) // not the documented shape: classify by status alone
	}
	reason := body.Error.Status
	for _, d := range body.Error.Details {
		if d.Type == fcmErrorType && d.ErrorCode != "" {
			reason = d.ErrorCode
			break
		}
	}
	return &Error{
		Service:    "fcm",
		Class:      fcmClass(res.StatusCode, reason, body.Error.Message),
		Status:     res.StatusCode,
		Reason:     reason,
		RetryAfter: parseRetryAfter(res.Header, time.Now()),
		Err:        err,
	}
}

// fcmClass classifies an FCM rejection from its HTTP status, its error code (the FcmError
// detail, else the status name) and its message.
func fcmClass(status int, reason, message string) Class {
	switch reason {
	case "UNREGISTERED", "SENDER_ID_MISMATCH":
		return ClassTokenInvalid
	case "INVALID_ARGUMENT":
		// FCM answers a malformed token with INVALID_ARGUMENT "The registration token is
		// not a valid FCM registration token"; other invalid arguments are our payload's.
		if strings.Contains(strings.ToLower(message), "registration token") {
			return ClassTokenInvalid
		}
		return ClassPermanent
	case "UNAVAILABLE", "INTERNAL", "QUOTA_EXCEEDED":
		return ClassRetryable
	}
	if status == http.StatusTooManyRequests || status >= 500 {
		return ClassRetryable
	}
	return ClassPermanent
}
