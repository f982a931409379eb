package web

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/securecam/securecam/signaling/wire"
)

// handlerFunc is a handler whose error becomes the problem document.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

func (s *Server) h(fn handlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := fn(w, r); err != nil {
			s.writeError(w, r, err)
		}
	}
}

func (s *Server) routes(ws, app http.Handler, gatherer prometheus.Gatherer) http.Handler {
	r := chi.NewRouter()
	r.Use(s.recoverer, s.admitConn, s.paceBodies)
	r.NotFound(func(w http.ResponseWriter, _ *http.Request) {
		writeProblem(w, errNotFound("no such endpoint"))
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, req *http.Request) {
		allowed := allowedMethods(r, req.URL.Path)
		w.Header().Set("Allow", strings.Join(allowed, ", "))
		writeProblem(w, &Error{Status: http.StatusMethodNotAllowed, Code: wire.CodeBadRequest,
			Detail: fmt.Sprintf("%s is not allowed here; this endpoint takes %s", req.Method, strings.Join(allowed, ", "))})
	})
	if ws != nil {
		r.Method(http.MethodGet, "/ws", s.withClientAddr(ws))
	}
	r.Group(func(r chi.Router) {
		r.Use(s.instrument)
		r.Get("/healthz", func(w http.ResponseWriter, _ *http.Request) {
			writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
		})
		r.Get("/readyz", s.handleReady)
		r.Method(http.MethodGet, "/metrics", promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{}))

		r.Route("/api/v1", func(r chi.Router) {
			r.Get("/openapi.json", handleOpenAPI)
			s.mediaRoutes(r)
			// Anyone. A browser request from a foreign origin is refused (login CSRF).
			r.Group(func(r chi.Router) {
				r.Use(s.refuseForeignOrigin)
				r.Post("/auth/sign-up", s.h(s.handleSignUp))
				r.Post("/auth/sign-in", s.h(s.handleSignIn))
				r.Post("/auth/verify-email", s.h(s.handleVerifyEmail))
				r.Post("/auth/password-reset/request", s.h(s.handlePasswordResetRequest))
				r.Post("/auth/password-reset", s.h(s.handlePasswordReset))
			})
			// A user session (bearer or cookie).
			r.Group(func(r chi.Router) {
				r.Use(s.authenticate(false))
				r.Post("/auth/sign-out", s.h(s.handleSignOut))
				r.Get("/me", s.h(s.handleMe))
				r.Post("/auth/verify-email/request", s.h(s.handleVerifyEmailRequest))
				r.Post("/devices", s.h(s.handleCreateDevice))
				r.Get("/devices", s.h(s.handleListDevices))
				r.Get("/devices/{id}", s.h(s.handleGetDevice))
				r.Delete("/devices/{id}", s.h(s.handleDeleteDevice))
				r.Post("/device-links", s.h(s.handleCreateLink))
				r.Get("/device-links", s.h(s.handleListLinks))
				r.Delete("/device-links/{id}", s.h(s.handleRevokeLink))
				r.Get("/audit-logs", s.h(s.handleListAuditLogs))
				r.Get("/events", s.h(s.handleListEvents))
				r.Get("/events/{id}", s.h(s.handleGetEvent))
				r.Get("/recordings", s.h(s.handleListRecordings))
				r.Get("/recordings/{id}", s.h(s.handleGetRecording))
				r.Delete("/recordings/{id}", s.h(s.handleDeleteRecording))
				r.Get("/recordings/{id}/content", s.h(s.handleRecordingContent))
				r.Get("/notifications", s.h(s.handleListNotifications))
				r.Get("/notification-preferences", s.h(s.handleGetNotificationPrefs))
				r.Put("/notification-preferences", s.h(s.handleSetNotificationPrefs))
				r.Post("/notifications/{id}/read", s.h(s.handleReadNotification))
				r.Post("/commands", s.h(s.handleSendCommand))
				r.Get("/commands", s.h(s.handleListCommands))
				r.Get("/commands/{id}", s.h(s.handleGetCommand))
				r.Post("/streams", s.h(s.handleRequestStream))
				r.Get("/streams", s.h(s.handleListStreams))
				r.Get("/streams/{id}", s.h(s.handleGetStream))
				r.Post("/streams/{id}/end", s.h(s.handleEndStream))
				r.Post("/shares", s.h(s.handleCreateShare))
				r.Get("/shares", s.h(s.handleListShares))
				r.Post("/shares/accept", s.h(s.handleAcceptShare))
				r.Get("/shares/received", s.h(s.handleListReceivedShares))
				r.Get("/shares/{id}", s.h(s.handleGetShare))
				r.Patch("/shares/{id}", s.h(s.handleUpdateShare))
				r.Delete("/shares/{id}", s.h(s.handleDeleteShare))
			})
			// A user session or a device token (limited to its own device).
			r.Group(func(r chi.Router) {
				r.Use(s.authenticate(true))
				r.Patch("/devices/{id}", s.h(s.handleUpdateDevice))
				r.Get("/arming", s.h(s.handleGetArming))
				r.Put("/arming", s.h(s.handleSetArming))
				r.Put("/arming/schedule", s.h(s.handleSetArmingSchedule))
				r.Post("/ws-tickets", s.h(s.handleCreateTicket))
				r.Get("/ice-servers", s.h(s.handleICEServers))
				r.Post("/events", s.h(s.handleCreateEvent))
				r.Patch("/events/{id}", s.h(s.handleUpdateEvent))
				r.Post("/recordings", s.h(s.handleCreateRecording))
				r.Put("/recordings/{id}/content", s.h(s.handleUploadRecording))
				r.Post("/recordings/{id}/complete", s.h(s.handleCompleteRecording))
			})
		})
		if s.creds.ba != nil {
			r.Route("/api/auth", s.baRoutes)
		}
		if app != nil {
			r.Handle("/*", app)
		}
	})
	return r
}

