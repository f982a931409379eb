// Package signaling gives the hub's messages their meaning: durable remote commands,
// live-view sessions and their WebRTC offer/answer/candidate relay, motion events and
// their notifications (in-app and, through an [Alerter], push), camera_offline events,
// telemetry relay, the household's arming (modes, scheduled switches, the arming
// message; which cameras alert in which mode, quiet hours and mutes), and the REST
// twins of those socket actions.
//
// A [Service] registers its handlers on a [hub.Hub] with [Service.Attach] and is told
// about connections through [Service.OnConnect], [Service.OnDisconnect] and
// [Service.OnBusResume], which cmd wires into the hub's Config. Live-view state lives in
// the store (stream_sessions), and so do camera_offline countdowns, so any replica can
// carry a session's messages or raise an alert another one scheduled. A live session
// outlives its parties' sockets for a grace period (media is peer to peer): a party
// that dropped off is marked away in the store and resumes with stream.resume.
// The messages' vocabulary (types, data, validators, error codes) is package
// signaling/wire's; this package gives it meaning.
//
// # Concurrency
//
// A Service is safe for concurrent use. Handlers run on the connection goroutine of the
// device that sent the message, so one device's messages are handled in order, except
// command.send and command.result: a device's commands in a row are handled
// concurrently ([hub.Hub.HandleConcurrent]), before and after its other messages. The
// Service owns two kinds of goroutines: the sweeper started by [Service.Run] (expiring
// commands, closing stream sessions past a timeout or the resume grace period, raising
// due camera_offline alerts, making due scheduled arming switches),
// which Run waits for, and timers (command re-dispatch, the end of a camera_offline
// event once its camera is back), which [Service.Close] stops and waits for.
package signaling
