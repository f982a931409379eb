package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/pion/webrtc/v4"
)

// MediaSession is one WHIP (publish) or WHEP (play) session with the hub's
// relay, usable as the Signaler of a media peer: SendDescription POSTs the
// offer and keeps the answer (Answer), SendCandidate sends each local
// candidate as a trickle-ICE PATCH of the session resource, and Delete ends
// the session. Redirects to the replica that holds the camera's relay are
// followed; the session resource is resolved against the final address.
//
// Concurrency: safe for concurrent use.
type MediaSession struct {
	c        *Client
	endpoint string

	mu         sync.Mutex
	location   string // absolute URL of the session resource
	answer     string
	ufrag, pwd string
	links      []string
}

// WHIP returns a publishing session for the client's camera (a device token).
func (c *Client) WHIP() *MediaSession {
	return &MediaSession{c: c, endpoint: c.base.String() + "/api/v1/whip"}
}

// WHIPTo returns a publishing session for the client's camera at endpoint, an
// absolute WHIP URL: the one the hub's relay.publish names (another replica's,
// in a cluster). The client's token goes to it: take it from the hub only.
func (c *Client) WHIPTo(endpoint string) *MediaSession {
	return &MediaSession{c: c, endpoint: endpoint}
}

// WHEP returns a playing session of cameraDeviceID.
func (c *Client) WHEP(cameraDeviceID string) *MediaSession {
	return &MediaSession{c: c, endpoint: c.base.String() + "/api/v1/whep/" + url.PathEscape(cameraDeviceID)}
}

// Answer is the hub's SDP answer, once SendDescription has returned.
func (m *MediaSession) Answer() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.answer
}

// Location is the session resource's absolute URL.
func (m *MediaSession) Location() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.location
}

// ICEServerLinks are the Link headers (rel="ice-server") of the answer.
func (m *MediaSession) ICEServerLinks() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.links...)
}

// SendDescription implements media.Signaler: it POSTs the offer.
func (m *MediaSession) SendDescription(ctx context.Context, d webrtc.SessionDescription) error {
	if d.Type != webrtc.SDPTypeOffer {
		return fmt.Errorf("whip: send %s: only offers are posted", d.Type)
	}
	resp, body, err := m.c.sdpRequest(ctx, http.MethodPost, m.endpoint, "application/sdp", d.SDP)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("whip: post offer: %w", problem(resp.StatusCode, body))
	}
	loc, err := resp.Request.URL.Parse(resp.Header.Get("Location"))
	if err != nil || resp.Header.Get("Location") == "" {
		return fmt.Errorf("whip: post offer: bad location %q", resp.Header.Get("Location"))
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.location, m.answer = loc.String(), string(body)
	m.links = resp.Header.Values("Link")
	m.ufrag, m.pwd = sdpValue(d.SDP, "a=ice-ufrag:"), sdpValue(d.SDP, "a=ice-pwd:")
	return nil
}

// SendCandidate implements media.Signaler: it PATCHes the candidate as a
// trickle-ICE fragment (end of gathering is not sent).
func (m *MediaSession) SendCandidate(ctx context.Context, c webrtc.ICECandidateInit) error {
	if c.Candidate == "" {
		return nil
	}
	m.mu.Lock()
	loc, ufrag, pwd := m.location, m.ufrag, m.pwd
	m.mu.Unlock()
	if loc == "" {
		return errors.New("whip: candidate before the session exists")
	}
	var b strings.Builder
	fmt.Fprintf(&b, "a=ice-ufrag:%s\r\na=ice-pwd:%s\r\n", ufrag, pwd)
	if c.SDPMid != nil {
		fmt.Fprintf(&b, "m=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:%s\r\n", *c.SDPMid)
	}
	fmt.Fprintf(&b, "a=%s\r\n", c.Candidate)
	resp, body, err := m.c.sdpRequest(ctx, http.MethodPatch, loc, "application/trickle-ice-sdpfrag", b.String())
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusNoContent {
		return fmt.Errorf("whip: patch candidate: %w", problem(resp.StatusCode, body))
	}
	return nil
}

// Delete ends the session.
func (m *MediaSession) Delete(ctx context.Context) error {
	loc := m.Location()
	if loc == "" {
		return nil
	}
	resp, body, err := m.c.sdpRequest(ctx, http.MethodDelete, loc, "", "")
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusNoContent {
		return fmt.Errorf("whip: delete: %w", problem(resp.StatusCode, body))
	}
	return nil
}

// sdpRequest makes one WHIP/WHEP request with the client's token.
func (c *Client) sdpRequest(ctx context.Context, method, target, contentType, body string) (*http.Response, []byte, error) {
	op := method + " " + target
	var rd io.Reader
	if body != "" {
		rd = bytes.NewReader([]byte(body))
	}
	req, err := http.NewRequestWithContext(ctx, method, target, rd)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", op, err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", op, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return nil, nil, fmt.Errorf("%s: read: %w", op, err)
	}
	return resp, data, nil
}

// sdpValue returns the value of the first line of sdp starting with prefix.
func sdpValue(sdp, prefix string) string {
	for _, line := range strings.Split(sdp, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), prefix); ok {
			return v
		}
	}
	return ""
}
