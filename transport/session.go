package transport

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shoalsync/shoal/crypto/identity"
	"github.com/shoalsync/shoal/transport/wire"
)

var (
	// ErrSessionClosed is returned by Send and Request on a session that
	// has ended; the error also wraps Session.Err.
	ErrSessionClosed = errors.New("transport: session closed")
	// ErrProtocol marks a session ended because the peer broke the
	// protocol.
	ErrProtocol = errors.New("transport: protocol violation")
)

// CloseError is Session.Err for a session ended by a Close, sent by us
// (Remote false) or by the peer.
type CloseError struct {
	Remote bool
	Reason string
}

func (e *CloseError) Error() string {
	if e.Remote {
		return "transport: closed by peer: " + e.Reason
	}
	return "transport: closed: " + e.Reason
}

// Reasons for local closes.
const (
	reasonShutdown = "shutting down"
	reasonReplaced = "replaced by a new session"
	reasonRemoved  = "device removed"
)

// stream is what a session needs of a libp2p stream; tests use net.Pipe.
type stream interface {
	io.ReadWriteCloser
	Reset() error
	CloseWrite() error
	SetDeadline(time.Time) error
	SetWriteDeadline(time.Time) error
}

// Session is the sync session with one device. See the package
// documentation for its goroutines.
type Session struct {
	id         identity.DeviceID
	remoteAddr string
	transport  string
	path       string // PathLAN, PathDirect or PathRelayed; "" for tests' pipes
	log        *slog.Logger
	handler    Handler

	st stream
	br *bufio.Reader

	hello *wire.Hello // the peer's, set by handshake
	nonce []byte      // the nonce of our Hello, set by handshake
	since time.Time   // set by handshake

	ctx    context.Context // cancelled, with Err as cause, when the session ends
	cancel context.CancelCauseFunc

	live     atomic.Bool   // set when Handler.Connected is called
	bytesIn  atomic.Int64  // stream bytes read
	bytesOut atomic.Int64  // stream bytes written
	wmu      chan struct{} // one slot: held while writing a frame
	nextID   atomic.Uint64

	pmu     sync.Mutex
	pending map[uint64]chan *wire.Response // Requests awaiting a Response

	connected chan struct{}      // closed when Handler.Connected returned; made by serve
	msgs      chan *wire.Message // reader → dispatcher
	reqs      chan struct{}      // one slot per running Handler.Request
	busy      chan uint64        // ids to answer BUSY

	wg       sync.WaitGroup // dispatcher, workers, busy, closer
	readDone chan struct{}  // closed when the reader stops
	finished chan struct{}  // closed by the host once Disconnected returned
}

func newSession(st stream, id identity.DeviceID, remoteAddr, transport string, h Handler, log *slog.Logger, maxRequests int) *Session {
	ctx, cancel := context.WithCancelCause(context.Background())
	sess := &Session{
		id:         id,
		remoteAddr: remoteAddr,
		transport:  transport,
		log:        log.With(id.LogAttr()),
		handler:    h,
		st:         st,
		br:         nil, // set below: it counts what it reads
		ctx:        ctx,
		cancel:     cancel,
		wmu:        make(chan struct{}, 1),
		pending:    make(map[uint64]chan *wire.Response),
		msgs:       make(chan *wire.Message, messageQueue),
		reqs:       make(chan struct{}, maxRequests),
		busy:       make(chan uint64, busyQueue),
		readDone:   make(chan struct{}),
		finished:   make(chan struct{}),
	}
	sess.br = bufio.NewReaderSize(countingReader{st, &sess.bytesIn}, 64<<10)
	return sess
}

// Binding returns the nonces of this session's two Hellos: ours and the
// peer's. Membership proofs are bound to them.
func (s *Session) Binding() (local, remote []byte) { return s.nonce, s.hello.GetNonce() }

// ID returns the peer's device ID.
func (s *Session) ID() identity.DeviceID { return s.id }

// Hello returns the peer's Hello.
func (s *Session) Hello() *wire.Hello { return s.hello }

// RemoteAddr returns the multiaddr of the connection carrying the session.
func (s *Session) RemoteAddr() string { return s.remoteAddr }

// Transport returns "quic" or "tcp".
func (s *Session) Transport() string { return s.transport }

// Path returns how the session is connected: PathLAN, PathDirect or
// PathRelayed.
func (s *Session) Path() string { return s.path }

// Since returns when the Hellos were exchanged.
func (s *Session) Since() time.Time { return s.since }

// Done is closed when the session has ended.
func (s *Session) Done() <-chan struct{} { return s.ctx.Done() }

// Err returns why the session ended, nil while it runs: a *CloseError, an
// error wrapping ErrProtocol, or the I/O error that ended the stream.
func (s *Session) Err() error {
	if s.ctx.Err() == nil {
		return nil
	}
	return context.Cause(s.ctx)
}

