// Package agent wires Shoal's concrete parts together: identity, config,
// index, sync model, transport and admin API. It is the only place that
// knows every concrete type; `shoal run` and the multi-agent tests both use
// it so the tests run exactly what users run.
package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/shoalsync/shoal/admin"
	"github.com/shoalsync/shoal/crypto/identity"
	"github.com/shoalsync/shoal/crypto/keystore"
	"github.com/shoalsync/shoal/discovery"
	"github.com/shoalsync/shoal/index"
	"github.com/shoalsync/shoal/sync/config"
	"github.com/shoalsync/shoal/sync/model"
	"github.com/shoalsync/shoal/transport"
	"github.com/shoalsync/shoal/transport/wire"
)

// Options configures an agent. Home is required.
type Options struct {
	Home            string
	Listen          []string // overrides the config when set
	Admin           string   // overrides the config when set
	NoDefaultFolder bool
	Name            string // device name; default: host name
	Version         string
	Logger          *slog.Logger
	Stdout          io.Writer // startup banner; nil discards it
	// Passphrase unlocks a key store protected with one (see
	// crypto/keystore); ignored for an unprotected store.
	Passphrase []byte

	// Debounce is the watcher's settle time (default 100ms).
	Debounce time.Duration
	// RetryInterval is how often folders retry failed files (default 10s).
	RetryInterval time.Duration
	// ReconnectMax caps the redial backoff (default 60s).
	ReconnectMax time.Duration
	// GuestTimeout is how long a device that proved no folder key may stay
	// connected (default 20s).
	GuestTimeout time.Duration

	// Anchors are added to the configured anchors (shoal run --bootstrap).
	Anchors []string
	// Role overrides the configured role when set ("anchor").
	Role string
	// LAN overrides the configured LAN discovery setting when set.
	LAN *bool
	// DHTServer makes the agent a DHT server (also with the configured
	// discovery.dhtServer).
	DHTServer bool
	// NATPortMap asks the router for a port mapping (UPnP, NAT-PMP); shoal
	// run sets it, tests do not.
	NATPortMap bool
	// Discovery tunes discovery's timers (tests); zero values mean the
	// defaults.
	Discovery DiscoveryTimers

	// TamperResponse, when set, edits every block response before it is
	// sent. Tests use it to play a hostile peer; never set it otherwise.
	TamperResponse func(*wire.Response)
	// Model holds engine test seams passed through as they are:
	// WindowsNames, CaseInsensitive and WriteFault (see model.Options).
	Model ModelSeams
}

// IndexDir is the index database's directory inside the home.
const IndexDir = "index"

// Init creates the identity and config in home if they are absent. It is
// idempotent.
func Init(home, name string, noDefaultFolder bool) (identity.DeviceID, error) {
	if err := os.MkdirAll(home, 0o700); err != nil {
		return "", fmt.Errorf("creating home %s: %w", home, err)
	}
	var key *identity.Key
	if inStore, err := DeviceKeyInStore(home); err != nil {
		return "", err
	} else if !inStore {
		if key, _, err = identity.LoadOrCreate(home); err != nil {
			return "", err
		}
	}
	if config.Exists(home) {
		if _, err := config.Load(home); err != nil {
			return "", err
		}
		if key == nil {
			return "", nil
		}
		return key.ID(), nil
	}
	if name == "" {
		name, _ = os.Hostname()
	}
	cfg := config.New(name)
	if noDefaultFolder {
		no := false
		cfg.DefaultFolder = &no
	}
	if err := cfg.Save(home); err != nil {
		return "", err
	}
	if key == nil {
		return "", nil
	}
	return key.ID(), nil
}

// DeviceKeyInStore reports whether the device key lives in the key store
// (always so for a sealed store), so that no new key is ever made over it.
func DeviceKeyInStore(home string) (bool, error) {
	if _, err := os.Stat(filepath.Join(home, keystore.SealedFile)); err == nil {
		return true, nil
	}
	if _, err := os.Stat(filepath.Join(home, keystore.PlainFile)); err != nil {
		return false, nil
	}
	ks, err := keystore.Open(home, nil)
	if err != nil {
		return false, fmt.Errorf("opening key store: %w", err)
	}
	_, ok, err := keystore.DeviceSeed(ks)
	return ok, err
}

// OpenKeys opens the agent's key store and reads the device key: from the
// store when it is protected by a passphrase (the key moved there when the
// passphrase was set), from HOME/device.key otherwise.
func OpenKeys(home string, passphrase []byte) (*keystore.Store, *identity.Key, error) {
	ks, err := keystore.Open(home, passphrase)
	if err != nil {
		return nil, nil, fmt.Errorf("opening key store: %w", err)
	}
	seed, ok, err := keystore.DeviceSeed(ks)
	if err != nil {
		return nil, nil, err
	}
	if ok {
		key, err := identity.FromSeed(seed)
		clear(seed)
		return ks, key, err
	}
	key, err := identity.Load(home)
	if err != nil {
		return nil, nil, err
	}
	return ks, key, nil
}

