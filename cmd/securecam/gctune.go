package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

// The Go collector's defaults for the hub, applied by serve when the environment does
// not set GOGC or GOMEMLIMIT (see docs/configuration.md): idle sockets dominate the
// hub's memory, and GOGC=50 keeps the heap's headroom at half the live heap instead
// of all of it; the memory limit makes the collector work harder, rather than the
// process be killed, when memory runs short.
const (
	defaultGCPercent = 50
	// memLimitShare is the share of the memory available (the cgroup's limit, or the
	// machine's memory) that GOMEMLIMIT defaults to: the rest is for what the Go
	// runtime does not count (the kernel's socket buffers, SQLite's page cache, ...).
	memLimitNum, memLimitDen = 3, 4
)

// Where the memory available is read: the machine's memory, and the memory limit of
// the cgroup (v2, then v1) the process runs in.
var (
	memInfoPath    = "/proc/meminfo"
	cgroupMaxPaths = []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"}
)

// gcSettings is what tuneGC sets: a GC percent and a memory limit in bytes; 0 leaves
// the runtime's value (the environment's, or Go's default).
type gcSettings struct {
	percent  int
	memLimit int64
}

// gcDefaults returns the settings for the environment: GOGC=50 unless GOGC is set,
// and GOMEMLIMIT = 3/4 of the memory available unless GOMEMLIMIT is set (or the
// memory available cannot be read: then no limit, as Go's default).
func gcDefaults(getenv func(string) string, fsys fs.FS) (gcSettings, error) {
	var s gcSettings
	if getenv("GOGC") == "" {
		s.percent = defaultGCPercent
	}
	if getenv("GOMEMLIMIT") != "" {
		return s, nil
	}
	avail, err := memoryAvailable(fsys)
	if err != nil {
		return s, err
	}
	s.memLimit = avail / memLimitDen * memLimitNum
	return s, nil
}

// memoryAvailable returns the smaller of the machine's memory (MemTotal) and the
// cgroup's memory limit, when there is one.
func memoryAvailable(fsys fs.FS) (int64, error) {
	total, err := memTotal(fsys)
	if err != nil {
		return 0, err
	}
	for _, p := range cgroupMaxPaths {
		b, err := fs.ReadFile(fsys, strings.TrimPrefix(p, "/"))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("read cgroup memory limit: %w", err)
		}
		v := strings.TrimSpace(string(b))
		if v == "max" { // cgroup v2: no limit
			break
		}
		limit, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("parse cgroup memory limit %s: %w", p, err)
		}
		total = min(total, limit) // v1 without a limit: a huge number
		break
	}
	return total, nil
}

// memTotal reads MemTotal from /proc/meminfo, in bytes.
func memTotal(fsys fs.FS) (int64, error) {
	b, err := fs.ReadFile(fsys, strings.TrimPrefix(memInfoPath, "/"))
	if err != nil {
		return 0, fmt.Errorf("read machine memory: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "MemTotal:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("parse %s: MemTotal line %q", memInfoPath, sc.Text())
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("parse %s: %w", memInfoPath, err)
		}
		return kb * 1024, nil
	}
	return 0, fmt.Errorf("parse %s: no MemTotal", memInfoPath)
}

// tuneGC applies gcDefaults to the runtime and logs what the collector runs with.
func tuneGC(getenv func(string) string, logger *slog.Logger) {
	s, err := gcDefaults(getenv, os.DirFS("/"))
	if err != nil {
		logger.Warn("no default memory limit for the Go collector", "err", err)
	}
	if s.percent != 0 {
		debug.SetGCPercent(s.percent)
	}
	if s.memLimit != 0 {
		debug.SetMemoryLimit(s.memLimit)
	}
	gogc := getenv("GOGC")
	if s.percent != 0 {
		gogc = strconv.Itoa(s.percent)
	}
	logger.Info("go collector", "gogc", gogc, "gomemlimit_bytes", debug.SetMemoryLimit(-1))
}
