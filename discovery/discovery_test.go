package discovery

import (
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/shoalsync/shoal/internal/testutil"
)

var scaleNodes = flag.Int("discovery.nodes", 0, "run TestTimeToFindScale with this many nodes")

// network is an in-process DHT: the first `servers` nodes are DHT servers
// (nodes 0 and 1 are the anchors everyone bootstraps from), the rest clients.
type testNet struct {
	nodes   []*node
	clock   *fakeClock
	secrets map[string][]byte
	members map[string][]int // topic → node indexes
}

func startNetwork(t testing.TB, n, servers int, members map[string][]int, cfg Config) *testNet {
	t.Helper()
	net := &testNet{clock: &fakeClock{}, secrets: map[string][]byte{}, members: members}
	net.clock.Set(time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)) // mid-period
	hosts := make([]host.Host, n)
	for i := range hosts {
		hosts[i] = newHost(t)
	}
	anchors := []peer.AddrInfo{addrInfo(hosts[0]), addrInfo(hosts[1])}
	for topic := range members {
		net.secrets[topic] = randomSecret(t)
	}
	for i, h := range hosts {
		c := cfg
		c.Now = net.clock.Now
		c.Bootstrap = anchors
		c.Mode = ModeClient
		if i < servers {
			c.Mode = ModeServer
		}
		nd := startNode(t, h, c)
		nd.d.SetTopics(net.topicsOf(i))
		net.nodes = append(net.nodes, nd)
	}
	return net
}

// topicsOf returns the topics node i is a member of.
func (net *testNet) topicsOf(i int) []Topic {
	var ts []Topic
	for topic, m := range net.members {
		if slices.Contains(m, i) {
			ts = append(ts, Topic{ID: topic, Secret: net.secrets[topic]})
		}
	}
	return ts
}

func (net *testNet) kickAll() {
	for _, n := range net.nodes {
		n.d.Kick()
	}
}

// allFound reports an error unless every member of every topic found
// exactly the other members under that topic, through the DHT.
func (net *testNet) allFound() error {
	for topic, m := range net.members {
		for _, i := range m {
			var want []peer.ID
			for _, j := range m {
				if j != i {
					want = append(want, net.nodes[j].h.ID())
				}
			}
			got := net.nodes[i].foundUnder(topic)
			slices.Sort(want)
			slices.Sort(got)
			if !slices.Equal(got, want) {
				return fmt.Errorf("node %d found %d peers under %s, want %d", i, len(got), topic, len(want))
			}
		}
	}
	return nil
}

// checkNoStrangers fails if a node reported a peer under a topic that the
// peer is not a member of, or under a topic the node is not a member of.
func (net *testNet) checkNoStrangers(t testing.TB) {
	t.Helper()
	index := map[peer.ID]int{}
	for i, n := range net.nodes {
		index[n.h.ID()] = i
	}
	for i, n := range net.nodes {
		n.mu.Lock()
		for topic, peers := range n.found {
			if !slices.Contains(net.members[topic], i) {
				t.Errorf("node %d, not a member of %q, reported %d peers under it", i, topic, len(peers))
			}
			for id, src := range peers {
				if src != SourceDHT {
					t.Errorf("node %d: peer found from %q, want dht", i, src)
				}
				if !slices.Contains(net.members[topic], index[id]) {
					t.Errorf("node %d reported node %d under %q, which it is not a member of", i, index[id], topic)
				}
			}
		}
		n.mu.Unlock()
	}
}

