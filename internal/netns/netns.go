package netns

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// RequireEnv names the environment variable that turns every skip of this
// package into a test failure. CI sets it so that a machine that cannot run
// the namespace tests fails loudly instead of silently skipping them.
const RequireEnv = "SHOAL_REQUIRE_NETNS"

// namePrefix starts the name of every namespace this package creates; the
// creating process's PID follows, so stale namespaces of dead test processes
// can be recognised and removed.
const namePrefix = "shoal-"

// netnsDir is where `ip netns` keeps its named namespaces.
const netnsDir = "/run/netns"

var (
	availOnce sync.Once
	availErr  error
	ipPath    string
)

// Available skips the test (or fails it when SHOAL_REQUIRE_NETNS=1) unless
// this process can create network namespaces: Linux, root, the `ip` command
// of iproute2, and a kernel that lets a probe namespace be created. The
// probe runs once per process; its result is cached. New calls Available, so
// tests need not call it themselves.
func Available(t testing.TB) {
	t.Helper()
	availOnce.Do(func() { availErr = probe() })
	if availErr != nil {
		skip(t, "network namespaces unavailable: %v", availErr)
	}
}

// skip skips t with the message, or fails it when RequireEnv is set.
func skip(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv(RequireEnv) == "1" {
		t.Fatalf("%s (and %s=1 forbids skipping)", msg, RequireEnv)
	}
	t.Skip(msg)
}

func probe() error {
	if runtime.GOOS != "linux" {
		return fmt.Errorf("needs Linux, have %s", runtime.GOOS)
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("needs root, running as uid %d", os.Geteuid())
	}
	p, err := exec.LookPath("ip")
	if err != nil {
		return fmt.Errorf("finding the ip command (apt-get install iproute2): %w", err)
	}
	ipPath = p
	sweepStale()
	name := uniqueName("probe")
	if out, err := exec.Command(ipPath, "netns", "add", name).CombinedOutput(); err != nil {
		return fmt.Errorf("creating probe namespace: %v: %s", err, bytes.TrimSpace(out))
	}
	if out, err := exec.Command(ipPath, "netns", "del", name).CombinedOutput(); err != nil {
		return fmt.Errorf("deleting probe namespace: %v: %s", err, bytes.TrimSpace(out))
	}
	return nil
}

// sweepStale deletes namespaces left behind by test processes of this
// package that died before their cleanups ran (a -timeout panic, SIGKILL).
// Only names of the form shoal-PID-… whose PID no longer exists are removed.
func sweepStale() {
	ents, err := os.ReadDir(netnsDir)
	if err != nil {
		return
	}
	for _, e := range ents {
		rest, ok := strings.CutPrefix(e.Name(), namePrefix)
		if !ok {
			continue
		}
		pidStr, _, ok := strings.Cut(rest, "-")
		if !ok {
			continue
		}
		pid, err := strconv.Atoi(pidStr)
		if err != nil || pid <= 0 {
			continue
		}
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			continue
		}
		_ = exec.Command(ipPath, "netns", "del", e.Name()).Run()
	}
}

// uniqueName returns shoal-PID-LABEL-RANDOM, unique across parallel test
// processes. Namespace names are file names under /run/netns, so the
// 15-byte limit of interface names does not apply to them.
func uniqueName(label string) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s%d-%s-%s", namePrefix, os.Getpid(), label, hex.EncodeToString(b[:]))
}

// NS is a network namespace created for one test. It starts with only the
// loopback interface, up. It is deleted when the test that created it ends;
// links into it (see LAN.Attach) vanish with it.
type NS struct {
	label string
	name  string
	fd    int // open handle on the namespace, for Do

	mu        sync.Mutex
	nextEth   int
	links     []*Link
	gateway   *Link // the link the default route goes through, if any
	forwarder bool
	nft       bool // nft table "shoal" created
}

