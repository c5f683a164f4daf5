package transport

import (
	"context"
	"encoding/binary"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	lcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/shoalsync/shoal/crypto/identity"
	"github.com/shoalsync/shoal/transport/wire"
)

// rawPeer is a plain libp2p host holding a device key, which speaks the
// session protocol by hand.
type rawPeer struct{ h host.Host }

func newRawPeer(t *testing.T, key *identity.Key) *rawPeer {
	priv, err := lcrypto.UnmarshalEd25519PrivateKey(key.Private())
	if err != nil {
		t.Fatal(err)
	}
	h, err := libp2p.New(libp2p.Identity(priv), libp2p.NoListenAddrs, libp2p.DisableMetrics(), libp2p.Ping(false), libp2p.DisableRelay())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return &rawPeer{h: h}
}

// open opens a session stream to victim; with hello it also exchanges
// Hellos.
func (p *rawPeer) open(t *testing.T, victim *testHost, hello *wire.Hello) network.Stream {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.h.Connect(ctx, peer.AddrInfo{ID: peer.ID(victim.ID()), Addrs: victim.p2p.Addrs()}); err != nil {
		t.Fatal(err)
	}
	st, err := p.h.NewStream(ctx, peer.ID(victim.ID()), ProtocolID)
	if err != nil {
		t.Fatal(err)
	}
	st.SetDeadline(time.Now().Add(10 * time.Second))
	if hello == nil {
		return st
	}
	if err := wire.Write(st, &wire.Message{Payload: &wire.Message_Hello{Hello: hello}}); err != nil {
		t.Fatal(err)
	}
	m, err := wire.NewReader(st, 0).Read()
	if err != nil || m.GetHello() == nil {
		t.Fatalf("reading victim's hello: %v %v", m, err)
	}
	return st
}

// readClose reads until the victim's Close and returns its reason.
func readClose(t *testing.T, st network.Stream) string {
	t.Helper()
	r := wire.NewReader(st, 0)
	for {
		m, err := r.Read()
		if err != nil {
			t.Fatalf("no Close from the victim: %v", err)
		}
		if c := m.GetClose(); c != nil {
			st.Reset()
			return c.GetReason()
		}
	}
}

func frame(n uint32, body []byte) []byte {
	return append(binary.BigEndian.AppendUint32(nil, n), body...)
}

func encode(t *testing.T, m *wire.Message) []byte {
	var b strings.Builder
	if err := wire.Write(&b, m); err != nil {
		t.Fatal(err)
	}
	return []byte(b.String())
}

