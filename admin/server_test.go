package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/shoalsync/shoal/admin/admintest"
	"github.com/shoalsync/shoal/sync/model"
)

func TestRouting(t *testing.T) {
	ts := startServer(t, Options{})
	dev := newDeviceID(t)
	dir := t.TempDir()

	steps := []struct {
		name, method, path, body string
		want                     int
	}{
		{name: "health", method: "GET", path: "/api/v1/health", want: 200},
		{name: "status", method: "GET", path: "/api/v1/status", want: 200},
		{name: "list devices empty", method: "GET", path: "/api/v1/devices", want: 200},
		{name: "add device", method: "POST", path: "/api/v1/devices", body: `{"id":"` + dev + `","name":"laptop","addrs":["quic://192.0.2.1:22100"]}`, want: 201},
		{name: "add folder", method: "POST", path: "/api/v1/folders", body: `{"path":` + jsonString(dir) + `,"id":"docs"}`, want: 201},
		{name: "share folder", method: "POST", path: "/api/v1/folders/docs/devices", body: `{"deviceId":"` + dev + `"}`, want: 204},
		{name: "list folders", method: "GET", path: "/api/v1/folders", want: 200},
		{name: "remove folder", method: "DELETE", path: "/api/v1/folders/docs", want: 204},
		{name: "remove device", method: "DELETE", path: "/api/v1/devices/" + dev, want: 204},
		{name: "HEAD allowed on GET route", method: "HEAD", path: "/api/v1/status", want: 200},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			code, body := ts.call(t, st.method, st.path, st.body)
			if code != st.want {
				t.Fatalf("%s %s = %d %s, want %d", st.method, st.path, code, body, st.want)
			}
		})
	}
	for _, m := range []string{"AddDevice", "AddFolder", "ShareFolder", "RemoveFolder", "RemoveDevice", "Status"} {
		if ts.agent.Calls(m) == 0 {
			t.Errorf("agent.%s never called", m)
		}
	}
}

func TestEmptyListsAreArrays(t *testing.T) {
	ts := startServer(t, Options{})
	for _, p := range []string{"/api/v1/devices", "/api/v1/folders"} {
		code, body := ts.call(t, "GET", p, "")
		if code != 200 || strings.TrimSpace(string(body)) != "[]" {
			t.Errorf("GET %s = %d %q, want 200 []", p, code, body)
		}
	}
	_, body := ts.call(t, "GET", "/api/v1/status", "")
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"devices", "folders", "refused", "listenAddrs"} {
		if _, ok := m[k].([]any); !ok {
			t.Errorf("status.%s = %v, want an array", k, m[k])
		}
	}
}

func TestAuth(t *testing.T) {
	ts := startServer(t, Options{})
	tests := []struct {
		name string
		hdr  []string
		want int
	}{
		{name: "bearer", hdr: nil, want: 200},
		{name: "bearer lower-case scheme", hdr: []string{"Authorization", "bearer " + ts.Token()}, want: 200},
		{name: "api key", hdr: []string{"Authorization", "", "X-API-Key", ts.Token()}, want: 200},
		{name: "missing", hdr: []string{"Authorization", ""}, want: 401},
		{name: "wrong bearer", hdr: []string{"Authorization", "Bearer " + NewToken()}, want: 401},
		{name: "prefix of token", hdr: []string{"Authorization", "Bearer " + ts.Token()[:10]}, want: 401},
		{name: "wrong scheme", hdr: []string{"Authorization", "Basic " + ts.Token()}, want: 401},
		{name: "empty bearer", hdr: []string{"Authorization", "Bearer "}, want: 401},
		{name: "wrong api key", hdr: []string{"Authorization", "", "X-API-Key", "nope"}, want: 401},
		{name: "bad bearer wins over good api key", hdr: []string{"Authorization", "Bearer x", "X-API-Key", ts.Token()}, want: 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, p := range []string{"/api/v1/status", "/api/v1/devices", "/api/v1/folders"} {
				code, body := ts.call(t, "GET", p, "", tt.hdr...)
				if code != tt.want {
					t.Fatalf("GET %s = %d %s, want %d", p, code, body, tt.want)
				}
				if code == 401 {
					errorMessage(t, body)
				}
			}
		})
	}
	t.Run("mutations need the token", func(t *testing.T) {
		dev := newDeviceID(t)
		for _, r := range [][3]string{
			{"POST", "/api/v1/devices", `{"id":"` + dev + `"}`},
			{"DELETE", "/api/v1/devices/" + dev, ""},
			{"POST", "/api/v1/folders", `{"path":"/tmp"}`},
			{"POST", "/api/v1/folders/x/devices", `{"deviceId":"` + dev + `"}`},
			{"DELETE", "/api/v1/folders/x", ""},
		} {
			code, _ := ts.call(t, r[0], r[1], r[2], "Authorization", "")
			if code != 401 {
				t.Errorf("%s %s without token = %d, want 401", r[0], r[1], code)
			}
		}
		if n := ts.agent.Calls("AddDevice") + ts.agent.Calls("AddFolder") + ts.agent.Calls("RemoveDevice"); n != 0 {
			t.Errorf("agent called %d times by unauthenticated requests", n)
		}
	})
	t.Run("health is public", func(t *testing.T) {
		code, body := ts.call(t, "GET", "/api/v1/health", "", "Authorization", "")
		if code != 200 || !strings.Contains(string(body), `"ok"`) {
			t.Fatalf("health = %d %s", code, body)
		}
	})
}

