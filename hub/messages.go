package hub

// Message types the hub itself sends or answers. Every other type belongs to a handler
// registered with [Hub.Handle] (package signaling/wire lists them).
const (
	TypeHello    = "hello"
	TypeAck      = "ack"
	TypeError    = "error"
	TypePing     = "ping"
	TypePong     = "pong"
	TypePresence = "presence"
)

// ErrorData is the data of an error message.
type ErrorData struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}
