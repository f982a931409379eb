// Package client is the Go client of the SecureCam wire contract (PROTOCOL.md):
// the REST API under /api/v1 and the device socket at /ws. The simulator,
// the benchmark and end-to-end tests use it; it is what a phone app does,
// written in Go.
//
// A Client is bound to one credential (a user session token or a device
// token; WithToken derives another). Errors the hub answers, over HTTP or
// the socket, are *Error values carrying the wire error code. A Conn is one
// connection of the device socket; a Socket reconnects as the protocol tells
// clients to, so that a device rides out a hub restart (and resumes its live
// views: Conn.ResumeStream).
//
// Concurrency: Client is immutable and safe for concurrent use. A Conn is safe
// for concurrent use; it runs one read goroutine, which Close waits for. A
// Socket is safe for concurrent use; it runs one goroutine (plus its current
// Conn's), which Close waits for.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/securecam/securecam/signaling/ice"
	"github.com/securecam/securecam/signaling/wire"
)

// maxResponseBytes bounds a REST response body the client reads.
const maxResponseBytes = 8 << 20

// Error is an error the hub answered: a problem document over HTTP or an
// error message over the socket.
type Error struct {
	// Status is the HTTP status; 0 for a socket error message.
	Status int
	// Code is the wire error code (not_found, busy, …); empty if the answer
	// was not a problem document.
	Code string
	// Message is the problem's detail (or title), or the socket error's message.
	Message string
}

func (e *Error) Error() string {
	if e.Status == 0 {
		return fmt.Sprintf("securecam: %s: %s", e.Code, e.Message)
	}
	return fmt.Sprintf("securecam: %d %s: %s", e.Status, e.Code, e.Message)
}

