package media

import (
	"testing"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
)

// packetize splits a VP8 frame into RTP packets the way a sender does.
func packetize(frame []byte, seq uint16, ts uint32, mtu uint16) []*rtp.Packet {
	payloads := (&codecs.VP8Payloader{}).Payload(mtu, frame)
	pkts := make([]*rtp.Packet, len(payloads))
	for i, p := range payloads {
		pkts[i] = &rtp.Packet{
			Header:  rtp.Header{SequenceNumber: seq + uint16(i), Timestamp: ts, Marker: i == len(payloads)-1},
			Payload: p,
		}
	}
	return pkts
}

func TestFrameAssembler(t *testing.T) {
	key := append([]byte{0x10}, make([]byte, 2500)...) // P bit 0
	inter := append([]byte{0x11}, make([]byte, 900)...)
	keyPkts := packetize(key, 100, 9000, 1000)      // 3 packets, seq 100..102
	interPkts := packetize(inter, 103, 12000, 1000) // 1 packet, seq 103
	if len(keyPkts) != 3 || len(interPkts) != 1 {
		t.Fatalf("packetization gave %d and %d packets", len(keyPkts), len(interPkts))
	}
	type result struct{ frames, keyframes int }
	tests := []struct {
		name string
		pkts []*rtp.Packet
		want result
	}{
		{"whole keyframe then inter frame", append(append([]*rtp.Packet{}, keyPkts...), interPkts...), result{2, 1}},
		{"inter frame only", interPkts, result{1, 0}},
		{"lost middle packet", []*rtp.Packet{keyPkts[0], keyPkts[2], interPkts[0]}, result{1, 0}},
		{"missing first packet", []*rtp.Packet{keyPkts[1], keyPkts[2]}, result{0, 0}},
		{"reordered", []*rtp.Packet{keyPkts[0], keyPkts[2], keyPkts[1]}, result{0, 0}},
		{"garbage payload", []*rtp.Packet{{Payload: nil}, keyPkts[0], keyPkts[1], keyPkts[2]}, result{1, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var a frameAssembler
			var got result
			for _, p := range tt.pkts {
				complete, k := a.push(p)
				if complete {
					got.frames++
					if k {
						got.keyframes++
					}
				}
			}
			if got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestEmbeddedPatternStartsWithKeyframe(t *testing.T) {
	// 32-byte file header, 12-byte frame header, then the first frame.
	if len(testPattern) < 45 || !isVP8Keyframe(testPattern[44:]) {
		t.Fatal("embedded test pattern does not start with a VP8 keyframe")
	}
}

func FuzzFrameAssembler(f *testing.F) {
	for _, p := range packetize(append([]byte{0x10}, make([]byte, 1500)...), 1, 1, 1000) {
		b, err := p.Marshal()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, raw []byte) {
		var pkt rtp.Packet
		if pkt.Unmarshal(raw) != nil {
			return
		}
		var a frameAssembler
		// Any packet, twice: no panic, and a frame is complete only on a marker.
		for range 2 {
			if complete, _ := a.push(&pkt); complete && !pkt.Marker {
				t.Fatal("frame completed without the marker bit")
			}
		}
	})
}
