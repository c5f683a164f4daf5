package transport

// Reaching devices beyond static addresses (docs/discovery.md): anchors
// (always-on nodes that relay and help with NAT traversal), relay
// reservations, dialing discovered devices, and how each session is
// connected.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/client"
	relayv2 "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/relay"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"

	"github.com/shoalsync/shoal/crypto/identity"
)

// Connection kinds reported by Session.Path.
const (
	PathLAN     = "lan"     // a direct connection to an address on one of our local networks
	PathDirect  = "direct"  // a direct connection over the internet (possibly hole-punched)
	PathRelayed = "relayed" // through an anchor's relay; still end-to-end encrypted
)

// Relay limits an anchor applies. Relayed sync carries real data, so these
// are far above libp2p's defaults (2 min, 128 KiB per circuit); the anchor's
// operator pays for the bandwidth (docs/discovery.md).
const (
	anchorMaxReservations = 4096
	anchorMaxCircuits     = 64 // per peer
	anchorReservationTTL  = time.Hour
	reserveRetryMin       = 2 * time.Second
	reserveRetryMax       = time.Minute
	relayAddrTTL          = 2 * time.Hour
)

// ParseAnchors parses anchor addresses: multiaddrs (or quic:// and tcp://
// forms) that end in /p2p/DEVICE_ID.
func ParseAnchors(ss []string) ([]peer.AddrInfo, error) {
	byID := map[peer.ID]*peer.AddrInfo{}
	var order []peer.ID
	for _, s := range ss {
		a, err := ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("anchor %q: %w", s, err)
		}
		tpt, id := peer.SplitAddr(a)
		if id == "" || tpt == nil {
			return nil, fmt.Errorf("anchor %q: the address must end in /p2p/DEVICE_ID", s)
		}
		ai := byID[id]
		if ai == nil {
			ai = &peer.AddrInfo{ID: id}
			byID[id] = ai
			order = append(order, id)
		}
		ai.Addrs = append(ai.Addrs, tpt)
	}
	out := make([]peer.AddrInfo, 0, len(order))
	for _, id := range order {
		out = append(out, *byID[id])
	}
	return out, nil
}

// networkOptions returns the libp2p options for anchors, relaying, hole
// punching and port mapping.
func (cfg Config) networkOptions(anchors []peer.AddrInfo) []libp2p.Option {
	var opts []libp2p.Option
	if cfg.Anchor {
		rc := relayv2.DefaultResources()
		rc.Limit = nil // no per-circuit time or data limit: relayed sync moves files
		rc.MaxReservations = anchorMaxReservations
		rc.MaxCircuits = anchorMaxCircuits
		rc.ReservationTTL = anchorReservationTTL
		opts = append(opts,
			libp2p.EnableRelayService(relayv2.WithResources(rc)),
			libp2p.EnableNATService(),
			// An anchor is reachable by definition; without this the relay
			// service waits for AutoNAT to say so.
			libp2p.ForceReachabilityPublic(),
		)
	}
	if len(anchors) > 0 || cfg.Anchor {
		opts = append(opts, libp2p.EnableRelay(), libp2p.EnableHolePunching(), libp2p.EnableAutoNATv2())
	} else {
		opts = append(opts, libp2p.DisableRelay())
	}
	if cfg.NATPortMap {
		opts = append(opts, libp2p.NATPortMap())
	}
	return opts
}

// open reports whether the gater admits connections with any device: on
// anchors (they serve everyone) and on hosts that run the DHT (its queries
// reach devices that are not ours). Sessions still need the allowlist.
func (h *Host) open() bool { return h.cfg.Anchor || h.cfg.OpenDial }

// IsAnchor reports whether id is one of our anchors.
func (h *Host) IsAnchor(id peer.ID) bool {
	for _, a := range h.anchors {
		if a.ID == id {
			return true
		}
	}
	return false
}

// Anchors returns the anchors this host uses.
func (h *Host) Anchors() []peer.AddrInfo { return h.anchors }

// AddAddrs records discovered addresses of a device and, if it is on the
// allowlist, makes its dialer try them now. It returns whether the device
// is on the allowlist.
func (h *Host) AddAddrs(id identity.DeviceID, addrs []ma.Multiaddr, ttl time.Duration) bool {
	if id == h.id {
		return false
	}
	if len(addrs) > 0 {
		h.p2p.Peerstore().AddAddrs(peer.ID(id), addrs, ttl)
	}
	h.addRelayAddrs(peer.ID(id))
	h.mu.Lock()
	_, listed := h.mu.devices[id]
	s := h.mu.sessions[id]
	h.mu.Unlock()
	if listed {
		h.kick(id)
	}
	if s != nil && s.path == PathRelayed && hasDirect(addrs) {
		h.tryDirect(id)
	}
	return listed
}

func hasDirect(addrs []ma.Multiaddr) bool {
	for _, a := range addrs {
		if !isRelayed(a) {
			return true
		}
	}
	return false
}

// directRetry paces attempts to replace a relayed session's connection by a
// direct one.
const directRetry = 30 * time.Second

