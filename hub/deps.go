package hub

import (
	"context"
	"net/http"
	"time"
)

// Identity is who a connection belongs to.
type Identity struct {
	UserID    string
	DeviceID  string
	SessionID string // the user session that opened the socket; empty for device-token auth
}

// Authenticator authenticates a WebSocket request before the upgrade (bearer device
// token, session token + device id, cookie + allowed origin, or ticket). Returning an
// *[AuthError] refuses the request with its status and code; any other error answers
// 500. Origin checks are the Authenticator's job: the hub accepts any origin.
//
// Revalidate tells, for each identity of an open socket, whether its credentials still
// hold (the session is not signed out, reset or expired; the device is not deleted):
// the hub closes the others with 4003. It runs every [Config.RevalidateInterval] and
// after the bus resumed, so that a revocation whose close broadcast was lost (the bus
// was down) still closes the socket. An error leaves every socket open until the next
// pass.
type Authenticator interface {
	Authenticate(r *http.Request) (Identity, error)
	Revalidate(ctx context.Context, ids []Identity) ([]bool, error)
}

// LinkedDevice is a device linked with another one, as the hub needs it.
type LinkedDevice struct {
	DeviceID   string
	LastSeenAt time.Time // zero if never seen
}

// PresenceUpdate is a device's presence as the hub records it.
type PresenceUpdate struct {
	DeviceID   string
	Online     bool
	LastSeenAt time.Time
}

// Directory is the durable state the hub reads and writes.
type Directory interface {
	// LinkedDevices returns the devices linked with deviceID by an active link, in
	// either direction: the audience of its presence and the hello snapshot.
	LinkedDevices(ctx context.Context, deviceID string) ([]LinkedDevice, error)
	// RecordPresence stores status and last_seen_at of each device. The hub batches
	// and coalesces calls (at most one per [Config.PresenceFlushInterval]).
	RecordPresence(ctx context.Context, updates []PresenceUpdate) error
}

// Bus carries messages between the replicas of a cluster. Each replica has its own
// endpoint; all endpoints of a cluster share one network (one Redis, or one
// in-process [MemoryBus] and its peers). Delivery is at most once and in order per
// publisher and key. Implementations are safe for concurrent use.
//
// The hub owns the Bus it is given: it calls Start once in [New] and Close in
// [Hub.Shutdown].
type Bus interface {
	// Start begins delivering to recv every message published to a key this endpoint
	// subscribes, and every broadcast (key ""). recv is called from one goroutine, in
	// order, and must not block. resumed is called from that goroutine too, each time
	// the endpoint has (re)established all its subscriptions after connecting to the
	// network, the first time included: messages published to its keys while it was
	// away were lost, and a Publish that reported no subscriber may have missed it.
	// since is the last moment the endpoint was known to be receiving before this
	// (re)connection (zero the first time): what was published to it after since may
	// be lost. resumed must not block. A bus that cannot lose its network never calls
	// it.
	Start(recv func(key string, msg []byte), resumed func(since time.Time)) error
	// Subscribe adds one subscription to key. Subscriptions nest: the endpoint hears key
	// until Unsubscribe was called as often as Subscribe. A subscription made while the
	// network is unreachable takes effect when it comes back.
	Subscribe(ctx context.Context, key string) error
	// Unsubscribe removes one subscription to key.
	Unsubscribe(ctx context.Context, key string) error
	// Publish sends msg to the endpoints subscribed to key and returns how many there
	// were (0: nobody has key).
	Publish(ctx context.Context, key string, msg []byte) (int, error)
	// Broadcast sends msg to every endpoint, this one included.
	Broadcast(ctx context.Context, msg []byte) error
	// Ready reports whether the endpoint can publish and is receiving.
	Ready(ctx context.Context) error
	// Close stops delivery and releases the endpoint's resources.
	Close() error
}

// publisherThen is a [Bus] that also publishes without waiting for the answer
// (redisbus.Bus): PublishThen queues msg for key in the order of Publish and
// PublishThen calls, and hands Publish's result to done, which must not block, from
// another goroutine. [Hub.SendThen] uses it when the bus has it.
type publisherThen interface {
	PublishThen(ctx context.Context, key string, msg []byte, done func(n int, err error))
}

// Expired is a presence entry the sweep removed: its replica stopped refreshing it.
type Expired struct {
	DeviceID string
	LastSeen time.Time // the last refresh of the entry
}

// Presence is the cluster-wide registry of connected devices: which replica holds
// each device's socket. Entries expire unless refreshed by their replica; a sweep
// removes expired entries so the hub can announce those devices offline.
// Implementations are safe for concurrent use. The hub owns the Presence it is given
// and calls Close in [Hub.Shutdown].
type Presence interface {
	// Add records deviceID as connected to node, replacing any other node's entry.
	Add(ctx context.Context, deviceID, node string) error
	// Remove deletes deviceID's entry if it still names node, and reports whether it did.
	Remove(ctx context.Context, deviceID, node string) (bool, error)
	// Refresh renews the entries of deviceIDs that name node (and recreates entries lost
	// by the registry, e.g. after a Redis restart).
	Refresh(ctx context.Context, node string, deviceIDs []string) error
	// Online reports, for each id, whether it has a live entry.
	Online(ctx context.Context, deviceIDs []string) ([]bool, error)
	// Sweep removes the entries whose time to live has passed and returns them. In a
	// cluster only one replica at a time (the holder of a lease) sweeps; the others get
	// nothing.
	Sweep(ctx context.Context, node string) ([]Expired, error)
	// Ready reports whether the registry is reachable.
	Ready(ctx context.Context) error
	// Close releases the registry's resources.
	Close() error
}
