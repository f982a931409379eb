package web

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/securecam/securecam/hub"
	"github.com/securecam/securecam/signaling/access"
	"github.com/securecam/securecam/store"
	"github.com/securecam/securecam/store/blobs"
	"github.com/securecam/securecam/web/internal/password"
)

// Store is the part of store.Store the web layer uses; a store.Store satisfies it.
type Store interface {
	Ping(ctx context.Context) error

	CreateUser(ctx context.Context, u *store.User) error
	UserByID(ctx context.Context, id string) (store.User, error)
	UserByEmail(ctx context.Context, email string) (store.User, error)
	CredentialPassword(ctx context.Context, userID string) (string, error)
	SetPassword(ctx context.Context, userID, hash string) error
	SetEmailVerified(ctx context.Context, userID string) error
	UpdateUser(ctx context.Context, id string, u store.UserUpdate) (store.User, error)

	CreateSession(ctx context.Context, s *store.Session) error
	SessionByTokenHash(ctx context.Context, tokenHash string) (store.Session, error)
	SessionByID(ctx context.Context, id string) (store.Session, error)
	ListUserSessions(ctx context.Context, userID string) ([]store.Session, error)
	HashRawSessionTokens(ctx context.Context, hash func(token string) string) (int, error)
	ExtendSession(ctx context.Context, id string, expiresAt time.Time) error
	DeleteSession(ctx context.Context, id string) error
	DeleteUserSessions(ctx context.Context, userID string) error
	SessionUsers(ctx context.Context, ids []string, now time.Time) (map[string]string, error)

	CreateVerification(ctx context.Context, v *store.Verification) error
	ConsumeVerification(ctx context.Context, identifier, valueHash string, now time.Time) (store.Verification, error)
	ListVerifications(ctx context.Context, identifier string, now time.Time) ([]store.Verification, error)

	CreateDevice(ctx context.Context, d *store.Device, tokenHash string) error
	Device(ctx context.Context, id string) (store.Device, error)
	DeviceByTokenHash(ctx context.Context, tokenHash string) (store.Device, error)
	DeviceUsers(ctx context.Context, ids []string) (map[string]string, error)
	ListDevices(ctx context.Context, userID string, p store.Page) ([]store.Device, string, error)
	UpdateDevice(ctx context.Context, id string, u store.DeviceUpdate) (store.Device, error)
	DeleteDevice(ctx context.Context, id string) ([]store.DeviceLink, error)

	CreateLink(ctx context.Context, l *store.DeviceLink) error
	Link(ctx context.Context, id string) (store.DeviceLink, error)
	ListLinks(ctx context.Context, ownerUserID string, p store.Page) ([]store.DeviceLink, string, error)
	RevokeLink(ctx context.Context, id string) (store.DeviceLink, error)
	Linked(ctx context.Context, a, b string) (bool, error)

	store.ShareStore

	Command(ctx context.Context, id string) (store.Command, error)
	ListCommands(ctx context.Context, ownerUserID string, f store.CommandFilter, p store.Page) ([]store.Command, string, error)

	EventStore
	store.ArmingStore

	CreateStreamSession(ctx context.Context, s *store.StreamSession, maxOpen int) error
	StreamSession(ctx context.Context, id string) (store.StreamSession, error)
	OpenMediaSession(ctx context.Context, cameraDeviceID string) (store.StreamSession, error)
	OpenStreamSessions(ctx context.Context, deviceID string) ([]store.StreamSession, error)

	AddAuditLog(ctx context.Context, a *store.AuditLog) error
	ListAuditLogs(ctx context.Context, ownerUserID string, p store.Page) ([]store.AuditLog, string, error)
}

// Sockets reaches live WebSockets; the hub implements it. Each Close method closes
// every matching socket on every replica with code and reason, and returns nil when
// none matched.
type Sockets interface {
	// SendUser delivers env to every connected device of the user wherever it is
	// connected, except the device except (empty: none); best effort.
	SendUser(ctx context.Context, userID, except string, env hub.Envelope) error
	// CloseDevice closes the sockets of one device.
	CloseDevice(ctx context.Context, deviceID string, code websocket.StatusCode, reason string) error
	// CloseSession closes the sockets authenticated by one user session.
	CloseSession(ctx context.Context, sessionID string, code websocket.StatusCode, reason string) error
	// CloseUserSessions closes every socket authenticated by any session of the user
	// (not those authenticated by a device token).
	CloseUserSessions(ctx context.Context, userID string, code websocket.StatusCode, reason string) error
}

