package sqlstore

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/securecam/securecam/store"
)

const streamCols = `id, owner_user_id, camera_device_id, requester_device_id, status, reason,
	COALESCE(media_provider, ''), media_session_id, publish_endpoint, subscribe_endpoint, stream_key,
	started_at, ended_at, metadata, created_at, updated_at, camera_away_at, requester_away_at`

func scanStream(r Row) (store.StreamSession, error) {
	var s store.StreamSession
	var meta []byte
	err := r.Scan(&s.ID, &s.OwnerUserID, &s.CameraDeviceID, &s.RequesterDeviceID, &s.Status, &s.Reason,
		&s.MediaProvider, &s.MediaSessionID, &s.PublishEndpoint, &s.SubscribeEndpoint, &s.StreamKey,
		nullTimeDst{&s.StartedAt}, nullTimeDst{&s.EndedAt}, &meta, timeDst{&s.CreatedAt}, timeDst{&s.UpdatedAt},
		nullTimeDst{&s.CameraAwayAt}, nullTimeDst{&s.RequesterAwayAt})
	if len(meta) > 0 {
		s.Metadata = json.RawMessage(meta)
	}
	return s, err
}

func streamID(s store.StreamSession) string { return s.ID }

// openStreams is the condition of a session that is not over.
const openStreams = `status IN ('requested', 'waking', 'accepted', 'connecting', 'live')`

// p2pStreams is the condition of a session of the peer-to-peer flow, which the
// sweeps and the device-bound queries handle; a media session (media_session_id
// set) is ended by the replica whose media plane holds it.
const p2pStreams = `media_session_id IS NULL`

// inList appends values to args and returns "($n, $n+1, …)" naming them.
func inList(args []any, values []string) (string, []any) {
	var b strings.Builder
	b.WriteByte('(')
	for i, v := range values {
		if i > 0 {
			b.WriteString(", ")
		}
		args = append(args, v)
		fmt.Fprintf(&b, "$%d", len(args))
	}
	b.WriteByte(')')
	return b.String(), args
}

// CreateStreamSession implements store.Store. The count of the camera's open sessions
// and the insert run in one transaction under a lock on the camera, so concurrent
// requests cannot both take the last place.
func (s *Store) CreateStreamSession(ctx context.Context, ss *store.StreamSession, maxOpen int) error {
	const op = "create stream session"
	n, err := newStream(*ss)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	err = s.db.InTx(ctx, func(q Querier) error {
		if n.limited(maxOpen) {
			if err := s.lockKey(ctx, q, "stream_camera:"+n.CameraDeviceID); err != nil {
				return err
			}
		}
		return s.insertStream(ctx, q, n, maxOpen)
	})
	if errors.Is(err, store.ErrLimitReached) {
		return fmt.Errorf("%s: %w", op, err)
	}
	if err != nil {
		return s.mapErr(op, err) // ErrNoRows: a device is missing or another user's
	}
	*ss = n.StreamSession
	return nil
}

// preparedStream is a session to insert, its ids canonical and its defaults set.
type preparedStream struct {
	store.StreamSession
	meta any // Metadata as the driver takes it
}

// newStream prepares ss for insertStream: store.ErrNotFound when an id is not a UUID.
func newStream(ss store.StreamSession) (preparedStream, error) {
	id, err := newID(ss.ID)
	if err != nil {
		return preparedStream{}, err
	}
	owner, ok1 := canonID(ss.OwnerUserID)
	camera, ok2 := canonID(ss.CameraDeviceID)
	requester, ok3 := canonID(ss.RequesterDeviceID)
	if !ok1 || !ok2 || !ok3 {
		return preparedStream{}, store.ErrNotFound
	}
	n := preparedStream{StreamSession: ss}
	if len(ss.Metadata) > 0 {
		if !json.Valid(ss.Metadata) {
			return preparedStream{}, errors.New("metadata is not valid JSON")
		}
		n.meta = string(ss.Metadata)
	}
	n.ID, n.OwnerUserID, n.CameraDeviceID, n.RequesterDeviceID = id, owner, camera, requester
	if n.Status == "" {
		n.Status = store.StreamRequested
	}
	if n.MediaProvider == "" {
		n.MediaProvider = store.MediaP2P
	}
	n.CreatedAt = created(ss.CreatedAt)
	n.UpdatedAt = n.CreatedAt
	if n.StartedAt != nil {
		t := stamp(*n.StartedAt)
		n.StartedAt = &t
	}
	if n.EndedAt != nil {
		t := stamp(*n.EndedAt)
		n.EndedAt = &t
	}
	return n, nil
}