// tryDirect dials a device we are connected to only through a relay at its
// direct addresses, at most once per directRetry. If it works,
// preferDirect moves the session.
func (h *Host) tryDirect(id identity.DeviceID) {
	h.net.Lock()
	if h.net.directTried == nil {
		h.net.directTried = map[identity.DeviceID]time.Time{}
	}
	if time.Since(h.net.directTried[id]) < directRetry {
		h.net.Unlock()
		return
	}
	h.net.directTried[id] = time.Now()
	h.net.Unlock()
	if !h.track() {
		return
	}
	go func() {
		defer h.wg.Done()
		ctx, cancel := context.WithTimeout(network.WithForceDirectDial(h.ctx, "prefer a direct path"), dialTimeout)
		defer cancel()
		if err := h.p2p.Connect(ctx, peer.AddrInfo{ID: peer.ID(id)}); err != nil {
			h.log.Debug("No direct path to a relayed device yet", id.LogAttr(), slog.Any("error", err))
		}
	}()
}

// DialGuest connects to a device that is not on the allowlist but may hold
// a folder key (found by discovery under a folder's rendezvous key), so it
// can prove it: once connected, the lower device opens the session as with
// any guest. Guests must be open (SetGuests).
func (h *Host) DialGuest(ctx context.Context, id identity.DeviceID, addrs []ma.Multiaddr) error {
	if id == h.id {
		return nil
	}
	if !h.allowed(id) {
		return errors.New("transport: guests are closed or at their limit")
	}
	p := peer.ID(id)
	if len(addrs) > 0 {
		h.p2p.Peerstore().AddAddrs(p, addrs, peerstore.TempAddrTTL)
	}
	h.addRelayAddrs(p)
	if h.p2p.Network().Connectedness(p) == network.Connected {
		h.guestConnected(id)
		return nil
	}
	dctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	if err := h.p2p.Connect(network.WithAllowLimitedConn(dctx, "sync"), peer.AddrInfo{ID: p}); err != nil {
		return fmt.Errorf("dialing %s: %w", id.Short(), err)
	}
	return nil
}

// addRelayAddrs gives a device the relayed addresses it would have through
// each anchor we hold a reservation with: every device of an organisation
// keeps reservations with its anchors, so a dial that finds no direct path
// falls back to the relay.
func (h *Host) addRelayAddrs(p peer.ID) {
	var addrs []ma.Multiaddr
	for _, a := range h.anchors {
		if a.ID == p {
			continue
		}
		circuit, err := ma.NewMultiaddr("/p2p/" + a.ID.String() + "/p2p-circuit")
		if err != nil {
			continue
		}
		for _, base := range a.Addrs {
			addrs = append(addrs, base.Encapsulate(circuit))
		}
	}
	if len(addrs) > 0 {
		h.p2p.Peerstore().AddAddrs(p, addrs, relayAddrTTL)
	}
}

// keepReservations holds a relay reservation with each anchor, renewing it
// before it expires, at once when the connection to the anchor drops (the
// anchor forgets the reservation then), and retrying with backoff after
// failures. Connections to anchors are protected from trimming.
func (h *Host) keepReservations(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	lost := make(map[peer.ID]chan struct{}, len(h.anchors))
	for _, a := range h.anchors {
		lost[a.ID] = make(chan struct{}, 1)
		h.p2p.ConnManager().Protect(a.ID, "shoal-anchor")
	}
	if sub, err := h.p2p.EventBus().Subscribe(new(event.EvtPeerConnectednessChanged)); err == nil {
		wg.Go(func() {
			defer sub.Close()
			for {
				select {
				case <-ctx.Done():
					return
				case ev, ok := <-sub.Out():
					if !ok {
						return
					}
					e := ev.(event.EvtPeerConnectednessChanged)
					if ch := lost[e.Peer]; ch != nil && e.Connectedness != network.Connected {
						h.setRelayed(e.Peer, false)
						select {
						case ch <- struct{}{}:
						default:
						}
					}
				}
			}
		})
	}
	for _, a := range h.anchors {
		h.p2p.Peerstore().AddAddrs(a.ID, a.Addrs, peerstore.PermanentAddrTTL)
		wg.Go(func() {
			b := backoff{min: reserveRetryMin, max: reserveRetryMax}
			for {
				rctx, cancel := context.WithTimeout(ctx, dialTimeout)
				r, err := client.Reserve(rctx, h.p2p, a)
				cancel()
				wait := b.next()
				if err == nil {
					b.reset()
					h.setRelayed(a.ID, true)
					wait = max(time.Until(r.Expiration)-2*time.Minute, time.Minute)
					h.log.Debug("Relay reservation held", slog.String("anchor", a.ID.String()), slog.Time("until", r.Expiration))
				} else {
					h.setRelayed(a.ID, false)
					if ctx.Err() == nil {
						h.log.Debug("Relay reservation failed", slog.String("anchor", a.ID.String()), slog.Any("error", err))
					}
				}
				select {
				case <-ctx.Done():
					return
				case <-time.After(wait):
				case <-lost[a.ID]:
					// Wait a moment for the connection to come back (or
					// dial it anew) rather than spin.
					select {
					case <-ctx.Done():
						return
					case <-time.After(reserveRetryMin):
					}
				}
			}
		})
	}
}

