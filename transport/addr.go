package transport

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	ma "github.com/multiformats/go-multiaddr"
)

// ErrBadAddr marks an address that ParseAddr cannot parse.
var ErrBadAddr = errors.New("transport: invalid address")

// ParseAddr parses a user-supplied address: "quic://HOST:PORT" (QUIC v1 over
// UDP), "tcp://HOST:PORT", or a libp2p multiaddr such as
// "/ip4/192.0.2.1/udp/22000/quic-v1". HOST is an IPv4 address, a bracketed
// IPv6 address or a DNS name; an empty HOST means 0.0.0.0. A multiaddr may
// end in /p2p/<device ID>.
func ParseAddr(s string) (ma.Multiaddr, error) {
	s = strings.TrimSpace(s)
	var proto, suffix string
	switch {
	case strings.HasPrefix(s, "/"):
		a, err := ma.NewMultiaddr(s)
		if err != nil {
			return nil, fmt.Errorf("%w %q: %v", ErrBadAddr, s, err)
		}
		return a, nil
	case strings.HasPrefix(s, "quic://"):
		proto, suffix = "udp", "/quic-v1"
	case strings.HasPrefix(s, "tcp://"):
		proto = "tcp"
	default:
		return nil, fmt.Errorf("%w %q: want quic://host:port, tcp://host:port or a multiaddr", ErrBadAddr, s)
	}
	hostport := s[strings.Index(s, "://")+3:]
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return nil, fmt.Errorf("%w %q: %v", ErrBadAddr, s, err)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return nil, fmt.Errorf("%w %q: port %q is not a number from 0 to 65535", ErrBadAddr, s, port)
	}
	var head string
	if host == "" {
		head = "/ip4/0.0.0.0"
	} else if ip, err := netip.ParseAddr(host); err == nil {
		if ip.Zone() != "" {
			head = "/ip6zone/" + ip.Zone() + "/ip6/" + ip.WithZone("").String()
		} else if ip.Is4() || ip.Is4In6() {
			head = "/ip4/" + ip.Unmap().String()
		} else {
			head = "/ip6/" + ip.String()
		}
	} else if validDNSName(host) {
		head = "/dns/" + host
	} else {
		return nil, fmt.Errorf("%w %q: host %q is neither an IP address nor a DNS name", ErrBadAddr, s, host)
	}
	a, err := ma.NewMultiaddr(head + "/" + proto + "/" + port + suffix)
	if err != nil {
		return nil, fmt.Errorf("%w %q: %v", ErrBadAddr, s, err)
	}
	return a, nil
}

// ParseAddrs parses each address with ParseAddr.
func ParseAddrs(ss []string) ([]ma.Multiaddr, error) {
	out := make([]ma.Multiaddr, 0, len(ss))
	for _, s := range ss {
		a, err := ParseAddr(s)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

// validDNSName accepts letters, digits, '-', '_' and dots, in labels of 1 to
// 63 bytes, at most 253 bytes in all.
func validDNSName(s string) bool {
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > 253 {
		return false
	}
	for label := range strings.SplitSeq(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// transportName names the transport of a connection's multiaddr: "quic",
// "tcp", or the last protocol for anything else.
func transportName(a ma.Multiaddr) string {
	name := ""
	for _, c := range a {
		switch c.Code() {
		case ma.P_QUIC_V1, ma.P_QUIC:
			return "quic"
		case ma.P_TCP:
			name = "tcp"
		}
	}
	if name == "" && len(a) > 0 {
		name = a[len(a)-1].Protocol().Name
	}
	return name
}
