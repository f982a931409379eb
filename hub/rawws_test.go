package hub_test

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/securecam/securecam/hub"
)

// WebSocket opcodes of RFC 6455.
const (
	opText  = 0x1
	opClose = 0x8
	opPing  = 0x9
	opPong  = 0xA
)

// rawConn is a WebSocket client written by hand on a TCP connection, so a test
// decides exactly which bytes go out in which write.
type rawConn struct {
	t    *testing.T
	conn net.Conn
	br   *bufio.Reader
}

// dialTCP opens a TCP connection to the test hub.
func dialTCP(t *testing.T, th *testHub) *rawConn {
	t.Helper()
	conn, err := net.DialTimeout("tcp", strings.TrimPrefix(th.srv.URL, "http://"), wait)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	if err := conn.SetDeadline(time.Now().Add(wait)); err != nil {
		t.Fatal(err)
	}
	return &rawConn{t: t, conn: conn, br: bufio.NewReader(conn)}
}

// upgradeRequest is the opening handshake of device dev.
func upgradeRequest(th *testHub, dev string) []byte {
	return fmt.Appendf(nil, "GET /ws HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"+
		"Sec-WebSocket-Protocol: %s\r\nX-Device: %s\r\n\r\n",
		strings.TrimPrefix(th.srv.URL, "http://"), hub.Subprotocol, dev)
}

