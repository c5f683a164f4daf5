package admin

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/shoalsync/shoal/sync/model"
)

func TestClientRoundTrip(t *testing.T) {
	ts := startServer(t, Options{})
	ep := waitEndpoint(t, ts.home)
	c := NewClient(ep)
	ctx := t.Context()

	if err := c.Health(ctx); err != nil {
		t.Fatal(err)
	}
	st, err := c.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.DeviceID != ts.agent.ID().String() || st.Name != "alpha" || st.StartedAt.IsZero() {
		t.Fatalf("status %+v", st)
	}

	dev := newDeviceID(t)
	d, err := c.AddDevice(ctx, model.AddDeviceRequest{ID: " " + dev + "\n", Name: "laptop", Addrs: []string{"tcp://192.0.2.7:22100"}})
	if err != nil {
		t.Fatal(err)
	}
	if d.ID != dev || d.Name != "laptop" || !slices.Equal(d.Addrs, []string{"tcp://192.0.2.7:22100"}) {
		t.Fatalf("added device %+v (the server must canonicalize the ID)", d)
	}
	_, err = c.AddDevice(ctx, model.AddDeviceRequest{ID: dev})
	if !errors.Is(err, model.ErrExists) {
		t.Fatalf("duplicate device: %v, want ErrExists", err)
	}
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 409 || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("duplicate device error %#v", err)
	}
	_, err = c.AddDevice(ctx, model.AddDeviceRequest{ID: "bogus"})
	if !errors.Is(err, model.ErrInvalid) || !strings.Contains(err.Error(), "invalid device ID") {
		t.Fatalf("bad device: %v", err)
	}

	dir := t.TempDir()
	f, err := c.AddFolder(ctx, model.AddFolderRequest{Path: dir + "/", Label: "Docs", Devices: []string{dev}})
	if err != nil {
		t.Fatal(err)
	}
	if f.Path != dir || f.Label != "Docs" || f.ID == "" || !slices.Equal(f.Devices, []string{dev}) {
		t.Fatalf("added folder %+v", f)
	}
	other := newDeviceID(t)
	if _, err := c.AddDevice(ctx, model.AddDeviceRequest{ID: other}); err != nil {
		t.Fatal(err)
	}
	if err := c.ShareFolder(ctx, f.ID, other); err != nil {
		t.Fatal(err)
	}
	if err := c.ShareFolder(ctx, "nope", other); !errors.Is(err, model.ErrNotFound) {
		t.Fatalf("share unknown folder: %v", err)
	}
	fs, err := c.Folders(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) != 1 || !slices.Equal(fs[0].Devices, []string{dev, other}) {
		t.Fatalf("folders %+v", fs)
	}
	ds, err := c.Devices(ctx)
	if err != nil || len(ds) != 2 {
		t.Fatalf("devices %+v %v", ds, err)
	}
	if err := c.RemoveFolder(ctx, f.ID); err != nil {
		t.Fatal(err)
	}
	if err := c.RemoveFolder(ctx, f.ID); !errors.Is(err, model.ErrNotFound) {
		t.Fatalf("second remove: %v", err)
	}
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("folder directory gone after remove: %v", err)
	}
	if err := c.RemoveDevice(ctx, dev); err != nil {
		t.Fatal(err)
	}
	if err := c.RemoveDevice(ctx, dev); !errors.Is(err, model.ErrNotFound) {
		t.Fatalf("second remove: %v", err)
	}
}

func TestClientWrongToken(t *testing.T) {
	ts := startServer(t, Options{})
	ep := waitEndpoint(t, ts.home)
	ep.Token = NewToken()
	_, err := NewClient(ep).Status(t.Context())
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusUnauthorized {
		t.Fatalf("got %v, want a 401 APIError", err)
	}
	if errors.Is(err, model.ErrInvalid) || errors.Is(err, ErrNoAgent) {
		t.Fatalf("401 matched a sentinel: %v", err)
	}
}

func TestClientNoAgent(t *testing.T) {
	// A port nothing listens on: bind one, then free it.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()

	home := t.TempDir()
	c := NewClient(Endpoint{Address: addr, Token: "t", PID: os.Getpid(), Home: home})
	_, err = c.Status(t.Context())
	if !errors.Is(err, ErrNoAgent) {
		t.Fatalf("got %v, want ErrNoAgent", err)
	}
	want := "no running agent found for home " + home + " (start one with 'shoal run')"
	if err.Error() != want {
		t.Fatalf("message %q, want %q", err, want)
	}
	err = NewClient(Endpoint{Address: addr, Token: "t"}).Health(t.Context())
	if !errors.Is(err, ErrNoAgent) || !strings.Contains(err.Error(), addr) {
		t.Fatalf("without home: %v", err)
	}
}

func TestClientCancelled(t *testing.T) {
	ts := startServer(t, Options{})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := NewClient(ts.Endpoint()).Status(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
}

func TestAPIErrorFallbackMessage(t *testing.T) {
	err := apiError(502, []byte("<html>bad gateway</html>"))
	if err.Error() != "agent answered: bad gateway" {
		t.Fatalf("message %q", err)
	}
	if err := apiError(599, nil); err.Error() != "agent answered: HTTP status 599" {
		t.Fatalf("message %q", err)
	}
}
