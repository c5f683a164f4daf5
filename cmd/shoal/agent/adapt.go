package agent

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/shoalsync/shoal/crypto/identity"
	"github.com/shoalsync/shoal/discovery"
	"github.com/shoalsync/shoal/sync/config"
	"github.com/shoalsync/shoal/sync/model"
	"github.com/shoalsync/shoal/transport"
	"github.com/shoalsync/shoal/transport/wire"
)

// handler adapts the model to transport.Handler.
type handler struct {
	m      *model.Model
	tamper func(*wire.Response) // tests only
	disc   *discovery.Discovery // set before the host serves; may be nil

	kickMu   sync.Mutex
	lastKick time.Time
}

var _ transport.Handler = (*handler)(nil)

func (h *handler) Connected(s *transport.Session) { h.m.Connected(conn{s}) }
func (h *handler) Disconnected(s *transport.Session, err error) {
	h.m.Disconnected(conn{s}, err)
	if h.disc != nil && s.Hello() != nil && h.m.Configured(s.ID()) {
		h.kickSoon() // look the device up again: it may have moved
	}
}

// kickMin is the least time between lookups caused by sessions ending, so
// devices that come and go cannot keep the DHT busy.
const kickMin = 30 * time.Second

func (h *handler) kickSoon() {
	h.kickMu.Lock()
	defer h.kickMu.Unlock()
	if time.Since(h.lastKick) < kickMin {
		return
	}
	h.lastKick = time.Now()
	h.disc.Kick()
}
func (h *handler) Message(s *transport.Session, m *wire.Message) { h.m.Message(conn{s}, m) }
func (h *handler) Request(ctx context.Context, s *transport.Session, r *wire.Request) *wire.Response {
	resp := h.m.Request(ctx, conn{s}, r)
	if h.tamper != nil {
		h.tamper(resp)
	}
	return resp
}

// conn adapts a transport session to model.Conn. It is a comparable value
// so the model can tell sessions apart.
type conn struct{ *transport.Session }

var _ model.Conn = conn{}

func (c conn) Info() model.ConnInfo {
	i := model.ConnInfo{Address: c.RemoteAddr(), Transport: c.Transport(), Path: c.Path(), Since: c.Since(), BytesIn: c.BytesIn(), BytesOut: c.BytesOut()}
	if h := c.Hello(); h != nil {
		i.Name, i.ClientVersion = h.DeviceName, h.ClientVersion
	}
	return i
}

// network adapts the transport host and discovery to model.Network.
type network struct {
	h      *transport.Host
	d      *discovery.Discovery // nil when discovery is off
	lan    bool
	anchor bool
}

func (n *network) Addrs() []string { return n.h.Addrs() }

func (n *network) SetTopics(topics []model.Topic) {
	if n.d == nil {
		return
	}
	out := make([]discovery.Topic, 0, len(topics))
	for _, t := range topics {
		out = append(out, discovery.Topic{ID: t.Folder, Secret: t.Secret})
	}
	n.d.SetTopics(out)
}

func (n *network) Status() model.NetworkStatus {
	ts := n.h.NetworkStatus()
	st := model.NetworkStatus{Reachability: ts.Reachability, Role: "agent", Anchors: ts.Anchors, RelayReservations: ts.Reservations, LAN: n.lan}
	if st.Anchors == nil {
		st.Anchors = []string{}
	}
	st.AnchorAddrs = []string{}
	for _, ai := range n.h.Anchors() {
		for _, a := range ai.Addrs {
			st.AnchorAddrs = append(st.AnchorAddrs, a.String()+"/p2p/"+ai.ID.String())
		}
	}
	if n.anchor {
		st.Role = config.RoleAnchor
	}
	if n.d != nil {
		ds := n.d.Status()
		st.DHT = model.DHTState{Enabled: ds.Running && (len(ts.Anchors) > 0 || n.anchor), Mode: ds.Mode, RoutingTableSize: ds.RoutingTableSize,
			BootstrapConnected: ds.BootstrapConnected, Topics: len(ds.Topics), LastLookup: ds.LastLookup, PeersFound: ds.PeersFound}
		for _, t := range ds.Topics {
			if t.LastAdvertised.After(st.DHT.LastAdvertised) {
				st.DHT.LastAdvertised = t.LastAdvertised
			}
			if t.LastError != "" {
				st.DHT.LastError = t.LastError
			}
		}
	}
	return st
}

func (n *network) SetDevices(devs []config.Device) {
	out := make([]transport.Device, 0, len(devs))
	for _, d := range devs {
		id, err := identity.Parse(d.ID)
		if err != nil {
			continue
		}
		out = append(out, transport.Device{ID: id, Addrs: slices.Clone(d.Addrs)})
	}
	n.h.SetDevices(out)
}

func (n *network) SetGuests(open bool) { n.h.SetGuests(open) }

func (n *network) Refused() []model.Refused {
	var out []model.Refused
	for _, r := range n.h.Refused() {
		out = append(out, model.Refused{ID: r.ID.String(), ShortID: r.ID.Short(), Address: r.Addr, LastSeen: r.LastSeen, Attempts: r.Attempts})
	}
	return out
}
