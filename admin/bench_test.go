package admin

import (
	"context"
	"log/slog"
	"testing"

	"github.com/shoalsync/shoal/admin/admintest"
)

// BenchmarkStatusRoundTrip measures one authenticated GET /api/v1/status
// from Client to Server over loopback TCP (keep-alive), with a fake agent
// holding no devices or folders.
func BenchmarkStatusRoundTrip(b *testing.B) {
	s, err := NewServer(Options{Agent: admintest.New("bench"), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := s.Listen(ctx, "127.0.0.1:0"); err != nil {
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	c := NewClient(s.Endpoint())
	defer c.Close()
	for b.Loop() {
		if _, err := c.Status(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
