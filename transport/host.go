package transport

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p"
	lcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	libp2ptls "github.com/libp2p/go-libp2p/p2p/security/tls"
	libp2pquic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/shoalsync/shoal/crypto/identity"
	"github.com/shoalsync/shoal/transport/wire"
)

// ErrClosed is returned by Serve after Close.
var ErrClosed = errors.New("transport: host closed")

// protectTag marks allowed devices in the connection manager.
const protectTag = "sync"

// Device is an allowed device and its static addresses (as for ParseAddr).
type Device struct {
	ID    identity.DeviceID
	Addrs []string
}

// Host is this device's libp2p host and its sessions.
type Host struct {
	cfg   Config
	id    identity.DeviceID
	log   *slog.Logger
	p2p   host.Host
	hello *wire.Hello

	ctx    context.Context // cancelled by Close; parent of dial loops
	cancel context.CancelFunc
	notify *network.NotifyBundle

	wg        sync.WaitGroup // dial loops, sessions, stream handlers
	closeOnce sync.Once
	closeErr  error

	refused refusedList

	mu struct {
		sync.Mutex
		devices  map[identity.DeviceID][]ma.Multiaddr // the allowlist
		sessions map[identity.DeviceID]*Session       // registered, maybe ending
		dialers  map[identity.DeviceID]*dialer        // while serving
		serving  bool
		closed   bool
		guests   bool // admit devices outside the allowlist (SetGuests)
	}

	anchors []peer.AddrInfo // Config.Anchors, parsed
	net     struct {
		sync.Mutex
		reachability network.Reachability
		reserved     map[peer.ID]bool // anchors holding a relay reservation for us
		directTried  map[identity.DeviceID]time.Time
	}
}

// New creates the libp2p host and starts listening. Sessions with allowed
// devices that dial in are served at once; Serve dials out.
func New(cfg Config) (*Host, error) {
	cfg, listen, err := cfg.normalize()
	if err != nil {
		return nil, err
	}
	priv, err := lcrypto.UnmarshalEd25519PrivateKey(cfg.Key.Private())
	if err != nil {
		return nil, fmt.Errorf("converting device key: %w", err)
	}
	hello, err := cfg.ourHello()
	if err != nil {
		return nil, err
	}
	h := &Host{
		cfg:     cfg,
		id:      cfg.Key.ID(),
		log:     cfg.Logger,
		hello:   hello,
		refused: refusedList{m: make(map[identity.DeviceID]*Refused)},
	}
	h.ctx, h.cancel = context.WithCancel(context.Background())
	h.mu.devices = make(map[identity.DeviceID][]ma.Multiaddr)
	h.mu.sessions = make(map[identity.DeviceID]*Session)
	h.mu.dialers = make(map[identity.DeviceID]*dialer)

	h.anchors, _ = ParseAnchors(cfg.Anchors) // checked by normalize
	opts := []libp2p.Option{
		libp2p.Identity(priv),
		libp2p.Transport(libp2pquic.NewTransport),
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Security(libp2ptls.ID, libp2ptls.New),
		libp2p.Muxer(yamux.ID, yamux.DefaultTransport),
		libp2p.Ping(false),
		libp2p.ConnectionGater(&gater{h: h}),
		libp2p.UserAgent(ClientName + "/" + cfg.ClientVersion),
	}
	opts = append(opts, cfg.networkOptions(h.anchors)...)
	if len(listen) == 0 {
		opts = append(opts, libp2p.NoListenAddrs)
	} else {
		opts = append(opts, libp2p.ListenAddrs(listen...))
	}
	if cfg.Metrics != nil {
		opts = append(opts, libp2p.PrometheusRegisterer(cfg.Metrics))
	} else {
		opts = append(opts, libp2p.DisableMetrics())
	}
	p, err := libp2p.New(opts...)
	if err != nil {
		h.cancel()
		return nil, fmt.Errorf("starting libp2p host: %w", err)
	}
	if identity.DeviceID(p.ID()) != h.id {
		p.Close()
		h.cancel()
		return nil, fmt.Errorf("transport: libp2p peer ID %s differs from device ID %s", p.ID(), h.id)
	}
	h.p2p = p
	h.notify = &network.NotifyBundle{
		ConnectedF: func(_ network.Network, c network.Conn) {
			h.kick(identity.DeviceID(c.RemotePeer()))
			h.guestConnected(identity.DeviceID(c.RemotePeer()))
			h.preferDirect(identity.DeviceID(c.RemotePeer()), c)
		},
		DisconnectedF: func(_ network.Network, c network.Conn) { h.kick(identity.DeviceID(c.RemotePeer())) },
	}
	p.Network().Notify(h.notify)
	p.SetStreamHandler(ProtocolID, h.handleStream)
	h.log.Info("Listening", slog.Any("addrs", h.Addrs()))
	return h, nil
}

