package transport

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	lcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/shoalsync/shoal/crypto/identity"
	"github.com/shoalsync/shoal/transport/wire"
)

func TestDeviceIDIsPeerID(t *testing.T) {
	k, err := identity.Generate()
	if err != nil {
		t.Fatal(err)
	}
	priv, err := lcrypto.UnmarshalEd25519PrivateKey(k.Private())
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPublicKey(priv.GetPublic())
	if err != nil {
		t.Fatal(err)
	}
	if identity.DeviceID(id) != k.ID() {
		t.Fatalf("peer ID %s, device ID %s", id, k.ID())
	}
	if id.String() != k.ID().String() {
		t.Fatalf("printed peer ID %s, device ID %s", id, k.ID())
	}
	if p := peer.ID(k.ID()); p.Validate() != nil || !p.MatchesPrivateKey(priv) {
		t.Fatalf("peer.ID(device ID) does not match the key")
	}
}

// TestSessionPair is the basic case: the higher device knows the lower
// one's address, the lower one only its ID. One session forms on each side;
// messages and requests flow both ways.
func TestSessionPair(t *testing.T) {
	checkGoroutines(t)
	keys := sortedKeys(t, 2)
	big := func(c *Config) { c.MaxRequestsInFlight = 256 }
	a := startHost(t, keys[0], "alpha", bothLoopback, big)
	b := startHost(t, keys[1], "beta", bothLoopback, big)
	a.SetDevices([]Device{b.device(false)})
	b.SetDevices([]Device{a.device(true)})

	sa := a.waitSession(t, b.ID())
	sb := b.waitSession(t, a.ID())
	if got := sa.Hello().GetDeviceName(); got != "beta" {
		t.Errorf("alpha sees name %q", got)
	}
	if got := sb.Hello().GetDeviceName(); got != "alpha" {
		t.Errorf("beta sees name %q", got)
	}
	// QUIC is dialled first, but TCP follows 30 ms later on private
	// addresses (libp2p's dial ranker), and wins on a loaded machine.
	if sa.Transport() != sb.Transport() || (sa.Transport() != "quic" && sa.Transport() != "tcp") {
		t.Errorf("transports %q and %q", sa.Transport(), sb.Transport())
	}
	if sa.RemoteAddr() == "" || sa.Since().IsZero() || sa.Err() != nil {
		t.Errorf("session state: addr %q since %v err %v", sa.RemoteAddr(), sa.Since(), sa.Err())
	}

	// Messages both ways, in order.
	const nMsgs = 100
	ctx := context.Background()
	var wg sync.WaitGroup
	for _, s := range []*Session{sa, sb} {
		wg.Go(func() {
			for i := range nMsgs {
				if err := s.Send(ctx, indexMsg(i)); err != nil {
					t.Errorf("send: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	for _, x := range []struct {
		to   *testHost
		from identity.DeviceID
	}{{a, b.ID()}, {b, a.ID()}} {
		waitFor(t, "messages", func() bool { return len(x.to.rec.messages(x.from)) == nMsgs })
		for i, m := range x.to.rec.messages(x.from) {
			if got := m.GetIndex().GetLastSequence(); got != int64(i) {
				t.Fatalf("%s: message %d has sequence %d", x.to.rec.name, i, got)
			}
		}
	}

	// 200 requests in flight at once: beta answers none until all arrived.
	const nReqs = 200
	var arrived atomic.Int32
	all := make(chan struct{})
	b.rec.onRequest(func(ctx context.Context, s *Session, r *wire.Request) *wire.Response {
		if arrived.Add(1) == nReqs {
			close(all)
		}
		select {
		case <-all:
		case <-ctx.Done():
		}
		return &wire.Response{Data: r.GetHash()}
	})
	rctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	for i := range nReqs {
		wg.Go(func() {
			req := validReq(string(binary.BigEndian.AppendUint32(nil, uint32(i))))
			want := req.Hash
			resp, err := sa.Request(rctx, req)
			if err != nil {
				t.Errorf("request %d: %v", i, err)
				return
			}
			if resp.GetId() != req.GetId() || !bytes.Equal(resp.GetData(), want) {
				t.Errorf("request %d (id %d): response id %d data %x code %v", i, req.GetId(), resp.GetId(), resp.GetData(), resp.GetCode())
			}
		})
	}
	wg.Wait()

	if n := a.rec.connectedTo(b.ID()); n != 1 {
		t.Errorf("alpha connected %d times", n)
	}
	if n := b.rec.connectedTo(a.ID()); n != 1 {
		t.Errorf("beta connected %d times", n)
	}
	if a.Session(b.ID()) != sa || b.Session(a.ID()) != sb {
		t.Errorf("sessions changed")
	}
}

// TestSingleTransport: both devices listen on one transport only.
func TestSingleTransport(t *testing.T) {
	checkGoroutines(t)
	for _, tc := range []struct{ name, listen string }{
		{"quic", quicLoopback},
		{"tcp", tcpLoopback},
	} {
		t.Run(tc.name, func(t *testing.T) {
			keys := sortedKeys(t, 2)
			a := startHost(t, keys[0], "alpha", []string{tc.listen})
			b := startHost(t, keys[1], "beta", []string{tc.listen})
			a.SetDevices([]Device{b.device(true)})
			b.SetDevices([]Device{a.device(false)})
			s := a.waitSession(t, b.ID())
			if s.Transport() != tc.name {
				t.Errorf("transport %q, want %s", s.Transport(), tc.name)
			}
			a.roundTrip(t, b.ID())
			b.roundTrip(t, a.ID())
		})
	}
}

// TestRequestInConnected: Connected may wait for a Response, and the peer's
// messages reach Message only after Connected returned.
func TestRequestInConnected(t *testing.T) {
	checkGoroutines(t)
	keys := sortedKeys(t, 2)
	a := startHost(t, keys[0], "alpha", bothLoopback)
	b := startHost(t, keys[1], "beta", bothLoopback)
	var got atomic.Pointer[wire.Response]
	var msgsBefore atomic.Int32
	for _, h := range []*testHost{a, b} {
		h.rec.mu.Lock()
		h.rec.onConnect = func(s *Session) {
			if err := s.Send(context.Background(), indexMsg(0)); err != nil {
				t.Errorf("send: %v", err)
			}
			resp, err := s.Request(context.Background(), validReq("hello"))
			if err != nil {
				t.Errorf("request in Connected: %v", err)
				return
			}
			got.Store(resp)
			msgsBefore.Add(int32(len(h.rec.messages(s.ID()))))
		}
		h.rec.mu.Unlock()
	}
	a.SetDevices([]Device{b.device(true)})
	b.SetDevices([]Device{a.device(false)})
	waitFor(t, "messages", func() bool {
		return len(a.rec.messages(b.ID())) == 1 && len(b.rec.messages(a.ID())) == 1
	})
	if r := got.Load(); r == nil || string(r.GetData()[:5]) != "hello" {
		t.Errorf("response %v", r)
	}
	if n := msgsBefore.Load(); n != 0 {
		t.Errorf("%d messages delivered before Connected returned", n)
	}
}

func TestThreeDevices(t *testing.T) {
	checkGoroutines(t)
	keys := sortedKeys(t, 3)
	hosts := make([]*testHost, 3)
	for i, k := range keys {
		hosts[i] = startHost(t, k, fmt.Sprint("host", i), bothLoopback)
	}
	for i, h := range hosts {
		var devs []Device
		for j, o := range hosts {
			if i != j {
				devs = append(devs, o.device(i < j)) // each knows the addresses of later ones
			}
		}
		h.SetDevices(devs)
	}
	for _, h := range hosts {
		for _, o := range hosts {
			if h != o {
				h.roundTrip(t, o.ID())
			}
		}
	}
}

func TestUnknownDevice(t *testing.T) {
	checkGoroutines(t)
	keys := sortedKeys(t, 2)
	for _, tc := range []struct {
		name                   string
		victimKey, strangerKey *identity.Key
	}{
		{"stranger lower", keys[1], keys[0]},
		{"stranger higher", keys[0], keys[1]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			victim := startHost(t, tc.victimKey, "victim", bothLoopback)
			stranger := startHost(t, tc.strangerKey, "stranger", bothLoopback)
			stranger.SetDevices([]Device{victim.device(true)})
			var got Refused
			waitFor(t, "refusal", func() bool {
				for _, r := range victim.Refused() {
					if r.ID == stranger.ID() {
						got = r
						return r.Attempts >= 2
					}
				}
				return false
			})
			if got.Addr == "" || got.LastSeen.IsZero() {
				t.Errorf("refused entry %+v", got)
			}
			if _, err := ma.NewMultiaddr(got.Addr); err != nil {
				t.Errorf("refused address %q: %v", got.Addr, err)
			}
			if victim.Session(stranger.ID()) != nil || stranger.Session(victim.ID()) != nil {
				t.Errorf("a session formed")
			}
			if c, _ := victim.rec.counts(); c != 0 || len(victim.rec.messages(stranger.ID())) != 0 {
				t.Errorf("victim handler saw %d connects", c)
			}
			if c, _ := stranger.rec.counts(); c != 0 {
				t.Errorf("stranger handler saw %d connects", c)
			}
		})
	}
}

func TestRefusedListBounded(t *testing.T) {
	var l refusedList
	l.m = make(map[identity.DeviceID]*Refused)
	keys := sortedKeys(t, maxRefused+10)
	now := time.Now()
	for i, k := range keys {
		l.add(k.ID(), "/ip4/192.0.2.1/tcp/1", now.Add(time.Duration(i)*time.Second))
	}
	if n := l.add(keys[len(keys)-1].ID(), "x", now.Add(time.Hour)); n != 2 {
		t.Errorf("attempts %d, want 2", n)
	}
	if len(l.m) != maxRefused {
		t.Fatalf("%d entries, want %d", len(l.m), maxRefused)
	}
	for _, k := range keys[:10] {
		if l.m[k.ID()] != nil {
			t.Errorf("oldest entry %s kept", k.ID().Short())
		}
	}
}

// TestReconnect restarts beta on the ports it had; alpha, which alone knows
// the address, notices the session ending and dials again.
func TestReconnect(t *testing.T) {
	checkGoroutines(t)
	keys := sortedKeys(t, 2)
	for _, tc := range []struct {
		name        string
		alpha, beta *identity.Key
	}{
		{"dialer higher", keys[1], keys[0]},
		{"dialer lower", keys[0], keys[1]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := startHost(t, tc.alpha, "alpha", bothLoopback)
			b1, err := New(Config{Key: tc.beta, Listen: bothLoopback, DeviceName: "beta1", Handler: newRecorder("beta1"), Logger: testLogger(t, "beta1")})
			if err != nil {
				t.Fatal(err)
			}
			served := make(chan error, 1)
			go func() { served <- b1.Serve(context.Background()) }()
			b1.SetDevices([]Device{a.device(false)})
			a.SetDevices([]Device{{ID: b1.ID(), Addrs: b1.Addrs()}})
			first := a.waitSession(t, b1.ID())
			waitFor(t, "beta1's session", func() bool { return b1.Session(a.ID()) != nil })

			var listen []string
			for _, s := range b1.Addrs() {
				addr, _ := peer.SplitAddr(ma.StringCast(s))
				listen = append(listen, addr.String())
			}
			if err := b1.Close(); err != nil {
				t.Fatal(err)
			}
			if err := <-served; err != nil {
				t.Fatalf("Serve: %v", err)
			}
			waitFor(t, "alpha's disconnect", func() bool { _, d := a.rec.counts(); return d == 1 })
			var ce *CloseError
			if err := a.rec.lastDisconnect(); !errors.As(err, &ce) || !ce.Remote || ce.Reason != reasonShutdown {
				t.Errorf("alpha's session ended with %v", err)
			}

			b2 := startHost(t, tc.beta, "beta2", listen)
			b2.SetDevices([]Device{a.device(false)})
			second := a.waitSession(t, b2.ID())
			if second == first || second.Hello().GetDeviceName() != "beta2" {
				t.Fatalf("no new session")
			}
			a.roundTrip(t, b2.ID())
			b2.roundTrip(t, a.ID())
		})
	}
}

func TestSessionClose(t *testing.T) {
	checkGoroutines(t)
	keys := sortedKeys(t, 2)
	a := startHost(t, keys[0], "alpha", bothLoopback)
	b := startHost(t, keys[1], "beta", bothLoopback)
	a.SetDevices([]Device{b.device(true)})
	b.SetDevices([]Device{a.device(false)})
	sa := a.waitSession(t, b.ID())

	// A request stuck in beta's handler fails when the session closes.
	stuck := make(chan struct{})
	b.rec.onRequest(func(ctx context.Context, s *Session, r *wire.Request) *wire.Response {
		close(stuck)
		<-ctx.Done()
		return nil
	})
	errc := make(chan error, 1)
	go func() {
		_, err := sa.Request(context.Background(), validReq("x"))
		errc <- err
	}()
	<-stuck
	sa.Close("bye")
	sa.Close("again") // idempotent
	if err := <-errc; !errors.Is(err, ErrSessionClosed) {
		t.Errorf("pending request: %v", err)
	}
	<-sa.Done()
	var ce *CloseError
	if !errors.As(sa.Err(), &ce) || ce.Remote || ce.Reason != "bye" {
		t.Errorf("local session ended with %v", sa.Err())
	}
	if err := sa.Send(context.Background(), indexMsg(1)); !errors.Is(err, ErrSessionClosed) {
		t.Errorf("send after close: %v", err)
	}
	waitFor(t, "beta's disconnect", func() bool { _, d := b.rec.counts(); return d == 1 })
	if err := b.rec.lastDisconnect(); !errors.As(err, &ce) || !ce.Remote || ce.Reason != "bye" {
		t.Errorf("beta's session ended with %v", err)
	}
	// Alpha, the lower device, opens a new session by itself.
	b.rec.onRequest(nil)
	waitFor(t, "a new session", func() bool { s := a.Session(b.ID()); return s != nil && s != sa })
	a.roundTrip(t, b.ID())
}

func TestBusy(t *testing.T) {
	checkGoroutines(t)
	keys := sortedKeys(t, 2)
	a := startHost(t, keys[0], "alpha", bothLoopback)
	b := startHost(t, keys[1], "beta", bothLoopback, func(c *Config) { c.MaxRequestsInFlight = 2 })
	a.SetDevices([]Device{b.device(true)})
	b.SetDevices([]Device{a.device(false)})
	sa := a.waitSession(t, b.ID())

	var running atomic.Int32
	release := make(chan struct{})
	b.rec.onRequest(func(ctx context.Context, s *Session, r *wire.Request) *wire.Response {
		running.Add(1)
		<-release
		return &wire.Response{Data: []byte("ok")}
	})
	type result struct {
		resp *wire.Response
		err  error
	}
	results := make(chan result, 3)
	for range 2 {
		go func() {
			resp, err := sa.Request(context.Background(), validReq("x"))
			results <- result{resp, err}
		}()
	}
	waitFor(t, "two running requests", func() bool { return running.Load() == 2 })
	resp, err := sa.Request(context.Background(), validReq("x"))
	if err != nil || resp.GetCode() != wire.ErrorCode_ERROR_CODE_BUSY {
		t.Fatalf("third request: %v, code %v", err, resp.GetCode())
	}
	close(release)
	for range 2 {
		r := <-results
		if r.err != nil || string(r.resp.GetData()) != "ok" {
			t.Errorf("request: %v %v", r.err, r.resp)
		}
	}
}

// TestRemoveDevice: a removed device's session closes with a reason and
// its later attempts are refused.
func TestRemoveDevice(t *testing.T) {
	checkGoroutines(t)
	keys := sortedKeys(t, 2)
	a := startHost(t, keys[0], "alpha", bothLoopback)
	b := startHost(t, keys[1], "beta", bothLoopback)
	a.SetDevices([]Device{b.device(false)})
	b.SetDevices([]Device{a.device(true)})
	a.waitSession(t, b.ID())
	b.waitSession(t, a.ID())

	a.SetDevices(nil)
	waitFor(t, "alpha's disconnect", func() bool { _, d := a.rec.counts(); return d == 1 })
	waitFor(t, "beta's disconnect", func() bool { _, d := b.rec.counts(); return d == 1 })
	var ce *CloseError
	if err := b.rec.lastDisconnect(); !errors.As(err, &ce) || !ce.Remote || ce.Reason != reasonRemoved {
		t.Errorf("beta's session ended with %v", err)
	}
	waitFor(t, "refusals", func() bool {
		for _, r := range a.Refused() {
			if r.ID == b.ID() {
				return r.Attempts >= 2
			}
		}
		return false
	})
	if a.Session(b.ID()) != nil || b.Session(a.ID()) != nil {
		t.Errorf("session re-formed")
	}
	if c := a.rec.connectedTo(b.ID()); c != 1 {
		t.Errorf("alpha connected %d times", c)
	}

	// Allowed again, it connects again and leaves the refused list.
	a.SetDevices([]Device{b.device(false)})
	a.roundTrip(t, b.ID())
	for _, r := range a.Refused() {
		if r.ID == b.ID() {
			t.Errorf("beta still listed as refused")
		}
	}
}

func TestConfigErrors(t *testing.T) {
	k, _ := identity.Generate()
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"no key", Config{Handler: newRecorder("x")}},
		{"no handler", Config{Key: k}},
		{"bad listen", Config{Key: k, Handler: newRecorder("x"), Listen: []string{"udp://1.2.3.4:5"}}},
		{"long name", Config{Key: k, Handler: newRecorder("x"), DeviceName: string(make([]byte, 65))}},
		{"negative limit", Config{Key: k, Handler: newRecorder("x"), MaxRequestsInFlight: -1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if h, err := New(tc.cfg); err == nil {
				h.Close()
				t.Fatal("no error")
			}
		})
	}
}

func TestServeAfterClose(t *testing.T) {
	checkGoroutines(t)
	k, _ := identity.Generate()
	h, err := New(Config{Key: k, Handler: newRecorder("x"), Logger: testLogger(t, "x")})
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Addrs()) != 0 {
		t.Errorf("listening on %v", h.Addrs())
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	if err := h.Serve(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Serve after Close: %v", err)
	}
}

func TestMetricsRegisterer(t *testing.T) {
	checkGoroutines(t)
	reg := prometheus.NewRegistry()
	keys := sortedKeys(t, 2)
	withMetrics := func(c *Config) { c.Metrics = reg }
	a := startHost(t, keys[0], "alpha", bothLoopback, withMetrics)
	b := startHost(t, keys[1], "beta", bothLoopback, withMetrics) // a second host on the same registry
	a.SetDevices([]Device{b.device(true)})
	b.SetDevices([]Device{a.device(false)})
	a.roundTrip(t, b.ID())
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	if len(mfs) == 0 {
		t.Fatal("no libp2p metrics registered")
	}
}
