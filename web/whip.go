package web

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/securecam/securecam/hub"
	"github.com/securecam/securecam/signaling/access"
	"github.com/securecam/securecam/signaling/relay"
	"github.com/securecam/securecam/signaling/wire"
	"github.com/securecam/securecam/store"
)

// Media is the media plane behind WHIP and WHEP: the hub's relay (RelayMedia), or
// later an external SFU. It is the media provider of the sessions whose
// media_provider is not p2p.
type Media interface {
	// Name is the stream_sessions.media_provider of its publications.
	Name() string
	// Publish makes camera's publication from its offer; a previous one ends.
	Publish(ctx context.Context, camera, offer string) (MediaSession, string, error)
	// Subscribe adds a viewer (principal: its device or user id) to camera's
	// publication: relay.ErrNotPublishing when there is none.
	Subscribe(ctx context.Context, camera, principal, offer string) (MediaSession, string, error)
	// Publishing reports whether camera publishes here.
	Publishing(camera string) bool
	// WaitReady waits until camera's publication carries media.
	WaitReady(ctx context.Context, camera string) error
	// Session finds a session by id: relay.ErrNoSession when there is none.
	Session(id string) (MediaSession, error)
	// Viewers counts the viewers of camera's publication here.
	Viewers(camera string) int
	// CloseViewers ends, at once, camera's viewer sessions opened by principal (a
	// revoked link or share) and returns how many there were.
	CloseViewers(camera, principal string) int
}

// MediaSession is one WHIP or WHEP session.
type MediaSession interface {
	ID() string
	Camera() string
	Principal() string
	Publisher() bool
	// Trickle applies a trickle-ICE fragment; a non-empty answer is the fragment
	// of an ICE restart.
	Trickle(ctx context.Context, frag string) (string, error)
	Close()
}

// RelayMedia serves WHIP and WHEP from the hub's relay.
func RelayMedia(r *relay.Relay) Media { return relayMedia{r} }

type relayMedia struct{ r *relay.Relay }

func (m relayMedia) Name() string { return store.MediaRelay }

func (m relayMedia) Publish(ctx context.Context, camera, offer string) (MediaSession, string, error) {
	s, ans, err := m.r.Publish(ctx, camera, offer)
	if err != nil {
		return nil, "", err
	}
	return s, ans, nil
}

func (m relayMedia) Subscribe(ctx context.Context, camera, principal, offer string) (MediaSession, string, error) {
	s, ans, err := m.r.Subscribe(ctx, camera, principal, offer)
	if err != nil {
		return nil, "", err
	}
	return s, ans, nil
}

func (m relayMedia) Publishing(camera string) bool { return m.r.Publishing(camera) }

func (m relayMedia) Viewers(camera string) int { return m.r.Viewers(camera) }

func (m relayMedia) CloseViewers(camera, principal string) int {
	return m.r.CloseViewers(camera, principal)
}

// userPrincipal names the WHEP viewers a user session opened (a device's are named
// by the device's id).
func userPrincipal(userID string) string { return "user:" + userID }

func (m relayMedia) WaitReady(ctx context.Context, camera string) error {
	return m.r.WaitReady(ctx, camera)
}

func (m relayMedia) Session(id string) (MediaSession, error) {
	s, err := m.r.Session(id)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// PublishRequester asks an online camera to publish to the relay (the
// relay.publish message), or wakes an offline one; signaling.Service implements
// it. hub.ErrOffline: the camera is offline (a wake-up push went out).
type PublishRequester interface {
	RequestPublish(ctx context.Context, cameraDeviceID, whipURL string) error
}

const (
	contentSDP     = "application/sdp"
	contentSDPFrag = "application/trickle-ice-sdpfrag"
	// wakeRetry is the Retry-After of a WHEP request for an offline camera, which
	// was woken: about how long a phone takes to connect after a push.
	wakeRetry = 10 * time.Second
	// publishRetry is the Retry-After of a WHEP request for a camera that did not
	// publish within the bound.
	publishRetry = 5 * time.Second
)

var errNoMedia = &Error{Status: http.StatusServiceUnavailable, Code: wire.CodeUnavailable, Detail: "the media relay is not served here"}

// mediaRoutes mounts WHIP and WHEP under /api/v1.
func (s *Server) mediaRoutes(r chi.Router) {
	r.Group(func(r chi.Router) {
		r.Use(mediaCORS)
		for _, p := range []string{"/whip", "/whip/{id}", "/whep/{camera}", "/whep/{camera}/{id}"} {
			r.Options(p, func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
		}
		r.Group(func(r chi.Router) {
			r.Use(s.authenticate(true))
			r.Post("/whip", s.h(s.handleWHIP))
			r.Patch("/whip/{id}", s.h(s.handleMediaPatch))
			r.Delete("/whip/{id}", s.h(s.handleMediaDelete))
			r.Post("/whep/{camera}", s.h(s.handleWHEP))
			r.Patch("/whep/{camera}/{id}", s.h(s.handleMediaPatch))
			r.Delete("/whep/{camera}/{id}", s.h(s.handleMediaDelete))
		})
	})
}

// mediaCORS lets browser WHIP and WHEP clients of any origin in: they
// authenticate with a bearer token, which another origin cannot read.
// (A cookie session from another origin is refused by the origin check.)
func mediaCORS(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", "*")
		h.Set("Access-Control-Allow-Methods", "POST, PATCH, DELETE, OPTIONS")
		h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, If-Match")
		h.Set("Access-Control-Expose-Headers", "Location, Link, ETag, Retry-After, Accept-Patch")
		h.Set("Accept-Patch", contentSDPFrag)
		next.ServeHTTP(w, r)
	})
}

