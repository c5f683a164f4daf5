package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/shoalsync/shoal/internal/netns"
	"github.com/shoalsync/shoal/internal/testutil"
	"github.com/shoalsync/shoal/sync/model"
)

// Multi-host tests: each agent is a `shoal run` process in a network
// namespace of its own (internal/netns), so addresses, routes, blocked
// paths and multicast are real. They skip with the reason where namespaces
// cannot be made; CI runs them as root (SHOAL_REQUIRE_NETNS=1 turns the
// skip into a failure).

// nsAgent is a shoal agent running in a namespace.
type nsAgent struct {
	t    *testing.T
	name string
	ns   *netns.NS
	home string
	dir  string // its synced folder
	args []string
	cmd  *exec.Cmd
	out  *syncBuf
	done chan struct{}
}

// start runs the agent process and waits for its admin API.
func (a *nsAgent) start() {
	t := a.t
	t.Helper()
	a.done = make(chan struct{})
	a.cmd = a.ns.Command(t, context.Background(), shoalBinary(t), a.args...)
	a.cmd.Env = append(os.Environ(), "SHOAL_TEST_DISCOVERY=1", "SHOAL_LOG=debug")
	a.cmd.Stdout, a.cmd.Stderr = a.out, a.out
	if err := a.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := a.done
	go func() { a.cmd.Wait(); close(done) }()
	testutil.Eventually(t, 30*time.Second, func() error {
		select {
		case <-done:
			t.Fatalf("agent %s exited early:\n%s", a.name, a.out.String())
		default:
		}
		_, err := a.cli("status", "--json")
		return err
	})
}

// stop ends the agent process with SIGINT (SIGKILL after 20 s).
func (a *nsAgent) stop() {
	a.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-a.done:
	case <-time.After(20 * time.Second):
		a.cmd.Process.Kill()
		<-a.done
	}
}

type syncBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startNSAgent runs `shoal run` with extra flags in ns.
func startNSAgent(t *testing.T, ns *netns.NS, name string, flags ...string) *nsAgent {
	t.Helper()
	base := t.TempDir()
	a := &nsAgent{t: t, name: name, ns: ns, home: filepath.Join(base, "home"), dir: filepath.Join(base, "folder"), out: &syncBuf{}}
	if err := os.MkdirAll(a.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	a.args = append([]string{"--home", a.home, "run", "--no-default-folder", "--name", name,
		"--listen", "quic://0.0.0.0:0", "--listen", "tcp://0.0.0.0:0", "--admin", "127.0.0.1:0"}, flags...)
	a.start()
	t.Cleanup(func() {
		a.stop()
		if t.Failed() {
			t.Logf("agent %s output (last 30000 bytes):\n%s", name, tail(a.out.String(), 30000))
		}
	})
	return a
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// cli runs a shoal command against the agent, inside its namespace (the
// admin API listens on the namespace's loopback).
func (a *nsAgent) cli(args ...string) (string, error) {
	cmd := a.ns.Command(a.t, context.Background(), shoalBinary(a.t), append([]string{"--home", a.home}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("shoal %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

func (a *nsAgent) mustCLI(args ...string) string {
	a.t.Helper()
	out, err := a.cli(args...)
	if err != nil {
		a.t.Fatal(err)
	}
	return out
}

func (a *nsAgent) status() model.Status {
	a.t.Helper()
	var st model.Status
	if err := json.Unmarshal([]byte(a.mustCLI("status", "--json")), &st); err != nil {
		a.t.Fatal(err)
	}
	return st
}

// addr returns the agent's first listen address on a non-loopback
// interface (with /p2p/ID).
func (a *nsAgent) addr() string {
	a.t.Helper()
	for _, s := range a.status().ListenAddrs {
		if !strings.Contains(s, "/127.0.0.1/") && strings.Contains(s, "/quic-v1/") {
			return s
		}
	}
	a.t.Fatalf("agent %s has no reachable listen address: %v", a.name, a.status().ListenAddrs)
	return ""
}

func (a *nsAgent) write(rel, content string) {
	a.t.Helper()
	p := filepath.Join(a.dir, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		a.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		a.t.Fatal(err)
	}
}

func (a *nsAgent) has(rel, want string) error {
	b, err := os.ReadFile(filepath.Join(a.dir, rel))
	if err != nil {
		return fmt.Errorf("%s: %w", a.name, err)
	}
	if string(b) != want {
		return fmt.Errorf("%s: %s holds %q, want %q", a.name, rel, b, want)
	}
	return nil
}

// shareByKey makes a's folder a keyed folder and joins b to it with the key
// alone (no address).
func shareByKey(t *testing.T, a, b *nsAgent) {
	t.Helper()
	a.mustCLI("folder", "add", a.dir)
	fs := a.status().Folders
	if len(fs) != 1 {
		t.Fatalf("%s has folders %+v", a.name, fs)
	}
	var keys map[string]string
	if err := json.Unmarshal([]byte(a.mustCLI("folder", "keys", fs[0].ID, "--json")), &keys); err != nil {
		t.Fatal(err)
	}
	b.mustCLI("folder", "join", keys["rw"], b.dir)
}

// pathTo waits until a is connected to some device by the given path and
// returns that device's status.
func pathTo(t *testing.T, a *nsAgent, want string, timeout time.Duration) model.DeviceStatus {
	t.Helper()
	var got model.DeviceStatus
	testutil.Eventually(t, timeout, func() error {
		for _, d := range a.status().Devices {
			if d.Connected && d.Path == want {
				got = d
				return nil
			}
		}
		return fmt.Errorf("%s: no device connected by %s: %+v", a.name, want, a.status().Devices)
	})
	return got
}

// TestNetnsFindThroughAnchor: two agents in separate networks that know only
// a folder key and the anchor's address find each other through the DHT on
// the anchor, connect directly and sync; when direct traffic between them
// is blocked, they sync through the anchor's relay.
func TestNetnsFindThroughAnchor(t *testing.T) {
	tp := netns.NewTopology(t, netns.TopologyOptions{})
	anchor := startNSAgent(t, tp.Anchor, "anchor", "--role", "anchor", "--lan=false")
	anchorAddr := anchor.addr()
	a := startNSAgent(t, tp.Agents[0], "alice", "--bootstrap", anchorAddr, "--lan=false")
	b := startNSAgent(t, tp.Agents[1], "bob", "--bootstrap", anchorAddr, "--lan=false")
	a.write("plan.txt", "found through the anchor")
	shareByKey(t, a, b)
	testutil.Eventually(t, 90*time.Second, func() error { return b.has("plan.txt", "found through the anchor") })
	d := pathTo(t, b, "direct", 60*time.Second)
	if strings.Contains(d.Address, tp.AnchorAddr().String()) {
		t.Fatalf("direct path goes through the anchor: %+v", d)
	}
	if st := b.status(); st.Network == nil || !st.Network.DHT.Enabled || st.Network.RelayReservations != 1 {
		t.Fatalf("network status %+v", st.Network)
	}

	// Block the direct path: the session falls back to the relay.
	tp.BlockDirect(t)
	b.write("reply.txt", "through the relay")
	testutil.Eventually(t, 120*time.Second, func() error { return a.has("reply.txt", "through the relay") })
	pathTo(t, a, "relayed", 30*time.Second)
	big := strings.Repeat("relayed data is end-to-end encrypted\n", 20000) // ~740 KiB: real data, not signalling
	a.write("big.txt", big)
	testutil.Eventually(t, 60*time.Second, func() error { return b.has("big.txt", big) })
}

// TestNetnsRelayOnly: with direct traffic blocked from the start, two
// agents that find each other through the anchor sync through its relay.
func TestNetnsRelayOnly(t *testing.T) {
	tp := netns.NewTopology(t, netns.TopologyOptions{})
	tp.BlockDirect(t)
	anchor := startNSAgent(t, tp.Anchor, "anchor", "--role", "anchor", "--lan=false")
	anchorAddr := anchor.addr()
	a := startNSAgent(t, tp.Agents[0], "alice", "--bootstrap", anchorAddr, "--lan=false")
	b := startNSAgent(t, tp.Agents[1], "bob", "--bootstrap", anchorAddr, "--lan=false")
	a.write("doc.txt", "only the relay connects us")
	shareByKey(t, a, b)
	testutil.Eventually(t, 120*time.Second, func() error { return b.has("doc.txt", "only the relay connects us") })
	d := pathTo(t, b, "relayed", 30*time.Second)
	if !strings.Contains(d.Address, "p2p-circuit") {
		t.Fatalf("relayed session address %q", d.Address)
	}
}

// TestNetnsAddressChange: an agent whose address changes (a laptop moving
// networks) keeps syncing without anyone doing anything (here QUIC keeps
// the session across the move), and after the other side restarts the two
// meet again at the new address.
func TestNetnsAddressChange(t *testing.T) {
	tp := netns.NewTopology(t, netns.TopologyOptions{})
	anchor := startNSAgent(t, tp.Anchor, "anchor", "--role", "anchor", "--lan=false")
	anchorAddr := anchor.addr()
	a := startNSAgent(t, tp.Agents[0], "alice", "--bootstrap", anchorAddr, "--lan=false")
	b := startNSAgent(t, tp.Agents[1], "bob", "--bootstrap", anchorAddr, "--lan=false")
	a.write("before.txt", "before the move")
	shareByKey(t, a, b)
	testutil.Eventually(t, 90*time.Second, func() error { return b.has("before.txt", "before the move") })

	old := tp.AgentAddr(1)
	moved := tp.MoveAgent(t, 1)
	if moved == old {
		t.Fatalf("address did not change: %s", moved)
	}
	a.write("after.txt", "after the move")
	testutil.Eventually(t, 150*time.Second, func() error { return b.has("after.txt", "after the move") })
	b.write("back.txt", "from the new network")
	testutil.Eventually(t, 60*time.Second, func() error { return a.has("back.txt", "from the new network") })
	// Alice restarts: she knows bob by device ID alone (he joined by key),
	// so only his new provider record in the DHT tells her where he is.
	a.stop()
	a.start()
	a.write("restart.txt", "found again")
	testutil.Eventually(t, 90*time.Second, func() error { return b.has("restart.txt", "found again") })
	// The first session may run on the relay until a direct dial to the new
	// address succeeds (retried every 30 s).
	testutil.Eventually(t, 90*time.Second, func() error {
		for _, d := range a.status().Devices {
			if d.Connected && strings.Contains(d.Address, "/"+moved.String()+"/") {
				return nil
			}
		}
		return fmt.Errorf("alice is not connected to bob's new address %s: %+v", moved, a.status().Devices)
	})
}

// TestNetnsLANDiscovery: two agents on one network segment, with no anchor
// and no addresses, find each other by LAN discovery alone.
func TestNetnsLANDiscovery(t *testing.T) {
	tp := netns.NewTopology(t, netns.TopologyOptions{SharedLAN: true})
	a := startNSAgent(t, tp.Agents[0], "alice")
	b := startNSAgent(t, tp.Agents[1], "bob")
	a.write("lan.txt", "found on the LAN")
	shareByKey(t, a, b)
	testutil.Eventually(t, 90*time.Second, func() error { return b.has("lan.txt", "found on the LAN") })
	pathTo(t, b, "lan", 30*time.Second)
}

// TestNetnsBehindNAT: two agents, each behind its own NAT (the same private
// address in both homes), that know only the key and the anchor, find each
// other and sync. (Whether the session then moves to a hole-punched path is
// logged, not asserted: the test networks use 10.99.0.0/16, which libp2p
// treats as private, and DCUtR punches only to public addresses.)
func TestNetnsBehindNAT(t *testing.T) {
	tp := netns.NewTopology(t, netns.TopologyOptions{NAT: true})
	anchor := startNSAgent(t, tp.Anchor, "anchor", "--role", "anchor", "--lan=false")
	anchorAddr := anchor.addr()
	a := startNSAgent(t, tp.Agents[0], "alice", "--bootstrap", anchorAddr, "--lan=false")
	b := startNSAgent(t, tp.Agents[1], "bob", "--bootstrap", anchorAddr, "--lan=false")
	a.write("nat.txt", "through two NATs")
	shareByKey(t, a, b)
	testutil.Eventually(t, 120*time.Second, func() error { return b.has("nat.txt", "through two NATs") })
	b.write("back.txt", "and back")
	testutil.Eventually(t, 60*time.Second, func() error { return a.has("back.txt", "and back") })
	for _, d := range b.status().Devices {
		t.Logf("bob reaches %s by %s at %s", d.Name, d.Path, d.Address)
	}
}
