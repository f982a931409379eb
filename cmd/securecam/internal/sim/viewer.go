package sim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/securecam/securecam/hub"
	"github.com/securecam/securecam/signaling/client"
	"github.com/securecam/securecam/signaling/client/media"

	"github.com/securecam/securecam/signaling/wire"
)

// ViewerConfig configures View.
type ViewerConfig struct {
	Media
	// CameraDeviceID is the camera to watch (required).
	CameraDeviceID string
	// Watch is how long to keep watching after the first frame before ending the
	// session; 0 ends it as soon as the first frame arrived.
	Watch time.Duration
	// Rerequest makes the viewer ask again, with backoff, once the camera is online,
	// when a session ends for a reason that passes (client.Retryable: the camera
	// went offline, a timeout, …), as a phone app does; View then returns only when
	// ctx ends, the watch is over or a session ends for good. Without it the first
	// end is View's result.
	Rerequest bool
}

// ViewResult is what one live view got.
type ViewResult struct {
	SessionID string
	// Status is the session's status when the hub acknowledged the request
	// (requested, or waking when the camera was offline).
	Status string
	// Sessions counts the sessions requested: more than one when the viewer asked
	// again (ViewerConfig.Rerequest). SessionID and Status are of the last one.
	Sessions int
	// FirstFrame is the time from sending the first stream.request to the first
	// whole keyframe: what a person waits for a picture. Zero if none came.
	FirstFrame time.Duration
	// Media is what the last session's peer received (its TimeToFirstFrame counts
	// from its offer).
	Media media.ViewerStats
}

// EndedError is returned by View when the hub ended the session before the viewer
// did: Reason is stream.ended's reason (declined, camera_offline, timeout, …).
type EndedError struct{ Reason string }

func (e *EndedError) Error() string { return "sim: live view ended by the hub: " + e.Reason }

// viewer is the state of View, touched by its goroutine only.
type viewer struct {
	sock  *client.Socket
	cfg   ViewerConfig
	log   *slog.Logger
	start time.Time
	res   ViewResult

	id     string        // the session, "" between two
	peer   *media.Viewer // its peer
	framed bool          // the peer got its first frame

	attempt int         // asks again in a row since the last first frame
	retry   *time.Timer // the next ask, while one is due
	waiting bool        // for the camera to come online before asking again

	resumes  chan resumed
	resuming sync.WaitGroup
}

// View requests live view of a camera on sock, negotiates the peer connection,
// waits for the first frame, keeps watching for cfg.Watch and ends the session. The
// peer lives on while sock reconnects, and the session is resumed when it is back.
// It returns what it measured, also with an error (ctx ended, an *EndedError, or a
// refused request: a client.Error with its code).
func View(ctx context.Context, sock *client.Socket, cfg ViewerConfig) (res ViewResult, err error) {
	v := &viewer{sock: sock, cfg: cfg, log: cfg.logger(), start: time.Now(), resumes: make(chan resumed)}
	rctx, stopResumes := context.WithCancel(ctx)
	defer func() { // the result carries what the peer received, whatever the outcome
		stopResumes()
		v.resuming.Wait()
		if v.retry != nil {
			v.retry.Stop()
		}
		v.close()
		res = v.res
	}()
	if err := v.request(ctx); err != nil {
		return v.res, err
	}

	var watch <-chan time.Time
	for {
		var firstFrame <-chan struct{}
		if v.peer != nil && !v.framed {
			firstFrame = v.peer.FirstFrame()
		}
		var retry <-chan time.Time
		if v.retry != nil {
			retry = v.retry.C
		}
		select {
		case <-ctx.Done():
			v.end(context.WithoutCancel(ctx), "")
			return v.res, ctx.Err()
		case <-firstFrame:
			v.framed, v.attempt = true, 0
			v.log.Info("live view: first frame", "session_id", v.id, "after", time.Since(v.start).Round(time.Millisecond))
			if watch == nil {
				v.res.FirstFrame = time.Since(v.start)
				t := time.NewTimer(cfg.Watch)
				defer t.Stop()
				watch = t.C
			}
		case <-watch:
			v.end(ctx, "")
			return v.res, nil
		case <-retry:
			v.retry = nil
			if err := v.request(ctx); err != nil {
				return v.res, err
			}
		case r := <-v.resumes:
			if r.id == v.id {
				r.apply(ctx, sock, v.log, v.peer.Connected(), func() {}) // a closed session: its stream.ended follows
			}
		case env, ok := <-sock.Messages():
			if !ok {
				return v.res, fmt.Errorf("sim viewer: connection ended: %w", sock.Err())
			}
			if err := v.handle(ctx, rctx, env); err != nil {
				return v.res, err
			}
		}
	}
}