// Agent is a running agent.
type Agent struct {
	opts  Options
	log   *slog.Logger
	key   *identity.Key
	idx   *index.Store
	model *model.Model
	host  *transport.Host
	disc  *discovery.Discovery // nil when neither the DHT nor LAN discovery runs
	found chan discovery.Found // devices discovery found, for dialFound

	handler *handler
	admin   *admin.Server
}

// Start sets up an agent: identity, config (first run creates the default
// folder), index, transport listeners and the admin listener. Run then
// serves it.
func Start(ctx context.Context, o Options) (a *Agent, err error) {
	if o.Home == "" {
		return nil, errors.New("no home directory")
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Stdout == nil {
		o.Stdout = io.Discard
	}
	if _, err := Init(o.Home, o.Name, o.NoDefaultFolder); err != nil {
		return nil, err
	}
	keys, key, err := OpenKeys(o.Home, o.Passphrase)
	if err != nil {
		return nil, err
	}
	cfg, err := config.Load(o.Home)
	if err != nil {
		return nil, err
	}
	if err := defaultFolder(o, cfg); err != nil {
		return nil, err
	}
	a = &Agent{opts: o, log: o.Logger, key: key}
	started := a // "return nil, err" clears a before this runs
	defer func() {
		if err != nil {
			started.closeAll()
		}
	}()

	a.idx, err = index.Open(filepath.Join(o.Home, IndexDir), index.Options{Local: key.ID(), Logger: o.Logger})
	if err != nil {
		return nil, fmt.Errorf("opening index: %w", err)
	}
	a.model, err = model.New(model.Options{
		Home: o.Home, Config: cfg, Index: a.idx, Local: key.ID(), Version: o.Version, Keys: keys, DeviceKey: key,
		Logger: o.Logger, Debounce: o.Debounce, RetryInterval: o.RetryInterval, GuestTimeout: o.GuestTimeout,
		WindowsNames: o.Model.WindowsNames, CaseInsensitive: o.Model.CaseInsensitive, WriteFault: o.Model.WriteFault,
		ForgeRecord: o.Model.ForgeRecord,
	})
	if err != nil {
		return nil, err
	}
	listen := cfg.Listen
	if len(o.Listen) > 0 {
		listen = o.Listen
	}
	ns := newNetSettings(o, cfg)
	a.handler = &handler{m: a.model, tamper: o.TamperResponse}
	tcfg := transport.Config{
		Key: key, Listen: listen, DeviceName: cfg.Name, ClientVersion: o.Version,
		Handler: a.handler, Logger: o.Logger, ReconnectMax: o.ReconnectMax,
		Anchors: ns.anchors, Anchor: ns.anchor, OpenDial: ns.dht, NATPortMap: o.NATPortMap,
	}
	a.host, err = transport.New(tcfg)
	if err != nil && len(o.Listen) == 0 && isAddrInUse(err) {
		// The default port is taken (another agent on this machine):
		// any free port works, peers learn it when they connect to us.
		o.Logger.Warn("Default listen port is in use; listening on a random port", slog.Any("error", err))
		tcfg.Listen = anyPort(listen)
		a.host, err = transport.New(tcfg)
	}
	if err != nil {
		return nil, fmt.Errorf("starting transport: %w", err)
	}
	if a.disc, err = a.startDiscovery(ns); err != nil {
		return nil, err
	}
	a.handler.disc = a.disc
	a.model.SetNetwork(&network{h: a.host, d: a.disc, lan: ns.lan, anchor: ns.anchor})

	a.admin, err = admin.NewServer(admin.Options{Agent: a.model, Home: o.Home, Logger: o.Logger})
	if err != nil {
		return nil, fmt.Errorf("starting admin API: %w", err)
	}
	adminAddr := cfg.Admin
	if o.Admin != "" {
		adminAddr = o.Admin
	}
	if err := a.admin.Listen(ctx, adminAddr); err != nil {
		if o.Admin != "" || !isAddrInUse(err) {
			return nil, fmt.Errorf("admin API: %w", err)
		}
		host, _, _ := net.SplitHostPort(adminAddr)
		if err := a.admin.Listen(ctx, net.JoinHostPort(host, "0")); err != nil {
			return nil, fmt.Errorf("admin API: %w", err)
		}
	}
	a.model.SetAdminAddr(a.admin.Addr().String())
	return a, nil
}

// defaultFolder adds ~/Shoal on the first run unless turned off.
func defaultFolder(o Options, cfg *config.Config) error {
	if o.NoDefaultFolder || cfg.DefaultFolder != nil {
		return nil
	}
	yes := true
	cfg.DefaultFolder = &yes
	home, err := os.UserHomeDir()
	if err != nil {
		return cfg.Save(o.Home)
	}
	p := filepath.Join(home, "Shoal")
	if _, ok := cfg.Folder("default"); !ok {
		if err := os.MkdirAll(p, 0o755); err != nil {
			return fmt.Errorf("creating default folder: %w", err)
		}
		cfg.Folders = append(cfg.Folders, config.Folder{ID: "default", Label: "Shoal", Path: p})
	}
	return cfg.Save(o.Home)
}

func isAddrInUse(err error) bool {
	return err != nil && (errors.Is(err, fs.ErrExist) || strings.Contains(err.Error(), "address already in use"))
}

// anyPort rewrites quic:// and tcp:// addresses to port 0.
func anyPort(addrs []string) []string {
	out := make([]string, 0, len(addrs))
	for _, a := range addrs {
		if i := strings.LastIndexByte(a, ':'); i > 0 && (strings.HasPrefix(a, "quic://") || strings.HasPrefix(a, "tcp://")) {
			a = a[:i] + ":0"
		}
		out = append(out, a)
	}
	return out
}

// ID returns the device ID.
func (a *Agent) ID() identity.DeviceID { return a.key.ID() }

// Model returns the sync engine.
func (a *Agent) Model() *model.Model { return a.model }

// Addrs returns the transport's listen addresses.
func (a *Agent) Addrs() []string { return a.host.Addrs() }

// AdminEndpoint returns how to reach the admin API.
func (a *Agent) AdminEndpoint() admin.Endpoint { return a.admin.Endpoint() }

// Run serves the agent until ctx is cancelled, then shuts everything down
// in order and closes the index.
func (a *Agent) Run(ctx context.Context) error {
	defer a.closeAll()
	fmt.Fprintf(a.opts.Stdout, "Shoal %s\nDevice ID: %s\n", a.opts.Version, a.key.ID())
	for _, addr := range a.host.Addrs() {
		fmt.Fprintf(a.opts.Stdout, "Listening on %s\n", addr)
	}
	fmt.Fprintf(a.opts.Stdout, "Admin API: http://%s (token in %s; the shoal CLI finds it by itself)\n",
		a.admin.Addr(), filepath.Join(a.opts.Home, "admin.json"))
	a.log.Info("Agent started", a.key.ID().LogAttr(), slog.Any("listen", a.host.Addrs()), slog.String("admin", a.admin.Addr().String()))

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 5)
	run := func(name string, fn func(context.Context) error) {
		wg.Go(func() {
			if err := fn(ctx); err != nil && ctx.Err() == nil {
				errs <- fmt.Errorf("%s: %w", name, err)
				cancel()
			}
		})
	}
	run("sync", a.model.Serve)
	run("transport", a.host.Serve)
	if a.disc != nil {
		run("discovery", a.disc.Run)
		run("discovery dialer", a.dialFound)
	}
	run("admin API", a.admin.Serve)
	wg.Wait()
	close(errs)
	a.log.Info("Agent stopped")
	return <-errs
}

