package web

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/securecam/securecam/signaling/access"
	"github.com/securecam/securecam/signaling/wire"
	"github.com/securecam/securecam/store"
	"github.com/securecam/securecam/store/blobs"
)

// recordingTypes are the content types a clip may have.
var recordingTypes = map[string]bool{"video/mp4": true, "video/webm": true, "image/jpeg": true}

// maxClipSeconds bounds duration_seconds.
const maxClipSeconds = 24 * 60 * 60

var errNoRecordings = &Error{Status: http.StatusServiceUnavailable, Code: wire.CodeUnavailable, Detail: "recordings are not stored here"}

// errStorageUnavailable answers a request the recordings storage could not serve now.
func errStorageUnavailable(err error) *Error {
	return &Error{Status: http.StatusServiceUnavailable, Code: wire.CodeUnavailable,
		Detail: "the recordings storage is unavailable, retry", RetryAfter: 5 * time.Second, cause: err}
}

// recordingURL is where a recording's clip is uploaded (PUT) and played back (GET).
func (s *Server) recordingURL(id string) string {
	return s.publicURL.JoinPath("api", "v1", "recordings", id, "content").String()
}

// clipKey names a new clip of rec: from ids the hub made, never from the request, and
// new for every upload so that two uploads never write one object.
func clipKey(rec store.Recording) string {
	return fmt.Sprintf("recordings/%s/%s_%s", rec.OwnerUserID, rec.ID, uuid.NewString())
}

// POST /recordings {camera_device_id, event_id?, stream_session_id?, content_type,
// duration_seconds?, size_bytes?, direct_upload?} → 201 {recording, upload_url, …}: the
// camera's owner or its token. With direct_upload (and a storage clients can reach),
// upload_url is a presigned URL of the bucket, with the headers to send and complete_url
// to call once the clip is there.
func (s *Server) handleCreateRecording(w http.ResponseWriter, r *http.Request) error {
	if s.blobs == nil {
		return errNoRecordings
	}
	var in createRecordingRequest
	if err := s.decodeJSON(w, r, &in); err != nil {
		return err
	}
	if err := in.check(); err != nil {
		return err
	}
	ctx := r.Context()
	cam, err := s.actingCamera(ctx, "camera_device_id", in.CameraDeviceID)
	if err != nil {
		return err
	}
	if in.SizeBytes != nil && *in.SizeBytes > s.maxUpload {
		return tooLarge(s.maxUpload)
	}
	rec := store.Recording{OwnerUserID: cam.UserID, CameraDeviceID: cam.ID, ContentType: in.ContentType,
		DurationSeconds: in.DurationSeconds, EventID: in.EventID, StreamSessionID: in.StreamSessionID, CreatedAt: s.now()}
	if p := principalFrom(ctx); p.device != nil {
		rec.RequesterDeviceID = &p.device.ID
	}
	presigner, direct := s.blobs.Primary().(blobs.Presigner)
	direct = direct && in.DirectUpload
	if direct {
		// The bucket receives the clip without the hub: its declared size must fit the
		// room left now, and counts against the quota from now on.
		limit, noRoom, err := s.uploadRoom(ctx, cam.UserID)
		if err != nil {
			return err
		}
		if noRoom != nil && *in.SizeBytes > limit {
			return noRoom
		}
		// The object is named now: the bucket receives it without the hub.
		id, err := uuid.NewV7()
		if err != nil {
			return fmt.Errorf("new recording id: %w", err)
		}
		rec.ID = id.String()
		key, bucket := clipKey(rec), s.blobs.Primary().Bucket()
		rec.ObjectKey, rec.Bucket, rec.SizeBytes = &key, &bucket, in.SizeBytes
	}
	if err := s.store.CreateRecording(ctx, &rec); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return errNotFound("no such event or stream session for this camera")
		}
		return fmt.Errorf("create recording: %w", err)
	}
	out := struct {
		Recording       wire.Recording    `json:"recording"`
		UploadURL       string            `json:"upload_url"`
		UploadHeaders   map[string]string `json:"upload_headers,omitempty"`
		UploadExpiresAt *time.Time        `json:"upload_expires_at,omitempty"`
		CompleteURL     string            `json:"complete_url,omitempty"`
	}{Recording: wire.FromRecording(rec), UploadURL: s.recordingURL(rec.ID)}
	if direct {
		u, h, err := presigner.PresignPut(ctx, *rec.ObjectKey, *in.SizeBytes, rec.ContentType, s.presignPutTTL)
		if err != nil {
			return fmt.Errorf("presign the upload: %w", err)
		}
		exp := s.now().UTC().Add(s.presignPutTTL).Truncate(time.Second)
		out.UploadURL, out.UploadExpiresAt = u, &exp
		out.UploadHeaders = make(map[string]string, len(h))
		for k := range h {
			out.UploadHeaders[k] = h.Get(k)
		}
		out.CompleteURL = s.publicURL.JoinPath("api", "v1", "recordings", rec.ID, "complete").String()
	}
	writeJSON(w, http.StatusCreated, out)
	return nil
}

