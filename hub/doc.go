// Package hub is SecureCam's real-time transport: it accepts device WebSockets on
// GET /ws, frames messages in the [Envelope], keeps a local registry of connected
// devices, routes a message to a device wherever it is connected in the cluster
// (through a [Bus]), tracks cluster-wide presence (through a [Presence] registry) and
// drains connections on shutdown. It knows no message type beyond hello, ack, error,
// ping/pong and presence: package signaling registers handlers for the rest with
// [Hub.Handle].
//
// hub imports none of the project's other packages. It declares what it needs —
// [Authenticator], [Directory], [Bus], [Presence] — and cmd wires implementations in.
// Two buses and two presence registries exist: in process ([NewMemoryBus],
// [NewMemoryPresence]) for embedded mode, and Redis (package hub/redisbus) for a
// cluster. hub/bustest is the conformance suite both pass.
//
// # Concurrency
//
// A [Hub] is safe for concurrent use. Each connection is served by one goroutine the
// hub starts after the upgrade (ServeHTTP returns then, so net/http's goroutine and
// buffers are not kept for the connection's lifetime). That goroutine reads frames and
// calls handlers one at a time, in arrival order, so a handler sees the messages of
// one device sequentially and a slow handler delays only that device. The exception
// is the types registered with [Hub.HandleConcurrent]: a run of them is handled by up
// to [MaxConcurrentPerConn] goroutines of the connection at once, which the connection
// goroutine waits for before the next message of another type and before it ends. Writes go
// through a bounded per-connection queue drained by at most one writer goroutine,
// started when the queue gets work and gone when it is empty; enqueueing
// ([Client.Send], [Hub.Send]) never blocks, and a full queue closes the socket with
// 4008. [Hub.SendThen] does not wait for the bus either: its callback gets the answer
// on another goroutine (the Redis bus's publish worker) and must not block.
// Heartbeats use one ticker for all connections. A connection's goroutine waits
// for its writer (and any short-lived ping or close goroutine) before it ends, and
// [Hub.Shutdown] waits for every connection goroutine. The hub's background goroutines
// (heartbeats, presence refresh and sweep, presence recording, re-validation of the
// sockets' credentials, and the one that runs the [Hub.HandleNode] handlers of other
// replicas' node messages, from a bounded queue the bus never waits on) are started by
// [New] and awaited by Shutdown, which also closes the Bus and the Presence registry
// the hub was given.
//
// # Faults
//
// When the bus comes back after losing its network (a Redis restart), the hub refreshes
// its presence entries at once, runs [Config.OnBusResume] with its connections (what was
// published to them meanwhile is lost) and re-validates their credentials; it also
// re-validates every [Config.RevalidateInterval], so a revocation whose close broadcast
// was lost still closes the socket with 4003.
//
// Panics in handlers and hooks are recovered, logged and answered with an error of code
// internal; the connection stays open. A background loop that panics is logged with its
// stack, counted in securecam_hub_loop_restarts_total and started again after a
// backoff (hub/internal/supervise): it never stops silently.
//
// Timestamps, heartbeat idleness and the message rate read [Config.Now]; tickers come
// from package time, so tests drive the hub's timers with testing/synctest.
package hub
