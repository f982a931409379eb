package store

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// ErrLimitReached is returned by CreateStreamSession when the camera already has its
// maximum of open sessions.
var ErrLimitReached = errors.New("store: limit reached")

// Stream session statuses. A session is open until it is ended (it was live) or failed
// (it never got live).
const (
	StreamRequested  = "requested"
	StreamWaking     = "waking"
	StreamAccepted   = "accepted"
	StreamConnecting = "connecting"
	StreamLive       = "live"
	StreamEnded      = "ended"
	StreamFailed     = "failed"
)

// OpenStreamStatuses are the statuses of a session that is not over yet.
var OpenStreamStatuses = []string{StreamRequested, StreamWaking, StreamAccepted, StreamConnecting, StreamLive}

// MediaP2P is media_provider for live view peer to peer (or through TURN): the hub
// relays signaling only.
const MediaP2P = "p2p"

// MediaRelay is media_provider for a camera publishing to the hub's relay (WHIP, or
// the hub answering its offer): the session's media_session_id is the publication's
// id, publish_endpoint its WHIP resource and subscribe_endpoint its WHEP endpoint,
// both absolute URLs on the replica that holds it (its SECURECAM_NODE_URL).
const MediaRelay = "relay"

// StreamSession is a row of stream_sessions: one live-view session between a camera
// and a requesting viewer. StartedAt is set when it becomes live, EndedAt when it is
// ended or failed. StreamKey (an ingest credential of media providers that publish
// through a server) never leaves the hub; the p2p flow leaves the media columns empty.
// CameraAwayAt and RequesterAwayAt are set while that party of an open session is
// away: its socket went away and it has not resumed the session since.
type StreamSession struct {
	ID                string
	OwnerUserID       string
	CameraDeviceID    string
	RequesterDeviceID string
	Status            string
	Reason            *string
	MediaProvider     string
	MediaSessionID    *string
	PublishEndpoint   *string
	SubscribeEndpoint *string
	StreamKey         *string
	StartedAt         *time.Time
	EndedAt           *time.Time
	CameraAwayAt      *time.Time
	RequesterAwayAt   *time.Time
	Metadata          json.RawMessage
	CreatedAt         time.Time
	UpdatedAt         time.Time
}

// Open reports whether the session is not over yet.
func (s StreamSession) Open() bool {
	return s.Status != StreamEnded && s.Status != StreamFailed
}

// StreamFilter narrows ListStreamSessions. Empty fields match everything.
type StreamFilter struct {
	CameraDeviceID string
}

// StreamDeadline names the sessions that waited too long in one status: those in
// Status whose last change (updated_at) is at or before Before. They fail with Reason.
type StreamDeadline struct {
	Status string
	Before time.Time
	Reason string
}

// StreamTransition is one compare and set of WriteStreams: move session ID to
// To if its status is one of From, with Reason (when not empty) at At.
type StreamTransition struct {
	ID     string
	From   []string
	To     string
	Reason string
	At     time.Time
}

// StreamWrite is one write of WriteStreams: the creation of Create (which is not
// modified), as CreateStreamSession(Create, MaxOpen) would make it, when Create is
// set; else Transition.
type StreamWrite struct {
	Create     *StreamSession
	MaxOpen    int
	Transition StreamTransition
}

// StreamWriteResult is what a StreamWrite did. A transition: Applied when the
// session moved, and the session as it is after the transition (unchanged when it
// did not apply; Session.ID empty when the session does not exist). A creation:
// Applied and the session as inserted, or Err, the refusal of CreateStreamSession
// (ErrLimitReached, ErrNotFound, an invalid session).
type StreamWriteResult struct {
	Session StreamSession
	Applied bool
	Err     error
}