// ErrorCode returns the wire error code of err if it is (or wraps) an
// *Error, else "".
func ErrorCode(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// Config configures a Client.
type Config struct {
	// BaseURL is the hub's address, e.g. http://localhost:8080 (required).
	BaseURL string
	// HTTPClient makes the REST calls and the socket handshake; default a
	// client with a 30 s timeout.
	HTTPClient *http.Client
	// Token is the bearer token: a session token or a device token. Empty
	// for sign-up and sign-in.
	Token string
	// Logger receives the socket's debug logs; nil discards them.
	Logger *slog.Logger
}

// Client talks to one hub with one credential.
type Client struct {
	base  *url.URL
	http  *http.Client
	token string
	log   *slog.Logger
}

// New returns a Client.
func New(cfg Config) (*Client, error) {
	base, err := url.Parse(cfg.BaseURL)
	if err != nil {
		return nil, fmt.Errorf("client: base url: %w", err)
	}
	if base.Scheme != "http" && base.Scheme != "https" || base.Host == "" {
		return nil, fmt.Errorf("client: base url %q is not http(s)://host", cfg.BaseURL)
	}
	base.Path, base.RawPath = strings.TrimSuffix(base.Path, "/"), ""
	base.RawQuery, base.Fragment = "", ""
	c := &Client{base: base, http: cfg.HTTPClient, token: cfg.Token, log: cfg.Logger}
	if c.http == nil {
		c.http = &http.Client{Timeout: 30 * time.Second}
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

// WithToken returns a Client like c that authenticates with token.
func (c *Client) WithToken(token string) *Client {
	cc := *c
	cc.token = token
	return &cc
}

// Token returns the bearer token c uses.
func (c *Client) Token() string { return c.token }

// Session is a sign-in session.
type Session struct {
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expires_at"`
}

// Auth is the answer of sign-up and sign-in.
type Auth struct {
	User    wire.User `json:"user"`
	Session Session   `json:"session"`
}

// NewDevice is the body of POST /devices.
type NewDevice struct {
	Name       string  `json:"name"`
	Role       string  `json:"role"`     // camera or viewer
	Platform   string  `json:"platform"` // ios, android, web or other
	AppVersion *string `json:"app_version,omitempty"`
	PushToken  *string `json:"push_token,omitempty"`
}

// CreatedDevice is the answer of POST /devices; DeviceToken is shown once.
type CreatedDevice struct {
	Device      wire.Device `json:"device"`
	DeviceToken string      `json:"device_token"`
}

// DeviceUpdate is the body of PATCH /devices/{id}; nil fields are left alone.
type DeviceUpdate struct {
	Name       *string `json:"name,omitempty"`
	PushToken  *string `json:"push_token,omitempty"`
	AppVersion *string `json:"app_version,omitempty"`
	// LiveMode is a camera's live mode: p2p, relay or auto.
	LiveMode *string `json:"live_mode,omitempty"`
}

// Ticket is a single-use socket ticket.
type Ticket struct {
	Ticket    string    `json:"ticket"`
	ExpiresAt time.Time `json:"expires_at"`
}

// PageRequest asks for one page of a list: Limit 0 is the hub's default,
// Cursor "" the first page.
type PageRequest struct {
	Limit  int
	Cursor string
}

// Page is one page of a list; NextCursor is nil on the last page.
type Page[T any] struct {
	Items      []T     `json:"items"`
	NextCursor *string `json:"next_cursor"`
}

// SignUp creates an account and signs it in.
func (c *Client) SignUp(ctx context.Context, email, password, name string) (Auth, error) {
	var out Auth
	body := map[string]string{"email": email, "password": password, "name": name}
	err := c.do(ctx, http.MethodPost, "/auth/sign-up", nil, body, &out)
	return out, err
}

// SignIn signs in with e-mail and password.
func (c *Client) SignIn(ctx context.Context, email, password string) (Auth, error) {
	var out Auth
	body := map[string]string{"email": email, "password": password}
	err := c.do(ctx, http.MethodPost, "/auth/sign-in", nil, body, &out)
	return out, err
}

// SignOut ends the session c's token belongs to.
func (c *Client) SignOut(ctx context.Context) error {
	return c.do(ctx, http.MethodPost, "/auth/sign-out", nil, nil, nil)
}

// Me returns the signed-in user.
func (c *Client) Me(ctx context.Context) (wire.User, error) {
	var out wire.User
	err := c.do(ctx, http.MethodGet, "/me", nil, nil, &out)
	return out, err
}

// CreateDevice registers a device of the signed-in user.
func (c *Client) CreateDevice(ctx context.Context, d NewDevice) (CreatedDevice, error) {
	var out CreatedDevice
	err := c.do(ctx, http.MethodPost, "/devices", nil, d, &out)
	return out, err
}

// ListDevices returns a page of the user's devices.
func (c *Client) ListDevices(ctx context.Context, p PageRequest) (Page[wire.Device], error) {
	var out Page[wire.Device]
	err := c.do(ctx, http.MethodGet, "/devices", p.query(), nil, &out)
	return out, err
}

// Device returns one device.
func (c *Client) Device(ctx context.Context, id string) (wire.Device, error) {
	var out wire.Device
	err := c.do(ctx, http.MethodGet, "/devices/"+url.PathEscape(id), nil, nil, &out)
	return out, err
}

// UpdateDevice changes a device (a device token may change only its own
// push token and app version).
func (c *Client) UpdateDevice(ctx context.Context, id string, u DeviceUpdate) (wire.Device, error) {
	var out wire.Device
	err := c.do(ctx, http.MethodPatch, "/devices/"+url.PathEscape(id), nil, u, &out)
	return out, err
}

// DeleteDevice deletes a device; its socket is closed and its links revoked.
func (c *Client) DeleteDevice(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, "/devices/"+url.PathEscape(id), nil, nil, nil)
}

// CreateLink allows a viewer (client device) to reach a camera.
func (c *Client) CreateLink(ctx context.Context, cameraDeviceID, clientDeviceID string) (wire.DeviceLink, error) {
	var out wire.DeviceLink
	body := map[string]string{"camera_device_id": cameraDeviceID, "client_device_id": clientDeviceID}
	err := c.do(ctx, http.MethodPost, "/device-links", nil, body, &out)
	return out, err
}

// ListLinks returns a page of the user's links.
func (c *Client) ListLinks(ctx context.Context, p PageRequest) (Page[wire.DeviceLink], error) {
	var out Page[wire.DeviceLink]
	err := c.do(ctx, http.MethodGet, "/device-links", p.query(), nil, &out)
	return out, err
}

// RevokeLink revokes a link, ending live sessions between its devices.
func (c *Client) RevokeLink(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, "/device-links/"+url.PathEscape(id), nil, nil, nil)
}

// CreateTicket returns a single-use ticket for opening deviceID's socket.
func (c *Client) CreateTicket(ctx context.Context, deviceID string) (Ticket, error) {
	var out Ticket
	err := c.do(ctx, http.MethodPost, "/ws-tickets", nil, map[string]string{"device_id": deviceID}, &out)
	return out, err
}

// SendCommand queues a command (the REST twin of command.send).
func (c *Client) SendCommand(ctx context.Context, cmd wire.CommandRequest) (wire.Command, error) {
	var out wire.Command
	err := c.do(ctx, http.MethodPost, "/commands", nil, cmd, &out)
	return out, err
}

// Command returns one command.
func (c *Client) Command(ctx context.Context, id string) (wire.Command, error) {
	var out wire.Command
	err := c.do(ctx, http.MethodGet, "/commands/"+url.PathEscape(id), nil, nil, &out)
	return out, err
}

// CreateShare invites email to the cameras with role (viewer, operator or admin);
// the hub mails the invitation's link.
func (c *Client) CreateShare(ctx context.Context, email string, cameraDeviceIDs []string, role string) (wire.Invitation, error) {
	var out wire.Invitation
	err := c.do(ctx, http.MethodPost, "/shares", nil, wire.ShareRequest{Email: email, CameraDeviceIDs: cameraDeviceIDs, Role: role}, &out)
	return out, err
}

// AcceptShare accepts an invitation with the token of its link, for the signed-in
// user, and returns the shares it made active.
func (c *Client) AcceptShare(ctx context.Context, token string) ([]wire.Share, error) {
	var out Page[wire.Share]
	err := c.do(ctx, http.MethodPost, "/shares/accept", nil, map[string]string{"token": token}, &out)
	return out.Items, err
}

// DeleteShare revokes a share (its camera's owner or an admin) or leaves it (its
// invitee).
func (c *Client) DeleteShare(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, "/shares/"+url.PathEscape(id), nil, nil, nil)
}

