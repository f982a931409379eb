package web

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/felixge/httpsnoop"
	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	requests    *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	rateLimited *prometheus.CounterVec
	signIns     *prometheus.CounterVec
	mails       *prometheus.CounterVec
}

// newMetrics registers the web layer's metrics; with freeSpace, also the storage gauges
// (read at each scrape).
func newMetrics(reg prometheus.Registerer, freeSpace func() (int64, error), reserve int64) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "securecam", Subsystem: "http", Name: "requests_total",
			Help: "HTTP requests answered, by method, route pattern and status.",
		}, []string{"method", "route", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "securecam", Subsystem: "http", Name: "request_duration_seconds",
			Help:    "HTTP request latency by method and route pattern (WebSocket excluded).",
			Buckets: []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"method", "route"}),
		rateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "securecam", Subsystem: "http", Name: "rate_limited_total",
			Help: "Requests refused with 429, by reason (action name or password_pool).",
		}, []string{"reason"}),
		signIns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "securecam", Subsystem: "auth", Name: "sign_ins_total",
			Help: "Sign-in attempts by result (ok, invalid).",
		}, []string{"result"}),
		mails: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "securecam", Subsystem: "mail", Name: "sent_total",
			Help: "Mails by result (sent, failed, dropped).",
		}, []string{"result"}),
	}
	cs := []prometheus.Collector{m.requests, m.duration, m.rateLimited, m.signIns, m.mails}
	if freeSpace != nil {
		cs = append(cs, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "securecam", Subsystem: "storage", Name: "free_bytes",
			Help: "Bytes free for new recordings in their storage (NaN when it cannot be read).",
		}, func() float64 {
			n, err := freeSpace()
			if err != nil {
				return math.NaN()
			}
			return float64(n)
		}), prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "securecam", Subsystem: "storage", Name: "reserve_bytes",
			Help: "Free space uploads never use: below it they answer 507 and retention deletes the oldest clips.",
		}, func() float64 { return float64(reserve) }))
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("web metrics: %w", err)
		}
	}
	return m, nil
}

// instrument counts and times requests and logs them at debug level (path only: a
// query may carry a ticket).
func (s *Server) instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		m := httpsnoop.CaptureMetrics(next, w, r)
		route := "unmatched"
		if rc := chi.RouteContext(r.Context()); rc != nil && rc.RoutePattern() != "" {
			route = rc.RoutePattern()
		}
		s.metrics.requests.WithLabelValues(r.Method, route, strconv.Itoa(m.Code)).Inc()
		s.metrics.duration.WithLabelValues(r.Method, route).Observe(time.Since(start).Seconds())
		s.log.DebugContext(r.Context(), "http request", "method", r.Method, "path", r.URL.Path,
			"status", m.Code, "duration", m.Duration, "client_ip", s.clientIP(r))
	})
}
