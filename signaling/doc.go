// Package signaling gives the hub's messages their meaning: durable remote commands,
// live-view sessions and their WebRTC offer/answer/candidate relay, motion events and
// their notifications (in-app and, through an [Alerter], push), camera_offline events,
// telemetry relay, and the REST twins of those socket actions.
//
// A [Service] registers its handlers on a [hub.Hub] with [Service.Attach] and is told
// about connections through [Service.OnConnect] and [Service.OnDisconnect], which cmd
// wires into the hub's Config. Live-view state lives in the store (stream_sessions), so
// any replica can carry a session's messages. The decode and validate functions
// (decode.go, streamdecode.go) have no goroutines and do no I/O.
//
// # Concurrency
//
// A Service is safe for concurrent use. Handlers run on the connection goroutine of the
// device that sent the message, so one device's messages are handled in order. The
// Service owns two kinds of goroutines: the sweeper started by [Service.Run] (expiring
// commands, closing stream sessions past a timeout), which Run waits for, and timers (command re-dispatch, camera_offline
// countdowns), which [Service.Close] stops and waits for.
package signaling