// Close ends the session, sending Close with reason to the peer. It does not
// wait for the session's goroutines; Done is closed when it returns.
func (s *Session) Close(reason string) {
	s.end(&CloseError{Reason: reason})
}

// end ends the session with cause unless it has already ended.
func (s *Session) end(cause error) { s.cancel(cause) }

func (s *Session) closedErr() error {
	return fmt.Errorf("%w: %w", ErrSessionClosed, s.Err())
}

// Send writes m to the peer. It is safe for concurrent use; frames are
// written one at a time. ctx bounds the wait for earlier frames, not the
// write itself, which ends the session if it stalls for 2 minutes. A message
// that fails wire.Validate (the peer would close the session over it) is
// not sent; the error wraps wire.ErrInvalid.
func (s *Session) Send(ctx context.Context, m *wire.Message) error {
	if err := wire.Validate(m); err != nil {
		return fmt.Errorf("sending %T: %w", m.GetPayload(), err)
	}
	return s.write(ctx, m)
}

// Request sends r with a fresh r.Id and waits for the matching Response.
// Many may be in flight; it fails when ctx is done or the session ends. r
// must pass wire.ValidateRequest. The Response has passed
// wire.ValidateResponse; checking its data against r is the caller's job.
// A peer answers ERROR_CODE_BUSY when it already serves as many requests as
// it allows; retry those after a pause.
func (s *Session) Request(ctx context.Context, r *wire.Request) (*wire.Response, error) {
	id := s.nextID.Add(1)
	r.Id = id
	if err := wire.ValidateRequest(r); err != nil {
		return nil, fmt.Errorf("sending request: %w", err)
	}
	ch := make(chan *wire.Response, 1)
	s.pmu.Lock()
	if s.ctx.Err() != nil {
		s.pmu.Unlock()
		return nil, s.closedErr()
	}
	s.pending[id] = ch
	s.pmu.Unlock()
	defer func() {
		s.pmu.Lock()
		delete(s.pending, id)
		s.pmu.Unlock()
	}()
	if err := s.write(ctx, &wire.Message{Payload: &wire.Message_Request{Request: r}}); err != nil {
		return nil, err
	}
	select {
	case resp := <-ch:
		return resp, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-s.ctx.Done():
		return nil, s.closedErr()
	}
}

// write writes one frame unless the session has ended.
func (s *Session) write(ctx context.Context, m *wire.Message) error {
	select {
	case s.wmu <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	case <-s.ctx.Done():
		return s.closedErr()
	}
	defer func() { <-s.wmu }()
	if s.ctx.Err() != nil {
		return s.closedErr()
	}
	err := s.writeLocked(m, writeTimeout)
	if err != nil && s.ctx.Err() != nil {
		return s.closedErr()
	}
	return err
}

// writeLocked writes one frame; the caller holds wmu. Each chunk of the
// frame must be written within timeout. An error after bytes went out
// leaves the stream unusable, so it ends the session.
func (s *Session) writeLocked(m *wire.Message, timeout time.Duration) error {
	w := &chunkWriter{st: s.st, timeout: timeout, n: &s.bytesOut}
	err := wire.Write(w, m)
	if err != nil && w.used {
		err = fmt.Errorf("writing to peer: %w", err)
		s.end(err)
	}
	return err
}

// writeChunk is how much of a frame must go out within the write timeout:
// at 2 KB/s it still does.
const writeChunk = 256 << 10

// chunkWriter writes in chunks, renewing the write deadline for each, and
// records whether it was used, which tells encoding errors (stream intact)
// from I/O errors.
type chunkWriter struct {
	st      stream
	timeout time.Duration
	used    bool
	n       *atomic.Int64 // bytes written, for BytesOut
}

func (w *chunkWriter) Write(p []byte) (int, error) {
	w.used = true
	n := 0
	for len(p) > 0 {
		c := min(len(p), writeChunk)
		if err := w.st.SetWriteDeadline(time.Now().Add(w.timeout)); err != nil {
			return n, err
		}
		k, err := w.st.Write(p[:c])
		n += k
		w.n.Add(int64(k))
		if err != nil {
			return n, err
		}
		p = p[c:]
	}
	return n, nil
}

// BytesIn returns the bytes read from the session's stream so far.
func (s *Session) BytesIn() int64 { return s.bytesIn.Load() }

// BytesOut returns the bytes written to the session's stream so far.
func (s *Session) BytesOut() int64 { return s.bytesOut.Load() }

// countingReader counts the bytes read through it.
type countingReader struct {
	r interface{ Read([]byte) (int, error) }
	n *atomic.Int64
}

func (c countingReader) Read(p []byte) (int, error) {
	k, err := c.r.Read(p)
	c.n.Add(int64(k))
	return k, err
}
