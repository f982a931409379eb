package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
)

// NodeHandlerFunc handles a node message: data as [Hub.BroadcastNode] was given it.
type NodeHandlerFunc func(ctx context.Context, data []byte)

// nodeQueue bounds the node messages received and not yet handled; beyond it they
// are dropped (and counted), as a bus that lost them would.
const nodeQueue = 256

// nodeMessage is a node message received from another replica.
type nodeMessage struct {
	name string
	data []byte
}

// HandleNode registers fn for the node messages called name, replacing any earlier
// handler. Register before serving. Handlers run one at a time on a goroutine of the
// hub's, never on the bus's.
func (h *Hub) HandleNode(name string, fn NodeHandlerFunc) {
	h.handlersMu.Lock()
	defer h.handlersMu.Unlock()
	h.nodeHandlers[name] = fn
}

// BroadcastNode sends a node message called name, with data (JSON), to every other
// replica, whose handler for name runs it; not to this one, which does its own part
// itself. At most once, like every message on the bus.
func (h *Hub) BroadcastNode(ctx context.Context, name string, data json.RawMessage) error {
	if name == "" {
		return errors.New("hub: broadcast node: empty name")
	}
	if err := h.bus.Broadcast(ctx, controlFrame(control{Op: opNode, Node: h.cfg.NodeID, Name: name, Data: string(data)})); err != nil {
		h.metrics.busPublishErrors.Inc()
		return fmt.Errorf("hub: broadcast node %s: %w", name, err)
	}
	return nil
}

// receiveNode queues m, from another replica, for nodeLoop. It never blocks.
func (h *Hub) receiveNode(m control) {
	if m.Node == h.cfg.NodeID {
		return
	}
	select {
	case h.nodeIn <- nodeMessage{name: m.Name, data: []byte(m.Data)}:
	default:
		h.metrics.nodeDrops.Inc()
		h.log.Warn("node message dropped: queue full", "name", m.Name)
	}
}

// nodeLoop runs the handlers of the node messages received, until Shutdown.
func (h *Hub) nodeLoop() {
	for {
		select {
		case <-h.stopBG:
			return
		case m := <-h.nodeIn:
			h.handlersMu.RLock()
			fn := h.nodeHandlers[m.name]
			h.handlersMu.RUnlock()
			if fn == nil {
				h.log.Debug("node message without a handler", "name", m.name)
				continue
			}
			fn(h.ctx, m.data)
		}
	}
}