func TestDHTNetwork(t *testing.T) {
	const n, servers = 22, 4
	members := map[string][]int{
		"folder-a": {0, 5, 6, 7, 8, 9},      // includes an anchor
		"folder-b": {2, 8, 10, 11, 12},      // a non-anchor server; node 8 shares a and b
		"folder-c": {13, 14},                // two clients only
		"folder-d": {3, 15, 16, 17, 18, 19}, // nodes 1, 4, 20, 21 are in nothing
	}
	start := time.Now()
	net := startNetwork(t, n, servers, members, Config{Reprovide: 1000 * time.Hour, Lookup: time.Hour})
	started := time.Since(start)

	// Everyone advertises once the routing table fills.
	p := PeriodAt(net.clock.Now(), DefaultPeriod)
	testutil.Eventually(t, 20*time.Second, func() error {
		for _, nd := range net.nodes {
			if err := advertised(nd, p); err != nil {
				return err
			}
		}
		return nil
	})
	advertisedAt := time.Since(start)
	// The lookups made when the topics were added may have run before the
	// other members advertised: look again.
	net.kickAll()
	testutil.Eventually(t, 20*time.Second, net.allFound)
	foundAt := time.Since(start)
	net.checkNoStrangers(t)
	t.Logf("%d nodes: hosts+start %v, all advertised after %v, all found after %v",
		n, started.Round(time.Millisecond), advertisedAt.Round(time.Millisecond), foundAt.Round(time.Millisecond))

	// Status of a client member.
	st := net.nodes[8].d.Status()
	if !st.Running || st.Mode != "client" || st.ConfiguredMode != "client" || st.RoutingTableSize == 0 ||
		st.BootstrapPeers != 2 || st.BootstrapConnected == 0 || len(st.Topics) != 2 ||
		st.PeersFound != 9 || st.LastLookup.IsZero() || st.LAN.Enabled {
		t.Errorf("status of node 8: %+v", st)
	}
	if st := net.nodes[0].d.Status(); st.Mode != "server" || st.BootstrapPeers != 1 {
		t.Errorf("status of anchor 0: %+v", st)
	}
	if _, err := json.Marshal(st); err != nil {
		t.Errorf("marshalling status: %v", err)
	}

	// Near the end of the period everyone also advertises under the next
	// one, and the next key gets every member as provider.
	net.clock.Set(periodStart(p+1, DefaultPeriod).Add(-DefaultOverlap / 2))
	net.kickAll()
	testutil.Eventually(t, 20*time.Second, func() error {
		for _, nd := range net.nodes {
			if err := advertised(nd, p, p+1); err != nil {
				return err
			}
		}
		return nil
	})
	for topic, m := range members {
		got := providers(t, net.nodes[21], net.secrets[topic], p+1) // node 21 is in no topic
		if len(got) != len(m) {
			t.Errorf("%s: %d providers for the next period's key, want %d", topic, len(got), len(m))
		}
		for _, i := range m {
			if _, ok := got[net.nodes[i].h.ID()]; !ok {
				t.Errorf("%s: node %d does not provide the next period's key", topic, i)
			}
		}
	}

	// Well into the next period, lookups use its key only and still find
	// everyone; the old key is no longer advertised.
	net.clock.Set(periodStart(p+1, DefaultPeriod).Add(DefaultOverlap + time.Minute))
	if got := lookupPeriods(net.clock.Now(), DefaultPeriod, DefaultOverlap); !slices.Equal(got, []int64{p + 1}) {
		t.Fatalf("lookup periods %v", got)
	}
	for _, nd := range net.nodes {
		nd.forget()
	}
	net.kickAll()
	testutil.Eventually(t, 20*time.Second, func() error {
		for _, nd := range net.nodes {
			if err := advertised(nd, p+1); err != nil {
				return err
			}
		}
		return net.allFound()
	})
	net.checkNoStrangers(t)
}