func TestErrorMapping(t *testing.T) {
	ts := startServer(t, Options{})
	dev := newDeviceID(t)
	dir := t.TempDir()
	if code, body := ts.call(t, "POST", "/api/v1/devices", `{"id":"`+dev+`"}`); code != 201 {
		t.Fatalf("add device: %d %s", code, body)
	}
	if code, body := ts.call(t, "POST", "/api/v1/folders", `{"path":`+jsonString(dir)+`,"id":"f1"}`); code != 201 {
		t.Fatalf("add folder: %d %s", code, body)
	}
	other := newDeviceID(t)
	tests := []struct {
		name, method, path, body string
		want                     int
		wantMsg                  string
	}{
		{name: "device exists", method: "POST", path: "/api/v1/devices", body: `{"id":"` + dev + `"}`, want: 409, wantMsg: "already exists"},
		{name: "folder ID exists", method: "POST", path: "/api/v1/folders", body: `{"path":"/elsewhere","id":"f1"}`, want: 409},
		{name: "folder path exists", method: "POST", path: "/api/v1/folders", body: `{"path":` + jsonString(dir) + `}`, want: 409},
		{name: "remove unknown device", method: "DELETE", path: "/api/v1/devices/" + other, want: 404, wantMsg: "not found"},
		{name: "remove unknown folder", method: "DELETE", path: "/api/v1/folders/nope", want: 404},
		{name: "share unknown folder", method: "POST", path: "/api/v1/folders/nope/devices", body: `{"deviceId":"` + dev + `"}`, want: 404},
		{name: "share with unknown device", method: "POST", path: "/api/v1/folders/f1/devices", body: `{"deviceId":"` + other + `"}`, want: 404},
		{name: "bad device ID", method: "POST", path: "/api/v1/devices", body: `{"id":"12D3KooWnope"}`, want: 400, wantMsg: "invalid device ID"},
		{name: "missing device ID", method: "POST", path: "/api/v1/devices", body: `{}`, want: 400},
		{name: "bad device ID in path", method: "DELETE", path: "/api/v1/devices/xyz", want: 400},
		{name: "bad folder ID in path", method: "DELETE", path: "/api/v1/folders/a%20b", want: 400, wantMsg: "invalid folder ID"},
		{name: "relative path", method: "POST", path: "/api/v1/folders", body: `{"path":"rel/dir"}`, want: 400, wantMsg: "not absolute"},
		{name: "bad folder ID", method: "POST", path: "/api/v1/folders", body: `{"path":"/x","id":"../x"}`, want: 400},
		{name: "share to unknown device at add", method: "POST", path: "/api/v1/folders", body: `{"path":"/y","devices":["` + other + `"]}`, want: 400},
		{name: "self as device", method: "POST", path: "/api/v1/devices", body: `{"id":"` + ts.agent.ID().String() + `"}`, want: 400},
		{name: "unknown field", method: "POST", path: "/api/v1/devices", body: `{"id":"` + dev + `","colour":"red"}`, want: 400, wantMsg: "colour"},
		{name: "malformed JSON", method: "POST", path: "/api/v1/devices", body: `{"id":`, want: 400},
		{name: "trailing data", method: "POST", path: "/api/v1/devices", body: `{"id":"` + other + `"} {}`, want: 400, wantMsg: "trailing"},
		{name: "empty body", method: "POST", path: "/api/v1/folders", body: ``, want: 400, wantMsg: "empty"},
		{name: "array body", method: "POST", path: "/api/v1/folders", body: `[]`, want: 400},
		{name: "control character in name", method: "POST", path: "/api/v1/devices", body: `{"id":"` + other + `","name":"a\u0007b"}`, want: 400},
		{name: "unknown route", method: "GET", path: "/api/v1/nope", want: 404, wantMsg: "no such API route"},
		{name: "wrong method", method: "PUT", path: "/api/v1/devices", want: 405, wantMsg: "not allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := ts.call(t, tt.method, tt.path, tt.body)
			if code != tt.want {
				t.Fatalf("%s %s = %d %s, want %d", tt.method, tt.path, code, body, tt.want)
			}
			msg := errorMessage(t, body)
			if tt.wantMsg != "" && !strings.Contains(msg, tt.wantMsg) {
				t.Errorf("message %q does not contain %q", msg, tt.wantMsg)
			}
		})
	}
	if n := ts.agent.Calls("AddDevice"); n != 3 { // the first add, the duplicate, the self
		t.Errorf("AddDevice called %d times, want 3 (invalid input must not reach the agent)", n)
	}
}

