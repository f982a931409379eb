package hub

import (
	"errors"
	"fmt"
	"time"

	"github.com/coder/websocket"
)

// Subprotocol is the WebSocket subprotocol a client must offer; the hub selects it.
const Subprotocol = "securecam.v1"

// Close codes of the wire contract beyond the standard ones (1000 normal, 1009
// message too big, 1012 service restart).
const (
	StatusReplaced          websocket.StatusCode = 4001 // a newer connection of the same device
	StatusProtocolViolation websocket.StatusCode = 4002 // not JSON, no type, binary frame, …
	StatusForbidden         websocket.StatusCode = 4003 // session revoked, device deleted
	StatusTooSlow           websocket.StatusCode = 4008 // the send queue overflowed
	StatusRateLimited       websocket.StatusCode = 4029 // too many messages
)

// Error codes the hub itself puts in error messages (data.code).
const (
	CodeBadRequest  = "bad_request"
	CodeUnknownType = "unknown_type"
	CodeInternal    = "internal"
	CodeUnavailable = "unavailable"
	CodeRateLimited = "rate_limited"
)

// Sentinel errors.
var (
	// ErrOffline: the device is connected to no replica.
	ErrOffline = errors.New("hub: device offline")
	// ErrClientClosed: the connection is closing or closed; nothing more is sent on it.
	ErrClientClosed = errors.New("hub: connection closed")
	// ErrQueueFull: the connection's send queue overflowed; it is being closed with 4008.
	ErrQueueFull = errors.New("hub: send queue full")
	// ErrShutdown: the hub is shutting down.
	ErrShutdown = errors.New("hub: shut down")
)

// AuthError refuses a WebSocket request before the upgrade. The hub answers with
// Status and an application/problem+json body carrying Code and Message, and a
// Retry-After header when RetryAfter is positive (503 unavailable: the store is down).
type AuthError struct {
	Status     int           // HTTP status, e.g. 401, 403, 400, 503
	Code       string        // error code of the wire contract, e.g. "unauthorized"
	Message    string        // human-readable detail
	RetryAfter time.Duration // sent as Retry-After (whole seconds, at least 1) when positive
}

func (e *AuthError) Error() string {
	return fmt.Sprintf("auth: %d %s: %s", e.Status, e.Code, e.Message)
}