// Presence is the cluster-wide presence registry; the hub implements it.
type Presence interface {
	OnlineDevices(ctx context.Context, deviceIDs []string) ([]bool, error)
}

// ReadyCheck is one dependency /readyz asks; a nil error means ready.
type ReadyCheck struct {
	Name  string
	Check func(ctx context.Context) error
}

// RateLimit allows Requests per Window.
type RateLimit struct {
	Requests int
	Window   time.Duration
}

// Config tunes the server; every zero field takes the documented default.
type Config struct {
	// PublicURL is how clients reach the hub: the base of links in mails, the default
	// allowed origin, and Secure cookies when it is https. Default http://localhost:8080.
	PublicURL string
	// AllowedOrigins are browser origins ("https://app.example.com") allowed besides
	// same-origin requests, and native apps' origins ("myapp://", any URL of that
	// scheme; "exp://host:port"), which the Expo plugin of Better Auth sends in
	// expo-origin. nil means the origin of PublicURL; an empty non-nil slice means none
	// besides same-origin.
	AllowedOrigins []string
	// TrustedProxies are CIDRs or addresses whose X-Forwarded-For is believed.
	TrustedProxies []string
	// MaxBodyBytes caps JSON request bodies (413 beyond). Default 64 KiB.
	MaxBodyBytes int64
	// MaxUploadBytes caps a recording's clip (413 beyond). Default 256 MiB.
	MaxUploadBytes int64
	// PresignGetTTL is how long a presigned URL that plays a clip works (default 5 min),
	// PresignPutTTL one that uploads a clip straight to the bucket (default 15 min).
	PresignGetTTL, PresignPutTTL time.Duration
	// BodyTimeout and BodyMinRate keep request bodies moving: each BodyTimeout
	// spent waiting for a body must bring BodyMinRate×BodyTimeout bytes (or the
	// rest of the body), else the request is answered 408 and its connection
	// closed. A JSON body so arrives whole within BodyTimeout; an upload keeps
	// at least the rate. Defaults 30 s and 4096 bytes per second.
	BodyTimeout time.Duration
	BodyMinRate int64
	// StorageQuotaBytes caps the clips one account keeps (the sum of its recordings'
	// size_bytes): an upload that would pass it answers 507. Default 10 GiB.
	StorageQuotaBytes int64
	// StorageReserveBytes is the free space uploads never use: an upload that would
	// leave less free (by Deps.FreeSpace) answers 507. Default 1 GiB.
	StorageReserveBytes int64
	// SessionTTL is a session's lifetime, renewed when less than half is left.
	// Default 30 days.
	SessionTTL time.Duration
	// EmailVerificationTTL (default 24 h), PasswordResetTTL (default 1 h) and
	// WSTicketTTL (default 30 s) bound how long those single-use tokens work.
	EmailVerificationTTL time.Duration
	PasswordResetTTL     time.Duration
	WSTicketTTL          time.Duration
	// ShareInvitationTTL is how long a share invitation can be accepted. Default 7 days.
	ShareInvitationTTL time.Duration
	// HashWorkers is how many password hashes run at once: default and maximum
	// runtime.NumCPU().
	HashWorkers int
	// HashQueue is how many hashes may wait for a worker before requests get 429.
	// Default 2×HashWorkers; negative means none may wait.
	HashQueue int
	// Limits on sign-in, sign-up and password-reset requests, each counted per action:
	// per client IP (default 30/min), per client IP and account (default 10/min), per
	// account from anywhere (default 60/min). A client IP is its IPv4 address or its
	// IPv6 /64. Beyond the per-account ceiling sign-in is slowed down by AuthSlowdown
	// (default 1 s) rather than refused, so strangers cannot lock the owner out.
	AuthPerIP        RateLimit
	AuthPerIPAccount RateLimit
	AuthPerAccount   RateLimit
	AuthSlowdown     time.Duration
	// BetterAuthSecret is the secret of the Better Auth server whose apps and sessions
	// the hub serves (its BETTER_AUTH_SECRET). Set, it turns on Better Auth's routes
	// under /api/auth, its session cookie and signed bearer tokens (accepted everywhere
	// a session is, /ws included), and its e-mail verification JWTs. Empty: all of that
	// is off.
	BetterAuthSecret string
	// BetterAuthShared says a Better Auth server still uses the same database: sessions
	// it wrote (raw tokens) are accepted when presented with a valid signature, and the
	// sessions /api/auth creates are stored raw too, so that it accepts them. Requires
	// BetterAuthSecret. False (taking over): [Server.AdoptSessions] hashes raw tokens.
	BetterAuthShared bool
	// NodeURL is this replica's own address, reachable by clients (its
	// SECURECAM_NODE_URL): the media sessions it holds are recorded under it, and
	// WHIP and WHEP requests for them reaching another replica are redirected
	// (307) there. Default PublicURL (one replica).
	NodeURL string
	// PublishWait bounds how long a WHEP request waits for a camera asked to
	// publish before it answers 503 with Retry-After. Default 15 s.
	PublishWait time.Duration
	// VAPIDPublicKey is the hub's Web Push application server key (base64url), given
	// to browsers at GET /api/v1/webpush/public-key to subscribe with. Empty: Web Push
	// is off and that answers 404.
	VAPIDPublicKey string
}