func TestAgentErrorsMapped(t *testing.T) {
	var inject error
	ts := startServer(t, Options{})
	ts.agent.Hook = func(_ context.Context, method string) error { return inject }
	tests := []struct {
		err  error
		want int
	}{
		{fmt.Errorf("folder x: %w", model.ErrNotFound), 404},
		{fmt.Errorf("device y: %w", model.ErrExists), 409},
		{fmt.Errorf("%w: bad", model.ErrInvalid), 400},
		{errors.New("disk on fire\nsecond line"), 500},
		{context.Canceled, 503},
	}
	for _, tt := range tests {
		inject = tt.err
		code, body := ts.call(t, "GET", "/api/v1/status", "")
		if code != tt.want {
			t.Errorf("error %q: status %d, want %d", tt.err, code, tt.want)
		}
		if msg := errorMessage(t, body); tt.want == 500 && msg != "disk on fire second line" {
			t.Errorf("500 message = %q", msg)
		}
	}
}

func TestBodyLimit(t *testing.T) {
	ts := startServer(t, Options{})
	big := `{"id":"` + newDeviceID(t) + `","name":"` + strings.Repeat("a", MaxBodyBytes) + `"}`
	code, body := ts.call(t, "POST", "/api/v1/devices", big)
	if code != http.StatusRequestEntityTooLarge {
		t.Fatalf("oversized body: %d %s, want 413", code, body)
	}
	errorMessage(t, body)
	if ts.agent.Calls("AddDevice") != 0 {
		t.Error("oversized request reached the agent")
	}
	// Just under the limit is read fully and rejected for its content.
	name := strings.Repeat("a", MaxBodyBytes-200)
	code, _ = ts.call(t, "POST", "/api/v1/devices", `{"id":"`+newDeviceID(t)+`","name":"`+name+`"}`)
	if code != 400 {
		t.Fatalf("long name: %d, want 400", code)
	}
}

func TestCrossOriginProtection(t *testing.T) {
	ts := startServer(t, Options{})
	dev := newDeviceID(t)
	body := `{"id":"` + dev + `"}`
	code, resp := ts.call(t, "POST", "/api/v1/devices", body, "Sec-Fetch-Site", "cross-site")
	if code != 403 {
		t.Fatalf("cross-site POST = %d %s, want 403", code, resp)
	}
	errorMessage(t, resp)
	code, _ = ts.call(t, "POST", "/api/v1/devices", body, "Origin", "https://evil.example")
	if code != 403 {
		t.Fatalf("cross-origin POST = %d, want 403", code)
	}
	code, _ = ts.call(t, "DELETE", "/api/v1/folders/x", "", "Sec-Fetch-Site", "cross-site")
	if code != 403 {
		t.Fatalf("cross-site DELETE = %d, want 403", code)
	}
	if ts.agent.Calls("AddDevice") != 0 {
		t.Fatal("cross-origin request reached the agent")
	}
	// Same-origin browser requests and non-browser requests pass.
	code, _ = ts.call(t, "POST", "/api/v1/devices", body, "Sec-Fetch-Site", "same-origin")
	if code != 201 {
		t.Fatalf("same-origin POST = %d, want 201", code)
	}
	// Safe methods are not subject to the check (and need the token anyway).
	code, _ = ts.call(t, "GET", "/api/v1/devices", "", "Sec-Fetch-Site", "cross-site")
	if code != 200 {
		t.Fatalf("cross-site GET = %d, want 200", code)
	}
}

