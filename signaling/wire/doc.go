// Package wire is the vocabulary of the SecureCam protocol, in one place: the socket
// message types, the data object of each message, their validators, the resource
// objects of the REST API (which socket messages such as event and notification carry
// too), and the application error codes with the HTTP status of each.
//
// The hub's own messages (hello, ack, error, ping, pong, presence), its envelope and
// its close codes are declared by package hub, which owns them and imports no other
// package of the project. Package signaling gives the messages their meaning, web
// serves the REST twins, and signaling/client speaks the protocol from the other end;
// all three import this package rather than spelling a type, field or code themselves.
//
// The resource objects are not the store's types: the store's rows carry no JSON
// tags, and the From functions convert a row to its wire form at the edge, so a schema
// change is never silently a wire change.
//
// # Concurrency
//
// The package has no goroutines, holds no state and does no I/O; its functions are
// safe for concurrent use.
package wire
