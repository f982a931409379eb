package web

import (
	"cmp"
	"net/http"
	"net/textproto"
	"slices"
	"strconv"
	"strings"

	"github.com/securecam/securecam/signaling/wire"
)

// maxRanges is the most byte ranges one request may ask for.
const maxRanges = 16

var (
	errTooManyRanges = &Error{Status: http.StatusRequestedRangeNotSatisfiable, Code: wire.CodeBadRequest,
		Detail: "more than 16 byte ranges"}
	errOverlappingRanges = &Error{Status: http.StatusRequestedRangeNotSatisfiable, Code: wire.CodeBadRequest,
		Detail: "overlapping byte ranges"}
)

// checkRanges refuses a Range header over an object of size bytes that asks for more
// than maxRanges ranges or for ranges that overlap (a multipart answer many times the
// object's size). Anything else — no header, another unit, a malformed or unsatisfiable
// range — passes, for http.ServeContent to answer as it does. Ranges are read as
// ServeContent reads them.
func checkRanges(h string, size int64) error {
	spec, ok := strings.CutPrefix(h, "bytes=")
	if !ok {
		return nil
	}
	type span struct{ start, end int64 } // [start, end)
	var spans []span
	n := 0
	for _, ra := range strings.Split(spec, ",") {
		ra = textproto.TrimString(ra)
		if ra == "" {
			continue
		}
		if n++; n > maxRanges {
			return errTooManyRanges
		}
		first, last, ok := strings.Cut(ra, "-")
		if !ok {
			return nil
		}
		first, last = textproto.TrimString(first), textproto.TrimString(last)
		var sp span
		if first == "" {
			// A suffix: the last n bytes.
			if last == "" || last[0] == '-' {
				return nil
			}
			k, err := strconv.ParseInt(last, 10, 64)
			if err != nil || k < 0 {
				return nil
			}
			sp = span{size - min(k, size), size}
		} else {
			i, err := strconv.ParseInt(first, 10, 64)
			if err != nil || i < 0 {
				return nil
			}
			if i >= size {
				continue // unsatisfiable: ServeContent leaves it out
			}
			sp = span{i, size}
			if last != "" {
				j, err := strconv.ParseInt(last, 10, 64)
				if err != nil || i > j {
					return nil
				}
				sp.end = min(j, size-1) + 1
			}
		}
		spans = append(spans, sp)
	}
	slices.SortFunc(spans, func(a, b span) int { return cmp.Compare(a.start, b.start) })
	for i := 1; i < len(spans); i++ {
		if spans[i].start < spans[i-1].end {
			return errOverlappingRanges
		}
	}
	return nil
}
