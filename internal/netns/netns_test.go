package netns

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/shoalsync/shoal/internal/testutil"
)

// helperEnv makes the test binary act as a helper process (see TestMain).
const helperEnv = "SHOAL_NETNS_HELPER"

func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "":
		os.Exit(m.Run())
	case "udpecho":
		os.Exit(udpEchoMain())
	default:
		fmt.Fprintln(os.Stderr, "unknown helper", os.Getenv(helperEnv))
		os.Exit(2)
	}
}

// udpEchoMain answers every datagram on UDP port 7000 with the sender's
// address and the helper's network namespace, as "ADDR NETNS".
func udpEchoMain() int {
	c, err := net.ListenPacket("udp4", ":7000")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ns, _ := os.Readlink("/proc/self/ns/net")
	fmt.Println("ready")
	buf := make([]byte, 1500)
	for {
		_, from, err := c.ReadFrom(buf)
		if err != nil {
			return 1
		}
		_, _ = c.WriteTo([]byte(from.String()+" "+ns), from)
	}
}

// server is a TCP listener inside a namespace that tells each client the
// address it sees the client at, then hangs up.
type server struct {
	addr netip.AddrPort
	ln   net.Listener
	wg   sync.WaitGroup
}

// startServer listens on every address of ns, TCP port chosen by the
// kernel, and serves until t ends.
func startServer(t *testing.T, ns *NS, ip netip.Addr) *server {
	t.Helper()
	ln, err := ns.Listen("tcp4", ":0")
	if err != nil {
		t.Fatalf("listening in %s: %v", ns, err)
	}
	s := &server{ln: ln, addr: netip.AddrPortFrom(ip, uint16(ln.Addr().(*net.TCPAddr).Port))}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_, _ = fmt.Fprintln(c, c.RemoteAddr().(*net.TCPAddr).IP)
			c.Close()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		s.wg.Wait()
	})
	return s
}

// dialProbe dials s from inside ns and returns the address s saw it at.
func dialProbe(ns *NS, s *server, timeout time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	c, err := ns.DialContext(ctx, "tcp4", s.addr.String())
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(timeout))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("reading from %s: %w", s.addr, err)
	}
	return strings.TrimSpace(line), nil
}

// reach checks that from reaches s and that s sees it at want.
func reach(t *testing.T, from *NS, s *server, want netip.Addr) {
	t.Helper()
	seen, err := dialProbe(from, s, 3*time.Second)
	if err != nil {
		t.Fatalf("%s cannot reach %s: %v", from, s.addr, err)
	}
	if seen != want.String() {
		t.Fatalf("%s reached %s as %s, want %s", from, s.addr, seen, want)
	}
}

// blocked checks that a connection from from to s times out (a silent
// drop, not a refusal or a local error).
func blocked(t *testing.T, from *NS, s *server) {
	t.Helper()
	_, err := dialProbe(from, s, 300*time.Millisecond)
	if err == nil {
		t.Fatalf("%s reached %s; want it blocked", from, s.addr)
	}
	if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("%s -> %s failed with %v; want a timeout (silent drop)", from, s.addr, err)
	}
}

func timed(t *testing.T, what string, f func()) {
	t.Helper()
	start := time.Now()
	f()
	t.Logf("%s took %v", what, time.Since(start).Round(time.Millisecond))
}

func TestTopologyDirect(t *testing.T) {
	t.Parallel()
	var tp *Topology
	timed(t, "NewTopology{}", func() { tp = NewTopology(t, TopologyOptions{}) })
	anchor := startServer(t, tp.Anchor, tp.AnchorAddr())
	a0 := startServer(t, tp.Agents[0], tp.AgentAddr(0))
	a1 := startServer(t, tp.Agents[1], tp.AgentAddr(1))
	reach(t, tp.Agents[0], anchor, tp.AgentAddr(0))
	reach(t, tp.Agents[1], anchor, tp.AgentAddr(1))
	reach(t, tp.Anchor, a0, tp.AnchorAddr())
	reach(t, tp.Agents[0], a1, tp.AgentAddr(0))
	reach(t, tp.Agents[1], a0, tp.AgentAddr(1))
	if got, want := tp.AgentAddr(0).String(), "10.99.16.2"; got != want {
		t.Errorf("agent0 at %s, want %s", got, want)
	}
}