// limited reports whether the insert of n counts against the camera's limit of
// maxOpen uploads (then the transaction must hold the camera's lock).
func (n preparedStream) limited(maxOpen int) bool {
	return maxOpen > 0 && n.MediaProvider == store.MediaP2P
}

// insertStream inserts n on q, a transaction holding the camera's lock when n is
// limited: store.ErrLimitReached when the camera has maxOpen open uploads, ErrNoRows
// when a device is missing or another user's.
func (s *Store) insertStream(ctx context.Context, q Querier, n preparedStream, maxOpen int) error {
	if n.limited(maxOpen) {
		if err := s.checkUploads(ctx, q, n.CameraDeviceID, maxOpen); err != nil {
			return err
		}
	}
	var got string
	return q.QueryRow(ctx, `INSERT INTO stream_sessions
		(id, owner_user_id, camera_device_id, requester_device_id, status, reason, media_provider,
		 media_session_id, publish_endpoint, subscribe_endpoint, stream_key, started_at, ended_at,
		 metadata, created_at, updated_at)
		SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16
		WHERE EXISTS (SELECT 1 FROM devices WHERE id = $3 AND deleted_at IS NULL AND (user_id = $2
		       OR EXISTS (SELECT 1 FROM shares WHERE camera_device_id = $3 AND user_id = $2 AND status = 'active')))
		  AND EXISTS (SELECT 1 FROM devices WHERE id = $4 AND user_id = $2 AND deleted_at IS NULL)
		RETURNING id`,
		n.ID, n.OwnerUserID, n.CameraDeviceID, n.RequesterDeviceID, n.Status, n.Reason, n.MediaProvider,
		n.MediaSessionID, n.PublishEndpoint, n.SubscribeEndpoint, n.StreamKey, s.nt(n.StartedAt), s.nt(n.EndedAt),
		n.meta, s.t(n.CreatedAt), s.t(n.UpdatedAt)).Scan(&got)
}

// StreamSession implements store.Store.
func (s *Store) StreamSession(ctx context.Context, id string) (store.StreamSession, error) {
	const op = "stream session"
	id, ok := canonID(id)
	if !ok {
		return store.StreamSession{}, fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	ss, err := scanStream(s.db.QueryRow(ctx, `SELECT `+streamCols+` FROM stream_sessions WHERE id = $1`, id))
	return ss, s.mapErr(op, err)
}

// ListStreamSessions implements store.Store.
func (s *Store) ListStreamSessions(ctx context.Context, ownerUserID string, f store.StreamFilter, p store.Page) ([]store.StreamSession, string, error) {
	const op = "list stream sessions"
	limit, before, err := page(p)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", op, err)
	}
	owner, ok := canonID(ownerUserID)
	if !ok {
		return []store.StreamSession{}, "", nil
	}
	base := `SELECT ` + streamCols + ` FROM stream_sessions WHERE owner_user_id = $1`
	args := []any{owner}
	if f.CameraDeviceID != "" {
		camera, ok := canonID(f.CameraDeviceID)
		if !ok {
			return []store.StreamSession{}, "", nil
		}
		args = append(args, camera)
		base += fmt.Sprintf(` AND camera_device_id = $%d`, len(args))
	}
	sql, args := pageQuery(base, args, limit, before)
	items, next, err := listPage(ctx, s.db, sql, args, limit, scanStream, streamID)
	if items == nil && err == nil {
		items = []store.StreamSession{}
	}
	return items, next, s.mapErr(op, err)
}

