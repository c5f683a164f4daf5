package transport

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoalsync/shoal/crypto/identity"
	"github.com/shoalsync/shoal/transport/wire"
)

var (
	quicLoopback = "quic://127.0.0.1:0"
	tcpLoopback  = "tcp://127.0.0.1:0"
	bothLoopback = []string{quicLoopback, tcpLoopback}
)

// checkGoroutines fails the test if, after all later cleanups (the hosts'
// Close), more goroutines run than when it was called. Call it first.
func checkGoroutines(t testing.TB) {
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(10 * time.Second)
		for {
			n := runtime.NumGoroutine()
			if n <= before {
				return
			}
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				buf = buf[:runtime.Stack(buf, true)]
				t.Errorf("%d goroutines left running, %d before the test:\n%s", n, before, buf)
				return
			}
			time.Sleep(20 * time.Millisecond) // polling, not waiting for an event
		}
	})
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// sortedKeys returns n device keys in ascending ID order.
func sortedKeys(t testing.TB, n int) []*identity.Key {
	keys := make([]*identity.Key, n)
	for i := range keys {
		k, err := identity.Generate()
		if err != nil {
			t.Fatal(err)
		}
		keys[i] = k
	}
	slices.SortFunc(keys, func(a, b *identity.Key) int { return strings.Compare(string(a.ID()), string(b.ID())) })
	return keys
}

// recorder is a Handler that records what it sees.
type recorder struct {
	name string

	mu           sync.Mutex
	request      func(ctx context.Context, s *Session, r *wire.Request) *wire.Response
	onConnect    func(s *Session)
	connected    []*Session
	disconnected []error
	events       []string // "connect ID" and "disconnect ID", in order
	msgs         map[identity.DeviceID][]*wire.Message
}

func newRecorder(name string) *recorder {
	return &recorder{name: name, msgs: make(map[identity.DeviceID][]*wire.Message)}
}

func (r *recorder) Connected(s *Session) {
	r.mu.Lock()
	r.connected = append(r.connected, s)
	r.events = append(r.events, "connect "+s.ID().Short())
	f := r.onConnect
	r.mu.Unlock()
	if f != nil {
		f(s)
	}
}

func (r *recorder) Disconnected(s *Session, err error) {
	r.mu.Lock()
	r.disconnected = append(r.disconnected, err)
	r.events = append(r.events, "disconnect "+s.ID().Short())
	r.mu.Unlock()
}

func (r *recorder) Message(s *Session, m *wire.Message) {
	r.mu.Lock()
	r.msgs[s.ID()] = append(r.msgs[s.ID()], m)
	r.mu.Unlock()
}

// onRequest sets the function answering requests; nil echoes the hash.
func (r *recorder) onRequest(f func(ctx context.Context, s *Session, r *wire.Request) *wire.Response) {
	r.mu.Lock()
	r.request = f
	r.mu.Unlock()
}

func (r *recorder) Request(ctx context.Context, s *Session, req *wire.Request) *wire.Response {
	r.mu.Lock()
	f := r.request
	r.mu.Unlock()
	if f != nil {
		return f(ctx, s, req)
	}
	return &wire.Response{Data: req.GetHash()}
}

func (r *recorder) counts() (connected, disconnected int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.connected), len(r.disconnected)
}

func (r *recorder) connectedTo(id identity.DeviceID) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, s := range r.connected {
		if s.ID() == id {
			n++
		}
	}
	return n
}

func (r *recorder) messages(id identity.DeviceID) []*wire.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.msgs[id])
}

func (r *recorder) eventLog() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events)
}

func (r *recorder) lastDisconnect() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.disconnected) == 0 {
		return nil
	}
	return r.disconnected[len(r.disconnected)-1]
}

// testLogger logs to the test output; SHOAL_TEST_DEBUG=1 adds debug logs.
func testLogger(t testing.TB, name string) *slog.Logger {
	level := slog.LevelInfo
	if os.Getenv("SHOAL_TEST_DEBUG") != "" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: level})).With(slog.String("host", name))
}

// testHost is a running Host.
type testHost struct {
	*Host
	rec *recorder
}

type hostOpt func(*Config)

// startHost creates a host with a recorder and runs Serve until the test
// ends.
func startHost(t testing.TB, key *identity.Key, name string, listen []string, opts ...hostOpt) *testHost {
	t.Helper()
	rec := newRecorder(name)
	cfg := Config{
		Key:           key,
		Listen:        listen,
		DeviceName:    name,
		ClientVersion: "test",
		Handler:       rec,
		Logger:        testLogger(t, name),
		ReconnectMin:  50 * time.Millisecond,
		ReconnectMax:  500 * time.Millisecond,
	}
	for _, o := range opts {
		o(&cfg)
	}
	h, err := New(cfg)
	if err != nil {
		t.Fatalf("starting host %s: %v", name, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- h.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("Serve of %s: %v", name, err)
		}
	})
	return &testHost{Host: h, rec: rec}
}

// device returns the Device entry for h, with its addresses if withAddrs.
func (h *testHost) device(withAddrs bool) Device {
	d := Device{ID: h.ID()}
	if withAddrs {
		d.Addrs = h.Addrs()
	}
	return d
}

// waitSession waits until h has a session with id.
func (h *testHost) waitSession(t testing.TB, id identity.DeviceID) *Session {
	t.Helper()
	var s *Session
	waitFor(t, fmt.Sprintf("session %s → %s", h.ID().Short(), id.Short()), func() bool {
		s = h.Session(id)
		return s != nil
	})
	return s
}

// roundTrip checks that a Request from h to id is answered.
func (h *testHost) roundTrip(t testing.TB, id identity.DeviceID) {
	t.Helper()
	s := h.waitSession(t, id)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req := validReq("ping")
	want := req.Hash
	resp, err := s.Request(ctx, req)
	if err != nil {
		t.Fatalf("request %s → %s: %v", h.ID().Short(), id.Short(), err)
	}
	if !bytes.Equal(resp.GetData(), want) {
		t.Fatalf("request %s → %s: got %q, code %v", h.ID().Short(), id.Short(), resp.GetData(), resp.GetCode())
	}
}

func indexMsg(seq int) *wire.Message {
	return &wire.Message{Payload: &wire.Message_Index{Index: &wire.Index{Folder: "f", IndexId: 1, LastSequence: int64(seq)}}}
}

// validReq returns a valid Request whose hash starts with tag.
func validReq(tag string) *wire.Request {
	h := make([]byte, wire.HashSize)
	copy(h, tag)
	return &wire.Request{Folder: "f", Hash: h, Size: 1}
}
