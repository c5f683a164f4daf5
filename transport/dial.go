package transport

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/shoalsync/shoal/crypto/identity"
)

var (
	errNoAddrs      = errors.New("no known addresses")
	errAwaitingPeer = errors.New("connected; waiting for the peer to open the session")
)

// SetDevices replaces the allowlist and the static addresses. Sessions with
// devices no longer listed are closed and their connections dropped; from
// then on they are refused. Addresses that do not parse, or that name
// another device in /p2p/, are logged and skipped.
func (h *Host) SetDevices(devs []Device) {
	next := make(map[identity.DeviceID][]ma.Multiaddr, len(devs))
	for _, d := range devs {
		if _, err := identity.FromBytes(d.ID.Bytes()); err != nil || d.ID == h.id {
			h.log.Warn("Ignoring device", slog.String("deviceId", d.ID.String()), slog.Any("error", err))
			continue
		}
		addrs := next[d.ID]
		for _, s := range d.Addrs {
			a, err := ParseAddr(s)
			if err != nil {
				h.log.Warn("Ignoring device address", d.ID.LogAttr(), slog.Any("error", err))
				continue
			}
			tpt, id := peer.SplitAddr(a)
			if (id != "" && id != peer.ID(d.ID)) || len(tpt) == 0 {
				h.log.Warn("Ignoring device address", d.ID.LogAttr(), slog.String("addr", s),
					slog.String("error", "it names another device or has no transport part"))
				continue
			}
			addrs = append(addrs, tpt)
		}
		next[d.ID] = addrs
	}

	var added, removed []identity.DeviceID
	var closing []*Session
	h.mu.Lock()
	prev := h.mu.devices
	h.mu.devices = next
	for id := range prev {
		if _, ok := next[id]; ok {
			continue
		}
		removed = append(removed, id)
		if s := h.mu.sessions[id]; s != nil {
			closing = append(closing, s)
		}
		if d := h.mu.dialers[id]; d != nil {
			d.cancel()
			delete(h.mu.dialers, id)
		}
	}
	for id := range next {
		if _, ok := prev[id]; !ok {
			added = append(added, id)
		}
		if h.mu.serving && !h.mu.closed {
			h.startDialerLocked(id)
		}
	}
	h.mu.Unlock()

	h.refused.forget(added)
	cm := h.p2p.ConnManager()
	for _, id := range added {
		cm.Protect(peer.ID(id), protectTag)
	}
	for _, s := range closing {
		s.end(&CloseError{Reason: reasonRemoved})
	}
	for _, id := range removed {
		cm.Unprotect(peer.ID(id), protectTag)
	}
	if len(removed) > 0 && h.track() {
		// Drop connections once the sessions have sent their Close.
		go func() {
			defer h.wg.Done()
			for _, s := range closing {
				<-s.finished
			}
			for _, id := range removed {
				if !h.allowed(id) {
					h.p2p.Network().ClosePeer(peer.ID(id))
				}
			}
		}()
	}
}

// dialer is the handle of one device's dial loop.
type dialer struct {
	kickc  chan struct{}
	cancel context.CancelFunc
}

// kick wakes the dial loop early; it never blocks.
func (d *dialer) kick() {
	if d == nil {
		return
	}
	select {
	case d.kickc <- struct{}{}:
	default:
	}
}

// kick wakes a device's dial loop, if it has one.
func (h *Host) kick(id identity.DeviceID) {
	h.mu.Lock()
	d := h.mu.dialers[id]
	h.mu.Unlock()
	d.kick()
}

// startDialerLocked starts a device's dial loop, or kicks the running one.
func (h *Host) startDialerLocked(id identity.DeviceID) {
	if d := h.mu.dialers[id]; d != nil {
		d.kick()
		return
	}
	ctx, cancel := context.WithCancel(h.ctx)
	d := &dialer{kickc: make(chan struct{}, 1), cancel: cancel}
	h.mu.dialers[id] = d
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		defer cancel()
		h.dialLoop(ctx, id, d.kickc)
	}()
}

