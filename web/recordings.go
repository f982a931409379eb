package web

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"

	"github.com/google/uuid"

	"github.com/securecam/securecam/store"
	"github.com/securecam/securecam/store/blobs"
)

// recordingTypes are the content types a clip may have.
var recordingTypes = map[string]bool{"video/mp4": true, "video/webm": true, "image/jpeg": true}

// maxClipSeconds bounds duration_seconds.
const maxClipSeconds = 24 * 60 * 60

var errNoRecordings = &Error{Status: http.StatusServiceUnavailable, Code: CodeUnavailable, Detail: "recordings are not stored here"}

// recordingURL is where a recording's clip is uploaded (PUT) and played back (GET).
func (s *Server) recordingURL(id string) string {
	return s.publicURL.JoinPath("api", "v1", "recordings", id, "content").String()
}

// POST /recordings {camera_device_id, event_id?, stream_session_id?, content_type,
// duration_seconds?} → 201 {recording, upload_url}: the camera's owner or its token.
func (s *Server) handleCreateRecording(w http.ResponseWriter, r *http.Request) error {
	if s.blobs == nil {
		return errNoRecordings
	}
	var in struct {
		CameraDeviceID  string  `json:"camera_device_id"`
		EventID         *string `json:"event_id"`
		StreamSessionID *string `json:"stream_session_id"`
		ContentType     string  `json:"content_type"`
		DurationSeconds *int    `json:"duration_seconds"`
	}
	if err := s.decodeJSON(w, r, &in); err != nil {
		return err
	}
	ctx := r.Context()
	cam, err := s.actingCamera(ctx, "camera_device_id", in.CameraDeviceID)
	if err != nil {
		return err
	}
	if !recordingTypes[in.ContentType] {
		return errBadRequest("content_type must be video/mp4, video/webm or image/jpeg")
	}
	if in.DurationSeconds != nil && (*in.DurationSeconds < 0 || *in.DurationSeconds > maxClipSeconds) {
		return errBadRequest("duration_seconds must be between 0 and %d", maxClipSeconds)
	}
	rec := store.Recording{OwnerUserID: cam.UserID, CameraDeviceID: cam.ID, ContentType: in.ContentType,
		DurationSeconds: in.DurationSeconds, CreatedAt: s.now()}
	for _, ref := range []struct {
		field string
		in    *string
		out   **string
	}{{"event_id", in.EventID, &rec.EventID}, {"stream_session_id", in.StreamSessionID, &rec.StreamSessionID}} {
		if ref.in == nil || *ref.in == "" {
			continue
		}
		id, err := bodyID(ref.field, *ref.in)
		if err != nil {
			return err
		}
		*ref.out = &id
	}
	if p := principalFrom(ctx); p.device != nil {
		rec.RequesterDeviceID = &p.device.ID
	}
	if err := s.store.CreateRecording(ctx, &rec); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return errNotFound("no such event or stream session for this camera")
		}
		return fmt.Errorf("create recording: %w", err)
	}
	writeJSON(w, http.StatusCreated, struct {
		Recording store.Recording `json:"recording"`
		UploadURL string          `json:"upload_url"`
	}{rec, s.recordingURL(rec.ID)})
	return nil
}

// ownedRecording returns the recording if the request may see it: the owner's session,
// or (when the route allows device tokens) the token of its camera. Anything else is 404.
func (s *Server) ownedRecording(ctx context.Context, id string) (store.Recording, error) {
	rec, err := s.store.Recording(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return rec, errNotFound("no such recording")
	}
	if err != nil {
		return rec, fmt.Errorf("recording: %w", err)
	}
	p := principalFrom(ctx)
	if rec.OwnerUserID != p.userID || (p.device != nil && p.device.ID != rec.CameraDeviceID) {
		return store.Recording{}, errNotFound("no such recording")
	}
	return rec, nil
}

