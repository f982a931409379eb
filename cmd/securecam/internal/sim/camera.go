package sim

import (
	"context"
	"encoding/json"
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

// CameraConfig configures RunCamera.
type CameraConfig struct {
	Media
	// IVF is the VP8 clip to play; nil plays media's embedded test pattern.
	IVF []byte
	// MaxSessions is how many viewers it serves at once; more are declined. Default 8.
	MaxSessions int
	// Publisher is a client with the camera's device token: with it the camera
	// answers relay.publish by publishing to the relay by WHIP (one upload for the
	// hub's relayed viewers). Nil: relay.publish is ignored, like an app that does
	// not know it, and the hub falls back to peer to peer.
	Publisher *client.Client
}

// Commands the simulated camera carries out (in pretence: it has no torch or siren);
// it answers every other command with failed and "unsupported", as a camera does for
// a command it cannot honour.
var supportedCommands = map[string]bool{
	"ping": true, "switch_camera": true, "set_torch": true, "siren": true, "set_motion": true,
}

// camera is the state of RunCamera, touched by its goroutine only, except failed
// and resumed.
type camera struct {
	conn     *client.Socket
	cfg      CameraConfig
	log      *slog.Logger
	sessions map[string]*media.Camera

	// failed carries the sessions whose peer connection failed, from pion's
	// goroutines to RunCamera's.
	failed chan string
	// resumes carries the hub's answers to stream.resume, from the goroutines that
	// wait for them (counted in resuming) to RunCamera's.
	resumes  chan resumed
	resuming sync.WaitGroup

	// pub is the publication to the relay (relay.publish), nil when none;
	// pubFailed carries the failure of its peer connection to RunCamera's goroutine.
	pub       *media.Camera
	whip      *client.MediaSession
	pubFailed chan *media.Camera
}

// RunCamera serves live-view requests and commands on sock until ctx ends (then it
// returns nil) or the socket does (an error: it stopped reconnecting). Each accepted
// session gets its own peer playing the clip; a session whose peer connection fails
// is ended with stream.end. The peers live on while the socket reconnects, and each
// session is resumed (stream.resume) when it is back. It closes every peer before it
// returns.
func RunCamera(ctx context.Context, sock *client.Socket, cfg CameraConfig) error {
	if cfg.MaxSessions <= 0 {
		cfg.MaxSessions = 8
	}
	c := &camera{conn: sock, cfg: cfg, log: cfg.logger(), sessions: map[string]*media.Camera{},
		failed: make(chan string, 64), resumes: make(chan resumed), pubFailed: make(chan *media.Camera, 1)}
	defer c.closeAll()
	rctx, stopResumes := context.WithCancel(ctx)
	defer func() {
		stopResumes()
		c.resuming.Wait()
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case pub := <-c.pubFailed:
			if pub == c.pub {
				c.log.Info("relay: publication failed")
				c.unpublish(ctx)
			}
		case id := <-c.failed:
			if c.sessions[id] != nil {
				c.log.Info("live view: peer connection failed", "session_id", id)
				c.end(ctx, id, "connection_failed")
			}
		case r := <-c.resumes:
			if cam := c.sessions[r.id]; cam != nil {
				r.apply(ctx, c.conn, c.log, cam.Connected(), func() { c.drop(r.id) })
			}
		case env, ok := <-sock.Messages():
			if !ok {
				return fmt.Errorf("sim camera: connection ended: %w", sock.Err())
			}
			c.handle(rctx, env)
		}
	}
}

func (c *camera) handle(ctx context.Context, env hub.Envelope) {
	cam := c.sessions[env.Session]
	switch env.Type {
	case hub.TypeHello:
		for id := range c.sessions {
			resume(ctx, c.conn, id, c.resumes, &c.resuming)
		}
	case wire.TypeStreamRequested:
		c.requested(ctx, env)
	case wire.TypeOffer:
		d, err := client.Data[wire.SessionDescription](env)
		if cam == nil || err != nil {
			return
		}
		if err := cam.HandleOffer(ctx, d.SDP); err != nil {
			c.log.Warn("live view: answer the offer", "session_id", env.Session, "err", err)
			c.end(ctx, env.Session, "bad_offer")
		}
	case wire.TypeCandidate:
		cand, err := client.Data[wire.Candidate](env)
		if cam == nil || err != nil {
			return
		}
		if err := cam.AddCandidate(client.ICECandidate(cand)); err != nil {
			c.log.Debug("live view: add candidate", "session_id", env.Session, "err", err)
		}
	case wire.TypeStreamEnded:
		if cam == nil {
			return
		}
		r, _ := client.Data[wire.StreamReason](env)
		c.log.Info("live view: session ended", "session_id", env.Session, "reason", r.Reason,
			"frames_sent", cam.Stats().FramesSent)
		c.drop(env.Session)
	case wire.TypeCommand:
		c.command(ctx, env)
	case wire.TypeRelayPublish:
		c.publish(ctx, env)
	case hub.TypeError:
		e, _ := client.Data[hub.ErrorData](env)
		c.log.Warn("hub error", "code", e.Code, "message", e.Message)
	}
}

