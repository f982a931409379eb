package store

import (
	"context"
	"time"
)

// Share roles: what an invitee may do with a shared camera (signaling/access decides).
const (
	ShareViewer   = "viewer"
	ShareOperator = "operator"
	ShareAdmin    = "admin"
)

// Share statuses. A share is pending until the invitee accepts it (active); revoked
// (by the owner or an admin) and left (by the invitee) are terminal. A pending share
// past its ExpiresAt can no longer be accepted.
const (
	SharePending = "pending"
	ShareActive  = "active"
	ShareRevoked = "revoked"
	ShareLeft    = "left"
)

// Share is a row of shares (a table the hub adds to the seed schema): one camera of
// OwnerUserID shared with the person invited at InviteeEmail, who becomes UserID when
// they accept. The shares created by one invitation carry its InvitationID and one
// single-use token, stored only as a hash (cleared once used or ended).
// InvitedByUserID is the owner, or an admin of the camera who shared it further.
type Share struct {
	ID              string
	InvitationID    string
	OwnerUserID     string
	CameraDeviceID  string
	InviteeEmail    string
	UserID          *string
	Role            string
	Status          string
	InvitedByUserID string
	ExpiresAt       time.Time
	AcceptedAt      *time.Time
	EndedAt         *time.Time
	CreatedAt       time.Time
	UpdatedAt       time.Time
}

// ShareFilter narrows ListShares. At least one of CameraDeviceIDs, OwnerUserID and
// UserID must be set; empty fields match everything.
type ShareFilter struct {
	OwnerUserID string
	// CameraDeviceIDs keeps the shares of any of these cameras.
	CameraDeviceIDs []string
	UserID          string
	Statuses        []string
}

// ShareStore is the persistence of shares.
type ShareStore interface {
	// CreateShares inserts the shares of one invitation in one transaction: every
	// share gets status pending, the invitation id of the first (filled when empty)
	// and tokenHash. ErrNotFound unless every camera exists, is a camera and belongs
	// to the share's OwnerUserID; ErrConflict if a camera already has a pending or
	// active share to the same e-mail address (case-insensitive).
	CreateShares(ctx context.Context, shares []Share, tokenHash string) error
	Share(ctx context.Context, id string) (Share, error)
	ListShares(ctx context.Context, f ShareFilter, p Page) (items []Share, nextCursor string, err error)
	// ActiveShare returns the active share of the camera to userID, ErrNotFound if none.
	ActiveShare(ctx context.Context, cameraDeviceID, userID string) (Share, error)
	// AcceptShares makes the pending, unexpired (at now) shares of the invitation
	// with tokenHash, addressed to email (case-insensitive), active shares of userID,
	// and clears their token: it works once. A camera that userID owns or already
	// has an active share of is skipped (its share stays pending until it expires).
	// ErrNotFound when no share matches.
	AcceptShares(ctx context.Context, tokenHash, email, userID string, now time.Time) ([]Share, error)
	// SetShareRole changes the role of a pending or active share; ErrConflict if it
	// has ended.
	SetShareRole(ctx context.Context, id, role string, at time.Time) (Share, error)
	// EndShare moves a pending or active share to status (ShareRevoked or
	// ShareLeft), clears its token and, in the same transaction, revokes the active
	// links of the invitee's devices to the camera, which it returns. A share that
	// has already ended is returned unchanged with no links and no error.
	EndShare(ctx context.Context, id, status string, at time.Time) (Share, []DeviceLink, error)
}