func (a *Agent) closeAll() {
	if a.host != nil {
		a.host.Close()
	}
	if a.idx != nil {
		if err := a.idx.Close(); err != nil {
			a.log.Warn("Closing index failed", slog.Any("error", err))
		}
	}
}

// ModelSeams are engine options for tests of platform behaviour (see
// model.Options).
type ModelSeams struct {
	WindowsNames    bool
	CaseInsensitive bool
	WriteFault      func(folder, name string) error
	ForgeRecord     func(folder string, fi *wire.FileInfo)
}

// SetPassphrase protects the key store in home with a new passphrase (or
// removes the protection when next is empty). current unlocks a store that
// is protected now. With a passphrase the device key moves into the store,
// so a copy of the home without the passphrase holds no usable secret.
// The agent must not be running: it keeps its own copy of the store.
func SetPassphrase(home string, current, next []byte) error {
	ks, key, err := OpenKeys(home, current)
	if err != nil {
		return err
	}
	if len(next) == 0 {
		if !ks.Protected() {
			return nil
		}
		// Put the device key back in its file before unsealing, so a
		// crash in between leaves it in at least one place.
		if _, err := os.Stat(filepath.Join(home, identity.KeyFile)); errors.Is(err, fs.ErrNotExist) {
			if err := writeKeyFile(home, key); err != nil {
				return err
			}
		}
		if err := ks.SetPassphrase(nil); err != nil {
			return fmt.Errorf("removing the passphrase: %w", err)
		}
		return ks.Delete(keystore.DeviceKeyName)
	}
	if err := ks.SetPassphrase(next); err != nil {
		return fmt.Errorf("setting the passphrase: %w", err)
	}
	if err := keystore.MigrateDeviceKey(home, ks); err != nil {
		return err
	}
	return nil
}

// writeKeyFile writes the device key to HOME/device.key (0600, fsynced).
func writeKeyFile(home string, key *identity.Key) error {
	path := filepath.Join(home, identity.KeyFile)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("writing device key: %w", err)
	}
	seed := key.Seed()
	defer clear(seed)
	if _, err := f.Write(seed); err != nil {
		f.Close()
		return fmt.Errorf("writing device key: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("writing device key: %w", err)
	}
	return f.Close()
}
