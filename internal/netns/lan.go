package netns

import (
	"fmt"
	"net/netip"
	"sync"
	"testing"
)

// Router is a namespace that forwards IPv4 between the LANs it owns (and
// its uplink, if it was attached to another router's LAN). Its LANs are
// bridges inside it, so no interface is ever created in the test process's
// own namespace and names cannot collide between parallel tests.
type Router struct {
	*NS

	mu      sync.Mutex
	nextBr  int
	nextVth int
	nextPri int
}

// NewRouter creates a namespace with IPv4 forwarding on.
func NewRouter(t testing.TB, label string) *Router {
	t.Helper()
	r := &Router{NS: New(t, label), nextPri: 1000}
	r.EnableForwarding(t)
	return r
}

// LAN is one IPv4 subnet: a bridge inside a Router holding the gateway
// address (the prefix's first host address), and the links attached to it.
// Multicast floods the whole LAN (bridge multicast snooping is off), so
// link-local multicast such as mDNS reaches every namespace on it.
type LAN struct {
	Router  *Router
	Prefix  netip.Prefix // the subnet, masked: 10.0.2.0/24
	Gateway netip.Addr   // the router's address on it: 10.0.2.1
	Bridge  string       // the bridge's name inside Router

	mu   sync.Mutex
	next netip.Addr
}

// LAN creates a subnet on the router. prefix is its CIDR ("10.0.2.0/24");
// the router takes its first host address.
func (r *Router) LAN(t testing.TB, prefix string) *LAN {
	t.Helper()
	p, err := netip.ParsePrefix(prefix)
	if err != nil || !p.Addr().Is4() || p.Bits() > 29 {
		t.Fatalf("LAN %q: want an IPv4 CIDR of /29 or larger (err %v)", prefix, err)
	}
	p = p.Masked()
	r.mu.Lock()
	br := fmt.Sprintf("br%d", r.nextBr)
	r.nextBr++
	r.mu.Unlock()
	l := &LAN{Router: r, Prefix: p, Gateway: p.Addr().Next(), Bridge: br}
	l.next = l.Gateway.Next()
	r.MustIP(t, "link", "add", br, "type", "bridge", "mcast_snooping", "0")
	r.MustIP(t, "addr", "add", netip.PrefixFrom(l.Gateway, p.Bits()).String(), "dev", br)
	r.MustIP(t, "link", "set", br, "up")
	return l
}

// alloc returns the LAN's next free host address.
func (l *LAN) alloc(t testing.TB) netip.Addr {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	a := l.next
	if !l.Prefix.Contains(a) || !l.Prefix.Contains(a.Next()) { // keep the broadcast address free
		t.Fatalf("LAN %s is full", l.Prefix)
	}
	l.next = a.Next()
	return a
}

// Link is a veth pair joining a namespace to a LAN: Name inside the
// namespace, the other end a port of the LAN's bridge in the router.
type Link struct {
	NS   *NS
	Name string // interface name inside NS: eth0, eth1, ...
	peer string // the bridge port's name inside the router

	mu   sync.Mutex
	lan  *LAN
	addr netip.Addr
}

// Attach joins ns to the LAN with a new interface (eth0 for the first link
// of ns, then eth1, ...) and gives it the LAN's next free address. The first
// link of a namespace also gets its default route, through the LAN's
// gateway; so an endpoint attached to a LAN reaches everything its router
// reaches.
func (l *LAN) Attach(t testing.TB, ns *NS) *Link {
	t.Helper()
	return l.AttachAddr(t, ns, l.alloc(t))
}

// AttachAddr is Attach with a chosen address inside the LAN's prefix.
func (l *LAN) AttachAddr(t testing.TB, ns *NS, addr netip.Addr) *Link {
	t.Helper()
	if !l.Prefix.Contains(addr) || addr == l.Gateway {
		t.Fatalf("address %s is not a host address of LAN %s", addr, l.Prefix)
	}
	r := l.Router
	r.mu.Lock()
	peer := fmt.Sprintf("v%d", r.nextVth)
	r.nextVth++
	r.mu.Unlock()
	ns.mu.Lock()
	eth := fmt.Sprintf("eth%d", ns.nextEth)
	ns.nextEth++
	ns.mu.Unlock()

	r.MustIP(t, "link", "add", peer, "type", "veth", "peer", "name", eth, "netns", ns.name)
	r.MustIP(t, "link", "set", peer, "master", l.Bridge, "up")
	ns.MustIP(t, "addr", "add", netip.PrefixFrom(addr, l.Prefix.Bits()).String(), "dev", eth)
	ns.MustIP(t, "link", "set", eth, "up")

	k := &Link{NS: ns, Name: eth, peer: peer, lan: l, addr: addr}
	ns.mu.Lock()
	ns.links = append(ns.links, k)
	first := ns.gateway == nil
	if first {
		ns.gateway = k
	}
	ns.mu.Unlock()
	if first {
		ns.MustIP(t, "route", "replace", "default", "via", l.Gateway.String(), "dev", eth)
	}
	return k
}