func TestTopologyBlockDirect(t *testing.T) {
	t.Parallel()
	tp := NewTopology(t, TopologyOptions{})
	anchor := startServer(t, tp.Anchor, tp.AnchorAddr())
	a0 := startServer(t, tp.Agents[0], tp.AgentAddr(0))
	a1 := startServer(t, tp.Agents[1], tp.AgentAddr(1))
	reach(t, tp.Agents[0], a1, tp.AgentAddr(0))

	unblock := tp.BlockDirect(t)
	blocked(t, tp.Agents[0], a1)
	blocked(t, tp.Agents[1], a0)
	reach(t, tp.Agents[0], anchor, tp.AgentAddr(0))
	reach(t, tp.Agents[1], anchor, tp.AgentAddr(1))
	reach(t, tp.Anchor, a1, tp.AnchorAddr())

	// The block covers the agent's move space too.
	moved := tp.MoveAgent(t, 1)
	a1 = startServer(t, tp.Agents[1], moved)
	blocked(t, tp.Agents[0], a1)
	reach(t, tp.Anchor, a1, tp.AnchorAddr())

	unblock()
	reach(t, tp.Agents[0], a1, tp.AgentAddr(0))
	reach(t, tp.Agents[1], a0, moved)
}

func TestTopologyMoveAgent(t *testing.T) {
	t.Parallel()
	tp := NewTopology(t, TopologyOptions{})
	anchor := startServer(t, tp.Anchor, tp.AnchorAddr())

	// A UDP socket made before the move, bound to 0.0.0.0, keeps working
	// after it and is seen at the new address.
	echo, err := tp.Anchor.ListenPacket("udp4", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer echo.Close()
	sock, err := tp.Agents[0].ListenPacket("udp4", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer sock.Close()
	to := &net.UDPAddr{IP: tp.AnchorAddr().AsSlice(), Port: echo.LocalAddr().(*net.UDPAddr).Port}
	seenFrom := func() string {
		t.Helper()
		if _, err := sock.WriteTo([]byte("hi"), to); err != nil {
			t.Fatalf("sending from agent0: %v", err)
		}
		_ = echo.SetReadDeadline(time.Now().Add(3 * time.Second))
		_, from, err := echo.ReadFrom(make([]byte, 16))
		if err != nil {
			t.Fatalf("anchor receiving: %v", err)
		}
		return from.(*net.UDPAddr).IP.String()
	}

	old := tp.AgentAddr(0)
	if got := seenFrom(); got != old.String() {
		t.Fatalf("anchor saw agent0 at %s, want %s", got, old)
	}
	var moved netip.Addr
	timed(t, "MoveAgent", func() { moved = tp.MoveAgent(t, 0) })
	if moved == old || moved != tp.AgentAddr(0) {
		t.Fatalf("MoveAgent returned %s; old %s, AgentAddr %s", moved, old, tp.AgentAddr(0))
	}
	if got := seenFrom(); got != moved.String() {
		t.Fatalf("after the move anchor saw agent0 at %s, want %s", got, moved)
	}
	reach(t, tp.Agents[0], anchor, moved)
	reach(t, tp.Agents[1], startServer(t, tp.Agents[0], moved), tp.AgentAddr(1))
	addrs, err := tp.Agents[0].Addrs()
	if err != nil {
		t.Fatal(err)
	}
	if len(addrs) != 1 || addrs[0] != moved {
		t.Fatalf("agent0 has addresses %v, want only %s", addrs, moved)
	}

	// SetAddr, the lower-level change: another address in the same subnet
	// (unused: the LAN hands out .2, .3, ...), then the default route that
	// went with the old one.
	tp.Agents[1].SetAddr(t, tp.AgentLinks[1].Name, "10.99.32.200/24")
	tp.Agents[1].AddRoute(t, "default", tp.AgentLinks[1].LAN().Gateway.String())
	reach(t, tp.Agents[1], anchor, netip.MustParseAddr("10.99.32.200"))
}

func TestSharedLANMulticast(t *testing.T) {
	t.Parallel()
	var tp *Topology
	timed(t, "NewTopology{SharedLAN}", func() { tp = NewTopology(t, TopologyOptions{SharedLAN: true}) })
	if tp.AgentLinks[0].LAN() != tp.AgentLinks[1].LAN() {
		t.Fatal("agents not on one LAN")
	}
	group := &net.UDPAddr{IP: net.IPv4(224, 0, 0, 251), Port: 5353}

	// Receivers on agent1 and (on another LAN) the anchor, joined on eth0.
	join := func(ns *NS) *net.UDPConn {
		t.Helper()
		var c *net.UDPConn
		err := ns.Do(func() error {
			ifi, err := net.InterfaceByName("eth0")
			if err != nil {
				return err
			}
			c, err = net.ListenMulticastUDP("udp4", ifi, group)
			return err
		})
		if err != nil {
			t.Fatalf("joining %s in %s: %v", group, ns, err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	recv1 := join(tp.Agents[1])
	recvAnchor := join(tp.Anchor)

	sender, err := tp.Agents[0].ListenPacket("udp4", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer sender.Close()
	buf := make([]byte, 64)
	testutil.Eventually(t, 5*time.Second, func() error {
		if _, err := sender.WriteTo([]byte("mdns?"), group); err != nil {
			return fmt.Errorf("sending: %w", err)
		}
		_ = recv1.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		n, from, err := recv1.ReadFromUDP(buf)
		if err != nil {
			return fmt.Errorf("agent1 receiving: %w", err)
		}
		if string(buf[:n]) != "mdns?" || !from.IP.Equal(tp.AgentAddr(0).AsSlice()) {
			return fmt.Errorf("agent1 got %q from %v", buf[:n], from)
		}
		return nil
	})
	// Link-local multicast is not routed: the anchor hears nothing.
	_ = recvAnchor.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if n, from, err := recvAnchor.ReadFromUDP(buf); err == nil {
		t.Fatalf("anchor received %q from %v across the router", buf[:n], from)
	}

	// Agents on a shared LAN reach each other on it and the anchor.
	anchor := startServer(t, tp.Anchor, tp.AnchorAddr())
	a0 := startServer(t, tp.Agents[0], tp.AgentAddr(0))
	reach(t, tp.Agents[1], a0, tp.AgentAddr(1))
	reach(t, tp.Agents[0], anchor, tp.AgentAddr(0))
}

func TestSharedLANBlockDirect(t *testing.T) {
	t.Parallel()
	nftPath(t)
	tp := NewTopology(t, TopologyOptions{SharedLAN: true})
	anchor := startServer(t, tp.Anchor, tp.AnchorAddr())
	a0 := startServer(t, tp.Agents[0], tp.AgentAddr(0))
	a1 := startServer(t, tp.Agents[1], tp.AgentAddr(1))
	unblock := tp.BlockDirect(t)
	blocked(t, tp.Agents[0], a1)
	blocked(t, tp.Agents[1], a0)
	reach(t, tp.Agents[0], anchor, tp.AgentAddr(0))
	reach(t, tp.Agents[1], anchor, tp.AgentAddr(1))
	unblock()
	reach(t, tp.Agents[0], a1, tp.AgentAddr(0))
}

func TestNAT(t *testing.T) {
	t.Parallel()
	nftPath(t)
	var tp *Topology
	timed(t, "NewTopology{NAT}", func() { tp = NewTopology(t, TopologyOptions{NAT: true}) })
	anchor := startServer(t, tp.Anchor, tp.AnchorAddr())
	// Both homes use the same private subnet; the anchor sees the NATs.
	if tp.AgentAddr(0) != tp.AgentAddr(1) || tp.AgentAddr(0).String() != "192.168.1.2" {
		t.Fatalf("agents at %s and %s, want 192.168.1.2 both", tp.AgentAddr(0), tp.AgentAddr(1))
	}
	reach(t, tp.Agents[0], anchor, tp.PublicAddr(0))
	reach(t, tp.Agents[1], anchor, tp.PublicAddr(1))
	// Nothing reaches an agent unsolicited, not even at its NAT's address.
	a1 := startServer(t, tp.Agents[1], tp.PublicAddr(1))
	if _, err := dialProbe(tp.Anchor, a1, 300*time.Millisecond); err == nil {
		t.Fatal("anchor reached agent1 through its NAT unsolicited")
	}

	// UDP hole punching between the two NATed agents: each learns the
	// other's public address and port from the anchor (as STUN or libp2p
	// identify would), then both send to each other.
	stun, err := tp.Anchor.ListenPacket("udp4", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer stun.Close()
	stunAddr := &net.UDPAddr{IP: tp.AnchorAddr().AsSlice(), Port: stun.LocalAddr().(*net.UDPAddr).Port}
	punch := func(t *testing.T) error {
		var socks [2]net.PacketConn
		for i := range 2 {
			c, err := tp.Agents[i].ListenPacket("udp4", ":4000")
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			socks[i] = c
			if _, err := c.WriteTo([]byte("stun"), stunAddr); err != nil {
				t.Fatal(err)
			}
		}
		var public [2]*net.UDPAddr
		for range 2 {
			_ = stun.SetReadDeadline(time.Now().Add(3 * time.Second))
			_, from, err := stun.ReadFrom(make([]byte, 16))
			if err != nil {
				t.Fatalf("anchor receiving: %v", err)
			}
			for i := range 2 {
				if from.(*net.UDPAddr).IP.Equal(tp.PublicAddr(i).AsSlice()) {
					public[i] = from.(*net.UDPAddr)
				}
			}
		}
		if public[0] == nil || public[1] == nil {
			t.Fatalf("anchor saw %v, want the NATs %s and %s", public, tp.PublicAddr(0), tp.PublicAddr(1))
		}
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				peer := public[1-i]
				buf := make([]byte, 16)
				deadline := time.Now().Add(time.Second)
				for time.Now().Before(deadline) {
					_, _ = socks[i].WriteTo([]byte("punch"), peer)
					_ = socks[i].SetReadDeadline(time.Now().Add(50 * time.Millisecond))
					if _, from, err := socks[i].ReadFrom(buf); err == nil && from.String() == peer.String() {
						// Keep sending a little so the peer hears us too.
						for range 5 {
							_, _ = socks[i].WriteTo([]byte("punch"), peer)
						}
						return
					}
				}
				errs[i] = fmt.Errorf("agent%d heard nothing from %v", i, peer)
			}()
		}
		wg.Wait()
		return errors.Join(errs...)
	}
	if err := punch(t); err != nil {
		t.Fatalf("hole punching through two NATs: %v", err)
	}
	unblock := tp.BlockDirect(t)
	if err := punch(t); err == nil {
		t.Fatal("hole punching worked with the direct path blocked")
	}
	unblock()

	// NS.Block on the NAT itself wins over its "established" accept rule.
	unblockNAT := tp.NATs[0].NS.Block(t, tp.AnchorAddr().String()+"/32")
	blocked(t, tp.Agents[0], anchor)
	unblockNAT()
	reach(t, tp.Agents[0], anchor, tp.PublicAddr(0))

	// Moving the NAT uplink changes the public address the anchor sees.
	old := tp.PublicAddr(0)
	moved := tp.MoveAgent(t, 0)
	if moved == old {
		t.Fatalf("public address unchanged: %s", moved)
	}
	reach(t, tp.Agents[0], anchor, moved)
}

func TestDoThreadsAndGoroutines(t *testing.T) {
	t.Parallel()
	r := NewRouter(t, "r")
	lan := r.LAN(t, "10.5.0.0/24")
	a, b := New(t, "a"), New(t, "b")
	la, lb := lan.Attach(t, a), lan.Attach(t, b)

	self, err := os.Readlink("/proc/thread-self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	var inside, goroutine string
	err = a.Do(func() error {
		inside, _ = os.Readlink("/proc/thread-self/ns/net")
		done := make(chan struct{})
		go func() {
			defer close(done)
			goroutine, _ = os.Readlink("/proc/thread-self/ns/net")
		}()
		<-done
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	nsInode, err := os.Stat(a.Path())
	if err != nil {
		t.Fatal(err)
	}
	if inside == self || !strings.Contains(inside, fmt.Sprint(inodeOf(nsInode))) {
		t.Errorf("inside Do the thread is in %s; test process in %s, namespace inode %d", inside, self, inodeOf(nsInode))
	}
	if goroutine != self {
		t.Errorf("a goroutine started inside Do ran in %s, want the process's %s", goroutine, self)
	}
	// After Do the calling goroutine is still where it was.
	if now, _ := os.Readlink("/proc/thread-self/ns/net"); now != self {
		t.Errorf("after Do the test goroutine is in %s, want %s", now, self)
	}

	// Sockets made inside Do work from any goroutine: a TCP listener and
	// a UDP socket used outside, concurrently.
	s := startServer(t, b, lb.Addr())
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	udpB, err := b.ListenPacket("udp4", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer udpB.Close()
	udpA, err := a.ListenPacket("udp4", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer udpA.Close()
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if seen, err := dialProbe(a, s, 3*time.Second); err != nil || seen != la.Addr().String() {
				errs <- fmt.Errorf("probe: seen %q, %v", seen, err)
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		to := &net.UDPAddr{IP: lb.Addr().AsSlice(), Port: udpB.LocalAddr().(*net.UDPAddr).Port}
		if _, err := udpA.WriteTo([]byte("x"), to); err != nil {
			errs <- err
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	_ = udpB.SetReadDeadline(time.Now().Add(3 * time.Second))
	if _, from, err := udpB.ReadFrom(make([]byte, 8)); err != nil || !from.(*net.UDPAddr).IP.Equal(la.Addr().AsSlice()) {
		t.Fatalf("UDP from a socket made in Do: from %v, %v", from, err)
	}

	// A panic inside Do reaches the caller.
	func() {
		defer func() {
			if v := recover(); v != "boom" {
				t.Errorf("recovered %v, want boom", v)
			}
		}()
		_ = a.Do(func() error { panic("boom") })
	}()
}

func TestStartProcess(t *testing.T) {
	t.Parallel()
	r := NewRouter(t, "r")
	lan := r.LAN(t, "10.6.0.0/24")
	a, b := New(t, "a"), New(t, "b")
	la, lb := lan.Attach(t, a), lan.Attach(t, b)

	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ready := make(chan struct{})
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	var readWG sync.WaitGroup
	readWG.Add(1)
	go func() {
		defer readWG.Done()
		sc := bufio.NewScanner(pr)
		if sc.Scan() && sc.Text() == "ready" {
			close(ready)
		}
		for sc.Scan() {
		}
	}()
	t.Cleanup(func() {
		pr.Close()
		readWG.Wait()
	})
	var p *Proc
	timed(t, "Start", func() {
		p, err = b.Start(t, context.Background(), func(c *exec.Cmd) {
			c.Env = append(os.Environ(), helperEnv+"=udpecho")
			c.Stdout = pw
			c.Stderr = os.Stderr
		}, exe)
	})
	pw.Close()
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-ready:
	case <-p.Done():
		t.Fatalf("helper exited: %v", p.Wait())
	case <-time.After(10 * time.Second):
		t.Fatal("helper not ready after 10s")
	}

	// The process (PID as started) is in the namespace.
	want, _ := os.Stat(b.Path())
	got, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", p.Cmd.Process.Pid))
	if err != nil || got != fmt.Sprintf("net:[%d]", inodeOf(want)) {
		t.Fatalf("process %d in %q (%v), want inode %d", p.Cmd.Process.Pid, got, err, inodeOf(want))
	}

	c, err := a.ListenPacket("udp4", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 128)
	testutil.Eventually(t, 5*time.Second, func() error {
		if _, err := c.WriteTo([]byte("?"), &net.UDPAddr{IP: lb.Addr().AsSlice(), Port: 7000}); err != nil {
			return err
		}
		_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		n, _, err := c.ReadFrom(buf)
		if err != nil {
			return err
		}
		if reply := string(buf[:n]); !strings.HasPrefix(reply, la.Addr().String()+":") {
			return fmt.Errorf("reply %q", reply)
		}
		return nil
	})
	if err := p.Stop(); err == nil {
		t.Fatal("killed helper exited cleanly")
	}
}

// TestCleanupRemovesEverything checks that a subtest's namespaces are gone
// when it ends.
func TestCleanupRemovesEverything(t *testing.T) {
	t.Parallel()
	var paths []string
	t.Run("build", func(t *testing.T) {
		tp := NewTopology(t, TopologyOptions{})
		for _, ns := range []*NS{tp.Router.NS, tp.Anchor, tp.Agents[0], tp.Agents[1]} {
			paths = append(paths, ns.Path())
		}
	})
	for _, p := range paths {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s still exists after the test: %v", p, err)
		}
	}
}

func inodeOf(fi os.FileInfo) uint64 {
	if fi == nil {
		return 0
	}
	return fi.Sys().(*syscall.Stat_t).Ino
}