func TestListenRefusesNonLoopback(t *testing.T) {
	s, err := NewServer(Options{Agent: admintest.New("a"), Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	for _, addr := range []string{"0.0.0.0:0", ":0", "[::]:0", "192.0.2.1:0", "example.com:0"} {
		err := s.Listen(t.Context(), addr)
		if !errors.Is(err, ErrNotLoopback) {
			t.Errorf("Listen(%q) = %v, want ErrNotLoopback", addr, err)
		}
	}
	if err := s.Listen(t.Context(), "nonsense"); err == nil || errors.Is(err, ErrNotLoopback) {
		t.Errorf("Listen(nonsense) = %v, want a parse error", err)
	}
	if s.Addr() != nil {
		t.Fatal("a refused Listen left a listener")
	}
	if err := s.Serve(t.Context()); err == nil {
		t.Fatal("Serve without Listen succeeded")
	}
}

func TestListenAllowNonLoopback(t *testing.T) {
	s, err := NewServer(Options{Agent: admintest.New("a"), AllowNonLoopback: true, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Listen(t.Context(), "0.0.0.0:0"); err != nil {
		t.Fatal(err)
	}
	defer s.ln.Close()
	// A local client dials loopback, not the wildcard.
	if ep := s.Endpoint(); !strings.HasPrefix(ep.Address, "127.0.0.1:") {
		t.Fatalf("endpoint address %q, want 127.0.0.1:PORT", ep.Address)
	}
	if err := s.Listen(t.Context(), "127.0.0.1:0"); err == nil {
		t.Fatal("second Listen succeeded")
	}
}

func TestListenLocalhost(t *testing.T) {
	s, err := NewServer(Options{Agent: admintest.New("a"), Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Listen(t.Context(), "localhost:0"); err != nil {
		t.Skipf("no localhost here: %v", err)
	}
	s.ln.Close()
}

func TestServeLifecycle(t *testing.T) {
	home := t.TempDir()
	agent := admintest.New("a")
	entered := make(chan struct{})
	release := make(chan struct{})
	agent.Hook = func(ctx context.Context, method string) error {
		if method == "Folders" {
			close(entered)
			<-release
		}
		return nil
	}
	checkNoLeaks(t)
	s, err := NewServer(Options{Agent: agent, Home: home, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	if err := s.Listen(ctx, "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()

	ep := waitEndpoint(t, home)
	if ep.Address != s.Endpoint().Address || ep.Token != s.Token() {
		t.Fatalf("endpoint file %+v does not match server %+v", ep, s.Endpoint())
	}

	// A request in flight when ctx is cancelled completes, and Serve
	// returns only after it.
	reqDone := make(chan error, 1)
	go func() {
		_, err := NewClient(ep).Folders(context.Background())
		reqDone <- err
	}()
	<-entered
	cancel()
	waitFor(t, "endpoint file removed", func() bool {
		_, err := ReadEndpoint(home)
		return errors.Is(err, ErrNoAgent)
	})
	select {
	case err := <-done:
		t.Fatalf("Serve returned (%v) while a handler was running", err)
	default:
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	if err := <-reqDone; err != nil {
		t.Fatalf("in-flight request failed: %v", err)
	}
}

func TestServeCancelsStuckHandlers(t *testing.T) {
	agent := admintest.New("a")
	entered := make(chan struct{})
	agent.Hook = func(ctx context.Context, method string) error {
		close(entered)
		<-ctx.Done() // stuck until the request is cancelled
		return ctx.Err()
	}
	checkNoLeaks(t)
	s, err := NewServer(Options{Agent: agent, ShutdownTimeout: 50 * time.Millisecond, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	if err := s.Listen(ctx, "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	reqDone := make(chan error, 1)
	go func() {
		_, err := NewClient(s.Endpoint()).Status(context.Background())
		reqDone <- err
	}()
	<-entered
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	if err := <-reqDone; err == nil {
		t.Fatal("stuck request succeeded")
	}
}

func TestHandlerWithoutServer(t *testing.T) {
	s, err := NewServer(Options{Agent: admintest.New("a"), Token: "fixed-token", Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if s.Token() != "fixed-token" {
		t.Fatal("Options.Token ignored")
	}
	req := httptest.NewRequest("GET", "/api/v1/status", nil)
	req.Header.Set("X-API-Key", "fixed-token")
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, req)
	if rec.Code != 200 || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("status = %d %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	if _, err := NewServer(Options{}); err == nil {
		t.Fatal("NewServer without an agent succeeded")
	}
}

func TestTokenFormat(t *testing.T) {
	a, b := NewToken(), NewToken()
	if a == b || len(a) != 43 || strings.ContainsAny(a, "+/=") {
		t.Fatalf("tokens %q %q: want distinct 43-char base64url", a, b)
	}
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// waitFor polls cond until it holds or a deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func waitEndpoint(t *testing.T, home string) Endpoint {
	t.Helper()
	var ep Endpoint
	waitFor(t, "endpoint file", func() bool {
		var err error
		ep, err = ReadEndpoint(home)
		return err == nil
	})
	return ep
}