// readSDP checks the content type and reads a bounded SDP body.
func readSDP(r *http.Request, want string) (string, error) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != want {
		return "", &Error{Status: http.StatusUnsupportedMediaType, Code: wire.CodeBadRequest,
			Detail: "Content-Type must be " + want}
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, relay.MaxSDPBytes+1))
	if err != nil {
		return "", errBadRequest("read body: %v", err)
	}
	if len(b) > relay.MaxSDPBytes {
		return "", &Error{Status: http.StatusRequestEntityTooLarge, Code: wire.CodeTooLarge,
			Detail: fmt.Sprintf("the body exceeds %d bytes", relay.MaxSDPBytes)}
	}
	return string(b), nil
}

// mediaError maps the relay's errors to problems.
func mediaError(err error) error {
	switch {
	case errors.Is(err, relay.ErrSDPTooLarge):
		return &Error{Status: http.StatusRequestEntityTooLarge, Code: wire.CodeTooLarge, Detail: err.Error(), cause: err}
	case errors.Is(err, relay.ErrBadSDP):
		return &Error{Status: http.StatusBadRequest, Code: wire.CodeBadRequest, Detail: "the offer is not a valid SDP session description", cause: err}
	case errors.Is(err, relay.ErrNoVideo):
		return &Error{Status: http.StatusBadRequest, Code: wire.CodeBadRequest, Detail: "the offer has no video media section", cause: err}
	case errors.Is(err, relay.ErrUnsupportedCodec), errors.Is(err, relay.ErrCodecMismatch):
		return &Error{Status: http.StatusUnprocessableEntity, Code: wire.CodeBadRequest,
			Detail: "the offer has no video codec the relay can forward here (VP8, H264; a viewer must accept the camera's)", cause: err}
	case errors.Is(err, relay.ErrICERestart):
		return &Error{Status: http.StatusUnprocessableEntity, Code: wire.CodeBadRequest, Detail: "the ICE restart failed", cause: err}
	case errors.Is(err, relay.ErrNoSession):
		return errNotFound("no such session")
	case errors.Is(err, relay.ErrNotPublishing):
		return &Error{Status: http.StatusServiceUnavailable, Code: wire.CodeUnavailable,
			Detail: "the camera is not publishing", RetryAfter: publishRetry, cause: err}
	}
	return err
}

// iceLinks sets the Link headers (RFC 9725 section 4.6) of the ICE servers
// for who.
func (s *Server) iceLinks(w http.ResponseWriter, who string) {
	if s.streams == nil {
		return
	}
	list := s.streams.ICEServers(who)
	for _, srv := range list.ICEServers {
		for _, u := range srv.URLs {
			v := "<" + u + `>; rel="ice-server"`
			if srv.Username != "" {
				v += fmt.Sprintf(`; username=%q; credential=%q; credential-type="password"`, srv.Username, srv.Credential)
			}
			w.Header().Add("Link", v)
		}
	}
}

// elsewhere returns camera's open media session, and whether another replica
// holds it (its publish_endpoint is not under this replica's node URL).
func (s *Server) elsewhere(ctx context.Context, camera string) (store.StreamSession, bool, error) {
	row, err := s.store.OpenMediaSession(ctx, camera)
	if errors.Is(err, store.ErrNotFound) {
		return store.StreamSession{}, false, nil
	}
	if err != nil {
		return store.StreamSession{}, false, err
	}
	if row.PublishEndpoint == nil || strings.HasPrefix(*row.PublishEndpoint, s.nodeURL+"/") {
		return row, false, nil
	}
	return row, true, nil
}

// redirect answers 307 to target, which keeps the method and the body: the
// client repeats its request at the replica that holds the session.
func redirect(w http.ResponseWriter, target string) {
	w.Header().Set("Location", target)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusTemporaryRedirect)
}