// RequestStream starts a live-view session (the REST twin of stream.request).
func (c *Client) RequestStream(ctx context.Context, cameraDeviceID, requesterDeviceID string) (wire.StreamSession, error) {
	var out wire.StreamSession
	body := wire.StreamRequest{CameraDeviceID: cameraDeviceID, RequesterDeviceID: requesterDeviceID}
	err := c.do(ctx, http.MethodPost, "/streams", nil, body, &out)
	return out, err
}

// Stream returns one live-view session.
func (c *Client) Stream(ctx context.Context, id string) (wire.StreamSession, error) {
	var out wire.StreamSession
	err := c.do(ctx, http.MethodGet, "/streams/"+url.PathEscape(id), nil, nil, &out)
	return out, err
}

// ListStreams returns a page of the user's live-view sessions, newest first;
// cameraDeviceID, if not empty, keeps those of one camera.
func (c *Client) ListStreams(ctx context.Context, cameraDeviceID string, p PageRequest) (Page[wire.StreamSession], error) {
	var out Page[wire.StreamSession]
	q := p.query()
	if cameraDeviceID != "" {
		q.Set("camera_device_id", cameraDeviceID)
	}
	err := c.do(ctx, http.MethodGet, "/streams", q, nil, &out)
	return out, err
}

// EndStream ends a live-view session; both parties get stream.ended with reason
// (the hub's default when empty).
func (c *Client) EndStream(ctx context.Context, id, reason string) (wire.StreamSession, error) {
	var out wire.StreamSession
	var body any
	if reason != "" {
		body = map[string]string{"reason": reason}
	}
	err := c.do(ctx, http.MethodPost, "/streams/"+url.PathEscape(id)+"/end", nil, body, &out)
	return out, err
}

// ICEServers returns the STUN/TURN servers to use, with short-lived TURN
// credentials. They are issued to devices: the client must hold a device token.
func (c *Client) ICEServers(ctx context.Context) (ice.List, error) {
	var out ice.List
	err := c.do(ctx, http.MethodGet, "/ice-servers", nil, nil, &out)
	return out, err
}

func (p PageRequest) query() url.Values {
	q := url.Values{}
	if p.Limit > 0 {
		q.Set("limit", strconv.Itoa(p.Limit))
	}
	if p.Cursor != "" {
		q.Set("cursor", p.Cursor)
	}
	return q
}

// do makes one REST call under /api/v1: body (if not nil) is sent as JSON,
// a 2xx answer is decoded into out (if not nil), anything else is an *Error.
func (c *Client) do(ctx context.Context, method, path string, query url.Values, body, out any) error {
	op := method + " " + path
	target := c.base.String() + "/api/v1" + path // path segments are escaped
	if len(query) > 0 {
		target += "?" + query.Encode()
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("%s: encode: %w", op, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, rd)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return fmt.Errorf("%s: read: %w", op, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("%s: %w", op, problem(resp.StatusCode, data))
	}
	if out == nil || len(data) == 0 {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s: decode: %w", op, err)
	}
	return nil
}

// problem turns an error answer into an *Error, from its problem document
// when it has one.
func problem(status int, body []byte) *Error {
	var p struct {
		Title  string `json:"title"`
		Detail string `json:"detail"`
		Code   string `json:"code"`
	}
	e := &Error{Status: status}
	if json.Unmarshal(body, &p) == nil && p.Code != "" {
		e.Code, e.Message = p.Code, p.Detail
		if e.Message == "" {
			e.Message = p.Title
		}
		return e
	}
	msg := strings.TrimSpace(string(body))
	if len(msg) > 200 {
		msg = msg[:200]
	}
	if msg == "" {
		msg = http.StatusText(status)
	}
	e.Message = msg
	return e
}
