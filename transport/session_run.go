package transport

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/shoalsync/shoal/transport/wire"
)

// handshake sends our Hello and reads the peer's, within helloTimeout.
func (s *Session) handshake(tmpl *wire.Hello) error {
	ours := proto.Clone(tmpl).(*wire.Hello)
	ours.Nonce = make([]byte, wire.NonceSize)
	if _, err := rand.Read(ours.Nonce); err != nil {
		return fmt.Errorf("making session nonce: %w", err)
	}
	s.nonce = ours.Nonce
	if err := s.st.SetDeadline(time.Now().Add(helloTimeout)); err != nil {
		return fmt.Errorf("setting hello deadline: %w", err)
	}
	if err := wire.Write(s.st, &wire.Message{Payload: &wire.Message_Hello{Hello: ours}}); err != nil {
		return fmt.Errorf("sending hello: %w", err)
	}
	m, err := wire.NewReader(s.br, maxHelloFrame).Read()
	if err != nil {
		if errors.Is(err, wire.ErrMalformed) || errors.Is(err, wire.ErrTooLarge) {
			err = fmt.Errorf("%w: %w", ErrProtocol, err)
		}
		return fmt.Errorf("reading hello: %w", err)
	}
	switch p := m.Payload.(type) {
	case *wire.Message_Hello:
		if err := validateHello(p.Hello); err != nil {
			return fmt.Errorf("%w: bad hello: %w", ErrProtocol, err)
		}
		s.hello = p.Hello
	case *wire.Message_Close:
		return &CloseError{Remote: true, Reason: cleanReason(p.Close.GetReason())}
	default:
		return fmt.Errorf("%w: first message is not a hello", ErrProtocol)
	}
	if err := s.st.SetDeadline(time.Time{}); err != nil {
		// Only a closed stream refuses; the next read or write tells.
		s.log.Debug("Cannot clear the hello deadline", slog.Any("error", err))
	}
	s.since = time.Now()
	return nil
}

// serve runs the session after the handshake until it ends, then waits for
// its goroutines and calls Handler.Disconnected. The caller closes finished.
// The reader starts before Handler.Connected so that Connected may wait for
// Responses; Messages wait until it has returned. Requests do not: two
// devices each requesting in Connected would wait for each other.
func (s *Session) serve() {
	s.connected = make(chan struct{})
	s.wg.Add(4)
	go s.closer()
	go s.dispatch()
	go s.answerBusy()
	s.live.Store(true)
	go func() {
		defer s.wg.Done()
		defer close(s.connected)
		s.handler.Connected(s)
	}()
	err := s.readLoop()
	close(s.readDone)
	close(s.msgs)
	if err != nil {
		s.end(err)
	}
	s.wg.Wait()
	s.handler.Disconnected(s, s.Err())
}

// abort ends a session that never served and closes its stream.
func (s *Session) abort(cause error) {
	s.end(cause)
	close(s.readDone)
	s.wg.Add(1)
	s.closer()
}

// readLoop reads frames until the session ends. It never writes and never
// waits for a worker, only for the dispatcher queue.
func (s *Session) readLoop() error {
	r := wire.NewReader(s.br, wire.MaxMessageSize)
	for {
		m, err := r.Read()
		if s.ctx.Err() != nil {
			return nil // ended locally; the read failed because of it
		}
		if err != nil {
			if errors.Is(err, wire.ErrMalformed) || errors.Is(err, wire.ErrTooLarge) {
				return fmt.Errorf("%w: %w", ErrProtocol, err)
			}
			if errors.Is(err, io.EOF) {
				return fmt.Errorf("reading from peer: stream ended without close: %w", err)
			}
			return fmt.Errorf("reading from peer: %w", err)
		}
		if r := m.GetRequest(); r != nil {
			if n := proto.Size(r); n > maxRequest {
				return fmt.Errorf("%w: request of %d bytes, limit %d", ErrProtocol, n, maxRequest)
			}
		}
		if err := wire.Validate(m); err != nil {
			return fmt.Errorf("%w: %w", ErrProtocol, err)
		}
		switch p := m.Payload.(type) {
		case *wire.Message_Response:
			s.deliver(p.Response)
		case *wire.Message_Request:
			if err := s.startRequest(p.Request); err != nil {
				return err
			}
		case *wire.Message_Close:
			return &CloseError{Remote: true, Reason: cleanReason(p.Close.GetReason())}
		case *wire.Message_Hello:
			return fmt.Errorf("%w: second hello", ErrProtocol)
		default:
			select {
			case s.msgs <- m:
			case <-s.ctx.Done():
				return nil
			}
		}
	}
}