// Deps are the server's collaborators. Store is required; every other nil field takes
// the documented default.
type Deps struct {
	Store Store
	// Mailer sends verification and reset mails. Default: a LogMailer on Logger
	// (links in the log at info; New warns that it is so).
	Mailer Mailer
	// Logger default: discard.
	Logger *slog.Logger
	// Limiter counts auth attempts. Default: a MemoryLimiter (one replica); use a
	// RedisLimiter when replicas share the load.
	Limiter Limiter
	// Registerer and Gatherer back /metrics. Default: a private registry with Go and
	// process collectors. A Registerer that is also a Gatherer may come alone.
	Registerer prometheus.Registerer
	Gatherer   prometheus.Gatherer
	// Sockets closes WebSockets on sign-out, device deletion and password reset.
	// Default: nothing to close.
	Sockets Sockets
	// Presence tells which devices are connected anywhere in the cluster (the hub);
	// devices are reported with that status. Nil: the stored status.
	Presence Presence
	// Commands backs POST /commands. Nil: that endpoint answers 503.
	Commands Commands
	// Events backs POST and PATCH /events. Nil: those endpoints answer 503.
	Events Events
	// Arming backs PUT /arming and /arming/schedule. Nil: those endpoints answer 503.
	Arming Arming
	// Streams backs /streams and /ice-servers. Nil: those endpoints answer 503.
	Streams Streams
	// Recordings stores the clips of recordings: new ones in its primary storage, older
	// ones wherever their rows say. Nil: POST /recordings and the content endpoints
	// answer 503.
	Recordings *blobs.Set
	// FreeSpace reports the bytes free for new clips in Recordings' primary storage, for
	// the reserve, /readyz and the securecam_storage_free_bytes gauge. Nil: no reserve
	// is kept (storage that does not fill up, such as object storage).
	FreeSpace func() (int64, error)
	// Media serves WHIP and WHEP (RelayMedia). Nil: those endpoints answer 503.
	Media Media
	// Nodes carries what other replicas must do (the hub): closing a revoked viewer's
	// WHEP sessions where the camera's relay is. Nil: one replica, this one.
	Nodes Nodes
	// Publishers asks cameras to publish for a WHEP request (signaling.Service).
	// Nil: WHEP of a camera that is not publishing answers 503.
	Publishers PublishRequester
	// WS is mounted at GET /ws when set.
	WS http.Handler
	// App, when set, answers every path no other route takes (the browser app).
	App http.Handler
	// Ready are checked by /readyz after the store's Ping.
	Ready []ReadyCheck
	// OnLinkRevoked runs after a link is revoked (directly or by deleting a device),
	// for example to end live sessions between the two devices.
	OnLinkRevoked func(ctx context.Context, link store.DeviceLink)
	// OnPublished runs after a camera's publication (WHIP) was recorded as the stream
	// session row (for example to record it on the server).
	OnPublished func(row store.StreamSession)
	// OnRecordingMode runs after an owner changed a camera's recording_mode.
	OnRecordingMode func(ctx context.Context, camera store.Device)
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// Server is the HTTP handler. Create it with [New].
type Server struct {
	store         Store
	mailer        Mailer
	log           *slog.Logger
	limiter       Limiter
	sockets       Sockets
	commands      Commands
	events        Events
	arming        Arming
	streams       Streams
	media         Media
	nodes         Nodes
	publishers    PublishRequester
	blobs         *blobs.Set
	freeSpace     func() (int64, error)
	presence      Presence
	ready         []ReadyCheck
	onLinkRevoked func(ctx context.Context, link store.DeviceLink)
	onPublished   func(row store.StreamSession)
	onMode        func(ctx context.Context, camera store.Device)
	access        *access.Checker // the one answer to "may this user do that with this camera"
	now           func() time.Time
	creds         *credentials // tokens and origins, as the SocketAuth checks them
	hasher        *password.Pool
	metrics       *metrics
	handler       http.Handler

	publicURL     *url.URL
	nodeURL       string
	publishWait   time.Duration
	vapidKey      string
	secureCookie  bool
	maxBody       int64
	maxUpload     int64
	presignGetTTL time.Duration
	presignPutTTL time.Duration
	bodyTimeout   time.Duration
	bodyMinRate   int64
	quota         int64
	reserve       int64
	verifyTTL     time.Duration
	resetTTL      time.Duration
	ticketTTL     time.Duration
	inviteTTL     time.Duration
	perIP         RateLimit
	perIPAccount  RateLimit
	perAccount    RateLimit
	authSlowdown  time.Duration
	pause         func(ctx context.Context, d time.Duration) error

	bgMu      sync.Mutex
	bgClosed  bool
	bgWG      sync.WaitGroup
	bgPending atomic.Int64
}

// maxBackground bounds background jobs (mails, password-reset requests) running at
// once; more are dropped and logged.
const maxBackground = 32

// New builds the server.
func New(cfg Config, deps Deps) (*Server, error) {
	return newServer(cfg, deps, password.BetterAuth)
}

func newServer(cfg Config, deps Deps, params password.Params) (*Server, error) {
	creds, err := newCredentials(cfg, deps)
	if err != nil {
		return nil, err
	}
	s := &Server{
		store:         creds.store,
		mailer:        deps.Mailer,
		log:           creds.log,
		limiter:       deps.Limiter,
		sockets:       deps.Sockets,
		commands:      deps.Commands,
		events:        deps.Events,
		arming:        deps.Arming,
		streams:       deps.Streams,
		media:         deps.Media,
		nodes:         deps.Nodes,
		publishers:    deps.Publishers,
		blobs:         deps.Recordings,
		freeSpace:     deps.FreeSpace,
		presence:      deps.Presence,
		ready:         deps.Ready,
		onLinkRevoked: deps.OnLinkRevoked,
		onPublished:   deps.OnPublished,
		onMode:        deps.OnRecordingMode,
		access:        access.New(creds.store),
		now:           creds.now,
		creds:         creds,
	}
	if s.mailer == nil {
		s.mailer = NewLogMailer(s.log)
		s.log.Warn("no SMTP server configured (SECURECAM_SMTP_URL): verification and password-reset links " +
			"are written to this log at info level, marked \"" + LogMailerNotice + "\"")
	}
	if s.limiter == nil {
		s.limiter = NewMemoryLimiter(s.now)
	}

	s.publicURL, _ = parsePublicURL(cfg) // newCredentials checked it
	s.secureCookie = s.publicURL.Scheme == "https"
	s.nodeURL = mediaNodeURL(cfg, s.publicURL)
	s.publishWait = orDefault(cfg.PublishWait, 15*time.Second)
	s.vapidKey = cfg.VAPIDPublicKey

	s.maxBody = orDefault(cfg.MaxBodyBytes, 64<<10)
	s.maxUpload = orDefault(cfg.MaxUploadBytes, 256<<20)
	s.presignGetTTL = orDefault(cfg.PresignGetTTL, 5*time.Minute)
	s.presignPutTTL = orDefault(cfg.PresignPutTTL, 15*time.Minute)
	s.bodyTimeout = orDefault(cfg.BodyTimeout, 30*time.Second)
	s.bodyMinRate = orDefault(cfg.BodyMinRate, 4096)
	s.quota = orDefault(cfg.StorageQuotaBytes, 10<<30)
	s.reserve = orDefault(cfg.StorageReserveBytes, 1<<30)
	s.verifyTTL = orDefault(cfg.EmailVerificationTTL, 24*time.Hour)
	s.resetTTL = orDefault(cfg.PasswordResetTTL, time.Hour)
	s.ticketTTL = orDefault(cfg.WSTicketTTL, 30*time.Second)
	s.inviteTTL = orDefault(cfg.ShareInvitationTTL, 7*24*time.Hour)
	s.perIP = rateOrDefault(cfg.AuthPerIP, RateLimit{30, time.Minute})
	s.perIPAccount = rateOrDefault(cfg.AuthPerIPAccount, RateLimit{10, time.Minute})
	s.perAccount = rateOrDefault(cfg.AuthPerAccount, RateLimit{60, time.Minute})
	s.authSlowdown = orDefault(cfg.AuthSlowdown, time.Second)
	s.pause = sleep

	workers := cfg.HashWorkers
	if workers <= 0 || workers > runtime.NumCPU() {
		workers = runtime.NumCPU()
	}
	queue := cfg.HashQueue
	if queue == 0 {
		queue = 2 * workers
	}
	s.hasher = password.NewPool(params, workers, max(queue, 0))

	reg, gat := deps.Registerer, deps.Gatherer
	switch {
	case reg == nil && gat == nil:
		r := prometheus.NewRegistry()
		r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		reg, gat = r, r
	case gat == nil:
		g, ok := reg.(prometheus.Gatherer)
		if !ok {
			return nil, errors.New("web: Deps.Registerer is not a Gatherer and Deps.Gatherer is nil")
		}
		gat = g
	case reg == nil:
		return nil, errors.New("web: Deps.Gatherer without Deps.Registerer")
	}
	if s.metrics, err = newMetrics(reg, s.freeSpace, s.reserve); err != nil {
		return nil, err
	}
	s.handleNodes(deps.Nodes)
	s.handler = s.routes(deps.WS, deps.App, gat)
	return s, nil
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func orDefault[T int64 | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

func rateOrDefault(v, def RateLimit) RateLimit {
	if v.Requests <= 0 || v.Window <= 0 {
		return def
	}
	return v
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.handler.ServeHTTP(w, r)
}

// Shutdown stops taking new background work (mails, password-reset requests) and
// waits until what runs is done or ctx ends. Call it after the HTTP server has stopped.
func (s *Server) Shutdown(ctx context.Context) error {
	s.bgMu.Lock()
	s.bgClosed = true
	s.bgMu.Unlock()
	done := make(chan struct{})
	go func() {
		s.bgWG.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("web shutdown: %w", ctx.Err())
	}
}

// background runs fn on its own goroutine with a context detached from the request
// and bounded to a minute; Shutdown waits for it. It reports false, without running
// fn, when the server is shutting down or maxBackground jobs are running.
func (s *Server) background(ctx context.Context, what string, fn func(ctx context.Context)) bool {
	s.bgMu.Lock()
	defer s.bgMu.Unlock()
	if s.bgClosed {
		s.log.WarnContext(ctx, "background work dropped: server shutting down", "work", what)
		return false
	}
	if s.bgPending.Load() >= maxBackground {
		s.log.ErrorContext(ctx, "background work dropped: too many pending", "work", what)
		return false
	}
	s.bgPending.Add(1)
	s.bgWG.Add(1)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	go func() {
		defer s.bgWG.Done()
		defer s.bgPending.Add(-1)
		defer cancel()
		defer func() {
			if p := recover(); p != nil {
				s.log.ErrorContext(ctx, "background work panicked", "work", what, "panic", p)
			}
		}()
		fn(ctx)
	}()
	return true
}

// sendMail sends in the background so that answers do not depend on the mail server.
func (s *Server) sendMail(ctx context.Context, to, subject, body string) {
	if !s.background(ctx, "mail: "+subject, func(ctx context.Context) { s.deliverMail(ctx, to, subject, body) }) {
		s.metrics.mails.WithLabelValues("dropped").Inc()
	}
}

// deliverMail sends one mail now and counts the result.
func (s *Server) deliverMail(ctx context.Context, to, subject, body string) {
	if err := s.mailer.Send(ctx, to, subject, body); err != nil {
		s.metrics.mails.WithLabelValues("failed").Inc()
		s.log.ErrorContext(ctx, "mail send failed", "subject", subject, "err", err)
		return
	}
	s.metrics.mails.WithLabelValues("sent").Inc()
}
