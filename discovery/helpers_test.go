package discovery

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	dht "github.com/libp2p/go-libp2p-kad-dht"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	libp2pquic "github.com/libp2p/go-libp2p/p2p/transport/quic"

	"github.com/shoalsync/shoal/internal/testutil"
)

// fakeClock is Config.Now for tests that cross period boundaries.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// newHost returns a QUIC-only libp2p host on loopback, closed at cleanup.
func newHost(t testing.TB) host.Host {
	t.Helper()
	h, err := libp2p.New(
		libp2p.ListenAddrStrings("/ip4/127.0.0.1/udp/0/quic-v1"),
		libp2p.NoTransports, libp2p.Transport(libp2pquic.NewTransport),
		libp2p.DisableMetrics(),
		libp2p.DisableRelay(),
		libp2p.ResourceManager(&network.NullResourceManager{}),
	)
	if err != nil {
		t.Fatalf("creating host: %v", err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// node is a host with a running Discovery that records what it finds.
type node struct {
	h host.Host
	d *Discovery

	mu    sync.Mutex
	found map[string]map[peer.ID]Source // by topic
}

func (n *node) onFound(f Found) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.found[f.Topic] == nil {
		n.found[f.Topic] = map[peer.ID]Source{}
	}
	n.found[f.Topic][f.Peer] = f.Source
}

// foundUnder returns the peers found under a topic.
func (n *node) foundUnder(topic string) []peer.ID {
	n.mu.Lock()
	defer n.mu.Unlock()
	var ids []peer.ID
	for id := range n.found[topic] {
		ids = append(ids, id)
	}
	return ids
}

func (n *node) forget() {
	n.mu.Lock()
	clear(n.found)
	n.mu.Unlock()
}

// kad returns the running DHT (tests only).
func (n *node) kad() *dht.IpfsDHT {
	n.d.mu.Lock()
	defer n.d.mu.Unlock()
	return n.d.mu.dht
}

// startNode starts Discovery on h; it stops at cleanup, before the host
// closes.
func startNode(t testing.TB, h host.Host, cfg Config) *node {
	t.Helper()
	n := &node{h: h, found: map[string]map[peer.ID]Source{}}
	cfg.Host = h
	cfg.Found = n.onFound
	if cfg.Logger == nil {
		cfg.Logger = testutil.Logger(t, h.ID().ShortString(), slog.LevelWarn)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 10 * time.Second
	}
	cfg.DHTOptions = append(cfg.DHTOptions, dht.DisableAutoRefresh())
	d, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	n.d = d
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := d.Run(ctx); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return n
}

func addrInfo(h host.Host) peer.AddrInfo {
	return peer.AddrInfo{ID: h.ID(), Addrs: h.Addrs()}
}

func randomSecret(t testing.TB) []byte {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// advertised reports an error unless every topic of n is advertised under
// exactly the given periods.
func advertised(n *node, periods ...int64) error {
	st := n.d.Status()
	for _, ts := range st.Topics {
		if !slices.Equal(ts.Periods, periods) {
			return fmt.Errorf("%s: topic %s advertised under %v (want %v), last error %q",
				n.h.ID().ShortString(), ts.ID, ts.Periods, periods, ts.LastError)
		}
	}
	return nil
}

// providers returns the providers of key as n's DHT finds them.
func providers(t testing.TB, n *node, secret []byte, period int64) map[peer.ID]peer.AddrInfo {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out := map[peer.ID]peer.AddrInfo{}
	for ai := range n.kad().FindProvidersAsync(ctx, RendezvousKey(secret, period), 0) {
		out[ai.ID] = ai
	}
	return out
}
