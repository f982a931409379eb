package signaling

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/securecam/securecam/hub"
	"github.com/securecam/securecam/signaling/access"
	"github.com/securecam/securecam/signaling/wire"
	"github.com/securecam/securecam/store"
)

// Store is the part of the store signaling uses.
type Store interface {
	Device(ctx context.Context, id string) (store.Device, error)
	Linked(ctx context.Context, a, b string) (bool, error)
	ActiveShare(ctx context.Context, cameraDeviceID, userID string) (store.Share, error)
	ListShares(ctx context.Context, f store.ShareFilter, p store.Page) ([]store.Share, string, error)

	CreateCommand(ctx context.Context, c *store.Command, dedupeWindow time.Duration) (bool, error)
	CreateLinkedCommands(ctx context.Context, cs []*store.Command) ([]bool, error)
	Command(ctx context.Context, id string) (store.Command, error)
	DeliverableCommands(ctx context.Context, targetDeviceID string, now time.Time) ([]store.Command, error)
	DeliverableCommandsTo(ctx context.Context, targetDeviceIDs []string, now time.Time) ([]store.Command, error)
	CommandsChangedSince(ctx context.Context, sourceDeviceIDs []string, since time.Time) ([]store.Command, error)
	MarkCommandDispatched(ctx context.Context, id string, at time.Time) (store.Command, error)
	MarkCommandsDispatched(ctx context.Context, ids []string, at time.Time) (map[string]store.Command, error)
	CompleteCommand(ctx context.Context, id, targetDeviceID, status string, errText *string, at time.Time) (store.Command, error)
	CompleteCommands(ctx context.Context, cs []store.CommandCompletion, at time.Time) (map[string]store.Command, error)
	ExpireCommands(ctx context.Context, now time.Time) ([]store.Command, error)

	store.StreamStore
	EventStore
}

// Router delivers a message to a device wherever it is connected: the hub.
type Router interface {
	Send(ctx context.Context, deviceID string, env hub.Envelope) error
	// SendThen is Send answered to done rather than awaited: the message is queued in
	// order when it returns, and done, which must not block, may run on another
	// goroutine.
	SendThen(ctx context.Context, deviceID string, env hub.Envelope, done func(error))
	// Online reports whether the device is connected anywhere.
	Online(ctx context.Context, deviceID string) (bool, error)
	// ConnectedHere reports whether the device has a socket on this replica.
	ConnectedHere(deviceID string) bool
}

// Waker wakes an offline device (a push) so it connects and receives what waits for
// it. reason is "command" or "stream_request". The push package implements it.
type Waker interface {
	Wake(ctx context.Context, deviceID, reason string) error
}

// Config configures a [Service]. The zero value of every field but Store works.
type Config struct {
	Store Store
	// Waker wakes offline targets. Nil: wake-ups are only logged.
	Waker Waker
	// Alerter queues alert pushes for offline viewers. Nil: they are only logged.
	Alerter Alerter
	// OnArming runs on the replica that changed a household's mode (by hand or by its
	// schedule), or its schedule, before the arming message goes out. Nil: nothing.
	OnArming func(ctx context.Context, a store.ArmingState)
	Logger   *slog.Logger
	// Now is the clock. Default time.Now.
	Now func() time.Time

	// CommandDedupeWindow: a command.send repeated with the same envelope id by the same
	// device within this window returns the first command. Default 24 h.
	CommandDedupeWindow time.Duration
	// RedispatchDelays are the waits before each re-dispatch of a command its connected
	// target has not answered; after the last, the command waits for the next connect
	// or its expiry. Default 5 s, 15 s, 45 s.
	RedispatchDelays []time.Duration
	// SweepInterval: how often expired commands are marked expired, and stream
	// sessions past a timeout closed. Default 1 s.
	SweepInterval time.Duration
	// CommandBatches bounds the group commits of a kind (command.send inserts,
	// dispatch marks, command.result answers) written at once, each on a store
	// connection of its own, while the next batch of that kind gathers; more than one
	// runs only while requests back up (signaling/batch.go). Default 1,
	// what SQLite's one writer takes; the hub on PostgreSQL sets more (cmd/securecam).
	CommandBatches int

	// Streams configures live view.
	Streams StreamConfig
	// Relay is this replica's media relay, for the sessions that a camera's live mode
	// relays (the socket relay flow). Nil: every session is peer to peer.
	Relay Relay
	// WHIPURL is this replica's WHIP endpoint, sent to cameras in relay.publish for
	// relayed sessions. Empty: every session is peer to peer.
	WHIPURL string
	// Events configures motion events and camera_offline.
	Events EventConfig
	// OnEvent, if set, is called after an event was raised (active) and after it
	// ended, on the goroutine that did it (the server-side recorder follows events
	// with it). It must not block for long.
	OnEvent func(ctx context.Context, e store.Event)
}

