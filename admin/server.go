package admin

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/shoalsync/shoal/sync/model"
)

// Agent is what the admin API needs from the sync engine. Implementations
// return errors matching model.ErrNotFound, model.ErrExists or
// model.ErrInvalid for the caller's mistakes; the API maps them to 404, 409
// and 400.
type Agent interface {
	Status(ctx context.Context) (model.Status, error)
	Devices(ctx context.Context) ([]model.DeviceStatus, error)
	AddDevice(ctx context.Context, req model.AddDeviceRequest) (model.DeviceStatus, error)
	RemoveDevice(ctx context.Context, id string) error
	Folders(ctx context.Context) ([]model.FolderStatus, error)
	AddFolder(ctx context.Context, req model.AddFolderRequest) (model.FolderStatus, error)
	ShareFolder(ctx context.Context, folderID, deviceID string) error
	// RemoveFolder stops syncing a folder. It never deletes files.
	RemoveFolder(ctx context.Context, id string) error
	// UpdateFolder changes a folder's settings; nil fields of req are kept.
	UpdateFolder(ctx context.Context, folderID string, req model.UpdateFolderRequest) (model.FolderStatus, error)
	// Conflicts lists the conflict copies of a folder, or of every folder
	// when folderID is "".
	Conflicts(ctx context.Context, folderID string) ([]model.Conflict, error)
	// Versions lists the archived versions of path in a folder, newest first.
	Versions(ctx context.Context, folderID, path string) ([]model.Version, error)
	// RestoreVersion puts an archived version back in place: the newest one
	// archived at or before req.At, or the newest one when At is zero.
	RestoreVersion(ctx context.Context, folderID string, req model.RestoreRequest) (model.Version, error)
	// OverrideFolder makes every device match this send-only folder; it
	// fails with model.ErrInvalid for other modes.
	OverrideFolder(ctx context.Context, folderID string) error
	// RevertFolder moves the local changes of this receive-only folder to
	// the version archive and puts the shared state back; it fails with
	// model.ErrInvalid for other modes.
	RevertFolder(ctx context.Context, folderID string) error
	// Differences lists the paths where a send-only or receive-only folder
	// differs from the shared state.
	Differences(ctx context.Context, folderID string) ([]model.Difference, error)

	// FolderKeys returns the printable keys of a folder this device holds;
	// a level it does not hold is empty. It fails with model.ErrInvalid for
	// a folder shared by device pairing, which has no key.
	FolderKeys(ctx context.Context, folderID string) (model.FolderKeys, error)
	// JoinFolder adds the folder a printable key names, at req.Path
	// (created if missing).
	JoinFolder(ctx context.Context, req model.JoinRequest) (model.FolderStatus, error)
	// CreateInvite issues an invite link to a folder this device holds.
	CreateInvite(ctx context.Context, folderID string, req model.InviteRequest) (model.Invite, error)
	// JoinInvite starts joining a folder by invite link; it returns at once
	// and the join goes on in the background (see Joins).
	JoinInvite(ctx context.Context, req model.JoinInviteRequest) (model.JoinStatus, error)
	// Joins lists the invites this device is redeeming or has redeemed.
	Joins(ctx context.Context) ([]model.JoinStatus, error)
	// Pending lists the devices waiting for approval to join a folder.
	Pending(ctx context.Context) ([]model.PendingDevice, error)
	// Approve lets a pending device join; req.Folder may be empty when the
	// device waits for one folder only.
	Approve(ctx context.Context, deviceID string, req model.DecideRequest) error
	// Deny refuses a pending device.
	Deny(ctx context.Context, deviceID string, req model.DecideRequest) error
	// RemoveMember removes a device from a keyed folder: the folder moves
	// to a new key epoch and the device is refused from then on.
	RemoveMember(ctx context.Context, folderID, deviceID string) (model.FolderStatus, error)
}

// ErrNotLoopback marks a listen address the server refuses because it is
// reachable from other hosts.
var ErrNotLoopback = errors.New("admin: not a loopback address")

// Options configures a Server. The zero value of every field except Agent
// means the default.
type Options struct {
	// Agent serves the requests. Required.
	Agent Agent
	// Home is the agent's home directory. When set, Serve writes the
	// endpoint file there and removes it on return.
	Home string
	// Token is the API token. Empty means a fresh random token (32 bytes,
	// base64url), which is what the agent uses.
	Token string
	// AllowNonLoopback lets Listen bind an address reachable from other
	// hosts. The token then travels in clear text: use only behind a
	// trusted network or a TLS-terminating proxy.
	AllowNonLoopback bool
	// ShutdownTimeout is how long Serve waits for in-flight requests after
	// its context is cancelled before cancelling them; 0 means 5 s.
	ShutdownTimeout time.Duration
	// Logger receives request and lifecycle logs; nil means slog.Default().
	Logger *slog.Logger
}

// Server is the admin API server. Create it with NewServer, bind it with
// Listen, then run Serve.
type Server struct {
	agent            Agent
	home             string
	token            string
	tokenHash        [sha256.Size]byte
	allowNonLoopback bool
	shutdownTimeout  time.Duration
	log              *slog.Logger
	handler          http.Handler

	// mu guards the following fields.
	mu      sync.Mutex
	ln      net.Listener
	v6      bool // the requested host was an IPv6 address
	serving bool
}