// New creates a namespace labelled label (for messages and for the
// namespace's name, shoal-PID-LABEL-RANDOM) and deletes it when t ends. It
// skips t when namespaces cannot be created (see Available).
func New(t testing.TB, label string) *NS {
	t.Helper()
	Available(t)
	n := &NS{label: label, name: uniqueName(label), fd: -1}
	if out, err := exec.Command(ipPath, "netns", "add", n.name).CombinedOutput(); err != nil {
		t.Fatalf("creating namespace %s: %v: %s", n.name, err, bytes.TrimSpace(out))
	}
	t.Cleanup(func() {
		if n.fd >= 0 {
			unix.Close(n.fd)
		}
		if out, err := exec.Command(ipPath, "netns", "del", n.name).CombinedOutput(); err != nil {
			t.Errorf("deleting namespace %s: %v: %s", n.name, err, bytes.TrimSpace(out))
		}
	})
	fd, err := unix.Open(filepath.Join(netnsDir, n.name), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("opening namespace %s: %v", n.name, err)
	}
	n.fd = fd
	n.MustIP(t, "link", "set", "lo", "up")
	// No duplicate address detection: IPv6 link-local addresses on new
	// links are usable at once instead of "tentative" for a second or two.
	if err := n.Sysctl("net/ipv6/conf/all/accept_dad", "0"); err != nil {
		t.Fatal(err)
	}
	if err := n.Sysctl("net/ipv6/conf/default/accept_dad", "0"); err != nil {
		t.Fatal(err)
	}
	return n
}

// Name returns the namespace's name as `ip netns` knows it.
func (n *NS) Name() string { return n.name }

// Path returns the namespace's file, /run/netns/NAME.
func (n *NS) Path() string { return filepath.Join(netnsDir, n.name) }

// String returns the label given to New.
func (n *NS) String() string { return n.label }