// dialLoop keeps a session with one device. The lower device opens the
// session stream; the higher one only makes sure a connection exists.
func (h *Host) dialLoop(ctx context.Context, id identity.DeviceID, kick <-chan struct{}) {
	b := backoff{min: h.cfg.ReconnectMin, max: h.cfg.ReconnectMax}
	for ctx.Err() == nil {
		h.mu.Lock()
		s := h.mu.sessions[id]
		h.mu.Unlock()
		if s != nil {
			select {
			case <-s.finished:
			case <-ctx.Done():
				return
			}
			b.reset()
			h.sleep(ctx, id, kick, b.next())
			continue
		}
		err := h.connect(ctx, id)
		if err == nil && h.id < id {
			err = h.openSession(ctx, id)
		} else if err == nil {
			err = errAwaitingPeer
		}
		if err == nil || ctx.Err() != nil {
			continue
		}
		d := b.next()
		h.log.Debug("No session with device", id.LogAttr(), slog.Duration("retryIn", d), slog.Any("error", err))
		h.sleep(ctx, id, kick, d)
	}
}

// connect makes sure a connection to the device exists, dialing its static
// addresses and those in the peerstore.
func (h *Host) connect(ctx context.Context, id identity.DeviceID) error {
	p := peer.ID(id)
	if c := h.p2p.Network().Connectedness(p); c == network.Connected || c == network.Limited {
		return nil
	}
	h.mu.Lock()
	addrs := h.mu.devices[id]
	h.mu.Unlock()
	h.addRelayAddrs(p) // the fallback through our anchors, for every device
	if len(addrs) == 0 && len(h.p2p.Peerstore().Addrs(p)) == 0 {
		return errNoAddrs
	}
	if sw, ok := h.p2p.Network().(*swarm.Swarm); ok {
		sw.Backoff().Clear(p) // our own backoff paces the attempts
	}
	dctx, cancel := context.WithTimeout(network.WithAllowLimitedConn(ctx, "sync"), dialTimeout)
	defer cancel()
	if err := h.p2p.Connect(dctx, peer.AddrInfo{ID: p, Addrs: addrs}); err != nil {
		return fmt.Errorf("dialing: %w", err)
	}
	return nil
}

// openSession opens the session stream, exchanges Hellos and starts serving.
func (h *Host) openSession(ctx context.Context, id identity.DeviceID) error {
	sctx, cancel := context.WithTimeout(ctx, helloTimeout)
	// A relayed connection may be marked limited; sync runs over it all the
	// same (anchors relay without limits), until a direct one appears.
	st, err := h.p2p.NewStream(network.WithAllowLimitedConn(network.WithNoDial(sctx, "connected"), "sync"), peer.ID(id), ProtocolID)
	cancel()
	if err != nil {
		return fmt.Errorf("opening session stream: %w", err)
	}
	s := h.newSession(st)
	if err := s.handshake(h.hello); err != nil {
		s.abort(err)
		return fmt.Errorf("session handshake: %w", err)
	}
	if !h.track() {
		s.abort(&CloseError{Reason: reasonShutdown})
		return ErrClosed
	}
	if err := h.register(s); err != nil {
		h.wg.Done()
		return err
	}
	go func() {
		defer h.wg.Done()
		h.run(s)
	}()
	return nil
}

// sleep waits for d or the end of ctx. A kick ends it early only if a
// session now exists or a connection appeared since the sleep began, so
// connections that come and go (a peer refusing us) cannot defeat the
// backoff.
func (h *Host) sleep(ctx context.Context, id identity.DeviceID, kick <-chan struct{}, d time.Duration) {
	connected := func() bool { return h.p2p.Network().Connectedness(peer.ID(id)) == network.Connected }
	wasConnected := connected()
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			return
		case <-ctx.Done():
			return
		case <-kick:
			h.mu.Lock()
			s := h.mu.sessions[id]
			h.mu.Unlock()
			if s != nil || (!wasConnected && connected()) {
				return
			}
		}
	}
}

// backoff yields exponentially growing delays with jitter: each is drawn
// from [cur/2, cur], cur doubling from min to max.
type backoff struct {
	min, max, cur time.Duration
}

func (b *backoff) next() time.Duration {
	if b.cur == 0 {
		b.cur = b.min
	} else {
		b.cur = min(2*b.cur, b.max)
	}
	return b.cur/2 + rand.N(b.cur/2+1)
}

func (b *backoff) reset() { b.cur = 0 }