// TestReadvertise checks when a node advertises again: not on a mere Kick,
// but when Reprovide has passed and when the host's addresses change.
func TestReadvertise(t *testing.T) {
	clock := &fakeClock{}
	clock.Set(time.Date(2030, 1, 1, 6, 0, 0, 0, time.UTC))
	anchor := newHost(t)
	cfg := Config{Now: clock.Now, Reprovide: time.Hour, Lookup: time.Hour, Bootstrap: []peer.AddrInfo{addrInfo(anchor)}}
	srv := cfg
	srv.Mode = ModeServer
	startNode(t, anchor, srv)
	secret := randomSecret(t)
	a := startNode(t, newHost(t), cfg)
	b := startNode(t, newHost(t), cfg)
	for _, nd := range []*node{a, b} {
		nd.d.SetTopics([]Topic{{ID: "t", Secret: secret}})
	}
	p := PeriodAt(clock.Now(), DefaultPeriod)
	testutil.Eventually(t, 10*time.Second, func() error {
		if err := advertised(a, p); err != nil {
			return err
		}
		return advertised(b, p)
	})
	adv := a.d.Status().Advertisements
	if adv != 1 {
		t.Fatalf("advertisements = %d, want 1", adv)
	}

	// A Kick looks up but does not advertise what is not due.
	lookups := a.d.Status().Lookups
	a.d.Kick()
	testutil.Eventually(t, 10*time.Second, func() error {
		if got := a.d.Status().Lookups; got <= lookups {
			return fmt.Errorf("lookups %d", got)
		}
		return nil
	})
	testutil.Eventually(t, 10*time.Second, func() error {
		if got := a.foundUnder("t"); !slices.Equal(got, []peer.ID{b.h.ID()}) {
			return fmt.Errorf("a found %v", got)
		}
		return nil
	})
	if got := a.d.Status().Advertisements; got != adv {
		t.Fatalf("advertisements = %d after a Kick, want %d", got, adv)
	}

	// Reprovide passes.
	clock.Set(clock.Now().Add(time.Hour + time.Second))
	a.d.Kick()
	testutil.Eventually(t, 10*time.Second, func() error {
		if got := a.d.Status().Advertisements; got != adv+1 {
			return fmt.Errorf("advertisements = %d, want %d", got, adv+1)
		}
		return nil
	})

	// The host gets a new address: the event makes it advertise again, and
	// the record that b finds carries the new address.
	before := a.h.Network().ListenAddresses()
	if err := a.h.Network().Listen(ma.StringCast("/ip4/127.0.0.2/udp/0/quic-v1")); err != nil {
		t.Fatalf("listening on a second address: %v", err)
	}
	var added ma.Multiaddr
	for _, la := range a.h.Network().ListenAddresses() {
		if !slices.ContainsFunc(before, la.Equal) {
			added = la
		}
	}
	if added == nil {
		t.Fatal("no new listen address")
	}
	testutil.Eventually(t, 10*time.Second, func() error {
		st := a.d.Status()
		if st.AddressChanges == 0 || st.Advertisements != adv+2 {
			return fmt.Errorf("address changes %d, advertisements %d (want %d)", st.AddressChanges, st.Advertisements, adv+2)
		}
		return nil
	})
	got := providers(t, b, secret, p)[a.h.ID()]
	if !slices.ContainsFunc(got.Addrs, added.Equal) {
		t.Errorf("a's record has addresses %v, want %v among them", got.Addrs, added)
	}
}

// TestTimeToFindScale measures how long N nodes take to find each other;
// run with -discovery.nodes=N.
func TestTimeToFindScale(t *testing.T) {
	if *scaleNodes == 0 {
		t.Skip("set -discovery.nodes to run")
	}
	n := *scaleNodes
	members := map[string][]int{}
	for i := range n {
		topic := fmt.Sprintf("folder-%d", i%5)
		members[topic] = append(members[topic], i)
	}
	start := time.Now()
	net := startNetwork(t, n, max(2, n/5), members, Config{Reprovide: 1000 * time.Hour, Lookup: time.Hour})
	started := time.Since(start)
	p := PeriodAt(net.clock.Now(), DefaultPeriod)
	testutil.Eventually(t, 2*time.Minute, func() error {
		for _, nd := range net.nodes {
			if err := advertised(nd, p); err != nil {
				return err
			}
		}
		return nil
	})
	advertisedAt := time.Since(start)
	net.kickAll()
	testutil.Eventually(t, 2*time.Minute, net.allFound)
	t.Logf("%d nodes: hosts+start %v, all advertised after %v, all found after %v",
		n, started.Round(time.Millisecond), advertisedAt.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
}

func TestNewConfig(t *testing.T) {
	h := newHost(t)
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{}, "no host"},
		{Config{Host: h, Mode: Mode(7)}, "unknown mode"},
		{Config{Host: h, Period: time.Hour, Overlap: 20 * time.Minute}, "quarter"},
		{Config{Host: h, Bootstrap: []peer.AddrInfo{{}}}, "without an ID"},
	} {
		if _, err := New(c.cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("New(%+v) = %v, want an error with %q", c.cfg, err, c.want)
		}
	}
	d, err := New(Config{Host: h, Period: time.Hour, Bootstrap: []peer.AddrInfo{addrInfo(h)}})
	if err != nil {
		t.Fatal(err)
	}
	if d.cfg.Overlap != 10*time.Minute || len(d.bootstrap) != 0 || d.cfg.LANService != DefaultLANService {
		t.Errorf("defaults: %+v, bootstrap %v", d.cfg, d.bootstrap)
	}
	if st := d.Status(); st.Running || st.Mode != "client" || len(st.Topics) != 0 {
		t.Errorf("status before Run: %+v", st)
	}
	if d, err := New(Config{Host: h, Mode: ModeAuto}); err != nil || d.Status().ConfiguredMode != "auto" {
		t.Errorf("auto mode: %v", err)
	}
}

