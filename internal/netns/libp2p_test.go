package netns

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/protocol/ping"
	quic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/quicreuse"
	ma "github.com/multiformats/go-multiaddr"
)

// pinnedHost is the documented recipe for an in-process, QUIC-only libp2p
// host whose sockets all live in ns.
func pinnedHost(t *testing.T, ns *NS) host.Host {
	t.Helper()
	h, err := libp2p.New(
		libp2p.ListenAddrStrings("/ip4/0.0.0.0/udp/0/quic-v1"),
		libp2p.NoTransports,
		libp2p.Transport(quic.NewTransport),
		libp2p.QUICReuse(quicreuse.NewConnManager,
			quicreuse.OverrideListenUDP(ns.ListenUDP),
			quicreuse.OverrideSourceIPSelector(func() (quicreuse.SourceIPSelector, error) { return ns, nil })),
		libp2p.DisableRelay(),
		// The host lists the test process's interfaces, not the
		// namespace's: advertise the namespace's addresses instead.
		libp2p.AddrsFactory(func(in []ma.Multiaddr) []ma.Multiaddr {
			addrs, err := ns.Addrs()
			if err != nil {
				return nil
			}
			var out []ma.Multiaddr
			for _, a := range in {
				port, err := a.ValueForProtocol(ma.P_UDP)
				if err != nil {
					continue
				}
				for _, ip := range addrs {
					m, err := ma.NewMultiaddr("/ip4/" + ip.String() + "/udp/" + port + "/quic-v1")
					if err == nil {
						out = append(out, m)
					}
				}
				break
			}
			return out
		}),
	)
	if err != nil {
		t.Fatalf("libp2p host in %s: %v", ns, err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

func TestInProcessLibp2pQUIC(t *testing.T) {
	t.Parallel()
	tp := NewTopology(t, TopologyOptions{})
	h0 := pinnedHost(t, tp.Agents[0])
	h1 := pinnedHost(t, tp.Agents[1])
	want := tp.AgentAddr(1).String()
	if addrs := h1.Addrs(); len(addrs) != 1 || !containsIP(addrs[0], want) {
		t.Fatalf("agent1's host advertises %v, want its namespace address %s", addrs, want)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h0.Connect(ctx, peer.AddrInfo{ID: h1.ID(), Addrs: h1.Addrs()}); err != nil {
		t.Fatalf("connecting agent0 -> agent1: %v", err)
	}
	if res := <-ping.Ping(ctx, h0, h1.ID()); res.Error != nil {
		t.Fatalf("ping: %v", res.Error)
	}
	// The connection really runs between the namespaces: blocking the
	// direct path makes a fresh dial fail.
	_ = h0.Network().ClosePeer(h1.ID())
	unblock := tp.BlockDirect(t)
	defer unblock()
	ctx2, cancel2 := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel2()
	if err := h0.Connect(ctx2, peer.AddrInfo{ID: h1.ID(), Addrs: h1.Addrs()}); err == nil {
		t.Fatal("connected with the direct path blocked")
	} else if !errors.Is(err, context.DeadlineExceeded) {
		t.Logf("blocked dial failed with %v", err)
	}
}

func containsIP(a ma.Multiaddr, ip string) bool {
	v, err := a.ValueForProtocol(ma.P_IP4)
	return err == nil && v == ip
}
