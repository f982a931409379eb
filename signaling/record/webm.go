package record

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/at-wat/ebml-go/mkvcore"
	"github.com/at-wat/ebml-go/webm"
)

// Track numbers in the files.
const (
	videoTrack = 1
	audioTrack = 2
)

// cuesReserved is the room kept after the header for the Cues (a cue point per cluster,
// about 20 bytes; ebml-go thins them out if they do not fit). Clusters start at a
// keyframe at least a second after the last cluster, so this holds an hour or more.
const cuesReserved = 64 << 10

// webmFile is one WebM file being written to a spool file on local disk. The header
// comes first, then room for the Cues, then clusters as frames arrive; finish writes the
// Duration and the Cues into the header (ebml-go's WithCues: the spool file is seekable,
// an S3 object being uploaded is not), after which the file is uploaded whole.
//
// A webmFile is used by one goroutine.
type webmFile struct {
	sink         *sink
	video, audio mkvcore.BlockWriteCloser
	start        time.Duration // stream time of the first frame
	last         time.Duration // stream time of the last frame written
}

// sink is the spool file as ebml-go sees it: it never fails a write (ebml-go's writing
// goroutine stops at an error, and the next frame would wait for it forever); the first
// error is kept for the recorder to see.
type sink struct {
	f   *os.File
	mu  sync.Mutex // guards err: written from ebml-go's goroutine
	err error
}

func (s *sink) keep(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err == nil && err != nil {
		s.err = err
	}
}

func (s *sink) failed() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

func (s *sink) Write(p []byte) (int, error) {
	if s.failed() == nil {
		_, err := s.f.Write(p)
		s.keep(err)
	}
	return len(p), nil
}

func (s *sink) WriteAt(p []byte, off int64) (int, error) {
	if s.failed() == nil {
		_, err := s.f.WriteAt(p, off)
		s.keep(err)
	}
	return len(p), nil
}

// Close leaves the file open: the recorder uploads it, holding its lock (createSpool).
func (s *sink) Close() error { return nil }

// newWebM starts a WebM file in f (which it owns from now on) with a VP8 track of the
// given size and an Opus track when audio.
func newWebM(f *os.File, width, height int, audio bool, start time.Duration) (*webmFile, error) {
	w := &webmFile{sink: &sink{f: f}, start: start, last: start}
	tracks := []webm.TrackEntry{{
		Name: "video", TrackNumber: videoTrack, TrackUID: randomUID(), CodecID: "V_VP8", TrackType: 1,
		Video: &webm.Video{PixelWidth: uint64(width), PixelHeight: uint64(height)},
	}}
	if audio {
		tracks = append(tracks, webm.TrackEntry{
			Name: "audio", TrackNumber: audioTrack, TrackUID: randomUID(), CodecID: "A_OPUS", TrackType: 2,
			CodecPrivate: opusHead(), SeekPreRoll: uint64(80 * time.Millisecond),
			Audio: &webm.Audio{SamplingFrequency: 48000, Channels: 2},
		})
	}
	ws, err := webm.NewSimpleBlockWriter(w.sink, tracks,
		// Each file its own segment info and sorter: ebml-go's defaults are shared values
		// it writes to.
		mkvcore.WithSegmentInfo(&webm.Info{TimecodeScale: uint64(time.Millisecond), MuxingApp: "securecam", WritingApp: "securecam"}),
		mkvcore.WithBlockInterceptor(mkvcore.MustBlockInterceptor(mkvcore.NewMultiTrackBlockSorter(
			mkvcore.WithMaxDelayedPackets(16), mkvcore.WithSortRule(mkvcore.BlockSorterDropOutdated)))),
		mkvcore.WithSeekHead(true),
		mkvcore.WithCues(cuesReserved),
		// A cluster at each keyframe a second or more into the last one, and at least every 30 s.
		mkvcore.WithMinMaxClusterDuration(videoTrack, 1000, 30000),
		mkvcore.WithOnFatalHandler(w.sink.keep),
	)
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("start webm: %w", err)
	}
	w.video = ws[0]
	if audio {
		w.audio = ws[1]
	}
	return w, nil
}

// write adds a frame at stream time at (from the start of the stream).
func (w *webmFile) write(kind Kind, key bool, at time.Duration, frame []byte) error {
	bw := w.video
	if kind == Audio {
		bw = w.audio
	}
	if bw == nil || at < w.start {
		return nil
	}
	if err := w.sink.failed(); err != nil {
		return fmt.Errorf("write webm: %w", err)
	}
	if _, err := bw.Write(key, (at - w.start).Milliseconds(), frame); err != nil {
		return fmt.Errorf("write webm: %w", err)
	}
	w.last = max(w.last, at)
	return nil
}

// duration is the time from the first frame to the last.
func (w *webmFile) duration() time.Duration { return w.last - w.start }

// finish writes the Duration and the Cues and closes the file.
func (w *webmFile) finish() error {
	var errs []error
	if w.audio != nil {
		errs = append(errs, w.audio.Close())
	}
	errs = append(errs, w.video.Close()) // the last Close writes the Cues
	if err := w.sink.failed(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("finish webm: %w", err)
	}
	return nil
}

// opusHead is the Opus identification header (RFC 7845 section 5.1) WebM keeps as the
// track's CodecPrivate: version 1, 2 channels, no pre-skip, 48 kHz, no gain, mapping 0.
func opusHead() []byte {
	return []byte("OpusHead\x01\x02\x00\x00\x80\xbb\x00\x00\x00\x00\x00")
}

func randomUID() uint64 {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return binary.BigEndian.Uint64(b[:])>>1 | 1
}
