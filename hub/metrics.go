package hub

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	connections       prometheus.Gauge
	messagesIn        *prometheus.CounterVec
	messagesOut       *prometheus.CounterVec
	disconnects       *prometheus.CounterVec
	queueOverflows    prometheus.Counter
	routeSeconds      *prometheus.HistogramVec
	busPublishErrors  prometheus.Counter
	admissionRefusals prometheus.Counter
	authFailures      prometheus.Counter
	authThrottled     prometheus.Counter
	panics            prometheus.Counter
	loopRestarts      *prometheus.CounterVec
	nodeDrops         prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		connections: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "securecam_hub_connections",
			Help: "WebSocket connections open on this replica.",
		}),
		messagesIn: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "securecam_hub_messages_in_total",
			Help: "Client messages received, by type (unknown, invalid and rate_limited for refused ones).",
		}, []string{"type"}),
		messagesOut: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "securecam_hub_messages_out_total",
			Help: "Messages queued to local sockets, by type.",
		}, []string{"type"}),
		disconnects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "securecam_hub_disconnects_total",
			Help: "Connections ended, by close code (abnormal: no close frame; timeout: heartbeat deadline).",
		}, []string{"code"}),
		queueOverflows: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "securecam_hub_send_queue_overflows_total",
			Help: "Send queue overflows (each closes a socket with 4008).",
		}),
		routeSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "securecam_hub_route_seconds",
			Help:    "Time to hand a message to its device's queue (local) or to the bus (bus).",
			Buckets: []float64{.00001, .00005, .0001, .0005, .001, .005, .01, .05, .1, .5, 1},
		}, []string{"path"}),
		nodeDrops: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "securecam_hub_node_messages_dropped_total",
			Help: "Node messages from other replicas dropped because their queue was full.",
		}),
		busPublishErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "securecam_hub_bus_publish_errors_total",
			Help: "Failed publishes to the bus.",
		}),
		admissionRefusals: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "securecam_hub_admission_refusals_total",
			Help: "WebSocket requests refused with 503 by admission control.",
		}),
		authFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "securecam_hub_auth_failures_total",
			Help: "WebSocket requests refused by authentication with a 4xx status.",
		}),
		authThrottled: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "securecam_hub_auth_throttled_total",
			Help: "WebSocket requests refused with 429: their network's failed authentications were over budget.",
		}),
		panics: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "securecam_hub_panics_total",
			Help: "Panics recovered in handlers, hooks and hub goroutines.",
		}),
		loopRestarts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "securecam_hub_loop_restarts_total",
			Help: "Background loops restarted after a panic, by loop (heartbeat, presence, presence_flush).",
		}, []string{"loop"}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{
		m.connections, m.messagesIn, m.messagesOut, m.disconnects, m.queueOverflows,
		m.routeSeconds, m.busPublishErrors, m.admissionRefusals, m.authFailures, m.authThrottled, m.panics,
		m.loopRestarts, m.nodeDrops,
	} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register metrics: %w", err)
		}
	}
	return m, nil
}
