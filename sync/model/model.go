// Package model is the sync engine: it runs one folder runner per folder
// (watch → scan → index, and need → pull), exchanges indexes with connected
// devices, serves their block requests, and owns the configuration that
// the admin API changes.
package model

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/shoalsync/shoal/crypto/folderkey"
	"github.com/shoalsync/shoal/crypto/identity"
	"github.com/shoalsync/shoal/index"
	"github.com/shoalsync/shoal/sync/config"
	"github.com/shoalsync/shoal/transport/wire"
)

// Conn is a session with a connected device, as the transport provides it.
type Conn interface {
	ID() identity.DeviceID
	Info() ConnInfo
	// Binding returns the nonces of this session's Hellos (ours, the
	// peer's); membership proofs are bound to them.
	Binding() (local, remote []byte)
	Send(ctx context.Context, m *wire.Message) error
	Request(ctx context.Context, r *wire.Request) (*wire.Response, error)
	Close(reason string)
}

// ConnInfo describes a session for status output.
type ConnInfo struct {
	Name, ClientVersion, Address, Transport string
	Path                                    string // lan, direct or relayed
	Since                                   time.Time
	BytesIn, BytesOut                       int64 // frame bytes on this session
}

// Network is the transport as the model drives it.
type Network interface {
	Addrs() []string
	SetDevices(devs []config.Device)
	// SetGuests admits devices outside the configuration (to prove they
	// hold a folder key) or refuses them.
	SetGuests(open bool)
	Refused() []Refused
	// SetTopics gives discovery the folders to advertise and look up.
	SetTopics(topics []Topic)
	// Status reports how this agent reaches the network.
	Status() NetworkStatus
}

// NetworkStatus is how the agent reaches others (docs/discovery.md).
type NetworkStatus struct {
	Reachability      string   `json:"reachability"` // public, private or unknown (AutoNAT)
	Role              string   `json:"role"`         // "agent" or "anchor"
	Anchors           []string `json:"anchors"`      // device IDs of the anchors in use
	AnchorAddrs       []string `json:"anchorAddrs"`  // their addresses (multiaddrs ending in /p2p/ID)
	RelayReservations int      `json:"relayReservations"`
	LAN               bool     `json:"lan"` // LAN discovery on
	DHT               DHTState `json:"dht"`
}

// DHTState is the private DHT as this agent sees it.
type DHTState struct {
	Enabled            bool      `json:"enabled"`
	Mode               string    `json:"mode,omitempty"` // client or server
	RoutingTableSize   int       `json:"routingTableSize"`
	BootstrapConnected int       `json:"bootstrapConnected"`
	Topics             int       `json:"topics"` // folders advertised
	LastAdvertised     time.Time `json:"lastAdvertised,omitzero"`
	LastLookup         time.Time `json:"lastLookup,omitzero"`
	PeersFound         int       `json:"peersFound"`
	LastError          string    `json:"lastError,omitempty"`
}

// Options configures a Model. Home, Config, Index and Local are required.
type Options struct {
	Home    string
	Config  *config.Config
	Index   *index.Store
	Local   identity.DeviceID
	Version string
	// DeviceKey signs invites; without it CreateInvite fails.
	DeviceKey *identity.Key
	// Keys holds folder secrets at rest; a model without one keeps them in
	// memory (tests).
	Keys   KeyStore
	Logger *slog.Logger

	// Debounce is the watcher's settle time; default 100ms.
	Debounce time.Duration
	// PullWorkers is the number of files pulled concurrently; default 8.
	PullWorkers int
	// RetryInterval is how long a folder waits before retrying failed
	// files; default 10s.
	RetryInterval time.Duration

	// GuestTimeout is how long a device outside the configuration may
	// stay connected without proving it holds a key of a folder we hold;
	// default 20s.
	GuestTimeout time.Duration

	// WindowsNames makes the puller refuse names Windows cannot hold, as
	// it does on Windows (for tests of that behaviour elsewhere).
	WindowsNames bool
	// CaseInsensitive makes folders behave as on a case-insensitive file
	// system whatever the probe says (for tests on case-sensitive ones).
	CaseInsensitive bool
	// WriteFault, when set, is called before the puller writes to a
	// temporary file; an error fails the write as the file system would
	// (for tests of a full disk).
	WriteFault func(folder, name string) error
	// ForgeRecord, when set, replaces the signing of every record this
	// device sends on a keyed folder, and local-only records are sent too:
	// tests use it to play a modified agent that forges records. Never
	// set it otherwise.
	ForgeRecord func(folder string, fi *wire.FileInfo)
}