// StreamStore is the persistence of live-view sessions.
type StreamStore interface {
	// CreateStreamSession inserts s, with status requested when s.Status is empty and
	// media provider MediaP2P when s.MediaProvider is empty. When s is a MediaP2P
	// session, maxOpen > 0 and the camera already has maxOpen open MediaP2P sessions
	// (the streams it uploads itself; relayed viewers do not count) it inserts
	// nothing and returns
	// ErrLimitReached (concurrent creations for one camera are serialised, so the limit
	// holds). ErrNotFound unless both devices exist and belong to s.OwnerUserID, or
	// the camera is shared with s.OwnerUserID by an active share (the session's owner
	// is the user who asked for it).
	CreateStreamSession(ctx context.Context, s *StreamSession, maxOpen int) error
	StreamSession(ctx context.Context, id string) (StreamSession, error)
	// ListStreamSessions lists the owner's sessions, newest first.
	ListStreamSessions(ctx context.Context, ownerUserID string, f StreamFilter, p Page) (items []StreamSession, nextCursor string, err error)
	// TransitionStream moves the session to status to if its status is one of from
	// (compare and set), setting reason when not empty, started_at (if unset) when to
	// is live, ended_at when to is ended or failed, and updated_at. It returns the
	// session as it is now: after the change, or with ErrConflict the unchanged
	// session when its status is not in from. ErrNotFound if it does not exist.
	TransitionStream(ctx context.Context, id string, from []string, to, reason string, at time.Time) (StreamSession, error)
	// WriteStreams makes the creations and transitions ws in one transaction (one
	// commit: a group commit of several sessions' writes), in order, each as
	// CreateStreamSession or TransitionStream would (the viewer limit of a creation
	// counts the sessions created and closed before it in ws), and returns a result
	// per write. A creation refused or a transition that does not apply (ErrConflict
	// or ErrNotFound of TransitionStream) fails nothing else; an error means none was
	// made.
	WriteStreams(ctx context.Context, ws []StreamWrite) ([]StreamWriteResult, error)
	// SwitchStreamProvider moves the open session id (not a media session) from
	// media provider from to to (compare and set), setting updated_at; a switch to
	// MediaP2P with maxOpen > 0 is refused with ErrLimitReached when the camera
	// already has maxOpen open MediaP2P sessions. It returns the session as it is
	// now: with ErrConflict unchanged when it is closed or its provider is not from.
	// ErrNotFound if it does not exist.
	SwitchStreamProvider(ctx context.Context, id, from, to string, maxOpen int, at time.Time) (StreamSession, error)
	// OpenStreamSessions lists the open sessions in which deviceID is the camera or
	// the requester, oldest first.
	OpenStreamSessions(ctx context.Context, deviceID string) ([]StreamSession, error)
	// WakingStreamSessions lists the sessions waiting (waking) for any of
	// cameraDeviceIDs, oldest first.
	WakingStreamSessions(ctx context.Context, cameraDeviceIDs []string) ([]StreamSession, error)
	// ExpireStreamSessions fails, with each deadline's reason, the sessions past it
	// and returns them. Each failed session is returned by exactly one caller, even
	// when replicas run this concurrently.
	ExpireStreamSessions(ctx context.Context, deadlines []StreamDeadline, at time.Time) ([]StreamSession, error)
	// EndOrphanStreamSessions closes, with reason, the open sessions last changed at
	// or before before of which a party is recorded offline or deleted (the camera
	// of a waking session is offline by design, and the camera of a MediaRelay
	// session is no party of its signaling: neither counts offline): their replica
	// went away without telling. Sessions with a party marked away are left to
	// EndAbandonedStreamSessions. Live ones end, the others fail. Like
	// ExpireStreamSessions, each is returned by exactly one caller.
	EndOrphanStreamSessions(ctx context.Context, before time.Time, reason string, at time.Time) ([]StreamSession, error)
	// SetStreamPartyAway marks deviceID, a party of the open session id, away since
	// at (away true; a party already away keeps its first time), or back (away
	// false: the mark is cleared). Either sets updated_at to at, except that clearing
	// leaves the updated_at of a session that is not live (its setup deadline) alone.
	// It returns the session as it is now; ErrNotFound when the session does not
	// exist or deviceID is not its party, and ErrConflict with the unchanged session
	// when it is closed.
	SetStreamPartyAway(ctx context.Context, id, deviceID string, away bool, at time.Time) (StreamSession, error)
	// MarkStreamPartiesAway marks both parties of every live session away since at
	// (a party already away keeps its first time): for a hub that starts when
	// nobody can be connected yet (embedded mode, after a crash that told nobody).
	// The parties resume within the grace period, or the sessions end.
	MarkStreamPartiesAway(ctx context.Context, at time.Time) error
	// EndAbandonedStreamSessions closes, with reason, the open sessions of which a
	// party has been away since before or earlier. Live ones end, the others fail.
	// Like ExpireStreamSessions, each is returned by exactly one caller.
	EndAbandonedStreamSessions(ctx context.Context, before time.Time, reason string, at time.Time) ([]StreamSession, error)

	// Media sessions (media_session_id set: a camera publishing to a media server)
	// are left alone by the queries above (the per-device lists, the open count of
	// CreateStreamSession, the sweeps): the replica whose media plane holds one ends
	// it with TransitionStream.

	// OpenMediaSession returns the camera's newest open media session; ErrNotFound
	// when it has none.
	OpenMediaSession(ctx context.Context, cameraDeviceID string) (StreamSession, error)
	// EndMediaSessions closes, with reason, the open media sessions whose
	// publish_endpoint starts with endpointPrefix (a replica's own address, at its
	// start: what it held before it stopped is gone) and returns them. Live ones end,
	// the others fail.
	EndMediaSessions(ctx context.Context, endpointPrefix, reason string, at time.Time) ([]StreamSession, error)
}
