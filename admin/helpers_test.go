package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/shoalsync/shoal/admin/admintest"
	"github.com/shoalsync/shoal/crypto/identity"
)

// testLogger logs to t.Log.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

func newDeviceID(t testing.TB) string {
	k, err := identity.Generate()
	if err != nil {
		t.Fatal(err)
	}
	return k.ID().String()
}

// testServer is a Server serving on 127.0.0.1:0 in the background.
type testServer struct {
	*Server
	agent *admintest.Agent
	home  string
	url   string
}

// startServer starts a server for a fresh fake agent. The cleanup stops it
// and checks that Serve returned nil.
func startServer(t *testing.T, opts Options) *testServer {
	t.Helper()
	checkNoLeaks(t)
	agent := admintest.New("alpha")
	if opts.Agent == nil {
		opts.Agent = agent
	}
	if opts.Home == "" {
		opts.Home = t.TempDir()
	}
	if opts.Logger == nil {
		opts.Logger = testLogger(t)
	}
	s, err := NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	if err := s.Listen(ctx, "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("Serve did not return after cancel")
		}
	})
	return &testServer{Server: s, agent: agent, home: opts.Home, url: "http://" + s.Endpoint().Address}
}

// call sends a request with the server's token (unless token is "-") and
// returns the status and body.
func (ts *testServer) call(t *testing.T, method, path, body string, hdr ...string) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, ts.url+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+ts.Token())
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i+1] == "" {
			req.Header.Del(hdr[i])
		} else {
			req.Header.Set(hdr[i], hdr[i+1])
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

// errorMessage decodes an error body, failing if it is not one.
func errorMessage(t *testing.T, b []byte) string {
	t.Helper()
	var eb ErrorBody
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&eb); err != nil || eb.Error == "" {
		t.Fatalf("not an error body: %q (%v)", b, err)
	}
	if strings.Contains(eb.Error, "\n") {
		t.Errorf("error message spans lines: %q", eb.Error)
	}
	return eb.Error
}

// checkNoLeaks fails the test if goroutines started during it are still
// running once its other cleanups (registered later, so run earlier) are
// done. Tests using it must not run in parallel.
func checkNoLeaks(t *testing.T) {
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		http.DefaultClient.CloseIdleConnections()
		deadline := time.Now().Add(10 * time.Second)
		for runtime.NumGoroutine() > before {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				t.Errorf("%d goroutines leaked:\n%s", runtime.NumGoroutine()-before, buf[:runtime.Stack(buf, true)])
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}
