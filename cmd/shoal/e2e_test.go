package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoalsync/shoal/admin"
	"github.com/shoalsync/shoal/internal/testutil"
	"github.com/shoalsync/shoal/sync/model"
)

// The end-to-end tests drive the built binary exactly as a user would.

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

func shoalBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "shoal-e2e-bin")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "shoal")
		cmd := exec.Command("go", "build", "-o", binPath, ".")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// proc is one `shoal run` subprocess.
type proc struct {
	t    testing.TB
	home string
	cmd  *exec.Cmd
	log  *bytes.Buffer
	mu   *sync.Mutex
	done chan struct{}
}

type lockedBuf struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (l lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func startProc(t testing.TB, home string) *proc {
	t.Helper()
	bin := shoalBinary(t)
	p := &proc{t: t, home: home, log: &bytes.Buffer{}, mu: &sync.Mutex{}, done: make(chan struct{})}
	os.Remove(filepath.Join(home, admin.EndpointFile)) // a killed agent leaves it behind
	p.cmd = exec.Command(bin, "--home", home, "run", "--no-default-folder",
		"--listen", "quic://127.0.0.1:0", "--listen", "tcp://127.0.0.1:0", "--admin", "127.0.0.1:0", "--lan=false")
	w := lockedBuf{p.mu, p.log}
	p.cmd.Stdout, p.cmd.Stderr = w, w
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			p.mu.Lock()
			t.Logf("agent %s output:\n%s", filepath.Base(home), p.log.String())
			p.mu.Unlock()
		}
	})
	testutil.Eventually(t, 30*time.Second, func() error {
		select {
		case <-p.done:
			t.Fatalf("agent exited early:\n%s", p.log.String())
		default:
		}
		_, err := p.client().Status(context.Background())
		return err
	})
	return p
}

func (p *proc) client() *admin.Client {
	ep, err := admin.ReadEndpoint(p.home)
	if err != nil {
		return admin.NewClient(admin.Endpoint{Address: "127.0.0.1:1", Home: p.home})
	}
	return admin.NewClient(ep)
}

func (p *proc) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		p.t.Errorf("agent %s did not stop on SIGINT; killing", p.home)
		p.cmd.Process.Kill()
		<-p.done
	}
}

func (p *proc) kill() {
	p.cmd.Process.Kill() // SIGKILL: no chance to clean up
	<-p.done
}

