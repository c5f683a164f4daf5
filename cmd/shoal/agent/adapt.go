package agent

import (
	"context"
	"slices"

	"github.com/shoalsync/shoal/crypto/identity"
	"github.com/shoalsync/shoal/sync/config"
	"github.com/shoalsync/shoal/sync/model"
	"github.com/shoalsync/shoal/transport"
	"github.com/shoalsync/shoal/transport/wire"
)

// handler adapts the model to transport.Handler.
type handler struct {
	m      *model.Model
	tamper func(*wire.Response) // tests only
}

var _ transport.Handler = handler{}

func (h handler) Connected(s *transport.Session) { h.m.Connected(conn{s}) }
func (h handler) Disconnected(s *transport.Session, err error) {
	h.m.Disconnected(conn{s}, err)
}
func (h handler) Message(s *transport.Session, m *wire.Message) { h.m.Message(conn{s}, m) }
func (h handler) Request(ctx context.Context, s *transport.Session, r *wire.Request) *wire.Response {
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
	i := model.ConnInfo{Address: c.RemoteAddr(), Transport: c.Transport(), Since: c.Since(), BytesIn: c.BytesIn(), BytesOut: c.BytesOut()}
	if h := c.Hello(); h != nil {
		i.Name, i.ClientVersion = h.DeviceName, h.ClientVersion
	}
	return i
}

// network adapts the transport host to model.Network.
type network struct{ h *transport.Host }

func (n network) Addrs() []string { return n.h.Addrs() }

func (n network) SetDevices(devs []config.Device) {
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

func (n network) SetGuests(open bool) { n.h.SetGuests(open) }

func (n network) Refused() []model.Refused {
	var out []model.Refused
	for _, r := range n.h.Refused() {
		out = append(out, model.Refused{ID: r.ID.String(), ShortID: r.ID.Short(), Address: r.Addr, LastSeen: r.LastSeen, Attempts: r.Attempts})
	}
	return out
}
