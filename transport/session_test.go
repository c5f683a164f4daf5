package transport

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/shoalsync/shoal/crypto/identity"
	"github.com/shoalsync/shoal/transport/wire"
)

// pipeStream runs a session over one end of a net.Pipe.
type pipeStream struct{ net.Conn }

func (p pipeStream) Reset() error      { return p.Conn.Close() }
func (p pipeStream) CloseWrite() error { return p.Conn.Close() }

var testHello = &wire.Hello{ProtocolVersion: wire.ProtocolVersion, DeviceName: "peer", ClientName: ClientName, Nonce: make([]byte, wire.NonceSize)}

// pipeSession runs a session on one end of a pipe until it ends. The peer
// side writes peerBytes after its Hello, then closes; everything the session
// writes is returned. With stall, the peer reads nothing after the Hello
// until the session has ended.
func pipeSession(t testing.TB, h Handler, maxRequests int, peerBytes []byte, stall bool) (*Session, []byte, bool) {
	a, b := net.Pipe()
	dev, _ := identity.FromBytes(append([]byte{0x00, 0x24, 0x08, 0x01, 0x12, 0x20}, make([]byte, 32)...))
	s := newSession(pipeStream{a}, dev, "pipe", "pipe", h, slog.New(slog.DiscardHandler), maxRequests)
	var wg sync.WaitGroup
	var out bytes.Buffer
	wg.Go(func() {
		if stall {
			if _, err := wire.NewReader(io.TeeReader(b, &out), 0).Read(); err != nil {
				return
			}
			<-s.Done()
		}
		io.Copy(&out, b)
	})
	wg.Go(func() {
		var hello bytes.Buffer
		wire.Write(&hello, &wire.Message{Payload: &wire.Message_Hello{Hello: testHello}})
		if _, err := b.Write(append(hello.Bytes(), peerBytes...)); err == nil {
			if stall {
				<-s.Done()
			}
			b.Close()
		}
	})
	served := false
	if err := s.handshake(testHello); err != nil {
		s.abort(err)
	} else {
		served = true
		s.serve()
	}
	b.Close()
	wg.Wait()
	return s, out.Bytes(), served
}

// blockingHandler's requests wait for the session to end.
type blockingHandler struct{ *recorder }

func (blockingHandler) Request(ctx context.Context, s *Session, r *wire.Request) *wire.Response {
	<-ctx.Done()
	return nil
}

// TestBusyOverflow: a peer that keeps sending requests while we cannot even
// send BUSY answers is disconnected.
func TestBusyOverflow(t *testing.T) {
	checkGoroutines(t)
	var in bytes.Buffer
	for range 1 + 1 + busyQueue + 1 { // one running, one BUSY being written, a full queue, one more
		wire.Write(&in, &wire.Message{Payload: &wire.Message_Request{Request: validReq("x")}})
	}
	s, _, served := pipeSession(t, blockingHandler{newRecorder("x")}, 1, in.Bytes(), true)
	if !served || !errors.Is(s.Err(), ErrProtocol) || !strings.Contains(s.Err().Error(), "requests over the limit") {
		t.Fatalf("session ended with %v", s.Err())
	}
}

// TestPipeSessionEndsCleanly: a peer that sends messages then EOF.
func TestPipeSessionEndsCleanly(t *testing.T) {
	checkGoroutines(t)
	var in bytes.Buffer
	for i := range 3 {
		wire.Write(&in, indexMsg(i))
	}
	rec := newRecorder("x")
	s, out, served := pipeSession(t, rec, 4, in.Bytes(), false)
	if !served {
		t.Fatalf("not served: %v", s.Err())
	}
	if n := len(rec.messages(s.ID())); n != 3 {
		t.Errorf("%d messages delivered, want 3", n)
	}
	if c, d := rec.counts(); c != 1 || d != 1 {
		t.Errorf("connected %d, disconnected %d", c, d)
	}
	if !errors.Is(s.Err(), io.EOF) {
		t.Errorf("ended with %v", s.Err())
	}
	m, err := wire.NewReader(bytes.NewReader(out), 0).Read()
	if err != nil || m.GetHello() == nil {
		t.Errorf("first frame written: %v %v", m, err)
	}
}

// FuzzSession feeds arbitrary bytes to a session after a valid Hello: it
// must end or keep going without panicking, and call Disconnected exactly
// once after Connected.
func FuzzSession(f *testing.F) {
	frames := func(ms ...*wire.Message) []byte {
		var b bytes.Buffer
		for _, m := range ms {
			wire.Write(&b, m)
		}
		return b.Bytes()
	}
	f.Add([]byte{})
	f.Add(frames(indexMsg(1), &wire.Message{Payload: &wire.Message_Ping{Ping: &wire.Ping{}}}))
	f.Add(frames(&wire.Message{Payload: &wire.Message_Request{Request: validReq("a")}}))
	f.Add(frames(&wire.Message{Payload: &wire.Message_Response{Response: &wire.Response{Id: 7, Data: []byte{1}}}}))
	f.Add(frames(&wire.Message{Payload: &wire.Message_ClusterConfig{ClusterConfig: &wire.ClusterConfig{
		Folders: []*wire.Folder{{Id: "f", Devices: []*wire.FolderDevice{{Id: []byte("d"), IndexId: 1}}}}}}}))
	f.Add(frames(&wire.Message{Payload: &wire.Message_Close{Close: &wire.Close{Reason: "bye"}}}, indexMsg(2)))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{0, 0, 0, 3, 0x0a, 0x01})
	f.Fuzz(func(t *testing.T, data []byte) {
		rec := newRecorder("fuzz")
		s, _, served := pipeSession(t, rec, 2, data, false)
		if !served {
			t.Fatalf("handshake failed: %v", s.Err())
		}
		if s.Err() == nil {
			t.Fatal("session did not end")
		}
		if c, d := rec.counts(); c != 1 || d != 1 {
			t.Fatalf("connected %d, disconnected %d", c, d)
		}
	})
}
