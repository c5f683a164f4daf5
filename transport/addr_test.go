package transport

import (
	"errors"
	"testing"

	ma "github.com/multiformats/go-multiaddr"
)

func TestParseAddr(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string // want "" means an error
	}{
		{"quic ipv4", "quic://192.0.2.1:22000", "/ip4/192.0.2.1/udp/22000/quic-v1"},
		{"tcp ipv4", "tcp://192.0.2.1:22000", "/ip4/192.0.2.1/tcp/22000"},
		{"port zero", "quic://127.0.0.1:0", "/ip4/127.0.0.1/udp/0/quic-v1"},
		{"empty host", "tcp://:22000", "/ip4/0.0.0.0/tcp/22000"},
		{"ipv6", "quic://[2001:db8::1]:5", "/ip6/2001:db8::1/udp/5/quic-v1"},
		{"ipv6 any", "tcp://[::]:5", "/ip6/::/tcp/5"},
		{"ipv4-mapped ipv6", "tcp://[::ffff:192.0.2.1]:5", "/ip4/192.0.2.1/tcp/5"},
		{"ipv6 zone", "tcp://[fe80::1%eth0]:5", "/ip6zone/eth0/ip6/fe80::1/tcp/5"},
		{"dns", "tcp://sync.example.com:22000", "/dns/sync.example.com/tcp/22000"},
		{"dns quic", "quic://anchor-1.example.com:443", "/dns/anchor-1.example.com/udp/443/quic-v1"},
		{"spaces", "  tcp://192.0.2.1:1 ", "/ip4/192.0.2.1/tcp/1"},
		{"multiaddr", "/ip4/192.0.2.1/udp/1/quic-v1", "/ip4/192.0.2.1/udp/1/quic-v1"},
		{"multiaddr with peer", "/ip4/192.0.2.1/tcp/1/p2p/12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA",
			"/ip4/192.0.2.1/tcp/1/p2p/12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA"},
		{"no scheme", "192.0.2.1:22000", ""},
		{"udp scheme", "udp://192.0.2.1:22000", ""},
		{"no port", "tcp://192.0.2.1", ""},
		{"port too big", "tcp://192.0.2.1:65536", ""},
		{"negative port", "tcp://192.0.2.1:-1", ""},
		{"named port", "tcp://192.0.2.1:http", ""},
		{"bad host", "tcp://exa mple.com:1", ""},
		{"host with slash", "tcp://a/b:1", ""},
		{"label starts with dash", "tcp://-a.example.com:1", ""},
		{"path after port", "tcp://192.0.2.1:1/x", ""},
		{"bad multiaddr", "/ip4/999.0.0.1/tcp/1", ""},
		{"empty", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseAddr(tc.in)
			if tc.want == "" {
				if err == nil {
					t.Fatalf("ParseAddr(%q) = %s, want an error", tc.in, got)
				}
				if !errors.Is(err, ErrBadAddr) {
					t.Fatalf("error %v does not wrap ErrBadAddr", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseAddr(%q): %v", tc.in, err)
			}
			if got.String() != tc.want {
				t.Fatalf("ParseAddr(%q) = %s, want %s", tc.in, got, tc.want)
			}
		})
	}
	if _, err := ParseAddrs([]string{"tcp://192.0.2.1:1", "nope"}); !errors.Is(err, ErrBadAddr) {
		t.Errorf("ParseAddrs: %v", err)
	}
}

func TestTransportName(t *testing.T) {
	for in, want := range map[string]string{
		"/ip4/192.0.2.1/udp/1/quic-v1":       "quic",
		"/ip4/192.0.2.1/tcp/1":               "tcp",
		"/ip6/::1/tcp/1/ws":                  "tcp",
		"/ip4/192.0.2.1/udp/1/webrtc-direct": "webrtc-direct",
	} {
		if got := transportName(ma.StringCast(in)); got != want {
			t.Errorf("transportName(%s) = %q, want %q", in, got, want)
		}
	}
}

func FuzzParseAddr(f *testing.F) {
	for _, s := range []string{"quic://192.0.2.1:22000", "tcp://[::1]:0", "tcp://a.example:1", "/ip4/1.2.3.4/udp/5/quic-v1", "tcp://:1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseAddr(s)
		if err != nil {
			return
		}
		b, err := ParseAddr(a.String())
		if err != nil {
			t.Fatalf("ParseAddr(%q) = %s, which does not parse: %v", s, a, err)
		}
		if !a.Equal(b) {
			t.Fatalf("ParseAddr(%q) = %s, reparsed %s", s, a, b)
		}
	})
}