// IP runs `ip -n NAME args...` and returns its combined output.
func (n *NS) IP(args ...string) (string, error) {
	out, err := exec.Command(ipPath, append([]string{"-n", n.name}, args...)...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("ip -n %s %s: %w: %s", n.label, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return string(out), nil
}

// MustIP is IP that fails t on error.
func (n *NS) MustIP(t testing.TB, args ...string) string {
	t.Helper()
	out, err := n.IP(args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Do runs fn on a fresh OS thread that has been switched into the namespace
// and returns fn's error. A panic in fn is re-raised in the caller.
//
// Everything fn creates that holds a namespace of its own keeps it after fn
// returns: sockets (listeners, bound UDP sockets, connections dialled inside
// fn) stay in this namespace and may be used from any goroutine. What fn does
// NOT carry over: goroutines it starts run on other threads, in the
// process's own namespace, so a socket created later by such a goroutine (a
// dial, a new listener, an interface lookup) is created outside. The thread
// is never unlocked, so the Go runtime discards it when fn returns and no
// other goroutine ever runs in the namespace by accident.
func (n *NS) Do(fn func() error) error {
	type result struct {
		err      error
		panicked bool
		val      any
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		// Deliberately no UnlockOSThread: see the doc comment.
		if err := unix.Setns(n.fd, unix.CLONE_NEWNET); err != nil {
			done <- result{err: fmt.Errorf("entering namespace %s: %w", n.label, err)}
			return
		}
		var r result
		func() {
			defer func() {
				if v := recover(); v != nil {
					r = result{panicked: true, val: v}
				}
			}()
			r.err = fn()
		}()
		done <- r
	}()
	r := <-done
	if r.panicked {
		panic(r.val)
	}
	return r.err
}

// Sysctl writes value to /proc/sys/KEY inside the namespace, e.g.
// Sysctl("net/ipv4/ip_forward", "1").
func (n *NS) Sysctl(key, value string) error {
	return n.Do(func() error {
		if err := os.WriteFile(filepath.Join("/proc/sys", key), []byte(value), 0); err != nil {
			return fmt.Errorf("setting %s=%s in %s: %w", key, value, n.label, err)
		}
		return nil
	})
}

// Listen is net.Listen inside the namespace. The listener may be used from
// any goroutine; connections it accepts are in the namespace too.
func (n *NS) Listen(network, addr string) (net.Listener, error) {
	var l net.Listener
	err := n.Do(func() error {
		var err error
		l, err = net.Listen(network, addr)
		return err
	})
	return l, err
}

// ListenPacket is net.ListenPacket inside the namespace; the socket may be
// used from any goroutine, also to send.
func (n *NS) ListenPacket(network, addr string) (net.PacketConn, error) {
	var c net.PacketConn
	err := n.Do(func() error {
		var err error
		c, err = net.ListenPacket(network, addr)
		return err
	})
	return c, err
}

// ListenUDP is net.ListenUDP inside the namespace. Its signature is what
// go-libp2p's quicreuse.OverrideListenUDP takes, so that every QUIC socket
// of an in-process libp2p host (listeners and dial sockets) is created in
// the namespace; see the package documentation for the rest of that
// recipe and its limits.
func (n *NS) ListenUDP(network string, laddr *net.UDPAddr) (net.PacketConn, error) {
	var c *net.UDPConn
	err := n.Do(func() error {
		var err error
		c, err = net.ListenUDP(network, laddr)
		return err
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// PreferredSourceIPForDestination returns the source address the
// namespace's routing table picks for dst (by connecting a UDP socket
// inside the namespace, which sends nothing). It makes *NS a go-libp2p
// quicreuse.SourceIPSelector, for quicreuse.OverrideSourceIPSelector.
func (n *NS) PreferredSourceIPForDestination(dst *net.UDPAddr) (net.IP, error) {
	var ip net.IP
	err := n.Do(func() error {
		network := "udp4"
		if dst.IP.To4() == nil {
			network = "udp6"
		}
		c, err := net.DialUDP(network, nil, dst)
		if err != nil {
			return fmt.Errorf("finding the source address for %v in %s: %w", dst, n.label, err)
		}
		defer c.Close()
		ip = c.LocalAddr().(*net.UDPAddr).IP
		return nil
	})
	return ip, err
}

// DialContext dials from inside the namespace. The connection may be used
// from any goroutine. ctx bounds the dial only.
func (n *NS) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	var c net.Conn
	err := n.Do(func() error {
		var err error
		var d net.Dialer
		c, err = d.DialContext(ctx, network, addr)
		return err
	})
	return c, err
}

// Command returns a command that runs name inside the namespace through
// `ip netns exec NAME name args...` (which execs name in place, so the
// command's PID is name's own). The test starts and waits for it; when t
// ends, a process still running is killed by its PID. ctx, as in
// exec.CommandContext, kills it earlier. Start is the variant that also
// owns the Wait.
func (n *NS) Command(t testing.TB, ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, ipPath, append([]string{"netns", "exec", n.name, name}, args...)...)
	cmd.WaitDelay = 5 * time.Second
	t.Cleanup(func() {
		if cmd.Process != nil {
			// After Wait this reports os.ErrProcessDone and signals nothing:
			// os.Process tracks its own child (by pidfd), so a reused PID is
			// never hit.
			_ = cmd.Process.Kill()
		}
	})
	return cmd
}

// Proc is a process started inside a namespace by Start.
type Proc struct {
	// Cmd is the started command; read cmd.Process.Pid, but do not call
	// Cmd.Wait (Proc's goroutine does).
	Cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// Start starts name inside the namespace (as Command) and waits for it in a
// goroutine of its own. When t ends the process is killed by its PID and
// that goroutine is waited for. Set the command's Stdout/Stderr/Env in
// setup, which runs before Start when non-nil.
func (n *NS) Start(t testing.TB, ctx context.Context, setup func(*exec.Cmd), name string, args ...string) (*Proc, error) {
	cmd := n.Command(t, ctx, name, args...)
	if setup != nil {
		setup(cmd)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s in %s: %w", name, n.label, err)
	}
	p := &Proc{Cmd: cmd, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		p.err = cmd.Wait()
	}()
	t.Cleanup(func() { _ = p.Stop() })
	return p, nil
}

// Done is closed when the process has exited and been reaped.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Wait waits for the process to exit and returns cmd.Wait's error. It may
// be called any number of times, from any goroutine.
func (p *Proc) Wait() error {
	<-p.done
	return p.err
}

// Stop kills the process (SIGKILL, by its PID) unless it has exited, and
// waits for it. It returns Wait's error.
func (p *Proc) Stop() error {
	select {
	case <-p.done:
	default:
		_ = p.Cmd.Process.Kill()
	}
	return p.Wait()
}

// EnableForwarding turns on IPv4 forwarding in the namespace, making it a
// router between its links.
func (n *NS) EnableForwarding(t testing.TB) {
	t.Helper()
	if err := n.Sysctl("net/ipv4/ip_forward", "1"); err != nil {
		t.Fatal(err)
	}
	n.mu.Lock()
	n.forwarder = true
	n.mu.Unlock()
}

// SetAddr replaces every IPv4 address of interface ifname with addr (CIDR
// notation, "10.0.2.7/24"). Routes through the old addresses go with them;
// add new ones with AddRoute. A Link on ifname does not learn the new
// address (Link.Addr keeps the old one); for links made by LAN.Attach,
// Link.Move is usually what a test wants.
func (n *NS) SetAddr(t testing.TB, ifname, addr string) {
	t.Helper()
	if _, err := netip.ParsePrefix(addr); err != nil {
		t.Fatalf("SetAddr %s: %v", ifname, err)
	}
	n.MustIP(t, "-4", "addr", "flush", "dev", ifname)
	n.MustIP(t, "addr", "add", addr, "dev", ifname)
}

// AddRoute adds (or replaces) the route to dst ("default" or a CIDR)
// through gateway via.
func (n *NS) AddRoute(t testing.TB, dst, via string) {
	t.Helper()
	n.MustIP(t, "route", "replace", dst, "via", via)
}

// Addrs returns the namespace's global IPv4 addresses, in interface order.
func (n *NS) Addrs() ([]netip.Addr, error) {
	out, err := n.IP("-4", "-o", "addr", "show", "scope", "global")
	if err != nil {
		return nil, err
	}
	var addrs []netip.Addr
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		for i := 0; i+1 < len(f); i++ {
			if f[i] == "inet" {
				if p, err := netip.ParsePrefix(f[i+1]); err == nil {
					addrs = append(addrs, p.Addr())
				}
			}
		}
	}
	return addrs, nil
}

// nftPath finds the nft command, skipping t (or failing it, see RequireEnv)
// when it is missing.
func nftPath(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("nft")
	if err != nil {
		skip(t, "the nft command is needed (apt-get install nftables): %v", err)
	}
	return p
}

// Nft runs `nft -f -` inside the namespace with script on stdin. It skips
// t when nft is not installed.
func (n *NS) Nft(t testing.TB, script string) {
	t.Helper()
	nft := nftPath(t)
	cmd := exec.Command(ipPath, "netns", "exec", n.name, nft, "-f", "-")
	cmd.Stdin = strings.NewReader(script)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nft in %s: %v: %s\nscript:\n%s", n.label, err, bytes.TrimSpace(out), script)
	}
}

// ensureNftTable creates table ip shoal with an input and a forward filter
// chain, once.
func (n *NS) ensureNftTable(t testing.TB) {
	t.Helper()
	n.mu.Lock()
	done := n.nft
	n.mu.Unlock()
	if done {
		return
	}
	n.Nft(t, `table ip shoal {
	chain input { type filter hook input priority 0; policy accept; }
	chain forward { type filter hook forward priority 0; policy accept; }
}
`)
	n.mu.Lock()
	n.nft = true
	n.mu.Unlock()
}

// Block makes the namespace silently drop every IPv4 packet arriving from
// cidr (an nftables rule in its input and forward hooks), as a stateless
// inbound firewall would. Nothing the namespace sends fails locally, but no
// reply comes back, so connections in either direction time out. The
// returned function lifts the block. Block skips t when nft is missing
// (apt-get install nftables). For blocking the path between two subnets
// behind a router, Router.Block needs only iproute2.
func (n *NS) Block(t testing.TB, cidr string) (unblock func()) {
	t.Helper()
	p, err := netip.ParsePrefix(cidr)
	if err != nil {
		t.Fatalf("Block: %v", err)
	}
	if !p.Addr().Is4() {
		t.Fatalf("Block %s: only IPv4 is supported", cidr)
	}
	n.ensureNftTable(t)
	comment := "shoal-block-" + p.Masked().String()
	// insert, not add: the drop must come before any "established,
	// related accept" rule (Masquerade's), or running flows would pass.
	n.Nft(t, fmt.Sprintf(`insert rule ip shoal input ip saddr %[1]s drop comment %[2]q
insert rule ip shoal forward ip saddr %[1]s drop comment %[2]q
`, p.Masked(), comment))
	var once sync.Once
	return func() {
		once.Do(func() { n.deleteNftRules(t, comment) })
	}
}

// deleteNftRules deletes the rules of table shoal whose comment is comment.
func (n *NS) deleteNftRules(t testing.TB, comment string) {
	t.Helper()
	nft := nftPath(t)
	out, err := exec.Command(ipPath, "netns", "exec", n.name, nft, "-a", "list", "table", "ip", "shoal").CombinedOutput()
	if err != nil {
		t.Fatalf("listing nft rules in %s: %v: %s", n.label, err, bytes.TrimSpace(out))
	}
	var script strings.Builder
	chain := ""
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == "chain" {
			chain = f[1]
			continue
		}
		if !strings.Contains(line, fmt.Sprintf("comment %q", comment)) {
			continue
		}
		if len(f) >= 2 && f[len(f)-2] == "handle" {
			fmt.Fprintf(&script, "delete rule ip shoal %s handle %s\n", chain, f[len(f)-1])
		}
	}
	if script.Len() > 0 {
		n.Nft(t, script.String())
	}
}