// deliver hands a Response to the Request waiting for it.
func (s *Session) deliver(r *wire.Response) {
	s.pmu.Lock()
	ch, ok := s.pending[r.GetId()]
	delete(s.pending, r.GetId())
	s.pmu.Unlock()
	if !ok {
		s.log.Debug("Response to no pending request", slog.Uint64("requestId", r.GetId()))
		return
	}
	ch <- r // buffered, and only one Response is delivered per id
}

// startRequest runs Handler.Request on a worker, or queues a BUSY answer
// when MaxRequestsInFlight workers are running.
func (s *Session) startRequest(r *wire.Request) error {
	select {
	case s.reqs <- struct{}{}:
	default:
		select {
		case s.busy <- r.GetId():
			return nil
		default:
			return fmt.Errorf("%w: more than %d requests over the limit outstanding", ErrProtocol, busyQueue)
		}
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer func() { <-s.reqs }()
		resp := s.handler.Request(s.ctx, s, r)
		if resp == nil {
			resp = &wire.Response{Code: wire.ErrorCode_ERROR_CODE_GENERIC}
		}
		resp.Id = r.GetId()
		if err := wire.ValidateResponse(resp); err != nil {
			s.log.Warn("Handler returned an invalid response", slog.Uint64("requestId", r.GetId()), slog.Any("error", err))
			resp = &wire.Response{Id: r.GetId(), Code: wire.ErrorCode_ERROR_CODE_GENERIC}
		}
		if err := s.write(s.ctx, &wire.Message{Payload: &wire.Message_Response{Response: resp}}); err != nil && s.ctx.Err() == nil {
			s.log.Warn("Cannot send response", slog.Uint64("requestId", r.GetId()), slog.Any("error", err))
		}
	}()
	return nil
}

// answerBusy sends BUSY for requests over the limit.
func (s *Session) answerBusy() {
	defer s.wg.Done()
	for {
		select {
		case id := <-s.busy:
			m := &wire.Message{Payload: &wire.Message_Response{Response: &wire.Response{Id: id, Code: wire.ErrorCode_ERROR_CODE_BUSY}}}
			if err := s.write(s.ctx, m); err != nil {
				return
			}
		case <-s.ctx.Done():
			return
		}
	}
}

// dispatch calls Handler.Message in order, including messages read before
// the session ended.
func (s *Session) dispatch() {
	defer s.wg.Done()
	<-s.connected
	for m := range s.msgs {
		s.handler.Message(s, m)
	}
}

// closer waits for the session to end. If we ended it, it sends Close and
// half-closes the stream, then gives the peer closeTimeout to react (its
// reset ends our reader) so that the Close is read before the connection
// may be dropped, and closes the stream gracefully: a reset would discard
// the Close if it is still buffered. Otherwise it resets the stream. Either
// stops the reader.
func (s *Session) closer() {
	defer s.wg.Done()
	<-s.ctx.Done()
	reason, send := closeReason(s.Err())
	if send {
		send = false
		t := time.NewTimer(closeTimeout)
		defer t.Stop()
		select {
		case s.wmu <- struct{}{}:
			err := s.writeLocked(&wire.Message{Payload: &wire.Message_Close{Close: &wire.Close{Reason: reason}}}, closeTimeout)
			<-s.wmu
			if err == nil && s.st.CloseWrite() == nil {
				send = true
				select {
				case <-s.readDone:
				case <-t.C:
				}
			}
		case <-t.C:
		}
	}
	if send && s.st.Close() == nil {
		return
	}
	s.st.Reset()
}

// closeReason returns the Close reason to send for a session that ended with
// err, and false when no Close is sent (the peer closed or the stream
// failed).
func closeReason(err error) (string, bool) {
	var ce *CloseError
	switch {
	case errors.As(err, &ce):
		return ce.Reason, !ce.Remote
	case errors.Is(err, ErrProtocol):
		return cleanReason("protocol error: " + strings.TrimPrefix(err.Error(), ErrProtocol.Error()+": ")), true
	default:
		return "", false
	}
}

// cleanReason bounds a Close reason and makes it valid UTF-8.
func cleanReason(s string) string {
	if len(s) > maxReasonLen {
		s = s[:maxReasonLen]
	}
	return strings.ToValidUTF8(s, "?")
}
