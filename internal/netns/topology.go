package netns

import (
	"fmt"
	"net/netip"
	"sync"
	"testing"
)

// TopologyOptions varies the three-host Topology.
type TopologyOptions struct {
	// SharedLAN puts both agents on one LAN (one bridge, one L2 segment,
	// so multicast such as mDNS passes between them) instead of a LAN each.
	SharedLAN bool
	// NAT puts the agents' LAN(s) behind a NAT router (nftables
	// masquerade; needs the nft command). Each agent LAN gets its own NAT,
	// and both use the private subnet 192.168.1.0/24, as two homes would.
	NAT bool
}

// Topology is an anchor and two agents, each in a namespace of its own,
// joined by a router standing for the Internet:
//
//	anchor 10.99.0.2 ── [inet router] ── LAN 10.99.16.0/24 ── agent0 10.99.16.2
//	                                  └─ LAN 10.99.32.0/24 ── agent1 10.99.32.2
//
// All three reach each other; the agents reach each other directly (routed
// by inet, not through the anchor). With SharedLAN both agents sit on LAN
// 10.99.1.0/24 (.2 and .3). With NAT, a NAT router sits at each agent LAN's
// address (.2) and the agent behind it is 192.168.1.2 (.3 for the second
// agent on a shared LAN). Agent i's moves (MoveAgent) stay inside
// 10.99.16*(i+1).0/20, so BlockDirect keeps covering a moved agent.
type Topology struct {
	Router     *Router // the "Internet"
	AnchorLAN  *LAN
	Anchor     *NS
	AnchorLink *Link
	Agents     [2]*NS
	AgentLinks [2]*Link
	// NATs[i] and NATLinks[i] (its uplink) are agent i's NAT, when
	// TopologyOptions.NAT; on a shared LAN both agents share NATs[0] and
	// NATs[1] == NATs[0].
	NATs     [2]*Router
	NATLinks [2]*Link

	opts TopologyOptions

	mu    sync.Mutex
	moves [2]int // LANs made so far in agent i's space
}

// agentSpace is the part of 10.99.0.0/16 that agent i's own LANs come from.
func agentSpace(i int) netip.Prefix {
	return netip.MustParsePrefix(fmt.Sprintf("10.99.%d.0/20", 16*(i+1)))
}

// NewTopology builds the three-host topology; everything is deleted when t
// ends. It takes about 0.1–0.3 s.
func NewTopology(t testing.TB, opts TopologyOptions) *Topology {
	t.Helper()
	tp := &Topology{opts: opts}
	tp.Router = NewRouter(t, "inet")
	tp.AnchorLAN = tp.Router.LAN(t, "10.99.0.0/24")
	tp.Anchor = New(t, "anchor")
	tp.AnchorLink = tp.AnchorLAN.Attach(t, tp.Anchor)

	// One "site" per agent, or one shared by both: a LAN on inet, and
	// with NAT a NAT router on it whose inner LAN the agents join.
	var homes [2]*LAN
	nsites := 2
	if opts.SharedLAN {
		nsites = 1
	}
	for s := range nsites {
		var public *LAN
		if opts.SharedLAN {
			public = tp.Router.LAN(t, "10.99.1.0/24")
		} else {
			public = tp.Router.LAN(t, tp.nextAgentLAN(s))
		}
		homes[s] = public
		if opts.NAT {
			nat := NewRouter(t, fmt.Sprintf("nat%d", s))
			up := public.Attach(t, nat.NS)
			nat.Masquerade(t, up.Name)
			homes[s] = nat.LAN(t, "192.168.1.0/24")
			tp.NATs[s], tp.NATLinks[s] = nat, up
		}
	}
	if opts.SharedLAN {
		homes[1] = homes[0]
		tp.NATs[1], tp.NATLinks[1] = tp.NATs[0], tp.NATLinks[0]
	}
	for i := range 2 {
		tp.Agents[i] = New(t, fmt.Sprintf("agent%d", i))
		tp.AgentLinks[i] = homes[i].Attach(t, tp.Agents[i])
	}
	return tp
}

// nextAgentLAN returns the CIDR of agent i's next own LAN.
func (tp *Topology) nextAgentLAN(i int) string {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	k := tp.moves[i]
	tp.moves[i]++
	if k >= 16 {
		panic("netns: agent moved more than 15 times")
	}
	return fmt.Sprintf("10.99.%d.0/24", 16*(i+1)+k)
}

// AnchorAddr returns the anchor's address.
func (tp *Topology) AnchorAddr() netip.Addr { return tp.AnchorLink.Addr() }

// AgentAddr returns agent i's own interface address (behind NAT, its
// private address).
func (tp *Topology) AgentAddr(i int) netip.Addr { return tp.AgentLinks[i].Addr() }

// PublicAddr returns the address the anchor sees agent i's traffic come
// from: its NAT's uplink address with NAT, else AgentAddr(i).
func (tp *Topology) PublicAddr(i int) netip.Addr {
	if tp.NATs[i] != nil {
		return tp.NATLinks[i].Addr()
	}
	return tp.AgentAddr(i)
}

// BlockDirect silently drops all traffic between the two agents, in both
// directions, while both still reach the anchor; the returned function
// lifts it (and it is lifted anyway when t ends, with the namespaces). With
// separate LANs this is a routing rule in the Internet router between the
// agents' address spaces, so it keeps holding after MoveAgent and needs
// only iproute2. On a SharedLAN without NAT the agents' traffic never
// reaches a router, so each agent also drops packets from the other's
// current address and its move space (nftables; skips t if nft is
// missing) — block after moving, not before.
func (tp *Topology) BlockDirect(t testing.TB) (unblock func()) {
	t.Helper()
	var fns []func()
	fns = append(fns, tp.Router.Block(t, agentSpace(0).String(), agentSpace(1).String()))
	if tp.opts.SharedLAN && !tp.opts.NAT {
		for i := range 2 {
			other := 1 - i
			fns = append(fns,
				tp.Agents[i].Block(t, netip.PrefixFrom(tp.AgentAddr(other), 32).String()),
				tp.Agents[i].Block(t, agentSpace(other).String()))
		}
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			for _, f := range fns {
				f()
			}
		})
	}
}

// MoveAgent gives agent i a new address while it runs, as if its host
// joined another network, and returns the address others now see it at.
// Without NAT, the agent's link moves to a new LAN of the Internet router
// (leaving the shared LAN, if it was on one). With NAT, the agent keeps its
// private address and its NAT's uplink moves instead (a new public
// address; the NAT's existing mappings die with the old address). Returns
// PublicAddr(i) after the move.
func (tp *Topology) MoveAgent(t testing.TB, i int) netip.Addr {
	t.Helper()
	if tp.opts.NAT && tp.opts.SharedLAN {
		t.Fatalf("MoveAgent: with NAT on a shared LAN both agents share the NAT; move NATLinks[0] yourself")
	}
	lan := tp.Router.LAN(t, tp.nextAgentLAN(i))
	if tp.opts.NAT {
		tp.NATLinks[i].Move(t, lan)
	} else {
		tp.AgentLinks[i].Move(t, lan)
	}
	return tp.PublicAddr(i)
}