// NewServer returns a server for opts.Agent. It does not listen yet.
func NewServer(opts Options) (*Server, error) {
	if opts.Agent == nil {
		return nil, errors.New("admin: Options.Agent is nil")
	}
	s := &Server{
		agent:            opts.Agent,
		home:             opts.Home,
		token:            opts.Token,
		allowNonLoopback: opts.AllowNonLoopback,
		shutdownTimeout:  opts.ShutdownTimeout,
		log:              opts.Logger,
	}
	if s.token == "" {
		s.token = NewToken()
	}
	if s.shutdownTimeout <= 0 {
		s.shutdownTimeout = 5 * time.Second
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.tokenHash = sha256.Sum256([]byte(s.token))
	s.handler = s.newHandler()
	return s, nil
}

// NewToken returns a random API token: 32 bytes, base64url without padding.
func NewToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return base64.RawURLEncoding.EncodeToString(b)
}

// Token returns the API token.
func (s *Server) Token() string { return s.token }

// Handler returns the HTTP handler with authentication and cross-origin
// protection, for tests and for embedding in another server.
func (s *Server) Handler() http.Handler { return s.handler }

// Listen binds addr ("host:port"; port 0 picks a free port). Unless
// Options.AllowNonLoopback is set, host must be a loopback IP or
// "localhost"; anything else fails with an error matching ErrNotLoopback.
func (s *Server) Listen(ctx context.Context, addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("admin address %q: %w", addr, err)
	}
	if !s.allowNonLoopback && !isLoopbackHost(host) {
		return fmt.Errorf("%w: refusing to serve the admin API on %q, which other hosts could reach; use 127.0.0.1, [::1] or localhost", ErrNotLoopback, addr)
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("admin API: %w", err)
	}
	if ta, ok := ln.Addr().(*net.TCPAddr); ok && !s.allowNonLoopback && !ta.IP.IsLoopback() {
		ln.Close() // "localhost" resolved to something else
		return fmt.Errorf("%w: %q resolved to %s", ErrNotLoopback, addr, ta.IP)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln != nil {
		ln.Close()
		return errors.New("admin: Listen called twice")
	}
	s.ln = ln
	s.v6 = strings.Contains(host, ":")
	return nil
}

func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Addr returns the bound address, or nil before Listen.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// Endpoint returns what a local client needs to reach this server: the
// bound address (a wildcard IP replaced by loopback), the token and this
// process's ID. Valid only after Listen.
func (s *Server) Endpoint() Endpoint {
	ep := Endpoint{Token: s.token, PID: os.Getpid(), Home: s.home}
	s.mu.Lock()
	v6 := s.v6
	s.mu.Unlock()
	if a, ok := s.Addr().(*net.TCPAddr); ok {
		ip := a.IP
		if ip.IsUnspecified() { // Go reports a dual-stack wildcard as [::]
			ip = net.IPv4(127, 0, 0, 1)
			if v6 {
				ip = net.IPv6loopback
			}
		}
		ep.Address = net.JoinHostPort(ip.String(), fmt.Sprint(a.Port))
	}
	return ep
}

// Serve serves the API on the listener bound by Listen until ctx is
// cancelled. It writes the endpoint file first (if Options.Home is set) and
// removes it on return. On cancellation it stops accepting, lets in-flight
// requests finish for up to Options.ShutdownTimeout, then cancels them; it
// returns only after every handler has returned. The result is nil after a
// cancellation and the failure otherwise.
func (s *Server) Serve(ctx context.Context) error {
	s.mu.Lock()
	ln, serving := s.ln, s.serving
	s.serving = true
	s.mu.Unlock()
	if ln == nil {
		return errors.New("admin: Serve called before Listen")
	}
	if serving {
		return errors.New("admin: Serve called twice")
	}

	baseCtx, cancelBase := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelBase()
	var inflight inflight
	hs := &http.Server{
		Handler:           inflight.track(s.handler),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      2 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		BaseContext:       func(net.Listener) context.Context { return baseCtx },
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}

	ep := s.Endpoint()
	if s.home != "" {
		if err := WriteEndpoint(s.home, ep); err != nil {
			ln.Close()
			return err
		}
	}
	removeEndpoint := func() {
		if s.home == "" {
			return
		}
		if err := RemoveEndpoint(s.home, ep.PID); err != nil {
			s.log.Warn("Removing admin endpoint file failed", slog.String("error", err.Error()))
		}
	}
	s.log.Info("Admin API listening", slog.String("addr", ep.Address))

	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()

	var err error
	select {
	case <-ctx.Done():
		removeEndpoint()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.shutdownTimeout)
		if serr := hs.Shutdown(sctx); serr != nil {
			s.log.Warn("Admin API shutdown timed out; cancelling requests", slog.Duration("timeout", s.shutdownTimeout))
			cancelBase()
			hs.Close()
		}
		cancel()
		<-errc
	case err = <-errc:
		removeEndpoint()
		cancelBase()
		hs.Close()
		err = fmt.Errorf("serving admin API: %w", err)
	}
	inflight.wait()
	s.log.Info("Admin API stopped")
	return err
}

// inflight counts running handlers so Serve can wait for them even when
// http.Server.Close, which does not wait, was needed. A sync.WaitGroup would
// race: a handler may start while Wait runs.
type inflight struct {
	mu     sync.Mutex
	cond   *sync.Cond
	n      int
	closed bool
}

func (f *inflight) track(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		if f.closed {
			f.mu.Unlock()
			writeError(w, http.StatusServiceUnavailable, "agent is shutting down")
			return
		}
		f.n++
		f.mu.Unlock()
		defer func() {
			f.mu.Lock()
			f.n--
			if f.n == 0 && f.cond != nil {
				f.cond.Broadcast()
			}
			f.mu.Unlock()
		}()
		h.ServeHTTP(w, r)
	})
}

func (f *inflight) wait() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	if f.cond == nil {
		f.cond = sync.NewCond(&f.mu)
	}
	for f.n > 0 {
		f.cond.Wait()
	}
}
