package transport

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	ma "github.com/multiformats/go-multiaddr"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/shoalsync/shoal/crypto/identity"
	"github.com/shoalsync/shoal/transport/wire"
)

// ProtocolID is the libp2p protocol of a sync session stream.
const ProtocolID = "/shoal/sync/1.0.0"

// ClientName is sent in Hello.
const ClientName = "shoal"

const (
	defaultMaxRequests  = 64
	defaultReconnectMin = time.Second
	defaultReconnectMax = time.Minute

	helloTimeout  = 10 * time.Second // both Hellos exchanged within
	dialTimeout   = 15 * time.Second // one connection attempt
	closeTimeout  = 2 * time.Second  // sending Close when a session ends
	writeTimeout  = 2 * time.Minute  // each writeChunk of a frame must be written within
	messageQueue  = 8                // per-session queue for Handler.Message
	busyQueue     = 1024             // BUSY answers waiting to be sent
	maxHelloFrame = 4 << 10          // a Hello frame is small
	maxRequest    = 64 << 10         // a Request frame is small
	maxRefused    = 100              // refused devices remembered
	maxReasonLen  = 256              // Close reasons kept from peers
)

// Config configures a Host. The zero value of every field except Key and
// Handler means its default.
type Config struct {
	Key *identity.Key // the device key; required

	// Listen holds "quic://HOST:PORT", "tcp://HOST:PORT" or libp2p
	// multiaddrs; port 0 picks a free port. Empty means listen nowhere and
	// only dial out.
	Listen []string

	DeviceName    string // sent in Hello; at most 64 bytes of UTF-8, no control characters
	ClientVersion string // sent in Hello; the same rules

	Handler Handler      // required
	Logger  *slog.Logger // nil means slog.Default()

	// Metrics receives libp2p's metrics; nil disables them.
	Metrics prometheus.Registerer

	// MaxRequestsInFlight bounds concurrent Handler.Request calls per
	// session; Requests beyond it are answered ERROR_CODE_BUSY. Default 64.
	MaxRequestsInFlight int

	// ReconnectMin and ReconnectMax bound the delay between dial attempts
	// to a device. Defaults 1 s and 60 s.
	ReconnectMin, ReconnectMax time.Duration

	// Anchors are always-on Shoal nodes (addresses ending in /p2p/ID). The
	// host keeps a relay reservation with each, gives every device a
	// relayed address through them (the fallback when no direct path
	// works), and hole-punches to upgrade relayed connections.
	Anchors []string
	// Anchor makes this host an anchor: it admits connections from any
	// device (for the DHT, AutoNAT and relaying; sessions still need the
	// allowlist) and relays with limits that carry sync data.
	Anchor bool
	// OpenDial lets the host dial and accept devices outside the allowlist
	// at the connection level, as the DHT needs; sessions still need the
	// allowlist.
	OpenDial bool
	// NATPortMap asks the router for a port mapping (UPnP, NAT-PMP).
	NATPortMap bool
}

// Handler receives session events. Its methods may be called concurrently
// for different sessions.
type Handler interface {
	// Connected is called once the Hellos are exchanged. Message calls of
	// the session wait until it returns; Responses are delivered meanwhile,
	// so it may call s.Request, and so are Requests (Request may run while
	// Connected has not returned).
	Connected(s *Session)
	// Disconnected is called once per Connected session, after its last
	// Message and Request call returned. err says why it ended (see
	// Session.Err). A session replaced by a newer one with the same device
	// is Disconnected before the new one is Connected.
	Disconnected(s *Session, err error)
	// Message is called with every message other than Request, Response
	// and Close, in arrival order, from one goroutine per session. Blocking
	// here stops reading from the peer once 8 messages are queued.
	Message(s *Session, m *wire.Message)
	// Request answers a peer's Request; calls run concurrently, at most
	// MaxRequestsInFlight per session. ctx is cancelled when the session
	// ends. The response's Id is set by the caller; nil means
	// ERROR_CODE_GENERIC.
	Request(ctx context.Context, s *Session, r *wire.Request) *wire.Response
}

// normalize returns cfg with defaults filled in, and the parsed listen
// addresses.
func (cfg Config) normalize() (Config, []ma.Multiaddr, error) {
	if cfg.Key == nil {
		return cfg, nil, errors.New("transport: config has no device key")
	}
	if cfg.Handler == nil {
		return cfg, nil, errors.New("transport: config has no handler")
	}
	if _, err := cfg.ourHello(); err != nil {
		return cfg, nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.MaxRequestsInFlight < 0 {
		return cfg, nil, fmt.Errorf("transport: MaxRequestsInFlight %d is negative", cfg.MaxRequestsInFlight)
	}
	if cfg.MaxRequestsInFlight == 0 {
		cfg.MaxRequestsInFlight = defaultMaxRequests
	}
	if cfg.ReconnectMin <= 0 {
		cfg.ReconnectMin = defaultReconnectMin
	}
	if cfg.ReconnectMax <= 0 {
		cfg.ReconnectMax = defaultReconnectMax
	}
	if cfg.ReconnectMax < cfg.ReconnectMin {
		cfg.ReconnectMax = cfg.ReconnectMin
	}
	listen, err := ParseAddrs(cfg.Listen)
	if err != nil {
		return cfg, nil, fmt.Errorf("listen address: %w", err)
	}
	if _, err := ParseAnchors(cfg.Anchors); err != nil {
		return cfg, nil, err
	}
	return cfg, listen, nil
}

// ourHello returns the Hello we send, checked as peers will check it.
func (cfg Config) ourHello() (*wire.Hello, error) {
	h := &wire.Hello{
		ProtocolVersion: wire.ProtocolVersion,
		DeviceName:      cfg.DeviceName,
		ClientName:      ClientName,
		ClientVersion:   cfg.ClientVersion,
		Nonce:           make([]byte, wire.NonceSize), // each session sends a fresh one
	}
	if err := wire.ValidateHello(h); err != nil {
		return nil, fmt.Errorf("transport: our hello: %w", err)
	}
	return h, nil
}

// validateHello checks a peer's Hello.
func validateHello(h *wire.Hello) error {
	if h.GetProtocolVersion() != wire.ProtocolVersion {
		return fmt.Errorf("protocol version %d, want %d", h.GetProtocolVersion(), wire.ProtocolVersion)
	}
	return wire.ValidateHello(h)
}