// shoal runs one CLI command against a home and returns its output.
func shoal(t testing.TB, home string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(shoalBinary(t), append([]string{"--home", home}, args...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

func mustShoal(t testing.TB, home string, args ...string) string {
	t.Helper()
	out, err := shoal(t, home, args...)
	if err != nil {
		t.Fatalf("shoal %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func statusOf(t testing.TB, home string) model.Status {
	t.Helper()
	var st model.Status
	if err := json.Unmarshal([]byte(mustShoal(t, home, "status", "--json")), &st); err != nil {
		t.Fatal(err)
	}
	return st
}

// TestCLIPairAndSync pairs two agents and shares a folder using only the
// CLI, as the README's quick start does.
func TestCLIPairAndSync(t *testing.T) {
	base := t.TempDir()
	homeA, homeB := filepath.Join(base, "a"), filepath.Join(base, "b")
	dirA, dirB := filepath.Join(base, "A"), filepath.Join(base, "B")
	os.MkdirAll(dirA, 0o755)
	os.MkdirAll(dirB, 0o755)
	idA := strings.TrimSpace(mustShoal(t, homeA, "id"))
	idB := strings.TrimSpace(mustShoal(t, homeB, "id"))
	startProc(t, homeA)
	startProc(t, homeB)
	addrA := statusOf(t, homeA).ListenAddrs[0]

	mustShoal(t, homeA, "device", "add", idB, "--name", "bob")
	mustShoal(t, homeB, "device", "add", idA, "--addr", addrA, "--name", "alice")
	mustShoal(t, homeA, "folder", "add", dirA, "--id", "docs", "--share", idB)
	mustShoal(t, homeB, "folder", "add", dirB, "--id", "docs", "--share", idA)
	os.WriteFile(filepath.Join(dirA, "hello.txt"), []byte("hello, bob"), 0o644)
	start := time.Now()
	defer func() { t.Logf("synced and checked in %v", time.Since(start)) }()

	testutil.Eventually(t, 30*time.Second, func() error {
		b, err := os.ReadFile(filepath.Join(dirB, "hello.txt"))
		if err != nil || string(b) != "hello, bob" {
			return fmt.Errorf("not synced yet: %q %v", b, err)
		}
		return nil
	})
	t.Logf("file arrived after %v", time.Since(start))
	out := mustShoal(t, homeB, "status")
	for _, want := range []string{"docs", "alice"} {
		if !strings.Contains(out, want) {
			t.Errorf("status output lacks %q:\n%s", want, out)
		}
	}
	// Bad input: one line, non-zero exit, config untouched.
	before, _ := os.ReadFile(filepath.Join(homeA, "config.json"))
	for _, args := range [][]string{
		{"device", "add", "not-an-id"},
		{"folder", "add", filepath.Join(base, "does-not-exist")},
		{"folder", "share", "no-such-folder", idB},
		{"folder", "remove", "no-such-folder"},
		{"device", "remove", idA},
		{"status", "--bogus-flag"},
	} {
		out, err := shoal(t, homeA, args...)
		if err == nil {
			t.Errorf("shoal %v succeeded", args)
		}
		if n := strings.Count(strings.TrimSpace(out), "\n"); n != 0 {
			t.Errorf("shoal %v: want a one-line error, got:\n%s", args, out)
		}
	}
	after, _ := os.ReadFile(filepath.Join(homeA, "config.json"))
	if !bytes.Equal(before, after) {
		t.Error("a failed command changed the config")
	}
	// No running agent.
	if out, err := shoal(t, filepath.Join(base, "nobody"), "status"); err == nil || !strings.Contains(out, "no running agent") {
		t.Errorf("status without an agent: err=%v out=%q", err, out)
	}
}

// TestKillDuringPullResumes SIGKILLs the receiving agent in the middle of a
// large pull; after a restart it finishes without refetching the chunks it
// already had.
func TestKillDuringPullResumes(t *testing.T) {
	base := t.TempDir()
	homeA, homeB := filepath.Join(base, "a"), filepath.Join(base, "b")
	dirA, dirB := filepath.Join(base, "A"), filepath.Join(base, "B")
	os.MkdirAll(dirA, 0o755)
	os.MkdirAll(dirB, 0o755)
	const size = 256 << 20
	data := make([]byte, size)
	rand.Read(data)
	if err := os.WriteFile(filepath.Join(dirA, "big.bin"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	idA := strings.TrimSpace(mustShoal(t, homeA, "id"))
	idB := strings.TrimSpace(mustShoal(t, homeB, "id"))
	a := startProc(t, homeA)
	addrA := statusOf(t, homeA).ListenAddrs[0]
	mustShoal(t, homeA, "device", "add", idB)
	mustShoal(t, homeA, "folder", "add", dirA, "--id", "big", "--share", idB)
	// Wait until A has hashed the file before B starts asking.
	testutil.Eventually(t, 60*time.Second, func() error {
		fs, err := a.client().Folders(context.Background())
		if err != nil || len(fs) != 1 || fs[0].LocalBytes != size {
			return fmt.Errorf("A not scanned yet: %+v %v", fs, err)
		}
		return nil
	})

	b := startProc(t, homeB)
	mustShoal(t, homeB, "device", "add", idA, "--addr", addrA)
	mustShoal(t, homeB, "folder", "add", dirB, "--id", "big", "--share", idA)
	var pulledBefore int64
	testutil.Eventually(t, 60*time.Second, func() error {
		fs, err := b.client().Folders(context.Background())
		if err != nil || len(fs) != 1 {
			return fmt.Errorf("no folder: %v", err)
		}
		if fs[0].PulledBytes == size {
			t.Fatal("the pull finished before the agent could be killed")
		}
		if fs[0].PulledBytes < size/8 {
			return fmt.Errorf("pulled %d so far", fs[0].PulledBytes)
		}
		pulledBefore = fs[0].PulledBytes
		return nil
	})
	b.kill()
	if _, err := os.Stat(filepath.Join(dirB, "big.bin")); err == nil {
		t.Fatal("a partial file is in view after the kill")
	}

	b = startProc(t, homeB)
	testutil.Eventually(t, 120*time.Second, func() error {
		got, err := os.ReadFile(filepath.Join(dirB, "big.bin"))
		if err != nil || !bytes.Equal(got, data) {
			return fmt.Errorf("not complete yet")
		}
		return nil
	})
	fs, err := b.client().Folders(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	pulledAfter := fs[0].PulledBytes
	// Up to blocksInFlight chunks (1 MiB max at this size) may have been in
	// flight and lost at the kill.
	const slack = 16 << 20
	t.Logf("pulled %d MiB before the kill, %d MiB after the restart (file %d MiB)", pulledBefore>>20, pulledAfter>>20, size>>20)
	if pulledAfter > size-pulledBefore+slack {
		t.Fatalf("restart refetched finished chunks: %d after + %d before > %d + slack", pulledAfter, pulledBefore, size)
	}
	matches, _ := filepath.Glob(filepath.Join(dirB, ".shoal-tmp.*"))
	if len(matches) != 0 {
		t.Errorf("temporary files left: %v", matches)
	}
}