// Service implements the signaling messages. Create it with [New], wire OnConnect and
// OnDisconnect into the hub's Config, then [Service.Attach] it to the hub.
type Service struct {
	cfg    Config
	store  Store
	router Router
	log    *slog.Logger

	mu     sync.Mutex
	closed bool
	timers map[string]*time.Timer // re-dispatch timer by command id
	wg     sync.WaitGroup         // running timer callbacks and background work
	legs   map[string]RelayLeg    // relayed sessions' viewer legs held here, by session id
	remote remote                 // relay legs across replicas (relayremote.go)
	nodes  nodeBus                // the hub, for node messages
	// bg is the context of the background work (streammedia.go), cancelled by Close.
	bg     context.Context
	stopBg context.CancelFunc

	relays *relayCache             // sessions that candidates are relayed in
	behind map[string]*behindWrite // session changes written behind the relay (streamwrites.go)
	access *access.Checker

	// The group commits of commands (commandbatch.go).
	creates   *batcher[*store.Command, bool]
	marks     *batcher[string, store.Command]
	completes *batcher[store.CommandCompletion, store.Command]
	// The group commit of stream session changes (streamwrites.go).
	streamWrites *batcher[store.StreamWrite, store.StreamWriteResult]
}

// New returns a Service. It routes nothing until [Service.Attach].
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil {
		return nil, errors.New("signaling: Config.Store is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.CommandDedupeWindow <= 0 {
		cfg.CommandDedupeWindow = 24 * time.Hour
	}
	if cfg.RedispatchDelays == nil {
		cfg.RedispatchDelays = []time.Duration{5 * time.Second, 15 * time.Second, 45 * time.Second}
	}
	if cfg.SweepInterval <= 0 {
		cfg.SweepInterval = time.Second
	}
	if cfg.CommandBatches <= 0 {
		cfg.CommandBatches = 1
	}
	cfg.Streams.setDefaults()
	cfg.Events.setDefaults()
	s := &Service{
		cfg:    cfg,
		store:  cfg.Store,
		log:    cfg.Logger,
		timers: make(map[string]*time.Timer),
		legs:   make(map[string]RelayLeg),
		remote: newRemote(),
		relays: newRelayCache(),
		behind: make(map[string]*behindWrite),
		access: access.New(cfg.Store),
	}
	s.bg, s.stopBg = context.WithCancel(context.Background())
	s.initCommandBatches()
	s.initStreamBatches()
	return s, nil
}

// Attach registers the Service's message handlers on h and routes through it.
func (s *Service) Attach(h *hub.Hub) {
	s.router = h
	// Commands are independent of one another: a socket's commands in a row are
	// handled concurrently, so that one socket's pipeline fills the group commits.
	h.HandleConcurrent(wire.TypeCommandSend, s.handleCommandSend)
	h.HandleConcurrent(wire.TypeCommandResult, s.handleCommandResult)
	s.attachStreams(h)
	s.attachEvents(h)
	s.attachArming(h)
	s.attachRemote(h)
	s.attachRelayCache(h)
}

// OnConnect delivers the commands and stream requests waiting for the device that
// just connected, and soon ends the camera's camera_offline event, if one is open.
func (s *Service) OnConnect(ctx context.Context, c *hub.Client) {
	s.deliverWaiting(ctx, c)
	s.streamsConnected(ctx, c)
	s.eventsConnected(ctx, c)
}

// OnDisconnect ends the live-view sessions of a device that is connected nowhere any
// more (or keeps its live ones for it to resume, after an unclean drop), and starts the camera_offline countdown of a camera that dropped off without a
// clean close. Wire it into the hub's Config.
func (s *Service) OnDisconnect(ctx context.Context, id hub.Identity, clean bool) {
	s.streamsDisconnected(ctx, id, clean)
	s.eventsDisconnected(ctx, id, clean)
}

