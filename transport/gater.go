package transport

import (
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/connmgr"
	"github.com/libp2p/go-libp2p/core/control"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/shoalsync/shoal/crypto/identity"
)

// Refused is a device outside the allowlist that tried to connect.
type Refused struct {
	ID       identity.DeviceID
	Addr     string // remote multiaddr of the last attempt
	LastSeen time.Time
	Attempts int
}

// gater admits only connections with allowed devices, checked once the TLS
// handshake has authenticated the peer.
type gater struct{ h *Host }

var _ connmgr.ConnectionGater = (*gater)(nil)

func (g *gater) InterceptPeerDial(p peer.ID) bool {
	return g.h.open() || g.h.IsAnchor(p) || g.h.allowed(identity.DeviceID(p))
}

func (g *gater) InterceptAddrDial(peer.ID, ma.Multiaddr) bool { return true }

func (g *gater) InterceptAccept(network.ConnMultiaddrs) bool { return true }

func (g *gater) InterceptSecured(dir network.Direction, p peer.ID, cm network.ConnMultiaddrs) bool {
	dev := identity.DeviceID(p)
	if g.h.open() || g.h.IsAnchor(p) || g.h.allowed(dev) {
		return true
	}
	if dir == network.DirInbound {
		g.h.refuse(dev, cm.RemoteMultiaddr().String())
	}
	return false
}

func (g *gater) InterceptUpgraded(network.Conn) (bool, control.DisconnectReason) { return true, 0 }

// Refused returns the most recent unknown devices that tried to connect,
// newest first.
func (h *Host) Refused() []Refused {
	h.refused.mu.Lock()
	out := make([]Refused, 0, len(h.refused.m))
	for _, r := range h.refused.m {
		out = append(out, *r)
	}
	h.refused.mu.Unlock()
	slices.SortFunc(out, func(a, b Refused) int { return b.LastSeen.Compare(a.LastSeen) })
	return out
}

// refuse records a refused connection attempt.
func (h *Host) refuse(dev identity.DeviceID, addr string) {
	if n := h.refused.add(dev, addr, time.Now()); n == 1 {
		h.log.Info("Refused unknown device", dev.LogAttr(), slog.String("deviceId", dev.String()), slog.String("addr", addr))
	} else {
		h.log.Debug("Refused unknown device again", dev.LogAttr(), slog.String("addr", addr), slog.Int("attempts", n))
	}
}

// refusedList remembers the maxRefused most recently refused devices.
type refusedList struct {
	mu sync.Mutex
	m  map[identity.DeviceID]*Refused
}

// add records an attempt and returns the device's attempt count.
func (l *refusedList) add(dev identity.DeviceID, addr string, now time.Time) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := l.m[dev]
	if r == nil {
		if len(l.m) >= maxRefused {
			var oldest *Refused
			for _, o := range l.m {
				if oldest == nil || o.LastSeen.Before(oldest.LastSeen) {
					oldest = o
				}
			}
			delete(l.m, oldest.ID)
		}
		r = &Refused{ID: dev}
		l.m[dev] = r
	}
	r.Addr = addr
	r.LastSeen = now
	r.Attempts++
	return r.Attempts
}

// forget drops devices that are now allowed.
func (l *refusedList) forget(ids []identity.DeviceID) {
	l.mu.Lock()
	for _, id := range ids {
		delete(l.m, id)
	}
	l.mu.Unlock()
}
