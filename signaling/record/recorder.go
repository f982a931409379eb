package record

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/pion/rtp"

	"github.com/securecam/securecam/store"
	"github.com/securecam/securecam/store/blobs"
)

// Kind is the kind of a track.
type Kind int

// Track kinds.
const (
	Video Kind = iota // VP8, 90 kHz clock
	Audio             // Opus, 48 kHz clock
)

// Defaults of Config.
const (
	DefaultSegment  = 600 * time.Second
	DefaultPostRoll = 10 * time.Second
	// maxPreRoll bounds the frames kept for pre-roll: a camera that sends keyframes
	// rarely gets no pre-roll rather than unbounded memory.
	maxPreRoll = 16 << 20
	// inputQueue is how many frames and commands wait for the recorder's goroutine.
	inputQueue = 64
)

// Rows is the part of the store the recorder writes recordings with.
type Rows interface {
	CreateRecording(ctx context.Context, r *store.Recording) error
	Recording(ctx context.Context, id string) (store.Recording, error)
	FinishRecordingUpload(ctx context.Context, id string, u store.RecordingUpload) (store.Recording, error)
	DeleteRecording(ctx context.Context, id string) (store.Recording, error)
	SetEventVideoURL(ctx context.Context, id, url string) error
}

// Config is what every recorder of a hub shares.
type Config struct {
	Rows    Rows
	Storage blobs.Storage // where finished files go (the primary recordings storage)
	// SpoolDir holds the files being written (Recover cleans it at start-up).
	SpoolDir string
	// Segment is the length of a file in continuous mode (DefaultSegment if 0): a new
	// file starts at the first keyframe at or after it.
	Segment time.Duration
	// PostRoll is how long an event's recording goes on after the event ends
	// (DefaultPostRoll if 0).
	PostRoll time.Duration
	// RecordingURL, if set, is where a recording is played back (GET
	// /api/v1/recordings/{id}/content): an event's recording that becomes available is
	// set as the event's video_url, as for an uploaded clip.
	RecordingURL func(id string) string
	Logger       *slog.Logger
	Now          func() time.Time
}

// Stream is the published stream a recorder records.
type Stream struct {
	OwnerUserID     string
	CameraDeviceID  string
	StreamSessionID *string
	// Audio: the stream has an Opus track (the files get an audio track).
	Audio bool
	// Mode is the camera's recording_mode (store.RecordingMode*).
	Mode string
	// RequestKeyframe, if set, asks the camera for a keyframe (the relay sends a PLI,
	// rate-limited): called when a file is to start and no keyframe is at hand, and
	// after a lost packet broke the picture. It must not block.
	RequestKeyframe func()
}

// Recorder records one published stream to WebM files, one recordings row each, as the
// camera's recording mode says: nothing (off); each event from the first keyframe,
// with the last group of pictures before it when the stream was already published,
// until PostRoll after the last overlapping event ended (events); everything, in
// segments of Segment (continuous).
//
// While a file is written its row is pending (no object key, no available_at); once
// the file is finished (Duration and Cues written) and uploaded whole it becomes
// available with its object key, size and duration, or failed if the upload failed.
// A crash leaves the spool file, and Recover marks the row failed.
//
// Concurrency: WriteRTP may be called for Video and Audio from two goroutines, but for
// one kind from one goroutine at a time; it blocks while the recorder is behind (feed
// it from its own queue, as the relay does for any subscriber). The other methods are
// safe for concurrent use. One goroutine owns the files; uploads run in their own.
type Recorder struct {
	cfg     Config
	stream  Stream
	in      chan input
	done    chan struct{} // closed when the loop returned
	stop    chan struct{} // closed by Close
	once    sync.Once
	ctx     context.Context // of the uploads; cancelled when Close gives up
	cancel  context.CancelFunc
	uploads sync.WaitGroup

	clock        sync.Mutex // guards origin
	origin       time.Time  // wall time of the first packet of any kind
	video, audio trackIn
}

// trackIn maps one track's RTP timestamps to stream time; owned by the track's caller.
type trackIn struct {
	clockRate int64
	offset    time.Duration // stream time of the first packet
	started   bool
	unwrap    unwrapper
	vp8       vp8Frames
}

// input is a frame or a command for the loop.
type input struct {
	frame *frame
	cmd   func(*loop)
}

type frame struct {
	kind Kind
	key  bool
	at   time.Duration // stream time
	data []byte
}