// PUT /recordings/{id}/content: the clip's bytes, streamed to storage. The size limit is
// checked against Content-Length before reading, and enforced while reading a body of
// unknown length. The recording becomes available, or failed when the clip is too
// large or the upload broke off.
func (s *Server) handleUploadRecording(w http.ResponseWriter, r *http.Request) error {
	if s.blobs == nil {
		return errNoRecordings
	}
	id, err := pathID(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	rec, err := s.ownedRecording(ctx, id)
	if err != nil {
		return err
	}
	if rec.Status != store.RecordingPending {
		return errConflict("the recording is " + rec.Status + "; create a new one to upload again")
	}
	ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || !recordingTypes[ct] {
		return errBadRequest("Content-Type must be video/mp4, video/webm or image/jpeg")
	}
	if rec.ContentType != "" && ct != rec.ContentType {
		return errBadRequest("Content-Type %s differs from the recording's %s", ct, rec.ContentType)
	}
	if r.ContentLength > s.maxUpload {
		s.failUpload(ctx, rec.ID, fmt.Sprintf("clip larger than %d bytes", s.maxUpload))
		return tooLarge(s.maxUpload)
	}
	if r.ContentLength == 0 {
		return errBadRequest("empty body: send the clip's bytes")
	}

	// The key comes from ids the hub made, never from the request.
	key := fmt.Sprintf("recordings/%s/%s_%s", rec.OwnerUserID, rec.ID, uuid.NewString())
	body := &bodyReader{r: r.Body}
	n, err := s.blobs.Put(ctx, key, body, s.maxUpload)
	switch {
	case errors.Is(err, blobs.ErrTooLarge):
		s.failUpload(ctx, rec.ID, fmt.Sprintf("clip larger than %d bytes", s.maxUpload))
		return tooLarge(s.maxUpload)
	case err != nil && (body.err != nil || ctx.Err() != nil):
		s.failUpload(ctx, rec.ID, "upload interrupted")
		return errBadRequest("the upload broke off")
	case err != nil:
		s.failUpload(ctx, rec.ID, "storage failed")
		return fmt.Errorf("store clip: %w", err)
	case n == 0:
		_ = s.blobs.Delete(ctx, key)
		return errBadRequest("empty body: send the clip's bytes")
	}
	rec, err = s.store.FinishRecordingUpload(ctx, rec.ID, store.RecordingUpload{Status: store.RecordingAvailable,
		ObjectKey: key, Bucket: s.blobs.Bucket(), SizeBytes: n, At: s.now()})
	if err != nil {
		// Another upload of the recording finished first: this one's file goes.
		if derr := s.blobs.Delete(context.WithoutCancel(ctx), key); derr != nil {
			s.log.WarnContext(ctx, "delete an unused clip", "key", key, "err", derr)
		}
		return fmt.Errorf("finish upload: %w", err)
	}
	if rec.EventID != nil {
		if err := s.store.SetEventVideoURL(ctx, *rec.EventID, s.recordingURL(rec.ID)); err != nil && !errors.Is(err, store.ErrNotFound) {
			s.log.WarnContext(ctx, "set the event's video_url", "event_id", *rec.EventID, "recording_id", rec.ID, "err", err)
		}
	}
	writeJSON(w, http.StatusOK, rec)
	return nil
}

// bodyReader remembers why reading the request body failed, to tell a client that
// went away from a storage failure.
type bodyReader struct {
	r   io.Reader
	err error
}

func (b *bodyReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		b.err = err
	}
	return n, err
}

// failUpload records a failed upload; a recording that is no longer pending (another
// upload finished) stays as it is.
func (s *Server) failUpload(ctx context.Context, id, reason string) {
	_, err := s.store.FinishRecordingUpload(context.WithoutCancel(ctx), id, store.RecordingUpload{
		Status: store.RecordingFailed, Error: reason, At: s.now()})
	if err != nil && !errors.Is(err, store.ErrConflict) {
		s.log.WarnContext(ctx, "record a failed upload", "recording_id", id, "err", err)
	}
}

// GET /recordings?camera_device_id=&event_id= newest first.
func (s *Server) handleListRecordings(w http.ResponseWriter, r *http.Request) error {
	page, err := pageParams(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	var f store.RecordingFilter
	for _, p := range []struct {
		name string
		dst  *string
	}{{"camera_device_id", &f.CameraDeviceID}, {"event_id", &f.EventID}} {
		if v := q.Get(p.name); v != "" {
			if *p.dst, err = bodyID(p.name, v); err != nil {
				return err
			}
		}
	}
	items, next, err := s.store.ListRecordings(r.Context(), principalFrom(r.Context()).userID, f, page)
	if err != nil {
		return fmt.Errorf("list recordings: %w", err)
	}
	writeJSON(w, http.StatusOK, newList(items, next))
	return nil
}

// GET /recordings/{id}
func (s *Server) handleGetRecording(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	rec, err := s.ownedRecording(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rec)
	return nil
}

// GET /recordings/{id}/content: the clip, with HTTP Range and conditional requests.
func (s *Server) handleRecordingContent(w http.ResponseWriter, r *http.Request) error {
	if s.blobs == nil {
		return errNoRecordings
	}
	id, err := pathID(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	rec, err := s.ownedRecording(ctx, id)
	if err != nil {
		return err
	}
	if rec.Status != store.RecordingAvailable || rec.ObjectKey == nil {
		return errConflict("the recording is " + rec.Status + ", not available")
	}
	obj, err := s.blobs.Open(ctx, *rec.ObjectKey)
	if errors.Is(err, blobs.ErrNotFound) {
		return errNotFound("the recording's clip is gone")
	}
	if err != nil {
		return fmt.Errorf("open clip: %w", err)
	}
	defer obj.Close()
	h := w.Header()
	h.Set("Content-Type", rec.ContentType)
	h.Set("Cache-Control", "private, max-age=3600")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Disposition", "inline")
	http.ServeContent(w, r, "", obj.ModTime(), obj)
	return nil
}