// TestHostilePeer: a known device sends broken or abusive frames. The
// victim closes that session with a reason, does not crash, and keeps
// serving another device.
func TestHostilePeer(t *testing.T) {
	checkGoroutines(t)
	keys := sortedKeys(t, 3) // the hostile device must be lower: it opens the stream
	hostileKey, victimKey, goodKey := keys[0], keys[1], keys[2]
	victim := startHost(t, victimKey, "victim", bothLoopback)
	good := startHost(t, goodKey, "good", bothLoopback)
	victim.SetDevices([]Device{{ID: hostileKey.ID()}, good.device(true)})
	good.SetDevices([]Device{victim.device(false)})
	victim.roundTrip(t, good.ID())
	hostile := newRawPeer(t, hostileKey)
	hello := &wire.Hello{ProtocolVersion: wire.ProtocolVersion, DeviceName: "hostile", ClientName: "x", Nonce: make([]byte, wire.NonceSize)}

	hugeName := validReq("big")
	hugeName.Name = strings.Repeat("a/", 40<<10)
	for _, tc := range []struct {
		name    string
		noHello bool
		hello   *wire.Hello
		send    []byte
		reason  string // in the victim's Close
	}{
		{name: "length prefix 4 GiB", send: frame(math.MaxUint32, nil), reason: "too large"},
		{name: "length prefix over the limit", send: frame(wire.MaxMessageSize+1, nil), reason: "too large"},
		{name: "garbage", send: frame(16, []byte(strings.Repeat("\xff", 16))), reason: "malformed"},
		{name: "empty message", send: frame(0, nil), reason: "malformed"},
		{name: "request size over the limit", send: encode(t, &wire.Message{Payload: &wire.Message_Request{Request: &wire.Request{
			Id: math.MaxUint64, Folder: "f", Hash: make([]byte, 32), Size: math.MaxInt32}}}), reason: "invalid"},
		{name: "request with a huge name", send: encode(t, &wire.Message{Payload: &wire.Message_Request{Request: hugeName}}), reason: "request of"},
		{name: "index with a bad name", send: encode(t, &wire.Message{Payload: &wire.Message_Index{Index: &wire.Index{
			Folder: "f", IndexId: 1, LastSequence: 1, Files: []*wire.FileInfo{{Name: "../etc/passwd", Sequence: 1}}}}}), reason: "invalid"},
		{name: "second hello", send: encode(t, &wire.Message{Payload: &wire.Message_Hello{Hello: hello}}), reason: "second hello"},
		{name: "no hello", noHello: true, send: encode(t, &wire.Message{Payload: &wire.Message_Ping{Ping: &wire.Ping{}}}), reason: "not a hello"},
		{name: "wrong protocol version", hello: &wire.Hello{ProtocolVersion: 99}, reason: "protocol version"},
		{name: "hello with control characters", hello: &wire.Hello{ProtocolVersion: wire.ProtocolVersion, DeviceName: "a\x1b[2Jb", Nonce: make([]byte, wire.NonceSize)}, reason: "control"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, before := victim.rec.counts()
			connects := victim.rec.connectedTo(hostileKey.ID())
			var st network.Stream
			switch {
			case tc.noHello:
				st = hostile.open(t, victim, nil)
			case tc.hello != nil:
				st = hostile.open(t, victim, nil)
				if err := wire.Write(st, &wire.Message{Payload: &wire.Message_Hello{Hello: tc.hello}}); err != nil {
					t.Fatal(err)
				}
			default:
				st = hostile.open(t, victim, hello)
				waitFor(t, "the victim's session", func() bool { return victim.Session(hostileKey.ID()) != nil })
			}
			if _, err := st.Write(tc.send); err != nil {
				t.Fatal(err)
			}
			if reason := readClose(t, st); !strings.Contains(reason, tc.reason) {
				t.Errorf("close reason %q, want it to contain %q", reason, tc.reason)
			}
			if tc.noHello || tc.hello != nil {
				if victim.rec.connectedTo(hostileKey.ID()) != connects {
					t.Errorf("a session formed")
				}
			} else {
				waitFor(t, "the victim's disconnect", func() bool { _, d := victim.rec.counts(); return d > before })
				if err := victim.rec.lastDisconnect(); !errors.Is(err, ErrProtocol) {
					t.Errorf("victim's session ended with %v", err)
				}
			}
			victim.roundTrip(t, good.ID())
			good.roundTrip(t, victim.ID())
		})
	}

	t.Run("new stream replaces the session", func(t *testing.T) {
		st1 := hostile.open(t, victim, hello)
		var s1 *Session
		waitFor(t, "the first session", func() bool { s1 = victim.Session(hostileKey.ID()); return s1 != nil })
		events := len(victim.rec.eventLog())
		st2 := hostile.open(t, victim, hello)
		if reason := readClose(t, st1); reason != reasonReplaced {
			t.Errorf("old session closed with %q", reason)
		}
		waitFor(t, "the second session", func() bool { s := victim.Session(hostileKey.ID()); return s != nil && s != s1 })
		waitFor(t, "two events", func() bool { return len(victim.rec.eventLog()) >= events+2 })
		id := hostileKey.ID().Short()
		if got := victim.rec.eventLog()[events:]; !slices.Equal(got, []string{"disconnect " + id, "connect " + id}) {
			t.Errorf("events %q", got)
		}
		req := validReq("y")
		req.Id = 1
		if err := wire.Write(st2, &wire.Message{Payload: &wire.Message_Request{Request: req}}); err != nil {
			t.Fatal(err)
		}
		if m, err := wire.NewReader(st2, 0).Read(); err != nil || m.GetResponse().GetId() != 1 {
			t.Fatalf("got %v, %v; want the response", m, err)
		}
		st2.Reset()
		waitFor(t, "the victim's disconnect", func() bool { return victim.Session(hostileKey.ID()) == nil })
	})

	t.Run("huge request id and unknown response", func(t *testing.T) {
		st := hostile.open(t, victim, hello)
		req := validReq("x")
		req.Id = math.MaxUint64
		req.Size = wire.MaxBlockSize
		for _, m := range []*wire.Message{
			{Payload: &wire.Message_Response{Response: &wire.Response{Id: 12345, Data: []byte{1}}}},
			{Payload: &wire.Message_Request{Request: req}},
		} {
			if err := wire.Write(st, m); err != nil {
				t.Fatal(err)
			}
		}
		m, err := wire.NewReader(st, 0).Read()
		if err != nil || m.GetResponse().GetId() != math.MaxUint64 {
			t.Fatalf("got %v, %v; want the response to id 2^64-1", m, err)
		}
		if err := wire.Write(st, &wire.Message{Payload: &wire.Message_Close{Close: &wire.Close{Reason: "done"}}}); err != nil {
			t.Fatal(err)
		}
		var ce *CloseError
		waitFor(t, "the victim's disconnect", func() bool { return errors.As(victim.rec.lastDisconnect(), &ce) })
		if !ce.Remote || ce.Reason != "done" {
			t.Errorf("victim's session ended with %v", ce)
		}
		victim.roundTrip(t, good.ID())
	})
}
