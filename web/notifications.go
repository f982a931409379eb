package web

import (
	"fmt"
	"net/http"

	"github.com/securecam/securecam/signaling/wire"
)

// GET /notifications?unread=true newest first.
func (s *Server) handleListNotifications(w http.ResponseWriter, r *http.Request) error {
	page, err := pageParams(r)
	if err != nil {
		return err
	}
	unread, err := unreadOnly(r.URL.Query())
	if err != nil {
		return err
	}
	items, next, err := s.store.ListNotifications(r.Context(), principalFrom(r.Context()).userID, unread, page)
	if err != nil {
		return fmt.Errorf("list notifications: %w", err)
	}
	writeJSON(w, http.StatusOK, newList(items, next, wire.FromNotification))
	return nil
}

// POST /notifications/{id}/read → 204; marking twice is not an error.
func (s *Server) handleReadNotification(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	if err := s.store.MarkNotificationRead(r.Context(), id, principalFrom(r.Context()).userID); err != nil {
		return fmt.Errorf("mark notification read: %w", err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