func (h *Host) setRelayed(anchor peer.ID, ok bool) {
	h.net.Lock()
	defer h.net.Unlock()
	if h.net.reserved == nil {
		h.net.reserved = map[peer.ID]bool{}
	}
	h.net.reserved[anchor] = ok
}

// watchReachability follows AutoNAT's verdict on this host.
func (h *Host) watchReachability(ctx context.Context) {
	sub, err := h.p2p.EventBus().Subscribe(new(event.EvtLocalReachabilityChanged))
	if err != nil {
		h.log.Warn("Watching reachability failed", slog.Any("error", err))
		return
	}
	defer sub.Close()
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-sub.Out():
			if !ok {
				return
			}
			r := ev.(event.EvtLocalReachabilityChanged).Reachability
			h.net.Lock()
			h.net.reachability = r
			h.net.Unlock()
			h.log.Info("Reachability changed", slog.String("reachability", reachabilityName(r)))
		}
	}
}

func reachabilityName(r network.Reachability) string {
	switch r {
	case network.ReachabilityPublic:
		return "public"
	case network.ReachabilityPrivate:
		return "private"
	}
	return "unknown"
}

// NetworkStatus is how this host reaches the network.
type NetworkStatus struct {
	Reachability string   `json:"reachability"` // public, private or unknown (AutoNAT)
	Anchor       bool     `json:"anchor"`       // this host is an anchor (relay, DHT server)
	Anchors      []string `json:"anchors,omitempty"`
	Reservations int      `json:"relayReservations"` // anchors holding a relay slot for us
}

// NetworkStatus reports reachability, anchors and relay reservations.
func (h *Host) NetworkStatus() NetworkStatus {
	h.net.Lock()
	st := NetworkStatus{Reachability: reachabilityName(h.net.reachability), Anchor: h.cfg.Anchor}
	for _, ok := range h.net.reserved {
		if ok {
			st.Reservations++
		}
	}
	h.net.Unlock()
	if h.cfg.Anchor {
		st.Reachability = "public"
	}
	for _, a := range h.anchors {
		st.Anchors = append(st.Anchors, a.ID.String())
	}
	return st
}

// pathOf classifies a connection: relayed, LAN (a private or link-local
// address on one of our own networks) or direct.
func (h *Host) pathOf(c network.Conn) string {
	if c.Stat().Limited || isRelayed(c.RemoteMultiaddr()) {
		return PathRelayed
	}
	ip, err := manet.ToIP(c.RemoteMultiaddr())
	if err != nil {
		return PathDirect
	}
	addr, ok := netip.AddrFromSlice(ip)
	if !ok {
		return PathDirect
	}
	addr = addr.Unmap()
	if addr.IsLoopback() || addr.IsLinkLocalUnicast() {
		return PathLAN
	}
	if (addr.IsPrivate() || addr.Is6()) && onLocalNetwork(addr) {
		return PathLAN
	}
	return PathDirect
}

// onLocalNetwork reports whether addr is inside a network one of our
// interfaces is on.
func onLocalNetwork(addr netip.Addr) bool {
	ifaddrs, err := net.InterfaceAddrs()
	if err != nil {
		return false
	}
	for _, a := range ifaddrs {
		ipn, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		p, err := netip.ParsePrefix(ipn.String())
		if err == nil && p.Masked().Contains(addr) {
			return true
		}
	}
	return false
}

func isRelayed(a ma.Multiaddr) bool {
	_, err := a.ValueForProtocol(ma.P_CIRCUIT)
	return err == nil
}

// dropRelayed closes the relayed connections with a device whose session
// now runs on a direct one, freeing the anchor's circuit.
func (h *Host) dropRelayed(s *Session) {
	if s.path == PathRelayed {
		return
	}
	for _, c := range h.p2p.Network().ConnsToPeer(peer.ID(s.id)) {
		if isRelayed(c.RemoteMultiaddr()) {
			_ = c.Close()
		}
	}
}

// preferDirect ends a relayed session once a direct connection with the
// same device exists, so the dialer opens it again on the direct path
// (libp2p picks the best connection for a new stream).
func (h *Host) preferDirect(id identity.DeviceID, c network.Conn) {
	if h.pathOf(c) == PathRelayed {
		return
	}
	h.mu.Lock()
	s := h.mu.sessions[id]
	_, listed := h.mu.devices[id]
	h.mu.Unlock()
	if s == nil || s.path != PathRelayed || !listed {
		// A guest has no dial loop to reopen its session: it stays on the
		// relay until it is a member.
		return
	}
	h.log.Info("A direct connection appeared; moving the session off the relay", id.LogAttr())
	s.end(&CloseError{Reason: "moving to a direct connection"})
}