// clientFrame is one final, masked frame as a client sends it.
func clientFrame(opcode byte, payload []byte) []byte {
	b := []byte{0x80 | opcode}
	switch n := len(payload); {
	case n < 126:
		b = append(b, 0x80|byte(n))
	case n <= 0xFFFF:
		b = append(b, 0x80|126)
		b = binary.BigEndian.AppendUint16(b, uint16(n))
	default:
		b = append(b, 0x80|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	key := [4]byte{0x37, 0xfa, 0x21, 0x3d}
	b = append(b, key[:]...)
	for i, c := range payload {
		b = append(b, c^key[i%4])
	}
	return b
}

// frameHeaderLen is the length of clientFrame's header for a payload of n bytes.
func frameHeaderLen(n int) int {
	switch {
	case n < 126:
		return 6
	case n <= 0xFFFF:
		return 8
	}
	return 14
}

func (c *rawConn) write(b []byte) {
	c.t.Helper()
	if _, err := c.conn.Write(b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// readUpgrade reads the handshake response and requires 101.
func (c *rawConn) readUpgrade() {
	c.t.Helper()
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		c.t.Fatalf("read the handshake response: %v", err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusSwitchingProtocols {
		c.t.Fatalf("handshake answered %s, want 101", resp.Status)
	}
}

// readFrame reads one frame from the hub (unmasked, unfragmented in these tests).
func (c *rawConn) readFrame() (opcode byte, payload []byte, err error) {
	var h [2]byte
	if _, err := io.ReadFull(c.br, h[:]); err != nil {
		return 0, nil, err
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var ext [2]byte
		if _, err := io.ReadFull(c.br, ext[:]); err != nil {
			return 0, nil, err
		}
		n = uint64(binary.BigEndian.Uint16(ext[:]))
	case 127:
		var ext [8]byte
		if _, err := io.ReadFull(c.br, ext[:]); err != nil {
			return 0, nil, err
		}
		n = binary.BigEndian.Uint64(ext[:])
	}
	if h[0]&0x80 == 0 || h[1]&0x80 != 0 || n > 1<<20 {
		return 0, nil, fmt.Errorf("unexpected frame header % x (length %d)", h, n)
	}
	payload = make([]byte, n)
	if _, err := io.ReadFull(c.br, payload); err != nil {
		return 0, nil, err
	}
	return h[0] & 0x0f, payload, nil
}

// closeCode decodes a close frame's status code (1005: none).
func closeCode(payload []byte) websocket.StatusCode {
	if len(payload) < 2 {
		return websocket.StatusNoStatusRcvd
	}
	return websocket.StatusCode(binary.BigEndian.Uint16(payload))
}

// readEnvelope reads the next text frame and decodes it. A close frame or any other
// frame fails the test.
func (c *rawConn) readEnvelope() hub.Envelope {
	c.t.Helper()
	op, payload, err := c.readFrame()
	switch {
	case err != nil:
		c.t.Fatalf("read frame: %v", err)
	case op == opClose:
		c.t.Fatalf("the hub closed the socket: %d %q", closeCode(payload), payload[min(2, len(payload)):])
	case op != opText:
		c.t.Fatalf("got opcode %#x, want a text frame", op)
	}
	env, err := hub.Decode(payload)
	if err != nil {
		c.t.Fatalf("decode %s: %v", payload, err)
	}
	return env
}

// wantPong reads past hello to the pong answering id.
func (c *rawConn) wantPong(id string) {
	c.t.Helper()
	if env := c.readEnvelope(); env.Type != "hello" {
		c.t.Fatalf("first message %q, want hello", env.Type)
	}
	if env := c.readEnvelope(); env.Type != "pong" || env.Ref != id {
		c.t.Fatalf("got %q ref %q, want pong ref %q", env.Type, env.Ref, id)
	}
}

// pingMessage is an app-level ping envelope, padded to at least size bytes.
func pingMessage(id string, size int) []byte {
	b := fmt.Appendf(nil, `{"type":"ping","id":%q}`, id)
	if pad := size - len(b); pad > 0 {
		b = append(b[:len(b)-1], fmt.Appendf(nil, `,"data":{"pad":%q}}`, strings.Repeat("x", max(0, pad-12)))...)
	}
	return b
}

// A client may send its first frame as soon as it sent the upgrade request, or as soon
// as it read the 101 (docs/protocol.md): every byte that reached net/http before the
// hub took the connection over must reach the socket's reader.
func TestFirstFrameRightAfterUpgrade(t *testing.T) {
	t.Parallel()
	th := newHub(t, hub.Config{AcceptRate: 1e6, AcceptBurst: 1 << 20})
	const tries = 200
	t.Run("in the upgrade request's write", func(t *testing.T) {
		t.Parallel()
		for i := range tries {
			c := dialTCP(t, th)
			id := fmt.Sprintf("w%d", i)
			c.write(append(upgradeRequest(th, "with-"+id), clientFrame(opText, pingMessage(id, 0))...))
			c.readUpgrade()
			c.wantPong(id)
			_ = c.conn.Close()
		}
	})
	t.Run("right after the 101", func(t *testing.T) {
		t.Parallel()
		for i := range tries {
			c := dialTCP(t, th)
			id := fmt.Sprintf("a%d", i)
			c.write(upgradeRequest(th, "after-"+id))
			c.readUpgrade()
			c.write(clientFrame(opText, pingMessage(id, 0)))
			c.wantPong(id)
			_ = c.conn.Close()
		}
	})
	// The frame split in two writes at each byte of its header (and between header
	// and payload), the first part with the upgrade request or right after the 101;
	// with a 7-bit and a 16-bit payload length.
	t.Run("split at every header byte", func(t *testing.T) {
		t.Parallel()
		for _, size := range []int{0, 300} {
			for _, withRequest := range []bool{true, false} {
				msg := pingMessage("s", size)
				frame := clientFrame(opText, msg)
				for cut := 1; cut <= frameHeaderLen(len(msg)); cut++ {
					name := fmt.Sprintf("size %d, cut at %d, with request %v", len(msg), cut, withRequest)
					t.Run(name, func(t *testing.T) {
						c := dialTCP(t, th)
						req := upgradeRequest(th, fmt.Sprintf("split-%d-%d-%v", size, cut, withRequest))
						if withRequest {
							c.write(append(req, frame[:cut]...))
							c.readUpgrade()
						} else {
							c.write(req)
							c.readUpgrade()
							c.write(frame[:cut])
						}
						c.write(frame[cut:])
						c.wantPong("s")
					})
				}
			}
		}
	})
}

// WebSocket ping frames count against the message rate: a ping flood closes the
// socket with 4029 like a message flood.
func TestPingFloodClosesWith4029(t *testing.T) {
	t.Parallel()
	th := newHub(t, hub.Config{}) // the documented defaults: 50/s, bursts of 100
	c := dialTCP(t, th)
	c.write(upgradeRequest(th, "flooder"))
	c.readUpgrade()
	if env := c.readEnvelope(); env.Type != "hello" {
		t.Fatalf("first message %q, want hello", env.Type)
	}
	// Pings within the rate are answered.
	for i := range 3 {
		payload := []byte{byte(i)}
		c.write(clientFrame(opPing, payload))
		op, got, err := c.readFrame()
		if err != nil || op != opPong || !bytes.Equal(got, payload) {
			t.Fatalf("ping %d: got opcode %#x %x, %v; want its pong", i, op, got, err)
		}
	}

	// The flood: pings in a loop until the hub closes the connection (at most
	// 100,000, far beyond the burst); the test reads meanwhile so pongs never block
	// the hub.
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Go(func() {
		ping := clientFrame(opPing, []byte("flood"))
		for range 100_000 {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := c.conn.Write(ping); err != nil {
				return // closed by the hub
			}
		}
	})
	defer wg.Wait()
	defer close(stop)
	pongs := 0
	for {
		op, payload, err := c.readFrame()
		if err != nil {
			t.Fatalf("after %d pongs: %v; want a close frame with 4029", pongs, err)
		}
		switch op {
		case opPong:
			pongs++
		case opClose:
			if code := closeCode(payload); code != hub.StatusRateLimited {
				t.Fatalf("close code %d, want %d", code, hub.StatusRateLimited)
			}
			return
		default:
			t.Fatalf("got opcode %#x during the flood", op)
		}
	}
}

// Frames that reach the hub in one write are all handled, without waiting for more
// bytes: between messages the socket's goroutine waits for the kernel only when its
// reader holds nothing.
func TestFramesInOneWrite(t *testing.T) {
	t.Parallel()
	th := newHub(t, hub.Config{})
	c := dialTCP(t, th)
	c.write(upgradeRequest(th, "batched"))
	c.readUpgrade()
	if env := c.readEnvelope(); env.Type != "hello" {
		t.Fatalf("first message %q, want hello", env.Type)
	}
	c.write(append(clientFrame(opText, pingMessage("p1", 0)), clientFrame(opText, pingMessage("p2", 0))...))
	for _, id := range []string{"p1", "p2"} {
		if env := c.readEnvelope(); env.Type != "pong" || env.Ref != id {
			t.Fatalf("got %q ref %q, want pong ref %q", env.Type, env.Ref, id)
		}
	}
}
