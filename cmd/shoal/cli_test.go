package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shoalsync/shoal/admin"
	"github.com/shoalsync/shoal/admin/admintest"
	"github.com/shoalsync/shoal/crypto/identity"
	"github.com/shoalsync/shoal/sync/config"
	"github.com/shoalsync/shoal/sync/model"
)

// runCLI runs the command line in-process and returns the exit code and
// the output streams.
func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = execute(t.Context(), args, &out, &errb)
	return code, out.String(), errb.String()
}

// mustRun runs a command that must succeed and returns its stdout.
func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	code, out, errs := runCLI(t, args...)
	if code != 0 {
		t.Fatalf("shoal %s: exit %d, stderr %q", strings.Join(args, " "), code, errs)
	}
	return out
}

// startAgent serves the admin API of a fake agent for home, as `shoal run`
// would, and waits until admin.json is there.
func startAgent(t *testing.T, home string) *admintest.Agent {
	t.Helper()
	agent := admintest.New("alpha")
	srv, err := admin.NewServer(admin.Options{Agent: agent, Home: home, Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := srv.Listen(ctx, "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := admin.ReadEndpoint(home); err == nil {
			return agent
		}
		if time.Now().After(deadline) {
			t.Fatal("admin.json did not appear")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func newID(t *testing.T) identity.DeviceID {
	k, err := identity.Generate()
	if err != nil {
		t.Fatal(err)
	}
	return k.ID()
}

func TestInitAndID(t *testing.T) {
	home := filepath.Join(t.TempDir(), "new", "home")
	code, out, errs := runCLI(t, "--home", home, "init")
	if code != 0 {
		t.Fatalf("init: exit %d: %s", code, errs)
	}
	id, err := identity.Parse(strings.TrimSuffix(out, "\n"))
	if err != nil || out != id.String()+"\n" {
		t.Fatalf("init printed %q, want only the device ID", out)
	}
	if fi, err := os.Stat(home); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("home: %v %v", fi, err)
	}
	cfg, err := config.Load(home)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Name != hostname() || cfg.DefaultFolder != nil || cfg.Admin != config.DefaultAdmin {
		t.Fatalf("config %+v", cfg)
	}
	before := readFile(t, filepath.Join(home, config.FileName))

	// Idempotent: same ID, config untouched.
	if out2 := mustRun(t, "--home", home, "init"); out2 != out {
		t.Fatalf("second init printed %q, want %q", out2, out)
	}
	if after := readFile(t, filepath.Join(home, config.FileName)); after != before {
		t.Fatal("second init changed the config")
	}
	if got := mustRun(t, "--home", home, "id"); got != out {
		t.Fatalf("id printed %q, want %q", got, out)
	}
}

func TestInitNoDefaultFolder(t *testing.T) {
	home := t.TempDir()
	mustRun(t, "--home", home, "init", "--no-default-folder")
	cfg, err := config.Load(home)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.DefaultFolder == nil || *cfg.DefaultFolder {
		t.Fatalf("DefaultFolder = %v, want false", cfg.DefaultFolder)
	}
}

func TestIDCreatesIdentity(t *testing.T) {
	home := t.TempDir()
	out := mustRun(t, "--home", home, "id")
	k, err := identity.Load(home)
	if err != nil {
		t.Fatal(err)
	}
	if out != k.ID().String()+"\n" {
		t.Fatalf("id printed %q, want %s", out, k.ID())
	}
	if config.Exists(home) {
		t.Error("id wrote a config")
	}
}

func TestHomeFromEnv(t *testing.T) {
	home := t.TempDir()
	t.Setenv("SHOAL_HOME", home)
	out := mustRun(t, "id")
	k, err := identity.Load(home)
	if err != nil {
		t.Fatalf("no key in $SHOAL_HOME: %v", err)
	}
	if out != k.ID().String()+"\n" {
		t.Fatalf("id printed %q", out)
	}
	// --home wins over the environment.
	other := t.TempDir()
	mustRun(t, "--home", other, "id")
	if _, err := identity.Load(other); err != nil {
		t.Fatalf("--home ignored: %v", err)
	}
}

func TestDeviceCommands(t *testing.T) {
	home := t.TempDir()
	self := strings.TrimSpace(mustRun(t, "--home", home, "init"))
	agent := startAgent(t, home)
	dev := newID(t)

	out := mustRun(t, "--home", home, "device", "add", dev.String(), "--name", "nas", "--addr", "quic://192.0.2.7:22100", "--addr", "tcp://192.0.2.7:22100")
	if !strings.Contains(out, "Added device nas ("+dev.Short()+")") || !strings.Contains(out, "shoal device add "+self) {
		t.Fatalf("device add printed %q", out)
	}

	out = mustRun(t, "--home", home, "device", "list")
	for _, want := range []string{"ID", "NAME", dev.Short(), "nas", "not connected", "quic://192.0.2.7:22100, tcp://192.0.2.7:22100"} {
		if !strings.Contains(out, want) {
			t.Errorf("device list lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, dev.String()) {
		t.Errorf("device list shows the full ID:\n%s", out)
	}
	agent.SetConnected(dev.String(), "quic", "192.0.2.7:22100", true)
	if out := mustRun(t, "--home", home, "device", "list"); !strings.Contains(out, "connected via quic 192.0.2.7:22100") {
		t.Errorf("device list:\n%s", out)
	}

	var ds []model.DeviceStatus
	if err := json.Unmarshal([]byte(mustRun(t, "--home", home, "device", "list", "--json")), &ds); err != nil {
		t.Fatal(err)
	}
	if len(ds) != 1 || ds[0].ID != dev.String() || ds[0].Name != "nas" || len(ds[0].Addrs) != 2 {
		t.Fatalf("device list --json: %+v", ds)
	}

	out = mustRun(t, "--home", home, "device", "remove", dev.String())
	if out != "Removed device "+dev.Short()+".\n" {
		t.Fatalf("device remove printed %q", out)
	}
	if out := mustRun(t, "--home", home, "device", "list", "--json"); strings.TrimSpace(out) != "[]" {
		t.Fatalf("empty device list --json: %q", out)
	}
	if out := mustRun(t, "--home", home, "device", "list"); !strings.Contains(out, "No devices") {
		t.Fatalf("empty device list: %q", out)
	}
}

func TestFolderCommands(t *testing.T) {
	home := t.TempDir()
	agent := startAgent(t, home)
	dev := newID(t)
	mustRun(t, "--home", home, "device", "add", dev.String())

	dir := t.TempDir()
	out := mustRun(t, "--home", home, "folder", "add", dir, "--id", "docs", "--label", "Docs", "--share", dev.String())
	if !strings.Contains(out, "Added folder docs (Docs) at "+dir) || !strings.Contains(out, "Shared with "+dev.Short()) {
		t.Fatalf("folder add printed %q", out)
	}

	// A relative path is sent as an absolute one.
	parent := t.TempDir()
	if err := os.Mkdir(filepath.Join(parent, "music"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Chdir(parent)
	mustRun(t, "--home", home, "folder", "add", "music")
	fs, err := agent.Folders(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) != 2 || fs[1].Path != filepath.Join(parent, "music") || fs[1].Label != "music" {
		t.Fatalf("folders %+v", fs)
	}
	second := fs[1].ID

	out = mustRun(t, "--home", home, "folder", "share", second, dev.String())
	if out != "Shared folder "+second+" with "+dev.Short()+".\n" {
		t.Fatalf("folder share printed %q", out)
	}

	agent.EditFolder("docs", func(f *model.FolderStatus) {
		f.State = model.StateSyncing
		f.NeedFiles, f.NeedBytes = 3, 1536*1024
		f.FileErrors = []model.FileError{{Path: "a/b.txt", Error: "permission denied"}}
	})
	out = mustRun(t, "--home", home, "folder", "list")
	for _, want := range []string{"docs", "Docs", dir, "syncing", "3 files, 1.5 MiB", "up to date", dev.Short(), "a/b.txt: permission denied"} {
		if !strings.Contains(out, want) {
			t.Errorf("folder list lacks %q:\n%s", want, out)
		}
	}
	var got []model.FolderStatus
	if err := json.Unmarshal([]byte(mustRun(t, "--home", home, "folder", "list", "--json")), &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].ID != "docs" || got[0].NeedFiles != 3 {
		t.Fatalf("folder list --json: %+v", got)
	}

	out = mustRun(t, "--home", home, "folder", "remove", "docs")
	if out != "Removed folder docs. Its files were left in place in "+dir+".\n" {
		t.Fatalf("folder remove printed %q", out)
	}
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("folder directory: %v", err)
	}
}

func TestStatus(t *testing.T) {
	home := t.TempDir()
	agent := startAgent(t, home)
	dev := newID(t)
	mustRun(t, "--home", home, "device", "add", dev.String(), "--name", "nas")
	agent.SetConnected(dev.String(), "tcp", "192.0.2.9:22100", true)
	mustRun(t, "--home", home, "device", "add", newID(t).String(), "--name", "phone")
	dir := t.TempDir()
	mustRun(t, "--home", home, "folder", "add", dir, "--id", "photos")
	agent.EditFolder("photos", func(f *model.FolderStatus) {
		f.State = model.StateError
		f.Error = "folder marker missing"
		f.NeedFiles, f.NeedBytes = 1, 5<<30
	})
	refused := newID(t)
	agent.AddRefused(model.Refused{ID: refused.String(), ShortID: refused.Short(), Address: "198.51.100.4:40112", LastSeen: time.Now().Add(-5 * time.Minute), Attempts: 3})

	out := mustRun(t, "--home", home, "status")
	for _, want := range []string{
		"alpha (" + agent.ID().Short() + ")", agent.ID().String(), "Version", "test", "Uptime", "1h 30m",
		"quic://0.0.0.0:22100, tcp://0.0.0.0:22100", "127.0.0.1:8384",
		"Devices (2)", dev.Short(), "nas", "connected via tcp 192.0.2.9:22100", "phone", "not connected",
		"Folders (1)", "photos", dir, "error", "1 file, 5.0 GiB", "error: folder marker missing",
		"Refused devices (1)", refused.Short(), "198.51.100.4:40112", " ago", "shoal device add", refused.String(),
	} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}

	var st model.Status
	if err := json.Unmarshal([]byte(mustRun(t, "--home", home, "status", "--json")), &st); err != nil {
		t.Fatal(err)
	}
	if st.DeviceID != agent.ID().String() || len(st.Devices) != 2 || len(st.Folders) != 1 || len(st.Refused) != 1 {
		t.Fatalf("status --json: %+v", st)
	}
}

func TestStatusEmpty(t *testing.T) {
	home := t.TempDir()
	startAgent(t, home)
	out := mustRun(t, "--home", home, "status")
	for _, want := range []string{"Devices (0)", "none; add one with 'shoal device add DEVICE_ID'", "Folders (0)"} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "Refused") {
		t.Errorf("status shows an empty refused list:\n%s", out)
	}
}

// checkOneLineError checks the error convention: one line on stderr,
// prefixed "shoal: ", no usage dump, nothing on stdout.
func checkOneLineError(t *testing.T, stdout, stderr string) {
	t.Helper()
	if !strings.HasPrefix(stderr, "shoal: ") || !strings.HasSuffix(stderr, "\n") || strings.Count(stderr, "\n") != 1 {
		t.Errorf("stderr is not one 'shoal: ' line: %q", stderr)
	}
	if strings.Contains(stderr, "Usage:") || strings.Contains(stdout, "Usage:") {
		t.Errorf("usage dumped on error: %q %q", stdout, stderr)
	}
	if stdout != "" {
		t.Errorf("stdout on error: %q", stdout)
	}
}

func TestErrors(t *testing.T) {
	home := t.TempDir()
	mustRun(t, "--home", home, "init")
	agent := startAgent(t, home)
	known := newID(t)
	mustRun(t, "--home", home, "device", "add", known.String())
	dir := t.TempDir()
	mustRun(t, "--home", home, "folder", "add", dir, "--id", "docs")
	file := filepath.Join(t.TempDir(), "file.txt")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	self := strings.TrimSpace(mustRun(t, "--home", home, "id"))
	unknown := newID(t).String()

	tests := []struct {
		name      string
		args      []string
		wantCode  int
		wantMsg   string
		agentCall string // a method that must not have been called, for local checks
	}{
		{name: "unknown flag", args: []string{"device", "list", "--bogus"}, wantCode: 2, wantMsg: "unknown flag: --bogus (see 'shoal device list --help')"},
		{name: "unknown global flag", args: []string{"--bogus", "status"}, wantCode: 2, wantMsg: "unknown flag"},
		{name: "flag without value", args: []string{"folder", "add", dir, "--id"}, wantCode: 2, wantMsg: "flag needs an argument"},
		{name: "unknown command", args: []string{"frobnicate"}, wantCode: 2, wantMsg: `unknown command "frobnicate" for 'shoal'`},
		{name: "unknown command with suggestion", args: []string{"stauts"}, wantCode: 2, wantMsg: `did you mean "status"?`},
		{name: "unknown subcommand", args: []string{"device", "ad"}, wantCode: 2, wantMsg: `did you mean "add"?`},
		{name: "missing subcommand", args: []string{"folder"}, wantCode: 2, wantMsg: "missing subcommand (add, diff, join, keys, list, override, remove, remove-device, revert, set, share)"},
		{name: "missing argument", args: []string{"device", "add"}, wantCode: 2, wantMsg: "missing DEVICE_ID"},
		{name: "missing second argument", args: []string{"folder", "share", "docs"}, wantCode: 2, wantMsg: "missing DEVICE_ID"},
		{name: "extra argument", args: []string{"status", "now"}, wantCode: 2, wantMsg: `unexpected argument "now"`},
		{name: "run with a bad flag", args: []string{"run", "--lisen", "x"}, wantCode: 2, wantMsg: "unknown flag: --lisen"},
		{name: "invalid device ID", args: []string{"device", "add", "12D3KooWnope"}, wantCode: 1, wantMsg: `invalid device ID "12D3KooWnope"`, agentCall: "AddDevice"},
		{name: "own device ID", args: []string{"device", "add", self}, wantCode: 1, wantMsg: "this device's own ID", agentCall: "AddDevice"},
		{name: "empty address", args: []string{"device", "add", unknown, "--addr", ""}, wantCode: 1, wantMsg: "empty --addr", agentCall: "AddDevice"},
		{name: "duplicate device", args: []string{"device", "add", known.String()}, wantCode: 1, wantMsg: "already exists"},
		{name: "remove unknown device", args: []string{"device", "remove", unknown}, wantCode: 1, wantMsg: "not found"},
		{name: "remove invalid device ID", args: []string{"device", "remove", "bob"}, wantCode: 1, wantMsg: "invalid device ID", agentCall: "RemoveDevice"},
		{name: "path does not exist", args: []string{"folder", "add", filepath.Join(dir, "nope")}, wantCode: 1, wantMsg: "does not exist", agentCall: "AddFolder"},
		{name: "path is a file", args: []string{"folder", "add", file}, wantCode: 1, wantMsg: "is not a directory", agentCall: "AddFolder"},
		{name: "bad folder ID", args: []string{"folder", "add", t.TempDir(), "--id", "a b"}, wantCode: 1, wantMsg: `invalid folder ID "a b"`, agentCall: "AddFolder"},
		{name: "bad share ID", args: []string{"folder", "add", t.TempDir(), "--share", "x"}, wantCode: 1, wantMsg: "invalid device ID", agentCall: "AddFolder"},
		{name: "share with unknown device at add", args: []string{"folder", "add", t.TempDir(), "--share", unknown}, wantCode: 1, wantMsg: "unknown device"},
		{name: "folder exists", args: []string{"folder", "add", dir}, wantCode: 1, wantMsg: "already exists"},
		{name: "share unknown folder", args: []string{"folder", "share", "nope", known.String()}, wantCode: 1, wantMsg: "folder nope: not found"},
		{name: "share with unknown device", args: []string{"folder", "share", "docs", unknown}, wantCode: 1, wantMsg: "not found"},
		{name: "remove unknown folder", args: []string{"folder", "remove", "nope"}, wantCode: 1, wantMsg: "folder nope: not found"},
	}
	cfgBefore := readFile(t, filepath.Join(home, config.FileName))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls := 0
			if tt.agentCall != "" {
				calls = agent.Calls(tt.agentCall)
			}
			code, stdout, stderr := runCLI(t, append([]string{"--home", home}, tt.args...)...)
			if code != tt.wantCode {
				t.Errorf("exit %d, want %d (stderr %q)", code, tt.wantCode, stderr)
			}
			checkOneLineError(t, stdout, stderr)
			if !strings.Contains(stderr, tt.wantMsg) {
				t.Errorf("stderr %q does not contain %q", stderr, tt.wantMsg)
			}
			if tt.agentCall != "" && agent.Calls(tt.agentCall) != calls {
				t.Errorf("invalid input reached agent.%s", tt.agentCall)
			}
		})
	}
	if readFile(t, filepath.Join(home, config.FileName)) != cfgBefore {
		t.Error("a failed command changed config.json")
	}
	ds, _ := agent.Devices(t.Context())
	fs, _ := agent.Folders(t.Context())
	if len(ds) != 1 || len(fs) != 1 || !slices.Equal(fs[0].Devices, nil) {
		t.Errorf("failed commands changed the agent: %+v %+v", ds, fs)
	}
}

func TestNoRunningAgent(t *testing.T) {
	want := func(home string) string {
		return "shoal: no running agent found for home " + home + " (start one with 'shoal run')\n"
	}
	commands := [][]string{
		{"status"}, {"device", "list"}, {"folder", "list"}, {"device", "add", newID(t).String()},
		{"device", "remove", newID(t).String()}, {"folder", "add", t.TempDir()}, {"folder", "remove", "x"},
		{"folder", "share", "x", newID(t).String()},
		{"folder", "keys", "x"}, {"invite", "x"}, {"pending"}, {"approve", newID(t).String()}, {"deny", "abcdefg"},
	}
	check := func(t *testing.T, home string) {
		for _, args := range commands {
			code, stdout, stderr := runCLI(t, append([]string{"--home", home}, args...)...)
			if code != 1 || stderr != want(home) {
				t.Errorf("shoal %v: exit %d, stderr %q, want 1 and %q", args, code, stderr, want(home))
			}
			checkOneLineError(t, stdout, stderr)
		}
	}

	t.Run("no admin.json", func(t *testing.T) {
		check(t, t.TempDir())
	})
	t.Run("home does not exist", func(t *testing.T) {
		check(t, filepath.Join(t.TempDir(), "nope"))
	})
	t.Run("stale pid", func(t *testing.T) {
		home := t.TempDir()
		if err := admin.WriteEndpoint(home, admin.Endpoint{Address: "127.0.0.1:9", Token: "t", PID: 1 << 30}); err != nil {
			t.Fatal(err)
		}
		check(t, home)
	})
	t.Run("nothing listening", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		home := t.TempDir()
		if err := admin.WriteEndpoint(home, admin.Endpoint{Address: addr, Token: "t", PID: os.Getpid()}); err != nil {
			t.Fatal(err)
		}
		check(t, home)
	})
	t.Run("relative home is shown absolute", func(t *testing.T) {
		parent := t.TempDir()
		t.Chdir(parent)
		code, _, stderr := runCLI(t, "--home", "rel", "status")
		if code != 1 || stderr != want(filepath.Join(parent, "rel")) {
			t.Errorf("exit %d, stderr %q", code, stderr)
		}
	})
}