// handle applies one message; an error ends View.
func (v *viewer) handle(ctx, rctx context.Context, env hub.Envelope) error {
	switch env.Type {
	case hub.TypeHello:
		if v.id != "" {
			resume(rctx, v.sock, v.id, v.resumes, &v.resuming)
		}
		v.cameraSeen()
		return nil
	case hub.TypePresence:
		v.cameraSeen()
		return nil
	case hub.TypeError:
		e, _ := client.Data[hub.ErrorData](env)
		v.log.Warn("hub error", "code", e.Code, "message", e.Message)
		return nil
	}
	if env.Session == "" || env.Session != v.id {
		return nil
	}
	err := viewerStep(ctx, v.peer, env)
	var ended *EndedError
	switch {
	case err == nil:
		if env.Type == wire.TypeStreamStatus {
			st, _ := client.Data[wire.StreamStatus](env)
			v.log.Info("live view: "+st.Status, "session_id", v.id)
		}
		return nil
	case errors.As(err, &ended) && v.cfg.Rerequest && client.Retryable(ended.Reason):
		v.log.Info("live view: session ended; asking again when the camera is online", "session_id", v.id, "reason", ended.Reason)
		v.close()
		v.again()
		return nil
	case errors.As(err, &ended):
		return err
	default:
		v.end(ctx, "")
		return err
	}
}

// request asks for live view and makes the session's peer. A refusal that may pass
// (the socket reconnecting, the hub unavailable) is asked again when ViewerConfig.
// Rerequest is set.
func (v *viewer) request(ctx context.Context) error {
	ack, err := v.sock.RequestStream(ctx, v.cfg.CameraDeviceID)
	if err != nil {
		if v.cfg.Rerequest && ctx.Err() == nil &&
			(errors.Is(err, client.ErrReconnecting) || errors.Is(err, client.ErrClosed) || client.ErrorCode(err) == "unavailable") {
			v.log.Info("live view: request failed; asking again", "err", err)
			v.again()
			return nil
		}
		return fmt.Errorf("sim viewer: %w", err)
	}
	v.res.SessionID, v.res.Status = ack.SessionID, ack.Status
	v.res.Sessions++
	v.id = ack.SessionID
	id := v.id
	v.log.Info("live view: requested", "session_id", id, "status", ack.Status)
	v.peer, err = media.NewViewer(media.ViewerConfig{Config: v.cfg.config(v.sock.Signaler(id), ack.ICEServers,
		func(st webrtc.PeerConnectionState) {
			if st == webrtc.PeerConnectionStateConnected {
				if err := v.sock.SendSession(context.Background(), wire.TypeStreamConnected, id, nil); err != nil {
					v.log.Debug("send stream.connected", "session_id", id, "err", err)
				}
			}
		})})
	if err != nil {
		v.end(ctx, "viewer_unavailable")
		return fmt.Errorf("sim viewer: %w", err)
	}
	return nil
}

// again schedules the next request: after a backoff once the camera is online.
func (v *viewer) again() {
	v.waiting = true
	v.cameraSeen()
}

// cameraSeen schedules the request a viewer waits for once the socket says the
// camera is online.
func (v *viewer) cameraSeen() {
	if !v.waiting || v.retry != nil || !v.sock.Online(v.cfg.CameraDeviceID) {
		return
	}
	v.waiting = false
	d := client.Backoff(v.attempt)
	v.attempt++
	v.log.Info("live view: the camera is online; asking again", "after", d.Round(time.Millisecond))
	v.retry = time.NewTimer(d)
}

// end sends stream.end (reason may be empty), waits for its answer, and closes the
// peer.
func (v *viewer) end(ctx context.Context, reason string) {
	if v.id == "" {
		return
	}
	err := request(ctx, v.sock, wire.TypeStreamEnd, v.id, wire.StreamReason{Reason: reason})
	if err != nil && !errors.Is(err, client.ErrClosed) {
		v.log.Debug("send stream.end", "session_id", v.id, "err", err)
	}
	v.close()
}

// close closes the session's peer and forgets the session, keeping what the peer
// received in the result.
func (v *viewer) close() {
	if v.peer != nil {
		v.res.Media = v.peer.Stats()
		_ = v.peer.Close()
	}
	v.id, v.peer, v.framed = "", nil, false
}

// viewerStep applies one message of the session to the viewer's peer.
func viewerStep(ctx context.Context, v *media.Viewer, env hub.Envelope) error {
	switch env.Type {
	case wire.TypeStreamReady:
		if err := v.Offer(ctx); err != nil {
			return fmt.Errorf("sim viewer: %w", err)
		}
	case wire.TypeAnswer:
		d, err := client.Data[wire.SessionDescription](env)
		if err == nil {
			err = v.HandleAnswer(d.SDP)
		}
		if err != nil {
			return fmt.Errorf("sim viewer: %w", err)
		}
	case wire.TypeCandidate:
		if c, err := client.Data[wire.Candidate](env); err == nil {
			_ = v.AddCandidate(client.ICECandidate(c)) // a candidate that does not fit is dropped: ICE copes
		}
	case wire.TypeStreamEnded:
		r, _ := client.Data[wire.StreamReason](env)
		return &EndedError{Reason: r.Reason}
	}
	return nil
}
