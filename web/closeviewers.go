package web

import (
	"context"
	"encoding/json"

	"github.com/securecam/securecam/hub"
)

// Nodes reaches the other replicas (the hub implements it): a viewer's WHEP sessions
// live on the replica that holds the camera's relay, whichever replica revoked them.
type Nodes interface {
	HandleNode(name string, fn hub.NodeHandlerFunc)
	BroadcastNode(ctx context.Context, name string, data json.RawMessage) error
}

// NodeCloseViewers is the node message that closes, on the replica that receives it,
// the viewer sessions of a camera opened by a principal ([Media.CloseViewers]).
const NodeCloseViewers = "relay.close_viewers"

// closeViewersData is the data of NodeCloseViewers.
type closeViewersData struct {
	Camera    string `json:"camera"`
	Principal string `json:"principal"`
}

// handleNodes serves the node messages of the other replicas. No-op without Media
// or Nodes.
func (s *Server) handleNodes(nodes Nodes) {
	if nodes == nil || s.media == nil {
		return
	}
	nodes.HandleNode(NodeCloseViewers, func(_ context.Context, data []byte) {
		var m closeViewersData
		if err := json.Unmarshal(data, &m); err != nil {
			s.log.Warn("bad node message", "name", NodeCloseViewers, "err", err)
			return
		}
		if n := s.media.CloseViewers(m.Camera, m.Principal); n > 0 {
			s.log.Info("closed viewer sessions for another replica", "device_id", m.Camera, "sessions", n)
		}
	})
}

// closeViewers ends camera's viewer sessions opened by principal (a revoked link or
// share) here and, through the other replicas, wherever the camera's relay is. A
// replica the broadcast misses (the bus down) keeps them until they end.
func (s *Server) closeViewers(ctx context.Context, camera, principal string) {
	if s.media == nil {
		return
	}
	s.media.CloseViewers(camera, principal)
	if s.nodes == nil {
		return
	}
	data, _ := json.Marshal(closeViewersData{Camera: camera, Principal: principal}) // strings: cannot fail
	if err := s.nodes.BroadcastNode(ctx, NodeCloseViewers, data); err != nil {
		s.log.WarnContext(ctx, "close viewer sessions on the other replicas", "device_id", camera, "err", err)
	}
}