// POST /whip (RFC 9725): a camera's device token, an SDP offer → 201 with the
// answer, the session resource in Location and the ICE servers in Link.
func (s *Server) handleWHIP(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	p := principalFrom(ctx)
	camera, err := s.whipCamera(r, p)
	if err != nil {
		return err
	}
	offer, err := readSDP(r, contentSDP)
	if err != nil {
		return err
	}
	if s.media == nil {
		return errNoMedia
	}
	if row, away, err := s.elsewhere(ctx, camera); err != nil {
		return err
	} else if away {
		target := strings.TrimSuffix(*row.PublishEndpoint, "/"+*row.MediaSessionID)
		if r.URL.RawQuery != "" {
			target += "?" + r.URL.RawQuery
		}
		redirect(w, target)
		return nil
	}
	sess, answer, err := s.media.Publish(ctx, camera, offer)
	if err != nil {
		return mediaError(err)
	}
	id := sess.ID()
	pub, sub := s.nodeURL+"/api/v1/whip/"+id, s.nodeURL+"/api/v1/whep/"+camera
	row := store.StreamSession{ID: id, OwnerUserID: p.userID, CameraDeviceID: camera, RequesterDeviceID: camera,
		Status: store.StreamLive, MediaProvider: s.media.Name(), MediaSessionID: &id,
		PublishEndpoint: &pub, SubscribeEndpoint: &sub, CreatedAt: s.now().UTC()}
	if err := s.store.CreateStreamSession(ctx, &row, 0); err != nil {
		sess.Close() // nothing half-made stays behind
		return err
	}
	if s.onPublished != nil {
		s.onPublished(row)
	}
	s.log.InfoContext(ctx, "camera publishing by whip", "camera_device_id", camera, "session_id", id)
	s.iceLinks(w, camera)
	w.Header().Set("Location", "/api/v1/whip/"+id)
	w.Header().Set("Content-Type", contentSDP)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusCreated)
	_, _ = io.WriteString(w, answer)
	return nil
}

// whipCamera is the camera a WHIP request publishes as: a camera's device token, or
// a session of the camera's owner with ?device_id= (a browser acting as a camera
// holds its user's session, not a device token).
func (s *Server) whipCamera(r *http.Request, p *principal) (string, error) {
	v := r.URL.Query().Get("device_id")
	if p.device != nil {
		if p.device.Role != store.RoleCamera {
			return "", errForbidden("WHIP publishes as a camera: use the camera's device token")
		}
		if v != "" && v != p.device.ID {
			return "", errForbidden("a device token acts for its own device only")
		}
		return p.device.ID, nil
	}
	if v == "" {
		return "", errForbidden("WHIP publishes as a camera: use the camera's device token, or a session with ?device_id= of the user's camera")
	}
	id, err := bodyID("device_id", v)
	if err != nil {
		return "", err
	}
	d, err := s.ownedDevice(r.Context(), p.userID, id)
	if err != nil {
		return "", err
	}
	if d.Role != store.RoleCamera {
		return "", errForbidden("device_id is not a camera: WHIP publishes as a camera")
	}
	return d.ID, nil
}

// POST /whep/{camera}: a session of a user who may view the camera (its owner or
// an invitee of a share) or the token of such a user's viewer device linked to it,
// an SDP offer → 201 with the answer. A camera that is not
// publishing is asked to (or woken); the answer waits for its media, up to a
// bound, else 503 with Retry-After.
func (s *Server) handleWHEP(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	p := principalFrom(ctx)
	camera, ok := parseID(chi.URLParam(r, "camera"))
	if !ok {
		return errNotFound("no such camera")
	}
	// The one authorization function: the owner, or a share of the camera (any role
	// may watch); a device must also be linked to it.
	who, g, err := userPrincipal(p.userID), access.Grant{}, error(nil)
	if p.device != nil {
		who = p.device.ID
		g, err = s.access.Device(ctx, p.userID, p.device.ID, camera, access.View)
	} else {
		g, err = s.may(ctx, camera, access.View)
	}
	if err != nil {
		return err
	}
	if g.Camera.Role != store.RoleCamera {
		return errNotFound("no such camera")
	}
	offer, err := readSDP(r, contentSDP)
	if err != nil {
		return err
	}
	if err := relay.CheckOffer(offer); err != nil {
		return mediaError(err)
	}
	if s.media == nil {
		return errNoMedia
	}
	if row, away, err := s.elsewhere(ctx, camera); err != nil {
		return err
	} else if away && row.SubscribeEndpoint != nil {
		redirect(w, *row.SubscribeEndpoint)
		return nil
	}
	if !s.media.Publishing(camera) {
		if s.publishers == nil {
			return mediaError(relay.ErrNotPublishing)
		}
		err := s.publishers.RequestPublish(ctx, camera, s.nodeURL+"/api/v1/whip")
		if errors.Is(err, hub.ErrOffline) {
			return &Error{Status: http.StatusServiceUnavailable, Code: wire.CodeUnavailable,
				Detail: "the camera is offline; it was woken, retry shortly", RetryAfter: wakeRetry, cause: err}
		}
		if err != nil {
			return err
		}
	}
	wctx, cancel := context.WithTimeout(ctx, s.publishWait)
	err = s.waitPublishing(wctx, camera)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return &Error{Status: http.StatusServiceUnavailable, Code: wire.CodeUnavailable,
			Detail: "the camera did not start publishing in time", RetryAfter: publishRetry, cause: err}
	}
	sess, answer, err := s.media.Subscribe(ctx, camera, who, offer)
	if err != nil {
		return mediaError(err)
	}
	iceWho := who
	if p.device == nil {
		iceWho = p.userID
	}
	s.iceLinks(w, iceWho)
	w.Header().Set("Location", "/api/v1/whep/"+camera+"/"+sess.ID())
	w.Header().Set("Content-Type", contentSDP)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusCreated)
	_, _ = io.WriteString(w, answer)
	return nil
}

