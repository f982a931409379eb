package wire

// Message types of the application: every type of docs/protocol.md beyond the hub's
// own (hub.TypeHello, TypeAck, TypeError, TypePing, TypePong, TypePresence).
const (
	TypeDevice = "device" // hub → every device of the account: DeviceChange

	TypeCommandSend   = "command.send"   // source → hub: CommandRequest; ack CommandStatus
	TypeCommand       = "command"        // hub → target: CommandMessage
	TypeCommandResult = "command.result" // target → hub: CommandResult; ack CommandStatus
	TypeCommandStatus = "command.status" // hub → source: CommandStatus

	TypeStreamRequest   = "stream.request"   // viewer → hub: StreamRequest; ack StreamAck
	TypeStreamRequested = "stream.requested" // hub → camera: StreamRequested
	TypeStreamStatus    = "stream.status"    // hub → viewer: StreamStatus
	TypeStreamAccept    = "stream.accept"    // camera → hub: StreamReason
	TypeStreamDecline   = "stream.decline"   // camera → hub: StreamReason
	TypeStreamReady     = "stream.ready"     // hub → viewer: {}
	TypeOffer           = "webrtc.offer"     // viewer → camera: SessionDescription
	TypeAnswer          = "webrtc.answer"    // camera → viewer: SessionDescription
	TypeCandidate       = "webrtc.candidate" // both ways: Candidate
	TypeStreamConnected = "stream.connected" // both → hub: {}
	TypeStreamEnd       = "stream.end"       // both → hub: StreamReason; ack StreamStatus
	TypeStreamEnded     = "stream.ended"     // hub → both: StreamReason
	TypeStreamResume    = "stream.resume"    // both → hub, after a reconnect: {}; ack StreamStatus
	TypeRelayPublish    = "relay.publish"    // hub → camera: RelayPublish

	TypeEventStart   = "event.start"  // camera → hub: EventRequest; ack EventAck
	TypeEventEnd     = "event.end"    // camera → hub: EventEnd; ack EventAck
	TypeEvent        = "event"        // hub → viewers: Event
	TypeNotification = "notification" // hub → the user's devices: Notification
	TypeTelemetry    = "telemetry"    // camera → hub → viewers: Telemetry

	TypeArmingSet = "arming.set" // a user's device → hub: ArmingRequest; ack Arming
	TypeArming    = "arming"     // hub → every device of the household: Arming
)
