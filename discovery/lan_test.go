package discovery

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/shoalsync/shoal/internal/testutil"
)

// TestLANMulticast runs real mDNS between two hosts. It needs a network
// interface that does multicast (mDNS answers go out on every such
// interface and loop back to this machine); without one it skips, and
// TestLANNotifee covers what happens to an answer.
func TestLANMulticast(t *testing.T) {
	service := fmt.Sprintf("_shoaltest%d._udp", time.Now().UnixNano()%1e6) // not to meet other test runs
	a := startNode(t, newHost(t), Config{LAN: true, LANService: service})
	b := startNode(t, newHost(t), Config{LAN: true, LANService: service})
	if st := a.d.Status(); st.LAN.Error != "" {
		t.Skipf("mDNS cannot start here: %s", st.LAN.Error)
	}
	seen := func(n *node, other *node) bool {
		return slices.Contains(n.foundUnder(""), other.h.ID())
	}
	deadline := time.Now().Add(10 * time.Second)
	for !(seen(a, b) && seen(b, a)) {
		if time.Now().After(deadline) {
			t.Skipf("no mDNS answer within 10 s: no multicast on this machine? (status %+v)", a.d.Status().LAN)
		}
		select {
		case <-time.After(50 * time.Millisecond):
		case <-t.Context().Done():
		}
	}
	a.mu.Lock()
	src := a.found[""][b.h.ID()]
	a.mu.Unlock()
	if src != SourceLAN {
		t.Errorf("source %q, want lan", src)
	}
	if st := a.d.Status(); !st.LAN.Enabled || !st.LAN.Running || st.PeersFound != 1 {
		t.Errorf("status %+v", st)
	}
	if len(a.h.Peerstore().Addrs(b.h.ID())) == 0 {
		t.Error("b's addresses are not in a's peerstore")
	}

	// a gets a new address: mDNS restarts and announces it.
	if err := a.h.Network().Listen(ma.StringCast("/ip4/127.0.0.2/udp/0/quic-v1")); err != nil {
		t.Fatalf("listening on a second address: %v", err)
	}
	testutil.Eventually(t, 10*time.Second, func() error {
		for _, addr := range b.h.Peerstore().Addrs(a.h.ID()) {
			if ip, _ := addr.ValueForProtocol(ma.P_IP4); ip == "127.0.0.2" {
				return nil
			}
		}
		return fmt.Errorf("b has %v for a", b.h.Peerstore().Addrs(a.h.ID()))
	})
}

// TestLANNotifee feeds mDNS answers to the notifee directly, as the mdns
// package does, since multicast may not work where tests run.
func TestLANNotifee(t *testing.T) {
	h := newHost(t)
	var got []Found
	d, err := New(Config{Host: h, LAN: true, AddrTTL: time.Hour, Found: func(f Found) { got = append(got, f) },
		Logger: testutil.Logger(t, "", 0)})
	if err != nil {
		t.Fatal(err)
	}
	other := newHost(t).ID()
	stranger := newHost(t).ID()
	addrs := []ma.Multiaddr{
		ma.StringCast("/ip4/192.168.1.20/udp/4242/quic-v1"),
		ma.StringCast("/ip4/192.168.1.20/udp/4243/quic-v1/p2p/" + other.String()),
		ma.StringCast("/ip4/10.0.0.1/udp/1/quic-v1/p2p/" + stranger.String()), // someone else's: dropped
	}
	n := lanNotifee{d}
	n.HandlePeerFound(peer.AddrInfo{ID: h.ID(), Addrs: addrs[:1]}) // ourselves: ignored
	n.HandlePeerFound(peer.AddrInfo{ID: other, Addrs: addrs})
	if len(got) != 1 {
		t.Fatalf("found %v", got)
	}
	f := got[0]
	if f.Peer != other || f.Topic != "" || f.Source != SourceLAN ||
		!slices.EqualFunc(f.Addrs, []ma.Multiaddr{addrs[0], ma.StringCast("/ip4/192.168.1.20/udp/4243/quic-v1")}, ma.Multiaddr.Equal) {
		t.Errorf("found %+v", f)
	}
	ps := h.Peerstore().Addrs(other)
	if len(ps) != 2 {
		t.Errorf("peerstore has %v", ps)
	}
	if st := d.Status(); st.PeersFound != 1 || !st.LAN.Enabled {
		t.Errorf("status %+v", st)
	}

	// Too many addresses are cut.
	var many []ma.Multiaddr
	for i := range 100 {
		many = append(many, ma.StringCast(fmt.Sprintf("/ip4/10.1.0.%d/udp/5000/quic-v1", i)))
	}
	n.HandlePeerFound(peer.AddrInfo{ID: stranger, Addrs: many})
	if len(got) != 2 || len(got[1].Addrs) != maxFoundAddrs {
		t.Errorf("found %d with %d addresses", len(got), len(got[len(got)-1].Addrs))
	}

	// After Run returns, late answers are dropped.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := d.Run(ctx); err != nil {
		t.Fatal(err)
	}
	n.HandlePeerFound(peer.AddrInfo{ID: newHost(t).ID(), Addrs: addrs[:1]})
	if len(got) != 2 {
		t.Errorf("answer after Run reported: %+v", got[len(got)-1])
	}
}