// ID returns this device's ID.
func (h *Host) ID() identity.DeviceID { return h.id }

// Addrs returns the addresses we listen on, as multiaddrs ending in
// /p2p/<device ID>.
func (h *Host) Addrs() []string {
	if len(h.p2p.Addrs()) == 0 {
		return nil
	}
	addrs, err := peer.AddrInfoToP2pAddrs(&peer.AddrInfo{ID: h.p2p.ID(), Addrs: h.p2p.Addrs()})
	if err != nil {
		return nil
	}
	out := make([]string, len(addrs))
	for i, a := range addrs {
		out[i] = a.String()
	}
	return out
}

// LibP2P returns the underlying libp2p host, for discovery to run on. Its
// connection gater admits only allowed devices.
func (h *Host) LibP2P() host.Host { return h.p2p }

// Session returns the running session with a device, or nil. A session is
// returned once Handler.Connected has been called for it.
func (h *Host) Session(id identity.DeviceID) *Session {
	h.mu.Lock()
	s := h.mu.sessions[id]
	h.mu.Unlock()
	if s == nil || !s.live.Load() || s.ctx.Err() != nil {
		return nil
	}
	return s
}

// Serve dials allowed devices and keeps reconnecting them until ctx is done,
// then closes the host and waits for everything it started.
func (h *Host) Serve(ctx context.Context) error {
	h.mu.Lock()
	if h.mu.closed {
		h.mu.Unlock()
		return ErrClosed
	}
	if h.mu.serving {
		h.mu.Unlock()
		return errors.New("transport: Serve called twice")
	}
	h.mu.serving = true
	for id := range h.mu.devices {
		h.startDialerLocked(id)
	}
	h.mu.Unlock()
	if len(h.anchors) > 0 || h.cfg.Anchor {
		h.wg.Add(2)
		go func() { defer h.wg.Done(); h.keepReservations(h.ctx) }()
		go func() { defer h.wg.Done(); h.watchReachability(h.ctx) }()
	}
	select {
	case <-ctx.Done():
	case <-h.ctx.Done():
	}
	return h.Close()
}

// Close ends every session (sending Close), stops the libp2p host and waits
// for all goroutines. It must not be called from a Handler method.
func (h *Host) Close() error {
	h.closeOnce.Do(func() {
		h.mu.Lock()
		h.mu.closed = true
		sessions := make([]*Session, 0, len(h.mu.sessions))
		for _, s := range h.mu.sessions {
			sessions = append(sessions, s)
		}
		h.mu.Unlock()
		h.cancel()
		for _, s := range sessions {
			s.end(&CloseError{Reason: reasonShutdown})
		}
		for _, s := range sessions {
			<-s.finished
		}
		h.p2p.Network().StopNotify(h.notify)
		if err := h.p2p.Close(); err != nil {
			h.closeErr = fmt.Errorf("closing libp2p host: %w", err)
		}
		h.wg.Wait()
	})
	return h.closeErr
}

// track adds a goroutine to the host's wait group unless the host is closed.
func (h *Host) track() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.mu.closed {
		return false
	}
	h.wg.Add(1)
	return true
}

func (h *Host) allowed(id identity.DeviceID) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.allowedLocked(id)
}

// allowedLocked reports whether id is on the allowlist or may connect as a
// guest: guests are open, and fewer than MaxGuests other guests have a
// session.
func (h *Host) allowedLocked(id identity.DeviceID) bool {
	if _, ok := h.mu.devices[id]; ok {
		return true
	}
	if !h.mu.guests || id == h.id {
		return false
	}
	if _, ok := h.mu.sessions[id]; ok {
		return true
	}
	n := 0
	for sid := range h.mu.sessions {
		if _, ok := h.mu.devices[sid]; !ok {
			n++
		}
	}
	return n < MaxGuests
}

// MaxGuests bounds the sessions with devices outside the allowlist.
const MaxGuests = 32

// SetGuests admits (open) or refuses devices outside the allowlist. A guest
// session is an ordinary session: the handler decides what the device may
// do and closes it if it proves nothing. Closing guests does not end their
// sessions; SetDevices, or the handler, does.
func (h *Host) SetGuests(open bool) {
	h.mu.Lock()
	h.mu.guests = open
	h.mu.Unlock()
}