// allowedMethods lists the methods routes answers on path, for the Allow header of a 405.
func allowedMethods(routes chi.Routes, path string) []string {
	var allowed []string
	for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		if routes.Match(chi.NewRouteContext(), m, path) {
			allowed = append(allowed, m)
		}
	}
	return allowed
}

// recoverer turns a handler panic into a 500 problem and a log line. A panic after the
// response started (or after a hijack) only logs.
func (s *Server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			p := recover()
			if p == nil {
				return
			}
			if p == http.ErrAbortHandler {
				panic(p)
			}
			s.log.ErrorContext(r.Context(), "handler panicked", "method", r.Method, "path", r.URL.Path, "panic", p)
			writeProblem(w, &Error{Status: http.StatusInternalServerError, Code: wire.CodeInternal, Detail: "internal error"})
		}()
		next.ServeHTTP(w, r)
	})
}

// storageJSON is the recordings storage in /readyz. Uploads is "ok", "refused" (less
// than the reserve is free: uploads answer 507, everything else works) or "unknown"
// (the free space could not be read).
type storageJSON struct {
	FreeBytes    *int64 `json:"free_bytes"`
	ReserveBytes int64  `json:"reserve_bytes"`
	Uploads      string `json:"uploads"`
}

func (s *Server) storageStatus(r *http.Request) *storageJSON {
	if s.freeSpace == nil {
		return nil
	}
	st := &storageJSON{ReserveBytes: s.reserve, Uploads: "unknown"}
	free, err := s.freeSpace()
	switch {
	case err != nil:
		s.log.WarnContext(r.Context(), "free space unknown", "err", err)
	case free < s.reserve:
		st.FreeBytes, st.Uploads = &free, "refused"
	default:
		st.FreeBytes, st.Uploads = &free, "ok"
	}
	return st
}

// handleReady asks the store and every ReadyCheck, each with a 2 s budget, and reports
// the free space of the recordings storage. A disk down to its reserve does not make
// the replica unready: only uploads are refused.
func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	checks := append([]ReadyCheck{{Name: "store", Check: s.store.Ping}}, s.ready...)
	status := map[string]string{}
	var failed []string
	for _, c := range checks {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		err := c.Check(ctx)
		cancel()
		if err != nil {
			s.log.WarnContext(r.Context(), "not ready", "dependency", c.Name, "err", err)
			status[c.Name] = "unavailable"
			failed = append(failed, c.Name)
			continue
		}
		status[c.Name] = "ok"
	}
	body := map[string]any{"status": "ok", "checks": status}
	if st := s.storageStatus(r); st != nil {
		body["storage"] = st
	}
	if len(failed) > 0 {
		body["status"], body["failed"] = "unavailable", failed
		writeJSON(w, http.StatusServiceUnavailable, body)
		return
	}
	writeJSON(w, http.StatusOK, body)
}