// Addr returns the link's current address.
func (k *Link) Addr() netip.Addr {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.addr
}

// LAN returns the LAN the link is on now.
func (k *Link) LAN() *LAN {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.lan
}

// Move moves the link, while everything in its namespace keeps running, to
// another LAN of the same router: its bridge port changes bridge, the
// interface gets the new LAN's next free address in place of the old one,
// and the default route (if it used this link) now goes through the new
// gateway. Sockets bound to the old address stop working, as on a real
// host that changed networks; sockets bound to 0.0.0.0 keep working with
// the new address.
func (k *Link) Move(t testing.TB, to *LAN) netip.Addr {
	t.Helper()
	k.mu.Lock()
	from, old := k.lan, k.addr
	k.mu.Unlock()
	if from.Router != to.Router {
		t.Fatalf("Link.Move: LAN %s is on router %s, the link's LAN %s on %s", to.Prefix, to.Router.label, from.Prefix, from.Router.label)
	}
	addr := to.alloc(t)
	ns := k.NS
	to.Router.MustIP(t, "link", "set", k.peer, "master", to.Bridge)
	ns.MustIP(t, "addr", "add", netip.PrefixFrom(addr, to.Prefix.Bits()).String(), "dev", k.Name)
	ns.mu.Lock()
	isGW := ns.gateway == k
	ns.mu.Unlock()
	if isGW {
		ns.MustIP(t, "route", "replace", "default", "via", to.Gateway.String(), "dev", k.Name)
	}
	ns.MustIP(t, "addr", "del", netip.PrefixFrom(old, from.Prefix.Bits()).String(), "dev", k.Name)
	k.mu.Lock()
	k.lan, k.addr = to, addr
	k.mu.Unlock()
	return addr
}

// Block makes the router silently drop forwarded IPv4 packets between a and
// b (CIDRs or single addresses), both ways, while both keep reaching
// everything else. It uses policy-routing rules of type blackhole (iproute2
// only, no firewall tools). Traffic between two namespaces on the same LAN
// is switched by the bridge, not routed, so it is not affected; use
// NS.Block for that. The returned function lifts the block.
func (r *Router) Block(t testing.TB, a, b string) (unblock func()) {
	t.Helper()
	pa, pb := parsePrefixOrAddr(t, a), parsePrefixOrAddr(t, b)
	r.mu.Lock()
	pri := r.nextPri
	r.nextPri += 2
	r.mu.Unlock()
	rules := [][]string{
		{"pref", fmt.Sprint(pri), "from", pa.String(), "to", pb.String(), "blackhole"},
		{"pref", fmt.Sprint(pri + 1), "from", pb.String(), "to", pa.String(), "blackhole"},
	}
	for _, rule := range rules {
		r.MustIP(t, append([]string{"rule", "add"}, rule...)...)
	}
	// This takes effect at once, for flows already running too (forwarding
	// keeps no per-flow state here: the router has no conntrack).
	var once sync.Once
	return func() {
		once.Do(func() {
			for _, rule := range rules {
				r.MustIP(t, append([]string{"rule", "del"}, rule...)...)
			}
		})
	}
}

func parsePrefixOrAddr(t testing.TB, s string) netip.Prefix {
	t.Helper()
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked()
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		t.Fatalf("%q is neither a CIDR nor an address", s)
	}
	return netip.PrefixFrom(a, a.BitLen())
}

// Masquerade makes the router a NAT: IPv4 packets it forwards out of
// interface uplink (e.g. the Link returned when the router was attached to
// an upstream LAN) get the uplink's address as source (nftables
// masquerade), and unsolicited packets arriving on the uplink are dropped,
// both those to be forwarded inward and those for the router itself. This
// is Linux's usual NAT: endpoint-independent mapping that keeps the source
// port when it is free, address-and-port-dependent filtering, so UDP hole
// punching works. (Dropping unsolicited packets in the input hook matters
// for that: it keeps them from leaving a conntrack entry that would make
// the NAT pick another port for the punch.) It skips t when nft is missing
// (apt-get install nftables).
func (r *Router) Masquerade(t testing.TB, uplink string) {
	t.Helper()
	r.ensureNftTable(t)
	r.Nft(t, fmt.Sprintf(`table ip shoal-nat {
	chain postrouting { type nat hook postrouting priority 100; policy accept; oifname %[1]q masquerade; }
}
add rule ip shoal forward iifname %[1]q ct state established,related accept
add rule ip shoal forward iifname %[1]q drop
add rule ip shoal input iifname %[1]q ct state established,related accept
add rule ip shoal input iifname %[1]q drop
`, uplink))
}