// requested accepts a live-view request with a new peer, or declines it.
func (c *camera) requested(ctx context.Context, env hub.Envelope) {
	id := env.Session
	if id == "" || c.sessions[id] != nil {
		return
	}
	req, err := client.Data[wire.StreamRequested](env)
	if err != nil {
		return
	}
	if len(c.sessions) >= c.cfg.MaxSessions {
		c.log.Info("live view: declined, too many viewers", "session_id", id, "requester_device_id", req.RequesterDeviceID)
		c.send(ctx, wire.TypeStreamDecline, id, wire.StreamReason{Reason: "too_many_viewers"})
		return
	}
	cam, err := media.NewCamera(media.CameraConfig{
		Config: c.cfg.config(c.conn.Signaler(id), req.ICEServers, func(st webrtc.PeerConnectionState) {
			switch st {
			case webrtc.PeerConnectionStateConnected:
				if err := c.conn.SendSession(context.Background(), wire.TypeStreamConnected, id, nil); err != nil {
					c.log.Debug("send stream.connected", "session_id", id, "err", err)
				}
				c.log.Info("live view: viewer connected", "session_id", id)
			case webrtc.PeerConnectionStateFailed:
				select {
				case c.failed <- id:
				default: // RunCamera is busy or gone; the session times out or ends with it
				}
			}
		}),
		IVF: c.cfg.IVF,
	})
	if err != nil {
		c.log.Error("live view: new peer", "session_id", id, "err", err)
		c.send(ctx, wire.TypeStreamDecline, id, wire.StreamReason{Reason: "camera_unavailable"})
		return
	}
	c.sessions[id] = cam
	c.log.Info("live view: request accepted", "session_id", id, "requester_device_id", req.RequesterDeviceID)
	if err := c.request(ctx, wire.TypeStreamAccept, id, struct{}{}); err != nil {
		c.log.Warn("live view: accept refused", "session_id", id, "err", err)
		c.drop(id)
	}
}

// command answers a command: acknowledged when supported, else failed "unsupported".
func (c *camera) command(ctx context.Context, env hub.Envelope) {
	cmd, err := client.Data[wire.CommandMessage](env)
	if err != nil || cmd.CommandID == "" {
		return
	}
	res := wire.CommandResult{CommandID: cmd.CommandID, Status: "acknowledged"}
	if !supportedCommands[cmd.CommandType] {
		unsupported := "unsupported"
		res.Status, res.Error = "failed", &unsupported
	}
	c.log.Info("command", "command_id", cmd.CommandID, "command_type", cmd.CommandType,
		"payload", json.RawMessage(cmd.Payload), "result", res.Status)
	if err := c.request(ctx, wire.TypeCommandResult, "", res); err != nil {
		c.log.Warn("command result refused", "command_id", cmd.CommandID, "err", err)
	}
}

// publishTimeout bounds publishing to the relay (the WHIP request and its answer).
const publishTimeout = 15 * time.Second

// publish answers relay.publish: it publishes the clip to the relay by WHIP,
// unless it does already or has no Publisher.
func (c *camera) publish(ctx context.Context, env hub.Envelope) {
	p, err := client.Data[wire.RelayPublish](env)
	if err != nil || c.cfg.Publisher == nil || c.pub != nil {
		return
	}
	whip := c.cfg.Publisher.WHIPTo(p.WHIPURL)
	var pub *media.Camera
	pub, err = media.NewCamera(media.CameraConfig{
		Config: c.cfg.config(whip, nil, func(st webrtc.PeerConnectionState) {
			if st == webrtc.PeerConnectionStateFailed || st == webrtc.PeerConnectionStateClosed {
				select {
				case c.pubFailed <- pub:
				default: // one report is enough
				}
			}
		}),
		IVF: c.cfg.IVF,
	})
	if err != nil {
		c.log.Error("relay: new peer", "err", err)
		return
	}
	pctx, cancel := context.WithTimeout(ctx, publishTimeout)
	defer cancel()
	if err := pub.Offer(pctx); err != nil {
		c.log.Warn("relay: publish by whip", "whip_url", p.WHIPURL, "err", err)
		_ = pub.Close()
		return
	}
	if err := pub.HandleAnswer(whip.Answer()); err != nil {
		c.log.Warn("relay: the relay's answer", "err", err)
		_ = pub.Close()
		_ = whip.Delete(pctx)
		return
	}
	c.pub, c.whip = pub, whip
	c.log.Info("relay: publishing", "session", whip.Location())
}

// unpublish ends the publication to the relay, if any.
func (c *camera) unpublish(ctx context.Context) {
	if c.pub == nil {
		return
	}
	pub, whip := c.pub, c.whip
	c.pub, c.whip = nil, nil
	_ = pub.Close()
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := whip.Delete(dctx); err != nil {
		c.log.Debug("relay: end the publication", "err", err)
	}
}

// end ends a session: stream.end to the hub, and its peer closed.
func (c *camera) end(ctx context.Context, id, reason string) {
	c.send(ctx, wire.TypeStreamEnd, id, wire.StreamReason{Reason: reason})
	c.drop(id)
}

func (c *camera) drop(id string) {
	if cam := c.sessions[id]; cam != nil {
		delete(c.sessions, id)
		if err := cam.Close(); err != nil {
			c.log.Debug("close peer", "session_id", id, "err", err)
		}
	}
}

func (c *camera) closeAll() {
	c.unpublish(context.Background())
	var wg sync.WaitGroup
	for id, cam := range c.sessions {
		delete(c.sessions, id)
		wg.Go(func() { _ = cam.Close() })
	}
	wg.Wait()
}

// send sends a message without waiting for an answer.
func (c *camera) send(ctx context.Context, typ, session string, data any) {
	if err := c.conn.SendSession(ctx, typ, session, data); err != nil {
		c.log.Debug("send "+typ, "session_id", session, "err", err)
	}
}

// request sends a message with an id and waits for the hub's answer.
func (c *camera) request(ctx context.Context, typ, session string, data any) error {
	return request(ctx, c.conn, typ, session, data)
}