// GuestsOpen reports whether devices outside the allowlist are admitted.
func (h *Host) GuestsOpen() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.mu.guests
}

// guestConnected opens the session with a guest that connected to us when
// we are the lower device (the lower device opens sessions; a guest has no
// dial loop here).
func (h *Host) guestConnected(id identity.DeviceID) {
	h.mu.Lock()
	_, listed := h.mu.devices[id]
	_, has := h.mu.sessions[id]
	ok := !listed && !has && h.mu.guests && h.mu.serving && h.id < id && !h.IsAnchor(peer.ID(id))
	h.mu.Unlock()
	if !ok || !h.track() {
		return
	}
	go func() {
		defer h.wg.Done()
		if err := h.openSession(h.ctx, id); err != nil {
			h.log.Debug("Opening guest session failed", id.LogAttr(), slog.Any("error", err))
		}
	}()
}

// newSession wraps a libp2p stream.
func (h *Host) newSession(st network.Stream) *Session {
	c := st.Conn()
	addr := c.RemoteMultiaddr()
	s := newSession(st, identity.DeviceID(c.RemotePeer()), addr.String(), transportName(addr),
		h.cfg.Handler, h.log, h.cfg.MaxRequestsInFlight)
	s.path = h.pathOf(c)
	return s
}

// handleStream accepts a session stream opened by a lower device.
func (h *Host) handleStream(st network.Stream) {
	c := st.Conn()
	dev := identity.DeviceID(c.RemotePeer())
	if !h.allowed(dev) { // the gater should have stopped it already
		h.refuse(dev, c.RemoteMultiaddr().String())
		st.Reset()
		return
	}
	if dev > h.id {
		h.log.Debug("Refused session stream from the higher device", dev.LogAttr())
		st.Reset()
		return
	}
	if !h.track() {
		st.Reset()
		return
	}
	defer h.wg.Done()
	s := h.newSession(st)
	if err := s.handshake(h.hello); err != nil {
		level := slog.LevelInfo
		if errors.Is(err, ErrProtocol) {
			level = slog.LevelWarn
		}
		h.log.Log(context.Background(), level, "Session handshake failed", dev.LogAttr(), slog.String("addr", s.remoteAddr), slog.Any("error", err))
		s.abort(err)
		return
	}
	if err := h.register(s); err != nil {
		return
	}
	h.run(s)
}

// register makes s the device's session, replacing (and waiting for) an
// older one. On error s has been aborted.
func (h *Host) register(s *Session) error {
	h.mu.Lock()
	var err error
	switch {
	case h.mu.closed:
		err = &CloseError{Reason: reasonShutdown}
	case !h.allowedLocked(s.id):
		err = &CloseError{Reason: reasonRemoved}
	}
	if err != nil {
		h.mu.Unlock()
		s.abort(err)
		close(s.finished)
		return err
	}
	old := h.mu.sessions[s.id]
	h.mu.sessions[s.id] = s
	d := h.mu.dialers[s.id]
	h.mu.Unlock()
	d.kick()
	if old != nil {
		h.log.Info("Replacing session", s.id.LogAttr(), slog.String("oldAddr", old.remoteAddr), slog.String("addr", s.remoteAddr))
		old.end(&CloseError{Reason: reasonReplaced})
		<-old.finished
	}
	h.dropRelayed(s)
	return nil
}

// run serves a registered session to its end and unregisters it.
func (h *Host) run(s *Session) {
	if s.ctx.Err() == nil {
		h.log.Info("Device connected", s.id.LogAttr(), slog.String("addr", s.remoteAddr),
			slog.String("transport", s.transport), slog.String("name", s.hello.GetDeviceName()),
			slog.String("clientVersion", s.hello.GetClientVersion()))
		s.serve()
	} else {
		s.abort(s.Err()) // closed while waiting for the session it replaced
	}
	h.mu.Lock()
	if h.mu.sessions[s.id] == s {
		delete(h.mu.sessions, s.id)
	}
	d := h.mu.dialers[s.id]
	h.mu.Unlock()
	close(s.finished)
	d.kick()
	err := s.Err()
	level := slog.LevelInfo
	if errors.Is(err, ErrProtocol) {
		level = slog.LevelWarn
	}
	h.log.Log(context.Background(), level, "Device disconnected", s.id.LogAttr(), slog.String("addr", s.remoteAddr), slog.Any("error", err))
}