// Model is the running sync engine.
type Model struct {
	opts    Options
	keys    KeyStore
	log     *slog.Logger
	local   identity.DeviceID
	localID uint64
	started time.Time

	mu struct {
		sync.Mutex
		cfg       *config.Config
		net       Network
		adminAddr string
		folders   map[string]*folder
		conns     map[identity.DeviceID]*peer
		shortIDs  map[uint64]identity.DeviceID
		ctx       context.Context // set by Serve; folders started later use it
		// introduced are devices discovery found under a folder's
		// rendezvous key, by device, folder and when (Introduce).
		introduced map[identity.DeviceID]map[string]time.Time
	}
	wg       sync.WaitGroup // folder runners and peers
	inviteMu sync.Mutex     // serializes invite decisions (redeem, approve, deny)
}

// New returns a Model. Call Serve to run it.
func New(o Options) (*Model, error) {
	if o.Home == "" || o.Config == nil || o.Index == nil || o.Local == "" {
		return nil, errors.New("model: Home, Config, Index and Local are required")
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Debounce <= 0 {
		o.Debounce = 100 * time.Millisecond
	}
	if o.PullWorkers <= 0 {
		o.PullWorkers = 8
	}
	if o.GuestTimeout <= 0 {
		o.GuestTimeout = 20 * time.Second
	}
	if o.RetryInterval <= 0 {
		o.RetryInterval = 10 * time.Second
	}
	m := &Model{opts: o, log: o.Logger, local: o.Local, localID: o.Local.Uint64(), started: time.Now()}
	m.keys = o.Keys
	if m.keys == nil {
		m.keys = &memKeys{m: map[string][]byte{}}
	}
	m.mu.cfg = o.Config.Clone()
	m.mu.folders = map[string]*folder{}
	m.mu.conns = map[identity.DeviceID]*peer{}
	m.rebuildShortIDsLocked()
	return m, nil
}

// SetNetwork attaches the transport (which needs the model as its handler,
// so it is made after the model) and pushes the device allowlist to it.
func (m *Model) SetNetwork(n Network) {
	m.mu.Lock()
	m.mu.net = n
	devs := slices.Clone(m.mu.cfg.Devices)
	m.mu.Unlock()
	n.SetDevices(devs)
	m.updateGuests()
}

// SetAdminAddr records the admin API address for status output.
func (m *Model) SetAdminAddr(a string) {
	m.mu.Lock()
	m.mu.adminAddr = a
	m.mu.Unlock()
}

// Serve runs every folder until ctx is cancelled, then stops them and waits.
func (m *Model) Serve(ctx context.Context) error {
	m.mu.Lock()
	m.mu.ctx = ctx
	for _, fc := range m.mu.cfg.Folders {
		m.startFolderLocked(fc)
	}
	m.mu.Unlock()
	<-ctx.Done()
	m.mu.Lock()
	for _, f := range m.mu.folders {
		f.cancel()
	}
	for _, p := range m.mu.conns {
		p.cancel()
	}
	m.mu.Unlock()
	m.wg.Wait()
	return nil
}

func (m *Model) startFolderLocked(fc config.Folder) {
	idx, err := m.opts.Index.Folder(fc.ID)
	f := newFolder(m, fc, idx)
	m.mu.folders[fc.ID] = f
	if err != nil {
		f.setError(fmt.Errorf("opening index: %w", err))
		return
	}
	sec, err := m.loadSecret(fc)
	if err != nil {
		f.setError(err)
		f.idx = nil // nothing is exchanged without the key
		return
	}
	f.sec.Store(sec)
	if m.mu.ctx == nil {
		return // started by Serve
	}
	ctx, cancel := context.WithCancel(m.mu.ctx)
	f.cancel = cancel
	m.wg.Go(func() {
		defer close(f.done)
		f.serve(ctx)
	})
}

func (m *Model) rebuildShortIDsLocked() {
	m.mu.shortIDs = map[uint64]identity.DeviceID{m.localID: m.local}
	for _, d := range m.mu.cfg.Devices {
		if id, err := identity.Parse(d.ID); err == nil {
			m.mu.shortIDs[id.Uint64()] = id
		}
	}
}

// shortName returns the 7-character short ID of the device with this
// version-vector ID.
func (m *Model) shortName(id uint64) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if d, ok := m.mu.shortIDs[id]; ok {
		return d.Short()
	}
	return fmt.Sprintf("%07X", id>>36)
}

