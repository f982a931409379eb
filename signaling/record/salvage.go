package record

import (
	"encoding/binary"
	"errors"
	"io"
	"math"
	"time"
)

// Matroska element ids the salvage reads.
const (
	idEBML        = 0x1A45DFA3
	idSegment     = 0x18538067
	idInfo        = 0x1549A966
	idDuration    = 0x4489
	idCluster     = 0x1F43B675
	idTimecode    = 0xE7
	idSimpleBlock = 0xA3
)

// unknownSize is the size of an element written before its end was known (the Segment
// and the Clusters of a spool file).
const unknownSize = math.MaxUint64

var errNotWebM = errors.New("not a webm spool file")

// salvage finds how much of a spool file left by a crashed recorder is a playable
// WebM file: everything up to the end of its last whole block (a block cut short by the
// crash, and anything after, is left out). It writes the Duration of that much into the
// file's header (the Cues stay unwritten: players find the clusters by reading) and
// returns the length to keep and the duration. A file without a whole block has nothing
// to keep (end 0).
func salvage(f interface {
	io.ReaderAt
	io.WriterAt
}, size int64) (end int64, duration time.Duration, err error) {
	r := &elemReader{r: f, size: size}
	id, n, pos, err := r.header(0)
	if err != nil || id != idEBML || n == unknownSize {
		return 0, 0, errNotWebM
	}
	id, n, pos, err = r.header(pos + int64(n))
	if err != nil || id != idSegment {
		return 0, 0, errNotWebM
	}
	var durationAt int64 = -1
	var clusterTime, last int64 // milliseconds
	blocks := 0
	for pos < size {
		id, n, data, err := r.header(pos)
		if err != nil {
			break // cut short
		}
		switch {
		case id == idCluster && n == unknownSize:
			pos = data // its children follow, up to the next cluster
			continue
		case n == unknownSize || data+int64(n) > size:
			// An element cut short: the file ends before it.
		case id == idInfo:
			durationAt = r.find(data, data+int64(n), idDuration)
		case id == idTimecode:
			clusterTime = int64(r.uint(data, int(n)))
		case id == idSimpleBlock:
			var b [4]byte
			if n < 4 {
				return 0, 0, errNotWebM
			}
			if _, err := f.ReadAt(b[:], data); err != nil {
				return 0, 0, err
			}
			// Track number (one byte: tracks 1 and 2), then the time relative to the cluster.
			last = max(last, clusterTime+int64(int16(binary.BigEndian.Uint16(b[1:3]))))
			blocks++
		}
		if n == unknownSize || data+int64(n) > size {
			break
		}
		pos = data + int64(n)
		if id == idSimpleBlock {
			end = pos
		}
	}
	if blocks == 0 || durationAt < 0 {
		return 0, 0, nil
	}
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], math.Float64bits(float64(last)))
	if _, err := f.WriteAt(b[:], durationAt); err != nil {
		return 0, 0, err
	}
	return end, time.Duration(last) * time.Millisecond, nil
}

// elemReader reads EBML element headers.
type elemReader struct {
	r    io.ReaderAt
	size int64
}

// header reads the element header at pos: its id, data size (unknownSize if not
// given) and where its data starts.
func (e *elemReader) header(pos int64) (id uint64, size uint64, data int64, err error) {
	var b [12]byte
	n, _ := e.r.ReadAt(b[:], pos)
	if n == 0 {
		return 0, 0, 0, io.ErrUnexpectedEOF
	}
	idLen := vintLen(b[0])
	if idLen == 0 || idLen > 4 || idLen >= n {
		return 0, 0, 0, io.ErrUnexpectedEOF
	}
	for _, c := range b[:idLen] {
		id = id<<8 | uint64(c)
	}
	sizeLen := vintLen(b[idLen])
	if sizeLen == 0 || idLen+sizeLen > n {
		return 0, 0, 0, io.ErrUnexpectedEOF
	}
	size = uint64(b[idLen]) & (0xFF >> sizeLen)
	allOnes := size == 0xFF>>sizeLen
	for _, c := range b[idLen+1 : idLen+sizeLen] {
		size = size<<8 | uint64(c)
		allOnes = allOnes && c == 0xFF
	}
	if allOnes {
		size = unknownSize
	}
	return id, size, pos + int64(idLen+sizeLen), nil
}

// find returns where the data of the child element id of [from, to) starts, or -1.
func (e *elemReader) find(from, to int64, id uint64) int64 {
	for pos := from; pos < to; {
		got, n, data, err := e.header(pos)
		if err != nil || n == unknownSize {
			return -1
		}
		if got == id {
			return data
		}
		pos = data + int64(n)
	}
	return -1
}

// uint reads an unsigned integer element's data.
func (e *elemReader) uint(at int64, n int) uint64 {
	b := make([]byte, n)
	if _, err := e.r.ReadAt(b, at); err != nil {
		return 0
	}
	var v uint64
	for _, c := range b {
		v = v<<8 | uint64(c)
	}
	return v
}

// vintLen is the length of the variable-size integer whose first byte is b (0 if
// invalid).
func vintLen(b byte) int {
	for i := range 8 {
		if b&(0x80>>i) != 0 {
			return i + 1
		}
	}
	return 0
}