// TransitionStream implements store.Store.
func (s *Store) TransitionStream(ctx context.Context, id string, from []string, to, reason string, at time.Time) (store.StreamSession, error) {
	const op = "transition stream"
	id, ok := canonID(id)
	if !ok {
		return store.StreamSession{}, fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	if len(from) == 0 {
		return store.StreamSession{}, fmt.Errorf("%s: no statuses to move from", op)
	}
	ss, err := s.transition(ctx, s.db.Write(), id, from, to, reason, at)
	if !errors.Is(err, ErrNoRows) {
		return ss, s.mapErr(op, err)
	}
	cur, err := s.StreamSession(ctx, id)
	if err != nil {
		return store.StreamSession{}, fmt.Errorf("%s: %w", op, err)
	}
	return cur, fmt.Errorf("%s: session is %s: %w", op, cur.Status, store.ErrConflict)
}

// transition is the compare and set of TransitionStream on q (id canonical, from
// not empty): ErrNoRows when the session is missing or not in from.
func (s *Store) transition(ctx context.Context, q Querier, id string, from []string, to, reason string, at time.Time) (store.StreamSession, error) {
	at = stamp(at)
	var started, ended any
	switch to {
	case store.StreamLive:
		started = s.t(at)
	case store.StreamEnded, store.StreamFailed:
		ended = s.t(at)
	}
	args := []any{id, to, nullIfEmpty(reason), started, ended, s.t(at)}
	in, args := inList(args, from)
	return scanStream(q.QueryRow(ctx, `UPDATE stream_sessions
		SET status = $2, reason = COALESCE($3, reason), started_at = COALESCE(started_at, $4),
		    ended_at = COALESCE($5, ended_at), updated_at = $6
		WHERE id = $1 AND status IN `+in+` RETURNING `+streamCols, args...))
}

// WriteStreams implements store.Store. The locks of the cameras whose limit a
// creation checks are taken first, in the order of their ids, so that concurrent
// batches cannot deadlock on them.
func (s *Store) WriteStreams(ctx context.Context, ws []store.StreamWrite) ([]store.StreamWriteResult, error) {
	const op = "write streams"
	news := make([]preparedStream, len(ws))
	refused := make([]error, len(ws))
	var locks []string
	for i, w := range ws {
		if w.Create == nil {
			if len(w.Transition.From) == 0 {
				return nil, fmt.Errorf("%s: no statuses to move %s from", op, w.Transition.ID)
			}
			continue
		}
		n, err := newStream(*w.Create)
		if err != nil {
			refused[i] = fmt.Errorf("create stream session: %w", err)
			continue
		}
		news[i] = n
		if n.limited(w.MaxOpen) {
			locks = append(locks, n.CameraDeviceID)
		}
	}
	slices.Sort(locks)
	locks = slices.Compact(locks)
	out := make([]store.StreamWriteResult, len(ws))
	err := s.db.InTx(ctx, func(q Querier) error {
		clear(out) // a retried transaction starts again
		for _, camera := range locks {
			if err := s.lockKey(ctx, q, "stream_camera:"+camera); err != nil {
				return err
			}
		}
		for i, w := range ws {
			var err error
			switch {
			case refused[i] != nil:
				out[i].Err = refused[i]
			case w.Create != nil:
				out[i], err = s.createIn(ctx, q, news[i], w.MaxOpen)
			default:
				out[i], err = s.transitionIn(ctx, q, w.Transition)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, s.mapErr(op, err)
	}
	return out, nil
}

// createIn is a creation of WriteStreams on q: a refusal is the result's Err; an
// error fails the batch.
func (s *Store) createIn(ctx context.Context, q Querier, n preparedStream, maxOpen int) (store.StreamWriteResult, error) {
	const op = "create stream session"
	err := s.insertStream(ctx, q, n, maxOpen)
	switch {
	case err == nil:
		return store.StreamWriteResult{Session: n.StreamSession, Applied: true}, nil
	case errors.Is(err, store.ErrLimitReached):
		return store.StreamWriteResult{Err: fmt.Errorf("%s: %w", op, err)}, nil
	case errors.Is(err, ErrNoRows):
		return store.StreamWriteResult{Err: fmt.Errorf("%s: %w", op, store.ErrNotFound)}, nil
	}
	return store.StreamWriteResult{}, err
}

// transitionIn is a transition of WriteStreams on q.
func (s *Store) transitionIn(ctx context.Context, q Querier, t store.StreamTransition) (store.StreamWriteResult, error) {
	id, ok := canonID(t.ID)
	if !ok {
		return store.StreamWriteResult{}, nil
	}
	ss, err := s.transition(ctx, q, id, t.From, t.To, t.Reason, t.At)
	if err == nil {
		return store.StreamWriteResult{Session: ss, Applied: true}, nil
	}
	if !errors.Is(err, ErrNoRows) {
		return store.StreamWriteResult{}, err
	}
	cur, err := scanStream(q.QueryRow(ctx, `SELECT `+streamCols+` FROM stream_sessions WHERE id = $1`, id))
	if err != nil && !errors.Is(err, ErrNoRows) {
		return store.StreamWriteResult{}, err
	}
	return store.StreamWriteResult{Session: cur}, nil
}

// checkUploads returns store.ErrLimitReached when camera already has maxOpen open
// peer-to-peer sessions (the streams it uploads itself). Run it in a transaction
// holding the camera's lock.
func (s *Store) checkUploads(ctx context.Context, q Querier, camera string, maxOpen int) error {
	var open int
	if err := q.QueryRow(ctx, `SELECT count(*) FROM stream_sessions
		WHERE camera_device_id = $1 AND media_provider = 'p2p' AND `+p2pStreams+` AND `+openStreams, camera).Scan(&open); err != nil {
		return err
	}
	if open >= maxOpen {
		return store.ErrLimitReached
	}
	return nil
}

// SwitchStreamProvider implements store.Store.
func (s *Store) SwitchStreamProvider(ctx context.Context, id, from, to string, maxOpen int, at time.Time) (store.StreamSession, error) {
	const op = "switch stream provider"
	id, ok := canonID(id)
	if !ok {
		return store.StreamSession{}, fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	var ss store.StreamSession
	err := s.db.InTx(ctx, func(q Querier) error {
		cur, err := scanStream(q.QueryRow(ctx, `SELECT `+streamCols+` FROM stream_sessions WHERE id = $1`, id))
		if err != nil {
			return err
		}
		ss = cur
		if !cur.Open() || cur.MediaProvider != from || cur.MediaSessionID != nil {
			return store.ErrConflict
		}
		if to == store.MediaP2P && maxOpen > 0 {
			if err := s.lockKey(ctx, q, "stream_camera:"+cur.CameraDeviceID); err != nil {
				return err
			}
			if err := s.checkUploads(ctx, q, cur.CameraDeviceID, maxOpen); err != nil {
				return err
			}
		}
		ss, err = scanStream(q.QueryRow(ctx, `UPDATE stream_sessions SET media_provider = $2, updated_at = $3
			WHERE id = $1 AND media_provider = $4 AND `+openStreams+` RETURNING `+streamCols,
			id, to, s.t(stamp(at)), from))
		if errors.Is(err, ErrNoRows) {
			return store.ErrConflict // closed or switched since the read
		}
		return err
	})
	switch {
	case errors.Is(err, store.ErrConflict), errors.Is(err, store.ErrLimitReached):
		return ss, fmt.Errorf("%s: %w", op, err)
	case err != nil:
		return store.StreamSession{}, s.mapErr(op, err)
	}
	return ss, nil
}

// OpenStreamSessions implements store.Store.
func (s *Store) OpenStreamSessions(ctx context.Context, deviceID string) ([]store.StreamSession, error) {
	dev, ok := canonID(deviceID)
	if !ok {
		return nil, nil
	}
	ss, err := collect(ctx, s.db, `SELECT `+streamCols+` FROM stream_sessions
		WHERE (camera_device_id = $1 OR requester_device_id = $1) AND `+p2pStreams+` AND `+openStreams+`
		ORDER BY created_at, id`, []any{dev}, scanStream)
	return ss, s.mapErr("open stream sessions", err)
}

// WakingStreamSessions implements store.Store.
func (s *Store) WakingStreamSessions(ctx context.Context, cameraDeviceIDs []string) ([]store.StreamSession, error) {
	var out []store.StreamSession
	err := eachIDBatch(cameraDeviceIDs, func(list string, args []any) error {
		ss, err := collect(ctx, s.db, fmt.Sprintf(`SELECT `+streamCols+` FROM stream_sessions
			WHERE camera_device_id IN (%s) AND status = $%d`, list, len(args)+1),
			append(args, store.StreamWaking), scanStream)
		out = append(out, ss...)
		return err
	})
	if err != nil {
		return nil, s.mapErr("waking stream sessions", err)
	}
	slices.SortFunc(out, func(a, b store.StreamSession) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), strings.Compare(a.ID, b.ID))
	})
	return out, nil
}

// ExpireStreamSessions implements store.Store, in one statement for all deadlines.
func (s *Store) ExpireStreamSessions(ctx context.Context, deadlines []store.StreamDeadline, at time.Time) ([]store.StreamSession, error) {
	if len(deadlines) == 0 {
		return nil, nil
	}
	args := []any{store.StreamFailed, s.t(at)}
	var reason, where strings.Builder
	reason.WriteString("CASE status")
	for i, d := range deadlines {
		args = append(args, d.Status, d.Reason, s.t(d.Before))
		n := len(args)
		fmt.Fprintf(&reason, " WHEN $%d THEN $%d", n-2, n-1)
		if i > 0 {
			where.WriteString(" OR ")
		}
		fmt.Fprintf(&where, "(status = $%d AND updated_at <= $%d)", n-2, n)
	}
	reason.WriteString(" END")
	ss, err := collect(ctx, s.db.Write(), `UPDATE stream_sessions
		SET status = $1, reason = `+reason.String()+`, ended_at = $2, updated_at = $2
		WHERE `+where.String()+` RETURNING `+streamCols, args, scanStream)
	return ss, s.mapErr("expire stream sessions", err)
}

// EndOrphanStreamSessions implements store.Store.
func (s *Store) EndOrphanStreamSessions(ctx context.Context, before time.Time, reason string, at time.Time) ([]store.StreamSession, error) {
	ss, err := collect(ctx, s.db.Write(), `UPDATE stream_sessions
		SET status = CASE WHEN status = 'live' THEN 'ended' ELSE 'failed' END,
		    reason = $1, ended_at = $2, updated_at = $2
		WHERE `+openStreams+` AND `+p2pStreams+` AND updated_at <= $3 AND (
			EXISTS (SELECT 1 FROM devices d WHERE d.id = stream_sessions.requester_device_id
				AND (d.deleted_at IS NOT NULL OR COALESCE(d.status, 'offline') <> 'online'))
			OR EXISTS (SELECT 1 FROM devices d WHERE d.id = stream_sessions.camera_device_id
				AND (d.deleted_at IS NOT NULL
				     OR (COALESCE(d.status, 'offline') <> 'online' AND stream_sessions.status <> 'waking'
				         AND stream_sessions.media_provider <> 'relay'))))
		  AND camera_away_at IS NULL AND requester_away_at IS NULL
		RETURNING `+streamCols, []any{reason, s.t(at), s.t(before)}, scanStream)
	return ss, s.mapErr("end orphan stream sessions", err)
}

// SetStreamPartyAway implements store.Store.
func (s *Store) SetStreamPartyAway(ctx context.Context, id, deviceID string, away bool, at time.Time) (store.StreamSession, error) {
	const op = "set stream party away"
	id, ok1 := canonID(id)
	dev, ok2 := canonID(deviceID)
	if !ok1 || !ok2 {
		return store.StreamSession{}, fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	at = stamp(at)
	// The party's column keeps its time or takes $3 when away, becomes NULL when back.
	camMark, viewMark := `COALESCE(camera_away_at, $3)`, `COALESCE(requester_away_at, $3)`
	updated := `$3`
	if !away {
		camMark, viewMark = `NULL`, `NULL`
		updated = `CASE WHEN status = 'live' THEN $3 ELSE updated_at END`
	}
	ss, err := scanStream(s.db.Write().QueryRow(ctx, `UPDATE stream_sessions SET
		camera_away_at = CASE WHEN camera_device_id = $2 THEN `+camMark+` ELSE camera_away_at END,
		requester_away_at = CASE WHEN requester_device_id = $2 THEN `+viewMark+` ELSE requester_away_at END,
		updated_at = `+updated+`
		WHERE id = $1 AND (camera_device_id = $2 OR requester_device_id = $2) AND `+openStreams+`
		RETURNING `+streamCols, id, dev, s.t(at)))
	if !errors.Is(err, ErrNoRows) {
		return ss, s.mapErr(op, err)
	}
	cur, err := s.StreamSession(ctx, id)
	if err != nil {
		return store.StreamSession{}, fmt.Errorf("%s: %w", op, err)
	}
	if cur.CameraDeviceID != dev && cur.RequesterDeviceID != dev {
		return store.StreamSession{}, fmt.Errorf("%s: not a party: %w", op, store.ErrNotFound)
	}
	return cur, fmt.Errorf("%s: session is %s: %w", op, cur.Status, store.ErrConflict)
}

// MarkStreamPartiesAway implements store.Store.
func (s *Store) MarkStreamPartiesAway(ctx context.Context, at time.Time) error {
	_, err := s.db.Write().Exec(ctx, `UPDATE stream_sessions
		SET camera_away_at = COALESCE(camera_away_at, $1), requester_away_at = COALESCE(requester_away_at, $1),
		    updated_at = $1
		WHERE status = 'live' AND `+p2pStreams, s.t(stamp(at)))
	return s.mapErr("mark stream parties away", err)
}

// EndAbandonedStreamSessions implements store.Store.
func (s *Store) EndAbandonedStreamSessions(ctx context.Context, before time.Time, reason string, at time.Time) ([]store.StreamSession, error) {
	ss, err := collect(ctx, s.db.Write(), `UPDATE stream_sessions
		SET status = CASE WHEN status = 'live' THEN 'ended' ELSE 'failed' END,
		    reason = $1, ended_at = $2, updated_at = $2
		WHERE (camera_away_at <= $3 OR requester_away_at <= $3) AND `+p2pStreams+` AND `+openStreams+`
		RETURNING `+streamCols, []any{reason, s.t(at), s.t(before)}, scanStream)
	return ss, s.mapErr("end abandoned stream sessions", err)
}

// OpenMediaSession implements store.Store.
func (s *Store) OpenMediaSession(ctx context.Context, cameraDeviceID string) (store.StreamSession, error) {
	const op = "open media session"
	camera, ok := canonID(cameraDeviceID)
	if !ok {
		return store.StreamSession{}, fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	ss, err := scanStream(s.db.QueryRow(ctx, `SELECT `+streamCols+` FROM stream_sessions
		WHERE camera_device_id = $1 AND media_session_id IS NOT NULL AND `+openStreams+`
		ORDER BY created_at DESC, id DESC LIMIT 1`, camera))
	return ss, s.mapErr(op, err)
}

// EndMediaSessions implements store.Store.
func (s *Store) EndMediaSessions(ctx context.Context, endpointPrefix, reason string, at time.Time) ([]store.StreamSession, error) {
	if endpointPrefix == "" {
		return nil, errors.New("end media sessions: empty endpoint prefix")
	}
	ss, err := collect(ctx, s.db.Write(), `UPDATE stream_sessions
		SET status = CASE WHEN status = 'live' THEN 'ended' ELSE 'failed' END,
		    reason = $1, ended_at = $2, updated_at = $2
		WHERE media_session_id IS NOT NULL AND `+openStreams+` AND substr(publish_endpoint, 1, $4) = $3
		RETURNING `+streamCols, []any{reason, s.t(at), endpointPrefix, len(endpointPrefix)}, scanStream)
	return ss, s.mapErr("end media sessions", err)
}
