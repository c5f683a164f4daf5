// Package netns lets tests simulate several hosts on one Linux machine with
// network namespaces: separate subnets joined by a router, shared L2
// segments where multicast (mDNS) works, blocked paths, address changes
// and NAT. It is test support only and needs root.
//
// # Building blocks
//
// New makes an empty namespace (loopback up). NewRouter makes one that
// forwards IPv4; Router.LAN adds a subnet to it (a bridge inside the router
// holding the gateway address); LAN.Attach joins a namespace to a LAN with
// a veth pair, gives it the next free address and, for its first link, a
// default route through the gateway. Link.Move moves a link to another LAN
// of the same router while everything keeps running. Router.Block drops
// forwarded traffic between two prefixes; NS.Block drops everything
// arriving from a prefix; Router.Masquerade turns a router attached to an
// upstream LAN into a NAT. Topology wires the common case: an anchor and two
// agents, optionally on a shared LAN and/or behind NATs.
//
// All interfaces live inside the namespaces this package creates — bridges
// and the router ends of veths in the router — never in the test process's
// own namespace. Interface names (eth0, br0, v0, ...) are therefore local
// and cannot collide between parallel tests or packages; only namespace
// names are global, and they are unique (shoal-PID-LABEL-RANDOM). Every
// namespace is deleted by t.Cleanup, which takes its interfaces with it;
// namespaces left by a test process that was killed are removed by the
// next process's first Available. Traffic never leaves the namespaces.
//
// # Running code in a namespace
//
// There are two ways, safe for different things (all verified by this
// package's tests):
//
// NS.Do(fn) runs fn on a fresh OS thread switched into the namespace (the
// thread is discarded afterwards). Sockets created inside fn stay in the
// namespace for their whole life and may be used from any goroutine:
// listeners, bound UDP sockets, dialled connections (NS.Listen,
// NS.ListenPacket, NS.ListenUDP, NS.DialContext wrap this). Anything fn
// starts in a new goroutine runs in the test process's namespace, and so
// does any socket created later outside fn — a dial, an interface list, a
// route lookup.
//
// In-process libp2p hosts are therefore NOT namespaced by creating them
// inside Do: go-libp2p starts its listeners from fx lifecycle hooks on
// other goroutines, lists interfaces and dials from wherever it happens to
// run, so such a host silently listens, dials and advertises addresses in
// the test process's namespace (verified: its sockets do not appear in the
// namespace, and it "connects" through the host's own addresses). A
// QUIC-only host can be pinned with three go-libp2p options, as
// TestInProcessLibp2pQUIC does: quicreuse.OverrideListenUDP(ns.ListenUDP),
// quicreuse.OverrideSourceIPSelector returning ns, and an AddrsFactory
// that advertises ns.Addrs(). That covers dialling, listening and
// advertised addresses, and blocks apply; it does not cover TCP, mDNS
// (zeroconf opens its own multicast sockets), or anything else that opens
// sockets or reads interfaces itself. Use it for quick QUIC dial tests only.
//
// The reliable way to run a whole agent in a namespace is a subprocess:
// NS.Command returns an *exec.Cmd running `ip netns exec NAME prog args`
// (ip execs prog in place, so the PID is prog's), and NS.Start also starts
// it and owns its Wait. Everything the process and its threads do happens
// in the namespace. The test binary can be its own agent: have TestMain
// run agent code when an environment variable says so, and start
// os.Executable() (see TestStartProcess). Processes still running when the
// test ends are killed by their PID.
//
// # Blocking
//
// Router.Block and Topology.BlockDirect on separate LANs use policy-routing
// rules of type blackhole in the router: forwarded packets vanish silently
// (the sender sees a timeout, no ICMP), with iproute2 alone. NS.Block and
// Router.Masquerade use nftables and need the nft command; tests calling
// them skip without it. Dropping is done on input: a namespace that blocks
// a peer still sends to it, but no reply gets back, so connections time
// out in either direction.
//
// # Requirements
//
// Linux, root, iproute2 (ip), and for NS.Block, Masquerade and NAT
// topologies, nftables (nft). A missing requirement skips the test with the
// reason; with SHOAL_REQUIRE_NETNS=1 in the environment it fails it
// instead, so CI cannot skip these tests unnoticed. tc netem is not needed.
package netns
