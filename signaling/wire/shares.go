package wire

import (
	"time"

	"github.com/securecam/securecam/store"
)

// Share is the share object: one camera shared with one person (see docs/api.md).
type Share struct {
	ID              string     `json:"id"`
	InvitationID    string     `json:"invitation_id"`
	OwnerUserID     string     `json:"owner_user_id"`
	CameraDeviceID  string     `json:"camera_device_id"`
	InviteeEmail    string     `json:"invitee_email"`
	UserID          *string    `json:"user_id"`
	Role            string     `json:"role"`
	Status          string     `json:"status"`
	InvitedByUserID string     `json:"invited_by_user_id"`
	ExpiresAt       time.Time  `json:"expires_at"`
	AcceptedAt      *time.Time `json:"accepted_at"`
	EndedAt         *time.Time `json:"ended_at"`
	CreatedAt       time.Time  `json:"created_at"`
	UpdatedAt       time.Time  `json:"updated_at"`
}

// FromShare converts a store row.
func FromShare(s store.Share) Share {
	return Share{ID: s.ID, InvitationID: s.InvitationID, OwnerUserID: s.OwnerUserID, CameraDeviceID: s.CameraDeviceID,
		InviteeEmail: s.InviteeEmail, UserID: s.UserID, Role: s.Role, Status: s.Status, InvitedByUserID: s.InvitedByUserID,
		ExpiresAt: s.ExpiresAt, AcceptedAt: s.AcceptedAt, EndedAt: s.EndedAt, CreatedAt: s.CreatedAt, UpdatedAt: s.UpdatedAt}
}

// Invitation is the answer of POST /shares: the pending shares of one invitation.
type Invitation struct {
	InvitationID string    `json:"invitation_id"`
	Email        string    `json:"email"`
	Role         string    `json:"role"`
	ExpiresAt    time.Time `json:"expires_at"`
	Shares       []Share   `json:"shares"`
}

// ShareRequest is the body of POST /shares.
type ShareRequest struct {
	Email           string   `json:"email"`
	CameraDeviceIDs []string `json:"camera_device_ids"`
	Role            string   `json:"role"`
}

// DeviceShare marks a device of GET /devices that another account shares with the
// caller: whose it is and the caller's role on it.
type DeviceShare struct {
	ShareID     string `json:"share_id"`
	OwnerUserID string `json:"owner_user_id"`
	OwnerName   string `json:"owner_name"`
	Role        string `json:"role"`
}

// FromSharedDevice converts a camera shared with the caller: its push token stays
// with its owner.
func FromSharedDevice(d store.Device, s store.Share, ownerName string) Device {
	out := FromDevice(d)
	out.PushToken = nil
	out.Shared = &DeviceShare{ShareID: s.ID, OwnerUserID: s.OwnerUserID, OwnerName: ownerName, Role: s.Role}
	return out
}