// Run expires commands, closes stream sessions past their timeouts, raises the due
// camera_offline alerts and makes the due scheduled arming switches every
// SweepInterval until ctx ends.
func (s *Service) Run(ctx context.Context) error {
	t := time.NewTicker(s.cfg.SweepInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			s.expireCommands(ctx)
			s.sweepStreams(ctx)
			s.sweepCameraOffline(ctx)
			s.sweepArming(ctx)
			s.relays.sweep(s.cfg.Now())
		}
	}
}

// Close stops the re-dispatch timers and the background work, closes the relay legs
// held here (telling the replicas of their sessions) and waits for what is running.
func (s *Service) Close() {
	s.mu.Lock()
	s.closed = true
	for id, t := range s.timers {
		if t.Stop() {
			s.wg.Done()
		}
		delete(s.timers, id)
	}
	legs := s.legs
	s.legs = make(map[string]RelayLeg)
	served := s.remote.served
	s.remote.served = make(map[string]RelayLeg)
	s.mu.Unlock()
	s.stopBg()
	for _, leg := range legs {
		leg.Close()
	}
	for ref, leg := range served {
		leg.Close()
		if err := s.broadcast(nodeRelayLegDone, relayNodeMsg{Ref: ref}); err != nil {
			s.log.Debug("tell the end of a relay leg", "ref", ref, "err", err)
		}
	}
	s.wg.Wait()
}

// after runs fn after d unless the Service is closed first; a new timer for key
// replaces the old one.
func (s *Service) after(key string, d time.Duration, fn func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	if old, ok := s.timers[key]; ok && old.Stop() {
		s.wg.Done()
	}
	s.wg.Add(1)
	var t *time.Timer
	t = time.AfterFunc(d, func() {
		defer s.wg.Done()
		s.mu.Lock()
		if s.timers[key] == t {
			delete(s.timers, key)
		}
		s.mu.Unlock()
		defer func() {
			if p := recover(); p != nil {
				s.log.Error("panic in signaling timer", "key", key, "panic", fmt.Sprint(p))
			}
		}()
		fn()
	})
	s.timers[key] = t
}

// cancel stops the timer for key, if any.
func (s *Service) cancel(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t, ok := s.timers[key]; ok {
		if t.Stop() {
			s.wg.Done()
		}
		delete(s.timers, key)
	}
}

// wake asks the Waker to wake deviceID, or logs it when none is configured.
func (s *Service) wake(ctx context.Context, deviceID, reason string) {
	if s.cfg.Waker == nil {
		s.log.Info("wake-up requested, no push configured", "device_id", deviceID, "reason", reason)
		return
	}
	if err := s.cfg.Waker.Wake(ctx, deviceID, reason); err != nil {
		s.log.Warn("wake-up failed", "device_id", deviceID, "reason", reason, "err", err)
	}
}

// reply answers env on c: an ack with data, or the error err maps to.
func (s *Service) reply(c *hub.Client, env hub.Envelope, data any, err error) {
	if err == nil {
		_ = c.Ack(env.ID, data)
		return
	}
	var se *wire.Error
	if !errors.As(err, &se) {
		se = storeError(err)
		level := slog.LevelError
		if se.Code == wire.CodeUnavailable {
			level = slog.LevelWarn
		}
		s.log.Log(context.Background(), level, "signaling failed", "type", env.Type, "device_id", c.Identity().DeviceID, "err", err)
	}
	_ = c.Error(env.ID, se.Code, se.Message)
}

// storeError maps a store failure to what a client sees.
func storeError(err error) *wire.Error {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return wire.Errorf(wire.CodeNotFound, "not found")
	case errors.Is(err, store.ErrConflict):
		return wire.Errorf(wire.CodeConflict, "conflict")
	case errors.Is(err, store.ErrUnavailable):
		return wire.Errorf(wire.CodeUnavailable, "the database is unavailable, retry")
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return wire.Errorf(wire.CodeUnavailable, "the hub is busy, retry")
	}
	return wire.Errorf(wire.CodeInternal, "internal error")
}