// New starts a recorder of stream.
func New(cfg Config, s Stream) *Recorder {
	if cfg.Segment <= 0 {
		cfg.Segment = DefaultSegment
	}
	if cfg.PostRoll <= 0 {
		cfg.PostRoll = DefaultPostRoll
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if s.Mode == "" {
		s.Mode = store.RecordingModeEvents
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &Recorder{cfg: cfg, stream: s, in: make(chan input, inputQueue), done: make(chan struct{}),
		stop: make(chan struct{}), ctx: ctx, cancel: cancel}
	r.video.clockRate, r.audio.clockRate = 90000, 48000
	l := &loop{r: r, mode: s.Mode, events: make(map[string]bool),
		log: cfg.Logger.With("camera_device_id", s.CameraDeviceID)}
	go l.run()
	return r
}

// WriteRTP takes a packet of the stream's video (VP8) or audio (Opus) track. Packets
// after Close are ignored.
func (r *Recorder) WriteRTP(kind Kind, p *rtp.Packet) {
	t := &r.video
	if kind == Audio {
		if !r.stream.Audio {
			return
		}
		t = &r.audio
	}
	if !t.started {
		r.clock.Lock()
		now := r.cfg.Now()
		if r.origin.IsZero() {
			r.origin = now
		}
		t.offset = now.Sub(r.origin)
		r.clock.Unlock()
		t.started = true
	}
	ts := p.Timestamp
	var f *frame
	if kind == Audio {
		if len(p.Payload) == 0 {
			return
		}
		f = &frame{kind: Audio, key: true, data: append([]byte(nil), p.Payload...)}
	} else {
		broken := t.vp8.needKey
		data, vts, key, ok := t.vp8.push(p)
		if !broken && t.vp8.needKey {
			r.requestKeyframe()
		}
		if !ok {
			return
		}
		f, ts = &frame{kind: Video, key: key, data: data}, vts
	}
	f.at = t.offset + time.Duration(t.unwrap.ticks(ts)*int64(time.Second)/t.clockRate)
	r.send(input{frame: f})
}

func (r *Recorder) requestKeyframe() {
	if r.stream.RequestKeyframe != nil {
		r.stream.RequestKeyframe()
	}
}

func (r *Recorder) send(in input) {
	select {
	case r.in <- in:
	case <-r.stop:
	}
}

// EventStart records event (of the stream's camera) in events mode.
func (r *Recorder) EventStart(eventID string) {
	r.send(input{cmd: func(l *loop) { l.eventStart(eventID) }})
}

// EventEnd ends the recording of event PostRoll later (in stream time), unless another
// event of the camera is still going on.
func (r *Recorder) EventEnd(eventID string) {
	r.send(input{cmd: func(l *loop) { l.eventEnd(eventID) }})
}

// SetMode changes the recording mode (store.RecordingMode*).
func (r *Recorder) SetMode(mode string) {
	r.send(input{cmd: func(l *loop) { l.setMode(mode) }})
}

// Close stops recording: the file being written is finished and uploaded. It waits
// for every upload, or until ctx ends: then the uploads still going on are abandoned,
// and their files stay in the spool directory, their recordings pending, for Recover
// at the next start.
func (r *Recorder) Close(ctx context.Context) error {
	r.once.Do(func() { close(r.stop) })
	<-r.done
	uploaded := make(chan struct{})
	go func() {
		r.uploads.Wait()
		close(uploaded)
	}()
	select {
	case <-uploaded:
		r.cancel()
		return nil
	case <-ctx.Done():
		r.cancel()
		<-uploaded
		return fmt.Errorf("close recorder: %w", ctx.Err())
	}
}

// loop is the state of the recorder's goroutine.
type loop struct {
	r       *Recorder
	log     *slog.Logger
	mode    string
	events  map[string]bool // events going on
	eventID *string         // the event the next file is for
	stopAt  *time.Duration  // events mode: the file ends at this stream time
	preRoll []*frame        // events mode, no file: from the last keyframe on
	preSize int
	last    time.Duration // stream time of the last video frame
	width   int
	height  int
	cur     *file
}

// file is a file being written.
type file struct {
	rec  store.Recording
	webm *webmFile
	f    *os.File
}

func (l *loop) run() {
	defer close(l.r.done)
	for {
		select {
		case in := <-l.r.in:
			l.handle(in)
		case <-l.r.stop:
			// Take what was queued before Close.
			for {
				select {
				case in := <-l.r.in:
					l.handle(in)
				default:
					l.finish()
					return
				}
			}
		}
	}
}

func (l *loop) handle(in input) {
	if in.cmd != nil {
		in.cmd(l)
		return
	}
	f := in.frame
	if f.kind == Video {
		l.last = f.at
		if w, h, ok := vp8Size(f.data); ok {
			l.width, l.height = w, h
		}
	}
	videoKey := f.kind == Video && f.key
	switch {
	case l.mode == store.RecordingModeContinuous:
		if l.cur != nil && videoKey && f.at-l.cur.webm.start >= l.r.cfg.Segment {
			l.finish()
		}
		if l.cur == nil && videoKey {
			l.start(f.at)
		}
	case l.mode == store.RecordingModeEvents:
		if l.cur != nil && l.stopAt != nil && f.at >= *l.stopAt {
			l.finish()
		}
		if l.cur == nil {
			l.keepPreRoll(f)
			if len(l.events) > 0 && len(l.preRoll) > 0 {
				l.startWithPreRoll()
			}
			return
		}
	}
	l.write(f)
}

// keepPreRoll keeps f if it belongs to the group of pictures since the last keyframe.
func (l *loop) keepPreRoll(f *frame) {
	if f.kind == Video && f.key {
		l.preRoll, l.preSize = l.preRoll[:0], 0
	} else if len(l.preRoll) == 0 {
		return
	}
	l.preRoll = append(l.preRoll, f)
	l.preSize += len(f.data)
	if l.preSize > maxPreRoll {
		l.preRoll, l.preSize = nil, 0
	}
}

func (l *loop) startWithPreRoll() {
	pre := l.preRoll
	l.preRoll, l.preSize = nil, 0
	if !l.start(pre[0].at) {
		return
	}
	for _, f := range pre {
		l.write(f)
	}
}

func (l *loop) eventStart(id string) {
	l.events[id] = true
	if l.mode != store.RecordingModeEvents {
		return
	}
	l.stopAt = nil
	if l.cur == nil {
		if l.eventID == nil {
			l.eventID = &id
		}
		if len(l.preRoll) > 0 {
			l.startWithPreRoll()
		} else {
			l.r.requestKeyframe()
		}
	}
}

func (l *loop) eventEnd(id string) {
	if !l.events[id] {
		return
	}
	delete(l.events, id)
	if len(l.events) > 0 || l.mode != store.RecordingModeEvents {
		return
	}
	stop := l.last + l.r.cfg.PostRoll
	l.stopAt = &stop
	if l.cur == nil {
		// Ended before a keyframe came: nothing was recorded.
		l.eventID, l.stopAt = nil, nil
	}
}

func (l *loop) setMode(mode string) {
	if mode == l.mode {
		return
	}
	l.mode = mode
	switch {
	case mode == store.RecordingModeOff:
		l.finish()
	case mode == store.RecordingModeEvents && len(l.events) == 0:
		l.finish()
	case mode == store.RecordingModeContinuous && l.cur == nil:
		l.r.requestKeyframe()
	}
	l.preRoll, l.preSize = nil, 0
}

// start begins a file at stream time at (a video keyframe's); false if it could not.
func (l *loop) start(at time.Duration) bool {
	cfg := l.r.cfg
	id, err := uuid.NewV7()
	if err != nil {
		l.log.Error("start a recording", "err", err)
		return false
	}
	f, err := createSpool(cfg.SpoolDir, id.String())
	if err != nil {
		l.log.Error("start a recording", "err", err)
		return false
	}
	w, err := newWebM(f, l.width, l.height, l.r.stream.Audio, at)
	if err != nil {
		l.discard(f)
		l.log.Error("start a recording", "err", err)
		return false
	}
	s := l.r.stream
	rec := store.Recording{ID: id.String(), OwnerUserID: s.OwnerUserID, CameraDeviceID: s.CameraDeviceID,
		StreamSessionID: s.StreamSessionID, ContentType: "video/webm", CreatedAt: cfg.Now()}
	if l.mode == store.RecordingModeEvents {
		rec.EventID = l.eventID
	}
	// The row comes after the spool file, so that Recover finds every unfinished row.
	if err := cfg.Rows.CreateRecording(l.r.ctx, &rec); err != nil {
		_ = w.finish()
		l.discard(f)
		l.log.Error("start a recording", "err", err)
		return false
	}
	l.cur = &file{rec: rec, webm: w, f: f}
	l.log.Info("recording", "recording_id", rec.ID, "mode", l.mode)
	return true
}

func (l *loop) write(f *frame) {
	if l.cur == nil {
		return
	}
	if err := l.cur.webm.write(f.kind, f.key, f.at, f.data); err != nil {
		l.log.Error("write a recording", "recording_id", l.cur.rec.ID, "err", err)
		l.finish()
	}
}

// finish ends the file being written (if any) and uploads it in the background.
func (l *loop) finish() {
	c := l.cur
	l.cur, l.eventID, l.stopAt = nil, nil, nil
	if c == nil {
		return
	}
	err := c.webm.finish()
	l.r.uploads.Add(1)
	go func() {
		defer l.r.uploads.Done()
		l.r.upload(c, err)
	}()
}

// discard closes and removes a spool file.
func (l *loop) discard(f *os.File) {
	_ = os.Remove(f.Name())
	_ = f.Close()
}

// clipKey names the clip of rec in the storage.
func clipKey(rec store.Recording) string {
	return fmt.Sprintf("recordings/%s/%s", rec.OwnerUserID, rec.ID)
}

// upload stores c's finished file (unless finishing it failed) and makes its recording
// available, or failed.
func (r *Recorder) upload(c *file, finishErr error) {
	log := r.cfg.Logger.With("recording_id", c.rec.ID)
	keep := false
	defer func() {
		if !keep {
			_ = os.Remove(c.f.Name())
		}
		_ = c.f.Close() // releases the lock only once the row is finished, or left for Recover
	}()
	ctx, st := r.ctx, r.cfg.Storage
	fail := func(reason string, err error) {
		log.Error("recording failed", "reason", reason, "err", err)
		_, ferr := r.cfg.Rows.FinishRecordingUpload(context.WithoutCancel(ctx), c.rec.ID,
			store.RecordingUpload{Status: store.RecordingFailed, Error: reason, At: r.cfg.Now()})
		if ferr != nil {
			log.Error("mark a recording failed", "err", ferr)
		}
	}
	if finishErr != nil {
		fail("writing the file failed", finishErr)
		return
	}
	if c.webm.duration() <= 0 {
		// One frame or none (the mode changed or the stream ended just after the file
		// began): nothing to play, and its Duration would read 0. The row goes with it.
		if _, err := r.cfg.Rows.DeleteRecording(context.WithoutCancel(ctx), c.rec.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
			fail("dropping an empty recording failed", err)
			return
		}
		log.Info("recording dropped: it holds less than two frames")
		return
	}
	size, err := c.f.Seek(0, io.SeekEnd)
	if err == nil {
		_, err = c.f.Seek(0, io.SeekStart)
	}
	if err != nil {
		fail("reading the file failed", err)
		return
	}
	key := clipKey(c.rec)
	n, err := st.Put(ctx, key, c.f, blobs.PutOptions{Limit: size, ContentType: "video/webm"})
	if err != nil && ctx.Err() != nil {
		// Close gave up waiting (the hub is stopping): Recover stores it at the next start.
		keep = true
		log.Warn("recording left for the next start", "err", err)
		return
	}
	if err != nil {
		fail("storing the file failed", err)
		return
	}
	secs := int(math.Round(c.webm.duration().Seconds()))
	_, err = r.cfg.Rows.FinishRecordingUpload(context.WithoutCancel(ctx), c.rec.ID, store.RecordingUpload{
		Status: store.RecordingAvailable, ObjectKey: key, Bucket: st.Bucket(), SizeBytes: n,
		DurationSeconds: &secs, At: r.cfg.Now()})
	if err != nil {
		// The row is gone or finished: the clip would be an orphan.
		if derr := st.Delete(context.WithoutCancel(ctx), key); derr != nil && !errors.Is(derr, blobs.ErrNotFound) {
			log.Error("delete an unused recording file", "key", key, "err", derr)
		}
		log.Error("finish a recording", "err", err)
		return
	}
	if err := r.cfg.setVideoURL(context.WithoutCancel(ctx), c.rec); err != nil {
		log.Warn("set the event's video_url", "err", err)
	}
}

// setVideoURL makes an event's recording, now available, the event's video_url.
func (cfg Config) setVideoURL(ctx context.Context, rec store.Recording) error {
	if rec.EventID == nil || cfg.RecordingURL == nil {
		return nil
	}
	err := cfg.Rows.SetEventVideoURL(ctx, *rec.EventID, cfg.RecordingURL(rec.ID))
	if errors.Is(err, store.ErrNotFound) {
		return nil // the event was deleted
	}
	return err
}
