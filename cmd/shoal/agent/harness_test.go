package agent

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/shoalsync/shoal/internal/testutil"
	"github.com/shoalsync/shoal/sync/fsutil"
	"github.com/shoalsync/shoal/sync/model"
)

// testAgent is one in-process agent with its own home and folder.
type testAgent struct {
	*Agent
	t      testing.TB
	name   string
	home   string
	dir    string // the shared folder
	fid    string // its ID when not testFolder (a folder shared by key)
	cancel context.CancelFunc
	done   chan error
	tweak  func(*Options)
}

const testFolder = "shared"

var lanOff = false

func startAgent(t *testing.T, name string) *testAgent {
	t.Helper()
	return startAgentWith(t, name, nil)
}

func startAgentB(t testing.TB, name string) *testAgent { return startAgentWith(t, name, nil) }

func startAgentWith(t testing.TB, name string, tweak func(*Options)) *testAgent {
	t.Helper()
	base := t.TempDir()
	ta := &testAgent{t: t, name: name, home: filepath.Join(base, "home"), dir: filepath.Join(base, "folder"), tweak: tweak}
	if err := os.MkdirAll(ta.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	ta.start()
	return ta
}

func (ta *testAgent) start() {
	t := ta.t
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	level := slog.LevelInfo
	if os.Getenv("SHOAL_TEST_DEBUG") != "" {
		level = slog.LevelDebug
	}
	o := Options{
		Home:            ta.home,
		Listen:          []string{"quic://127.0.0.1:0", "tcp://127.0.0.1:0"},
		Admin:           "127.0.0.1:0",
		NoDefaultFolder: true,
		Name:            ta.name,
		Version:         "test",
		Logger:          testutil.Logger(t, ta.name, level),
		RetryInterval:   time.Second,
		ReconnectMax:    2 * time.Second,
		GuestTimeout:    3 * time.Second,
		LAN:             &lanOff, // agents of other tests would find each other
	}
	if ta.tweak != nil {
		ta.tweak(&o)
	}
	a, err := Start(ctx, o)
	if err != nil {
		cancel()
		t.Fatalf("starting agent %s: %v", ta.name, err)
	}
	ta.Agent, ta.cancel, ta.done = a, cancel, make(chan error, 1)
	go func() { ta.done <- a.Run(ctx) }()
	t.Cleanup(ta.stop)
}

func (ta *testAgent) stop() {
	if ta.cancel == nil {
		return
	}
	ta.cancel()
	select {
	case err := <-ta.done:
		if err != nil {
			ta.t.Errorf("agent %s: %v", ta.name, err)
		}
	case <-time.After(30 * time.Second):
		ta.t.Errorf("agent %s did not stop within 30s", ta.name)
	}
	ta.cancel = nil
	ta.Agent = nil
}

// pair makes every agent know every other and share testFolder among all.
func pair(t *testing.T, agents ...*testAgent) {
	t.Helper()
	ctx := context.Background()
	for _, a := range agents {
		var ids []string
		for _, b := range agents {
			if a == b {
				continue
			}
			if _, err := a.Model().AddDevice(ctx, model.AddDeviceRequest{ID: b.ID().String(), Name: b.name, Addrs: b.Addrs()}); err != nil {
				t.Fatalf("%s: adding %s: %v", a.name, b.name, err)
			}
			ids = append(ids, b.ID().String())
		}
		if _, err := a.Model().AddFolder(ctx, model.AddFolderRequest{Path: a.dir, ID: testFolder, Devices: ids}); err != nil {
			t.Fatalf("%s: adding folder: %v", a.name, err)
		}
	}
}

func (ta *testAgent) folder() model.FolderStatus {
	id := testFolder
	if ta.fid != "" {
		id = ta.fid
	}
	st, err := ta.Model().Folder(context.Background(), id)
	if err != nil {
		ta.t.Fatal(err)
	}
	return st
}

func (ta *testAgent) write(rel, content string) {
	ta.t.Helper()
	p := filepath.Join(ta.dir, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		ta.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		ta.t.Fatal(err)
	}
}

// converged waits until every agent has the same tree, no needs and no
// temporary files.
func converged(t *testing.T, timeout time.Duration, agents ...*testAgent) {
	t.Helper()
	testutil.Eventually(t, timeout, func() error {
		first, err := testutil.Tree(agents[0].dir, false)
		if err != nil {
			return err
		}
		for _, a := range agents {
			tr, err := testutil.Tree(a.dir, false)
			if err != nil {
				return err
			}
			if d := testutil.DiffTrees(first, tr); d != "" {
				return fmt.Errorf("%s vs %s: %s", agents[0].name, a.name, d)
			}
			st := a.folder()
			if st.NeedFiles != 0 || st.State != model.StateIdle {
				return fmt.Errorf("%s: state %s, need %d files (errors %v)", a.name, st.State, st.NeedFiles, st.FileErrors)
			}
			for p := range tr {
				if fsutil.Internal(p) {
					return fmt.Errorf("%s: temporary file in view: %s", a.name, p)
				}
			}
		}
		return nil
	})
}

func mustDevices(t *testing.T, ta *testAgent) []model.DeviceStatus {
	t.Helper()
	ds, err := ta.Model().Devices(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

// waitScanned waits until the agent's index holds content for rel (its
// size matches), i.e. the local change was scanned.
func waitScanned(t *testing.T, ta *testAgent, rel, content string) {
	t.Helper()
	testutil.Eventually(t, 10*time.Second, func() error {
		st := ta.folder()
		if st.State != model.StateIdle {
			return fmt.Errorf("state %s", st.State)
		}
		fi, err := os.Stat(filepath.Join(ta.dir, rel))
		if err != nil || fi.Size() != int64(len(content)) {
			return fmt.Errorf("not written yet")
		}
		return ta.Model().CheckScanned(testFolder, rel)
	})
}

// reshare makes ta know other again and share testFolder with it.
func reshare(t *testing.T, ta, other *testAgent) {
	t.Helper()
	ctx := context.Background()
	if _, err := ta.Model().AddDevice(ctx, model.AddDeviceRequest{ID: other.ID().String(), Addrs: other.Addrs()}); err != nil {
		t.Fatal(err)
	}
	if err := ta.Model().ShareFolder(ctx, testFolder, other.ID().String()); err != nil {
		t.Fatal(err)
	}
}