func TestWrongTokenError(t *testing.T) {
	home := t.TempDir()
	startAgent(t, home)
	ep, err := admin.ReadEndpoint(home)
	if err != nil {
		t.Fatal(err)
	}
	ep.Token = "stale"
	if err := admin.WriteEndpoint(home, ep); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runCLI(t, "--home", home, "status")
	if code != 1 || !strings.Contains(stderr, "API token") {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	checkOneLineError(t, stdout, stderr)
}

func TestVersionAndHelp(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}} {
		out := mustRun(t, args...)
		if out != versionString()+"\n" || !strings.Contains(out, "shoal "+version) {
			t.Errorf("%v printed %q", args, out)
		}
	}
	for _, args := range [][]string{{}, {"--help"}, {"device", "--help"}, {"help", "folder"}} {
		code, out, errs := runCLI(t, args...)
		if code != 0 || !strings.Contains(out, "Usage:") || errs != "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", args, code, out, errs)
		}
	}
}

func TestHumanFormats(t *testing.T) {
	bytesTests := []struct {
		n    int64
		want string
	}{
		{0, "0 B"}, {1023, "1023 B"}, {1024, "1.0 KiB"}, {1536, "1.5 KiB"}, {10 << 20, "10 MiB"},
		{5 << 30, "5.0 GiB"}, {1 << 62, "4.0 EiB"},
	}
	for _, tt := range bytesTests {
		if got := humanBytes(tt.n); got != tt.want {
			t.Errorf("humanBytes(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
	durTests := []struct {
		d    time.Duration
		want string
	}{
		{-time.Second, "0s"}, {42 * time.Second, "42s"}, {5*time.Minute + 3*time.Second, "5m 3s"},
		{3*time.Hour + 5*time.Minute, "3h 5m"}, {52 * time.Hour, "2d 4h"},
	}
	for _, tt := range durTests {
		if got := humanDuration(tt.d); got != tt.want {
			t.Errorf("humanDuration(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
	if got := oneLine("a\nb\r\n c "); got != "a; b; c" {
		t.Errorf("oneLine = %q", got)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return string(b)
}