// ownedRecording returns the recording if the request may do a with it: the owner's
// session, a session of a user whose role on its camera allows a (signaling/access),
// or (when the route allows device tokens) the token of its camera. A stranger gets 404,
// a role too weak 403.
func (s *Server) ownedRecording(ctx context.Context, id string, a access.Action) (store.Recording, error) {
	rec, err := s.store.Recording(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return rec, errNotFound("no such recording")
	}
	if err != nil {
		return rec, fmt.Errorf("recording: %w", err)
	}
	p := principalFrom(ctx)
	switch {
	case p.device != nil && (p.device.ID != rec.CameraDeviceID || rec.OwnerUserID != p.userID):
		return store.Recording{}, errNotFound("no such recording")
	case p.device != nil || rec.OwnerUserID == p.userID: // the owner's, even of a deleted camera
		return rec, nil
	}
	if _, err := s.may(ctx, rec.CameraDeviceID, a); err != nil {
		if errors.Is(err, access.ErrDenied) && !isForbidden(err) {
			return store.Recording{}, errNotFound("no such recording")
		}
		return store.Recording{}, err
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
	rec, err := s.ownedRecording(ctx, id, access.Manage)
	if err != nil {
		return err
	}
	if rec.Status != store.RecordingPending {
		return errConflict("the recording is " + rec.Status + "; create a new one to upload again")
	}
	if rec.ObjectKey != nil {
		return errConflict("the recording is uploaded straight to the bucket: PUT it to its upload_url, then POST its complete_url")
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
	// Refused for want of room, the recording stays pending: free room and PUT again.
	limit, noRoom, err := s.uploadRoom(ctx, rec.OwnerUserID)
	if err != nil {
		return err
	}
	if noRoom != nil && r.ContentLength > limit {
		return noRoom
	}

	// The clip streams to the storage: a part at a time, never whole in memory.
	st := s.blobs.Primary()
	key := clipKey(rec)
	body := &bodyReader{r: r.Body}
	n, err := st.Put(ctx, key, body, blobs.PutOptions{Limit: limit, ContentType: ct})
	switch {
	case errors.Is(err, blobs.ErrTooLarge) && noRoom != nil:
		return noRoom
	case errors.Is(err, blobs.ErrTooLarge):
		s.failUpload(ctx, rec.ID, fmt.Sprintf("clip larger than %d bytes", s.maxUpload))
		return tooLarge(s.maxUpload)
	case err != nil && (body.err != nil || ctx.Err() != nil):
		s.failUpload(ctx, rec.ID, "upload interrupted")
		return errBadRequest("the upload broke off")
	case errors.Is(err, blobs.ErrUnavailable):
		// Nothing was stored and the recording stays pending: the same PUT may be retried.
		return errStorageUnavailable(err)
	case err != nil:
		s.failUpload(ctx, rec.ID, "storage failed")
		return fmt.Errorf("store clip: %w", err)
	case n == 0:
		_ = st.Delete(ctx, key)
		return errBadRequest("empty body: send the clip's bytes")
	}
	return s.finishUpload(w, r, rec, st, key, n)
}

// finishUpload makes rec available with the clip stored in st under key, and sets its
// event's video_url.
func (s *Server) finishUpload(w http.ResponseWriter, r *http.Request, rec store.Recording, st blobs.Storage, key string, size int64) error {
	ctx := r.Context()
	rec, err := s.store.FinishRecordingUpload(ctx, rec.ID, store.RecordingUpload{Status: store.RecordingAvailable,
		ObjectKey: key, Bucket: st.Bucket(), SizeBytes: size, At: s.now()})
	if err != nil {
		// Another upload of the recording finished first: this one's clip goes.
		if derr := st.Delete(context.WithoutCancel(ctx), key); derr != nil {
			s.log.WarnContext(ctx, "delete an unused clip", "key", key, "err", derr)
		}
		return fmt.Errorf("finish upload: %w", err)
	}
	if rec.EventID != nil {
		if err := s.store.SetEventVideoURL(ctx, *rec.EventID, s.recordingURL(rec.ID)); err != nil && !errors.Is(err, store.ErrNotFound) {
			s.log.WarnContext(ctx, "set the event's video_url", "event_id", *rec.EventID, "recording_id", rec.ID, "err", err)
		}
	}
	writeJSON(w, http.StatusOK, wire.FromRecording(rec))
	return nil
}

// POST /recordings/{id}/complete: the phone PUT the clip straight to the bucket; the hub
// checks it (HEAD: size and content type) before the recording becomes available. A
// clip that does not match is deleted and the recording fails; one that has not arrived
// leaves it pending.
func (s *Server) handleCompleteRecording(w http.ResponseWriter, r *http.Request) error {
	if s.blobs == nil {
		return errNoRecordings
	}
	id, err := pathID(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	rec, err := s.ownedRecording(ctx, id, access.Manage)
	if err != nil {
		return err
	}
	if rec.Status != store.RecordingPending {
		return errConflict("the recording is " + rec.Status + ", not pending")
	}
	st, ok := s.storageOf(rec)
	if rec.ObjectKey == nil || rec.SizeBytes == nil || !ok {
		return errConflict("the recording is not uploaded straight to the bucket: PUT its clip to its upload_url")
	}
	info, err := st.Stat(ctx, *rec.ObjectKey)
	switch {
	case errors.Is(err, blobs.ErrNotFound):
		return errConflict("the clip has not arrived in the bucket: PUT it to the upload_url first")
	case errors.Is(err, blobs.ErrUnavailable):
		return errStorageUnavailable(err)
	case err != nil:
		return fmt.Errorf("check the uploaded clip: %w", err)
	}
	var refusal *Error
	switch {
	case info.Size > s.maxUpload:
		refusal = tooLarge(s.maxUpload)
	case info.Size != *rec.SizeBytes:
		refusal = errBadRequest("the clip is %d bytes, not the %d declared", info.Size, *rec.SizeBytes)
	case mediaType(info.ContentType) != rec.ContentType:
		refusal = errBadRequest("the clip's Content-Type %q is not the declared %s", info.ContentType, rec.ContentType)
	}
	if refusal != nil {
		if err := st.Delete(context.WithoutCancel(ctx), *rec.ObjectKey); err != nil {
			s.log.WarnContext(ctx, "delete a refused clip", "key", *rec.ObjectKey, "err", err)
		}
		s.failUpload(ctx, rec.ID, refusal.Detail)
		return refusal
	}
	return s.finishUpload(w, r, rec, st, *rec.ObjectKey, info.Size)
}

// mediaType is the type of a Content-Type without its parameters.
func mediaType(v string) string {
	t, _, err := mime.ParseMediaType(v)
	if err != nil {
		return v
	}
	return t
}

// storageOf returns the storage holding rec's clip (rows without a bucket are the data
// directory's).
func (s *Server) storageOf(rec store.Recording) (blobs.Storage, bool) {
	bucket := blobs.DiskBucket
	if rec.Bucket != nil && *rec.Bucket != "" {
		bucket = *rec.Bucket
	}
	return s.blobs.Get(bucket)
}

// uploadRoom is how many bytes a new clip of owner may take: the upload limit, or less
// when the account's quota or the free space above the reserve in the primary storage is
// smaller; noRoom is then the 507 to answer when the clip does not fit (and limit may be
// 0).
func (s *Server) uploadRoom(ctx context.Context, owner string) (limit int64, noRoom *Error, err error) {
	limit = s.maxUpload
	used, err := s.store.RecordingBytes(ctx, owner)
	if err != nil {
		return 0, nil, fmt.Errorf("storage used: %w", err)
	}
	if left := max(s.quota-used, 0); left < limit {
		limit = left
		noRoom = &Error{Status: http.StatusInsufficientStorage, Code: wire.CodeInsufficientStorage,
			Detail: fmt.Sprintf("the account's storage quota of %d bytes is used up (%d used): delete recordings", s.quota, used)}
	}
	if s.freeSpace == nil {
		return limit, noRoom, nil
	}
	free, err := s.freeSpace()
	if err != nil {
		// Unknown free space does not stop uploads; a full disk fails the write.
		s.log.WarnContext(ctx, "free space unknown", "err", err)
		return limit, noRoom, nil
	}
	if left := max(free-s.reserve, 0); left < limit {
		limit = left
		noRoom = &Error{Status: http.StatusInsufficientStorage, Code: wire.CodeInsufficientStorage,
			Detail: "the hub's storage is nearly full; retry later", RetryAfter: time.Minute}
	}
	return limit, noRoom, nil
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
	f, err := recordingFilter(r.URL.Query())
	if err != nil {
		return err
	}
	owner, err := s.listOwner(r.Context(), f.CameraDeviceID, access.ReadClips)
	if err != nil {
		return err
	}
	items, next, err := s.store.ListRecordings(r.Context(), owner, f, page)
	if err != nil {
		return fmt.Errorf("list recordings: %w", err)
	}
	writeJSON(w, http.StatusOK, newList(items, next, wire.FromRecording))
	return nil
}

// GET /recordings/{id}
func (s *Server) handleGetRecording(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	rec, err := s.ownedRecording(r.Context(), id, access.ReadClips)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, wire.FromRecording(rec))
	return nil
}

// DELETE /recordings/{id}: the owner deletes the recording and its clip. Another user's
// is 404.
func (s *Server) handleDeleteRecording(w http.ResponseWriter, r *http.Request) error {
	if s.blobs == nil {
		return errNoRecordings
	}
	id, err := pathID(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	if _, err := s.ownedRecording(ctx, id, access.Manage); err != nil {
		return err
	}
	rec, err := s.store.DeleteRecording(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return errNotFound("no such recording")
	}
	if err != nil {
		return fmt.Errorf("delete recording: %w", err)
	}
	// The row is gone, so nothing serves the clip: a file left behind is only logged
	// (the reconcile pass finds it).
	if rec.ObjectKey != nil {
		st, ok := s.storageOf(rec)
		if !ok {
			s.log.WarnContext(ctx, "a deleted recording's clip is in a storage this hub is not configured with",
				"recording_id", rec.ID, "key", *rec.ObjectKey)
		} else if err := st.Delete(context.WithoutCancel(ctx), *rec.ObjectKey); err != nil {
			s.log.WarnContext(ctx, "delete a recording's clip", "recording_id", rec.ID, "key", *rec.ObjectKey, "err", err)
		}
	}
	s.audit(r, rec.OwnerUserID, AuditRecordingDeleted, "recording", rec.ID, map[string]any{"size_bytes": rec.SizeBytes})
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// GET /recordings/{id}/content[?redirect=true]: the clip, through the hub with HTTP
// Range and conditional requests (ranged reads of the storage). With redirect=true and a
// storage clients can reach, a 302 to a presigned URL of the bucket instead, valid for a
// few minutes: for apps that fetch the clip themselves. Browsers' <video> elements keep
// using the URL they were redirected to for later ranges, after it expired, so they
// stream through the hub.
func (s *Server) handleRecordingContent(w http.ResponseWriter, r *http.Request) error {
	if s.blobs == nil {
		return errNoRecordings
	}
	id, err := pathID(r)
	if err != nil {
		return err
	}
	redirect := false
	if v := r.URL.Query().Get("redirect"); v != "" {
		if redirect, err = strconv.ParseBool(v); err != nil {
			return errBadRequest("redirect must be true or false")
		}
	}
	ctx := r.Context()
	rec, err := s.ownedRecording(ctx, id, access.ReadClips)
	if err != nil {
		return err
	}
	if rec.Status != store.RecordingAvailable || rec.ObjectKey == nil {
		return errConflict("the recording is " + rec.Status + ", not available")
	}
	st, ok := s.storageOf(rec)
	if !ok {
		return errNotFound("the recording's clip is in a storage this hub is not configured with")
	}
	if p, ok := st.(blobs.Presigner); ok && redirect {
		u, err := p.PresignGet(ctx, *rec.ObjectKey, s.presignGetTTL)
		if err != nil {
			return fmt.Errorf("presign the clip: %w", err)
		}
		w.Header().Set("Cache-Control", "no-store")
		http.Redirect(w, r, u, http.StatusFound)
		return nil
	}
	obj, err := st.Open(ctx, *rec.ObjectKey)
	switch {
	case errors.Is(err, blobs.ErrNotFound):
		return errNotFound("the recording's clip is gone")
	case errors.Is(err, blobs.ErrUnavailable):
		return errStorageUnavailable(err)
	case err != nil:
		return fmt.Errorf("open clip: %w", err)
	}
	defer obj.Close()
	if err := checkRanges(r.Header.Get("Range"), obj.Size()); err != nil {
		w.Header().Set("Content-Range", fmt.Sprintf("bytes */%d", obj.Size()))
		return err
	}
	h := w.Header()
	h.Set("Content-Type", rec.ContentType)
	h.Set("Cache-Control", "private, max-age=3600")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Disposition", "inline")
	http.ServeContent(w, r, "", obj.ModTime(), obj)
	return nil
}
