package transport

import (
	"context"
	"log/slog"
	"sync"
	"testing"

	"github.com/shoalsync/shoal/transport/wire"
)

// BenchmarkRequest1MiB measures Request/Response throughput between two
// hosts on loopback: 1 MiB responses, 16 requests in flight.
func BenchmarkRequest1MiB(b *testing.B) {
	const size, inFlight = 1 << 20, 16
	payload := make([]byte, size)
	for i := range payload {
		payload[i] = byte(i * 7)
	}
	quiet := func(c *Config) { c.Logger = slog.New(slog.DiscardHandler) }
	for _, tc := range []struct{ name, listen string }{
		{"quic", quicLoopback},
		{"tcp", tcpLoopback},
	} {
		b.Run(tc.name, func(b *testing.B) {
			keys := sortedKeys(b, 2)
			server := startHost(b, keys[0], "server", []string{tc.listen}, quiet)
			client := startHost(b, keys[1], "client", []string{tc.listen}, quiet)
			server.SetDevices([]Device{client.device(false)})
			client.SetDevices([]Device{server.device(true)})
			server.rec.onRequest(func(ctx context.Context, s *Session, r *wire.Request) *wire.Response {
				return &wire.Response{Data: payload}
			})
			s := client.waitSession(b, server.ID())
			if s.Transport() != tc.name {
				b.Fatalf("transport %s", s.Transport())
			}
			ctx := context.Background()
			sem := make(chan struct{}, inFlight)
			var wg sync.WaitGroup
			b.SetBytes(size)
			b.ResetTimer()
			for range b.N {
				sem <- struct{}{}
				wg.Go(func() {
					defer func() { <-sem }()
					req := validReq("bench")
					req.Size = size
					resp, err := s.Request(ctx, req)
					if err != nil || len(resp.GetData()) != size {
						b.Errorf("request: %v, %d bytes, code %v", err, len(resp.GetData()), resp.GetCode())
					}
				})
			}
			wg.Wait()
		})
	}
}