// mutateConfig applies fn to a copy of the configuration, validates and
// saves it, and only then makes it current. A failed change leaves both
// the file and the running config untouched.
func (m *Model) mutateConfig(fn func(c *config.Config) error) (old, cur *config.Config, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := m.mu.cfg.Clone()
	if err := fn(c); err != nil {
		return nil, nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, nil, err
	}
	if err := c.Save(m.opts.Home); err != nil {
		return nil, nil, fmt.Errorf("saving config: %w", err)
	}
	old = m.mu.cfg
	m.mu.cfg = c
	m.rebuildShortIDsLocked()
	return old, c, nil
}

func (m *Model) config() *config.Config {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.mu.cfg
}

// AddDevice adds a trusted device.
func (m *Model) AddDevice(ctx context.Context, req AddDeviceRequest) (DeviceStatus, error) {
	id, err := identity.Parse(req.ID)
	if err != nil {
		return DeviceStatus{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if id == m.local {
		return DeviceStatus{}, fmt.Errorf("%w: %s is this device", ErrInvalid, id.Short())
	}
	_, _, err = m.mutateConfig(func(c *config.Config) error {
		if _, ok := c.Device(id.String()); ok {
			return fmt.Errorf("%w: device %s", ErrExists, id.Short())
		}
		c.Devices = append(c.Devices, config.Device{ID: id.String(), Name: req.Name, Addrs: req.Addrs})
		return nil
	})
	if err != nil {
		return DeviceStatus{}, err
	}
	m.pushDevices()
	return m.deviceStatus(id.String())
}

// RemoveDevice forgets a device, unshares every folder with it and closes
// its session.
func (m *Model) RemoveDevice(ctx context.Context, idStr string) error {
	id, err := identity.Parse(idStr)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	_, _, err = m.mutateConfig(func(c *config.Config) error {
		if _, ok := c.Device(id.String()); !ok {
			return fmt.Errorf("%w: device %s", ErrNotFound, id.Short())
		}
		c.Devices = slices.DeleteFunc(c.Devices, func(d config.Device) bool { return d.ID == id.String() })
		for i := range c.Folders {
			c.Folders[i].Devices = slices.DeleteFunc(c.Folders[i].Devices, func(d string) bool { return d == id.String() })
		}
		return nil
	})
	if err != nil {
		return err
	}
	m.pushDevices()
	m.mu.Lock()
	folders := m.folderListLocked()
	m.mu.Unlock()
	for _, f := range folders {
		if err := f.idx.DropRemote(id); err != nil {
			m.log.Warn("Dropping index of removed device failed", id.LogAttr(), slog.Any("error", err))
		}
		f.pullSoon()
	}
	return nil
}

func (m *Model) pushDevices() {
	m.mu.Lock()
	n := m.mu.net
	devs := slices.Clone(m.mu.cfg.Devices)
	m.mu.Unlock()
	if n != nil {
		n.SetDevices(devs)
	}
}

// AddFolder adds a folder and starts syncing it.
func (m *Model) AddFolder(ctx context.Context, req AddFolderRequest) (FolderStatus, error) {
	p, err := filepath.Abs(req.Path)
	if err != nil {
		return FolderStatus{}, fmt.Errorf("%w: path %q: %v", ErrInvalid, req.Path, err)
	}
	fi, err := os.Stat(p)
	if err != nil {
		return FolderStatus{}, fmt.Errorf("%w: path %s: %v", ErrInvalid, p, err)
	}
	if !fi.IsDir() {
		return FolderStatus{}, fmt.Errorf("%w: path %s is not a directory", ErrInvalid, p)
	}
	id := req.ID
	var sec *folderkey.Secret
	if id == "" {
		// A new folder gets a key; an explicit ID makes a folder shared
		// by device pairing alone.
		if sec, err = folderkey.Generate(); err != nil {
			return FolderStatus{}, fmt.Errorf("making folder key: %w", err)
		}
		id = sec.FolderID()
	}
	label := req.Label
	if label == "" {
		label = filepath.Base(p)
	}
	devs := make([]string, 0, len(req.Devices))
	for _, d := range req.Devices {
		did, err := identity.Parse(d)
		if err != nil {
			return FolderStatus{}, fmt.Errorf("%w: %v", ErrInvalid, err)
		}
		devs = append(devs, did.String())
	}
	fc := config.Folder{ID: id, Label: label, Path: p, Devices: devs}
	if sec != nil {
		fc.Access = config.AccessReadWrite
		key, _ := sec.Key(folderkey.ReadWrite)
		if err := m.keys.Put(folderKeyName(id), []byte(key)); err != nil {
			return FolderStatus{}, fmt.Errorf("saving folder key: %w", err)
		}
	}
	_, _, err = m.mutateConfig(func(c *config.Config) error {
		if _, ok := c.Folder(id); ok {
			return fmt.Errorf("%w: folder %s", ErrExists, id)
		}
		if err := overlapIn(c, p, ""); err != nil {
			return err
		}
		for _, d := range devs {
			if _, ok := c.Device(d); !ok {
				did, _ := identity.Parse(d)
				return fmt.Errorf("%w: device %s (add it first with 'shoal device add')", ErrNotFound, did.Short())
			}
		}
		c.Folders = append(c.Folders, fc)
		return nil
	})
	if err != nil {
		if sec != nil {
			_ = m.keys.Delete(folderKeyName(id))
		}
		return FolderStatus{}, err
	}
	// A fresh index for a folder that was removed earlier.
	m.mu.Lock()
	m.startFolderLocked(fc)
	m.mu.Unlock()
	m.updateGuests()
	m.sendClusterConfigs()
	return m.folderStatus(id)
}

// ShareFolder shares a folder with a device.
func (m *Model) ShareFolder(ctx context.Context, folderID, deviceID string) error {
	did, err := identity.Parse(deviceID)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	_, cur, err := m.mutateConfig(func(c *config.Config) error {
		if _, ok := c.Device(did.String()); !ok {
			return fmt.Errorf("%w: device %s (add it first with 'shoal device add')", ErrNotFound, did.Short())
		}
		for i := range c.Folders {
			if c.Folders[i].ID == folderID {
				if slices.Contains(c.Folders[i].Devices, did.String()) {
					return fmt.Errorf("%w: folder %s is already shared with %s", ErrExists, folderID, did.Short())
				}
				c.Folders[i].Devices = append(c.Folders[i].Devices, did.String())
				return nil
			}
		}
		return fmt.Errorf("%w: folder %s", ErrNotFound, folderID)
	})
	if err != nil {
		return err
	}
	fc, _ := cur.Folder(folderID)
	m.mu.Lock()
	if f := m.mu.folders[folderID]; f != nil {
		f.setConfig(fc)
	}
	m.mu.Unlock()
	m.sendClusterConfigs()
	return nil
}

// RemoveFolder stops syncing a folder and forgets its index. Files on disk
// are left as they are.
func (m *Model) RemoveFolder(ctx context.Context, id string) error {
	_, _, err := m.mutateConfig(func(c *config.Config) error {
		if _, ok := c.Folder(id); !ok {
			return fmt.Errorf("%w: folder %s", ErrNotFound, id)
		}
		c.Folders = slices.DeleteFunc(c.Folders, func(f config.Folder) bool { return f.ID == id })
		return nil
	})
	if err != nil {
		return err
	}
	m.mu.Lock()
	f := m.mu.folders[id]
	delete(m.mu.folders, id)
	m.mu.Unlock()
	if f != nil {
		f.stop()
	}
	if err := m.opts.Index.DropFolder(id); err != nil {
		m.log.Warn("Dropping folder index failed", slog.String("folder", id), slog.Any("error", err))
	}
	if _, ok := m.keys.Get(folderKeyName(id)); ok {
		if err := m.keys.Delete(folderKeyName(id)); err != nil {
			m.log.Warn("Deleting folder key failed", slog.String("folder", id), slog.Any("error", err))
		}
	}
	m.updateGuests()
	m.sendClusterConfigs()
	return nil
}

func (m *Model) folderListLocked() []*folder {
	out := make([]*folder, 0, len(m.mu.folders))
	for _, f := range m.mu.folders {
		out = append(out, f)
	}
	slices.SortFunc(out, func(a, b *folder) int { return strings.Compare(a.id, b.id) })
	return out
}

func (m *Model) folderByID(id string) *folder {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.mu.folders[id]
}
