package web

import (
	"encoding/json"
	"net/http"

	"github.com/securecam/securecam/signaling/wire"
	"github.com/securecam/securecam/store"
)

// Audit actions written by the web layer.
const (
	AuditSignUp                   = "user.sign_up"
	AuditSignIn                   = "user.sign_in"
	AuditSignInFailed             = "user.sign_in_failed"
	AuditSignOut                  = "user.sign_out"
	AuditEmailVerificationRequest = "user.email_verification_requested"
	AuditEmailVerified            = "user.email_verified"
	AuditPasswordResetRequest     = "user.password_reset_requested"
	AuditPasswordReset            = "user.password_reset"
	AuditPasswordChanged          = "user.password_changed"
	AuditDeviceCreated            = "device.created"
	AuditDeviceDeleted            = "device.deleted"
	AuditLinkCreated              = "device_link.created"
	AuditLinkRevoked              = "device_link.revoked"
	AuditRecordingDeleted         = "recording.deleted"
)

const maxUserAgent = 256

// audit records one security-relevant action with the client's IP. A failure to write
// it is logged and does not fail the request.
func (s *Server) audit(r *http.Request, owner, action, targetType, targetID string, meta map[string]any) {
	a := store.AuditLog{Action: action}
	if owner != "" {
		a.OwnerUserID = &owner
	}
	if p := principalFrom(r.Context()); p != nil && p.device != nil {
		a.ActorDeviceID = &p.device.ID
	}
	if targetType != "" {
		a.TargetType = &targetType
		a.TargetID = &targetID
	}
	if ua := r.UserAgent(); ua != "" {
		if meta == nil {
			meta = map[string]any{}
		}
		meta["user_agent"] = truncate(ua, maxUserAgent)
	}
	if meta == nil {
		a.Metadata = json.RawMessage(`{}`)
	} else if b, err := json.Marshal(meta); err == nil {
		a.Metadata = b
	}
	ip := s.clientIP(r)
	a.IPAddress = &ip
	if err := s.store.AddAuditLog(r.Context(), &a); err != nil {
		s.log.ErrorContext(r.Context(), "audit log write failed", "action", action, "err", err)
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	// Cut on a rune boundary.
	for n > 0 && n < len(s) && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}

// GET /audit-logs
func (s *Server) handleListAuditLogs(w http.ResponseWriter, r *http.Request) error {
	p := principalFrom(r.Context())
	page, err := pageParams(r)
	if err != nil {
		return err
	}
	items, next, err := s.store.ListAuditLogs(r.Context(), p.userID, page)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newList(items, next, wire.FromAuditLog))
	return nil
}