func TestSetTopics(t *testing.T) {
	d, err := New(Config{Host: newHost(t), Logger: testutil.Logger(t, "", slog.LevelInfo)})
	if err != nil {
		t.Fatal(err)
	}
	d.SetTopics([]Topic{{ID: "a", Secret: []byte{1}}, {ID: "b", Secret: []byte{2}}})
	a := d.mu.topics["a"]
	clear(d.mu.pending)
	secret := []byte{3}
	d.SetTopics([]Topic{{ID: "b", Secret: []byte{9}}, {ID: "a", Secret: []byte{1}}, {ID: "c", Secret: secret}, {ID: "c", Secret: secret}})
	secret[0] = 4 // SetTopics keeps its own copy
	if d.mu.topics["a"] != a {
		t.Error("unchanged topic replaced")
	}
	if !slices.Equal(d.mu.order, []string{"b", "a", "c"}) {
		t.Errorf("order %v", d.mu.order)
	}
	if !d.mu.pending["b"] || d.mu.pending["a"] || !d.mu.pending["c"] || d.mu.topics["c"].secret[0] != 3 {
		t.Errorf("pending %v", d.mu.pending)
	}
	d.SetTopics(nil)
	if len(d.mu.topics) != 0 || len(d.mu.pending) != 0 {
		t.Errorf("topics left: %v %v", d.mu.topics, d.mu.pending)
	}
}

// TestRunTwice checks Run's lifecycle: it stops when ctx ends and cannot
// run again.
func TestRunTwice(t *testing.T) {
	nd := startNode(t, newHost(t), Config{Mode: ModeServer})
	testutil.Eventually(t, 5*time.Second, func() error {
		if st := nd.d.Status(); !st.Running || st.Mode != "server" {
			return fmt.Errorf("status %+v", st)
		}
		return nil
	})
	if err := nd.d.Run(t.Context()); err == nil {
		t.Error("second Run succeeded")
	}
}

// TestBootstrapRetry starts a client before its anchor runs the DHT and
// with a dead bootstrap peer first in its list: it keeps trying and joins
// once the anchor serves.
func TestBootstrapRetry(t *testing.T) {
	dead := newHost(t)
	deadInfo := addrInfo(dead)
	dead.Close()
	anchor := newHost(t)
	boot := []peer.AddrInfo{deadInfo, addrInfo(anchor)}
	clock := &fakeClock{}
	clock.Set(time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC))
	client := startNode(t, newHost(t), Config{Bootstrap: boot, Timeout: 2 * time.Second, Now: clock.Now})
	client.d.SetTopics([]Topic{{ID: "t", Secret: []byte("s")}})
	testutil.Eventually(t, 5*time.Second, func() error {
		st := client.d.Status()
		if st.BootstrapConnected != 1 || len(st.Topics) != 1 || st.Topics[0].LastError != "waiting for DHT peers" {
			return fmt.Errorf("status %+v", st)
		}
		return nil
	})
	startNode(t, anchor, Config{Mode: ModeServer, Bootstrap: boot})
	p := PeriodAt(clock.Now(), DefaultPeriod)
	testutil.Eventually(t, 20*time.Second, func() error { return advertised(client, p) })
	if st := client.d.Status(); st.RoutingTableSize != 1 || st.BootstrapPeers != 2 || st.BootstrapConnected != 1 || st.Topics[0].LastError != "" {
		t.Errorf("status %+v", st)
	}
}
