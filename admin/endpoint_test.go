package admin

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestEndpointRoundTrip(t *testing.T) {
	home := t.TempDir()
	want := Endpoint{Address: "127.0.0.1:12345", Token: NewToken(), PID: os.Getpid()}
	if err := WriteEndpoint(home, want); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(home, EndpointFile))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600", fi.Mode().Perm())
	}
	got, err := ReadEndpoint(home)
	if err != nil {
		t.Fatal(err)
	}
	want.Home = home
	if got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	b, _ := os.ReadFile(filepath.Join(home, EndpointFile))
	if strings.Contains(string(b), "home") {
		t.Errorf("Home leaked into the file: %s", b)
	}

	// Replacing works and leaves no temporary files.
	want.Address = "127.0.0.1:23456"
	if err := WriteEndpoint(home, want); err != nil {
		t.Fatal(err)
	}
	if got, _ := ReadEndpoint(home); got.Address != want.Address {
		t.Fatalf("after rewrite: %+v", got)
	}
	entries, _ := os.ReadDir(home)
	if len(entries) != 1 {
		t.Fatalf("home holds %d entries, want only %s", len(entries), EndpointFile)
	}
}

func TestReadEndpointNoAgent(t *testing.T) {
	home := t.TempDir()
	_, err := ReadEndpoint(home)
	if !errors.Is(err, ErrNoAgent) {
		t.Fatalf("missing file: %v, want ErrNoAgent", err)
	}
	want := "no running agent found for home " + home + " (start one with 'shoal run')"
	if err.Error() != want {
		t.Fatalf("message %q, want %q", err, want)
	}

	// A file left by a process that is gone. PIDs never reach 2^30 (Linux
	// caps pid_max at 2^22), so kill(pid, 0) fails with ESRCH.
	if err := WriteEndpoint(home, Endpoint{Address: "127.0.0.1:1", Token: "t", PID: 1 << 30}); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadEndpoint(home); !errors.Is(err, ErrNoAgent) {
		t.Fatalf("stale pid: %v, want ErrNoAgent", err)
	}
}

func TestReadEndpointBadFile(t *testing.T) {
	tests := []struct{ name, content string }{
		{"garbage", "not json"},
		{"missing token", `{"address":"127.0.0.1:1","pid":1}`},
		{"missing address", `{"token":"x","pid":1}`},
		{"bad pid", `{"address":"127.0.0.1:1","token":"x","pid":-3}`},
		{"huge", `{"address":"` + strings.Repeat("a", maxEndpointFile) + `"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			home := t.TempDir()
			if err := os.WriteFile(filepath.Join(home, EndpointFile), []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := ReadEndpoint(home)
			if err == nil || errors.Is(err, ErrNoAgent) {
				t.Fatalf("got %v, want a read error", err)
			}
		})
	}
}

func TestRemoveEndpoint(t *testing.T) {
	home := t.TempDir()
	if err := RemoveEndpoint(home, 42); err != nil {
		t.Fatalf("no file: %v", err)
	}
	if err := WriteEndpoint(home, Endpoint{Address: "127.0.0.1:1", Token: "t", PID: os.Getpid()}); err != nil {
		t.Fatal(err)
	}
	// Another agent's file is left alone.
	if err := RemoveEndpoint(home, os.Getpid()+1); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(home, EndpointFile)); err != nil {
		t.Fatalf("file of another pid removed: %v", err)
	}
	if err := RemoveEndpoint(home, os.Getpid()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(home, EndpointFile)); !os.IsNotExist(err) {
		t.Fatalf("file still there: %v", err)
	}
}

func TestWriteEndpointMissingHome(t *testing.T) {
	if err := WriteEndpoint(filepath.Join(t.TempDir(), "nope"), Endpoint{}); err == nil {
		t.Fatal("write into a missing directory succeeded")
	}
}
