package sim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/securecam/securecam/hub"
	"github.com/securecam/securecam/signaling/client"
	"github.com/securecam/securecam/signaling/client/media"
)

// ViewerConfig configures View.
type ViewerConfig struct {
	Media
	// CameraDeviceID is the camera to watch (required).
	CameraDeviceID string
	// Watch is how long to keep watching after the first frame before ending the
	// session; 0 ends it as soon as the first frame arrived.
	Watch time.Duration
}

// ViewResult is what one live view got.
type ViewResult struct {
	SessionID string
	// Status is the session's status when the hub acknowledged the request
	// (requested, or waking when the camera was offline).
	Status string
	// FirstFrame is the time from sending stream.request to the first whole
	// keyframe: what a person waits for a picture. Zero if none came.
	FirstFrame time.Duration
	// Media is what the viewer's peer received (its TimeToFirstFrame counts from the
	// offer).
	Media media.ViewerStats
}

// EndedError is returned by View when the hub ended the session before the viewer
// did: Reason is stream.ended's reason (declined, camera_offline, timeout, …).
type EndedError struct{ Reason string }

func (e *EndedError) Error() string { return "sim: live view ended by the hub: " + e.Reason }

// View requests live view of a camera on conn, negotiates the peer connection,
// waits for the first frame, keeps watching for cfg.Watch and ends the session. It
// returns what it measured, also with an error (ctx ended, an *EndedError, or a
// refused request: a client.Error with its code).
func View(ctx context.Context, conn *client.Conn, cfg ViewerConfig) (res ViewResult, err error) {
	log := cfg.logger()
	start := time.Now()
	ack, err := conn.RequestStream(ctx, cfg.CameraDeviceID)
	if err != nil {
		return ViewResult{}, fmt.Errorf("sim viewer: %w", err)
	}
	res = ViewResult{SessionID: ack.SessionID, Status: ack.Status}
	id := ack.SessionID
	log.Info("live view: requested", "session_id", id, "status", ack.Status)

	v, err := media.NewViewer(media.ViewerConfig{Config: cfg.config(conn.Signaler(id), ack.ICEServers,
		func(st webrtc.PeerConnectionState) {
			if st == webrtc.PeerConnectionStateConnected {
				if err := conn.SendSession(context.Background(), client.TypeStreamConnected, id, nil); err != nil {
					log.Debug("send stream.connected", "session_id", id, "err", err)
				}
			}
		})})
	if err != nil {
		end(ctx, conn, log, id, "viewer_unavailable")
		return res, fmt.Errorf("sim viewer: %w", err)
	}
	defer func() { // the result carries what the peer received, whatever the outcome
		res.Media = v.Stats()
		_ = v.Close()
	}()

	firstFrame := v.FirstFrame()
	var watch <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			end(context.WithoutCancel(ctx), conn, log, id, "")
			return res, ctx.Err()
		case <-firstFrame:
			firstFrame = nil
			res.FirstFrame = time.Since(start)
			log.Info("live view: first frame", "session_id", id, "after", res.FirstFrame.Round(time.Millisecond))
			t := time.NewTimer(cfg.Watch)
			defer t.Stop()
			watch = t.C
		case <-watch:
			end(ctx, conn, log, id, "")
			return res, nil
		case env, ok := <-conn.Messages():
			if !ok {
				return res, fmt.Errorf("sim viewer: connection ended: %w", conn.Err())
			}
			if env.Type == client.TypeError {
				e, _ := client.Data[client.ErrorData](env)
				log.Warn("hub error", "code", e.Code, "message", e.Message)
				continue
			}
			if env.Session != id {
				continue
			}
			if err := viewerStep(ctx, v, env); err != nil {
				end(ctx, conn, log, id, "")
				return res, err
			}
			if env.Type == client.TypeStreamStatus {
				st, _ := client.Data[client.StreamStatus](env)
				log.Info("live view: "+st.Status, "session_id", id)
			}
		}
	}
}

// viewerStep applies one message of the session to the viewer's peer.
func viewerStep(ctx context.Context, v *media.Viewer, env hub.Envelope) error {
	switch env.Type {
	case client.TypeStreamReady:
		if err := v.Offer(ctx); err != nil {
			return fmt.Errorf("sim viewer: %w", err)
		}
	case client.TypeAnswer:
		d, err := client.Data[client.SDP](env)
		if err == nil {
			err = v.HandleAnswer(d.SDP)
		}
		if err != nil {
			return fmt.Errorf("sim viewer: %w", err)
		}
	case client.TypeCandidate:
		if c, err := client.Data[client.Candidate](env); err == nil {
			_ = v.AddCandidate(c.WebRTC()) // a candidate that does not fit is dropped: ICE copes
		}
	case client.TypeStreamEnded:
		r, _ := client.Data[client.Reason](env)
		return &EndedError{Reason: r.Reason}
	}
	return nil
}

// end sends stream.end (reason may be empty) and waits for its answer.
func end(ctx context.Context, conn *client.Conn, log *slog.Logger, id, reason string) {
	if err := request(ctx, conn, client.TypeStreamEnd, id, client.Reason{Reason: reason}); err != nil && !errors.Is(err, client.ErrClosed) {
		log.Debug("send stream.end", "session_id", id, "err", err)
	}
}