// waitPublishing waits until camera publishes here and its media is ready.
func (s *Server) waitPublishing(ctx context.Context, camera string) error {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		if s.media.Publishing(camera) {
			err := s.media.WaitReady(ctx, camera)
			if !errors.Is(err, relay.ErrNotPublishing) {
				return err // ready, or out of time
			}
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// mediaSession finds the WHIP or WHEP session of the request, for its
// principal only. A WHIP session held by another replica is redirected there
// (true: the answer is written).
func (s *Server) mediaSession(w http.ResponseWriter, r *http.Request) (MediaSession, bool, error) {
	ctx := r.Context()
	p := principalFrom(ctx)
	if s.media == nil {
		return nil, false, errNoMedia
	}
	id, ok := parseID(chi.URLParam(r, "id"))
	if !ok {
		return nil, false, errNotFound("no such session")
	}
	whep := chi.URLParam(r, "camera") != ""
	sess, err := s.media.Session(id)
	if errors.Is(err, relay.ErrNoSession) && !whep {
		row, err := s.store.StreamSession(ctx, id)
		if err == nil && row.Open() && row.OwnerUserID == p.userID && row.PublishEndpoint != nil &&
			!strings.HasPrefix(*row.PublishEndpoint, s.nodeURL+"/") {
			redirect(w, *row.PublishEndpoint)
			return nil, true, nil
		}
	}
	if err != nil {
		return nil, false, mediaError(err)
	}
	mine := false
	switch {
	case sess.Publisher():
		mine = !whep && s.publishesAs(ctx, p, sess.Camera())
	case whep && sess.Camera() == chi.URLParam(r, "camera"):
		mine = (p.device != nil && sess.Principal() == p.device.ID) ||
			(p.device == nil && sess.Principal() == "user:"+p.userID)
	}
	if !mine {
		return nil, false, errNotFound("no such session")
	}
	return sess, false, nil
}

// publishesAs reports whether p may act on camera's publication: the camera's device
// token, or a session of its owner (whipCamera).
func (s *Server) publishesAs(ctx context.Context, p *principal, camera string) bool {
	if p.device != nil {
		return p.device.ID == camera
	}
	_, err := s.ownedDevice(ctx, p.userID, camera)
	return err == nil
}

// PATCH /whip/{id}, /whep/{camera}/{id} with a trickle-ICE fragment: 204, or 200
// with the relay's new fragment for an ICE restart.
func (s *Server) handleMediaPatch(w http.ResponseWriter, r *http.Request) error {
	sess, done, err := s.mediaSession(w, r)
	if err != nil || done {
		return err
	}
	frag, err := readSDP(r, contentSDPFrag)
	if err != nil {
		return err
	}
	answer, err := sess.Trickle(r.Context(), frag)
	if err != nil {
		return mediaError(err)
	}
	w.Header().Set("Cache-Control", "no-store")
	if answer == "" {
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	w.Header().Set("Content-Type", contentSDPFrag)
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, answer)
	return nil
}

// DELETE /whip/{id}, /whep/{camera}/{id}: ends the session (a publication ends
// its viewers).
func (s *Server) handleMediaDelete(w http.ResponseWriter, r *http.Request) error {
	sess, done, err := s.mediaSession(w, r)
	if err != nil || done {
		return err
	}
	sess.Close()
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	return nil
}

// mediaNodeURL is the replica's own address: cfg.NodeURL, else the public URL.
func mediaNodeURL(cfg Config, public *url.URL) string {
	if cfg.NodeURL != "" {
		return strings.TrimSuffix(cfg.NodeURL, "/")
	}
	return strings.TrimSuffix(public.String(), "/")
}
