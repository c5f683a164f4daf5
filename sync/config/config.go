// Package config holds the agent's persistent configuration: this device's
// settings, the devices it knows and the folders it shares. It is stored as
// JSON in the agent's home (mode 0600) and replaced atomically.
package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/shoalsync/shoal/crypto/identity"
)

// FileName is the config file inside the agent's home.
const FileName = "config.json"

// DefaultListen are the listen addresses of a new agent.
var DefaultListen = []string{"quic://0.0.0.0:22100", "tcp://0.0.0.0:22100"}

// DefaultAdmin is the admin API address of a new agent.
const DefaultAdmin = "127.0.0.1:8384"

// Config is the whole configuration.
type Config struct {
	Version int    `json:"version"`
	Name    string `json:"name"` // this device's name, shown to peers

	Listen []string `json:"listen"`
	Admin  string   `json:"admin"`

	// DefaultFolder creates ~/Shoal on first start unless false.
	DefaultFolder *bool `json:"defaultFolder,omitempty"`

	Devices []Device `json:"devices"`
	Folders []Folder `json:"folders"`

	// Invites are the invites this device issued.
	Invites []Invite `json:"invites,omitempty"`
	// Joins are the invites this device is redeeming (or was refused).
	Joins []Join `json:"joins,omitempty"`

	// Discovery configures how devices find each other (docs/discovery.md).
	Discovery Discovery `json:"discovery,omitzero"`
}

// Discovery configures the private DHT, LAN discovery and anchors.
type Discovery struct {
	// Anchors are always-on Shoal nodes: DHT bootstrap peers, relays and
	// AutoNAT servers. Multiaddrs ending in /p2p/DEVICE_ID.
	Anchors []string `json:"anchors,omitempty"`
	// Role is "" (an ordinary agent) or "anchor".
	Role string `json:"role,omitempty"`
	// LAN turns LAN discovery (mDNS) on or off; absent means on.
	LAN *bool `json:"lan,omitempty"`
	// DHTServer makes this agent answer DHT queries and store provider
	// records (anchors always do); for always-on agents with a public
	// address. Laptops stay DHT clients.
	DHTServer bool `json:"dhtServer,omitempty"`
}

// RoleAnchor is Discovery.Role for an anchor.
const RoleAnchor = "anchor"

// LANEnabled reports whether LAN discovery is on.
func (d Discovery) LANEnabled() bool { return d.LAN == nil || *d.LAN }

// Removal is a signed removal of devices from a keyed folder (see
// docs/protocol.md, "Removal").
type Removal struct {
	Epoch     uint32   `json:"epoch"`
	Devices   []string `json:"devices"` // full device IDs
	Writer    []byte   `json:"writer"`  // the new epoch's writer public key
	Time      int64    `json:"time"`    // Unix seconds
	Signature []byte   `json:"signature"`
}

// Invite is an invite this device issued. The link itself is not kept: the
// ID identifies it when a device presents it.
type Invite struct {
	ID      string    `json:"id"` // 32 hex digits
	Folder  string    `json:"folder"`
	Access  string    `json:"access"`
	Expires time.Time `json:"expires"`
	Uses    int       `json:"uses,omitempty"` // 0: no limit
	Approve bool      `json:"approve,omitempty"`
	Granted []string  `json:"granted,omitempty"` // devices that received the key
	Pending []Pending `json:"pending,omitempty"` // devices waiting for approval
	Denied  []string  `json:"denied,omitempty"`
}

// Pending is a device waiting for approval under an invite.
type Pending struct {
	Device   string    `json:"device"`
	Name     string    `json:"name,omitempty"`
	Since    time.Time `json:"since"`
	Approved bool      `json:"approved,omitempty"`
}

// Join is an invite this device is redeeming.
type Join struct {
	ID    string    `json:"id"`   // the invite's ID, 32 hex digits
	Link  string    `json:"link"` // the shoal://join/ link
	Path  string    `json:"path"`
	State string    `json:"state"` // connecting, pending or failed
	Error string    `json:"error,omitempty"`
	Since time.Time `json:"since"`
}

// Device is a remote device this agent trusts.
type Device struct {
	ID    string   `json:"id"` // full device ID
	Name  string   `json:"name,omitempty"`
	Addrs []string `json:"addrs,omitempty"` // static addresses: quic://, tcp:// or multiaddrs
}

// Folder is a folder this agent syncs.
type Folder struct {
	ID      string   `json:"id"`
	Label   string   `json:"label,omitempty"`
	Path    string   `json:"path"`
	Devices []string `json:"devices,omitempty"` // full device IDs it is shared with
	// RescanSeconds is the period of the safety-net full rescan; 0 means 3600.
	RescanSeconds int `json:"rescanSeconds,omitempty"`
	// Mode is ModeSendReceive (the default when empty), ModeSendOnly or
	// ModeReceiveOnly.
	Mode string `json:"mode,omitempty"`
	// Versioning is the version archive policy; nil means DefaultVersioning.
	Versioning *Versioning `json:"versioning,omitempty"`
	// Access is the level of the folder key this device holds: AccessReadWrite,
	// AccessReadOnly or AccessEncrypted. Empty for a folder shared by device
	// pairing alone (no key, records unsigned). The key itself lives in the
	// key store, never in this file.
	Access string `json:"access,omitempty"`
	// Removals are the signed removals of members, oldest first: removal
	// i started key epoch i+1. Their devices form the folder's deny list.
	Removals []Removal `json:"removals,omitempty"`
	// MaxConflicts caps the conflict copies kept per file: 0 means
	// DefaultMaxConflicts, -1 means no cap. Older copies beyond the cap go
	// to the version archive.
	MaxConflicts int `json:"maxConflicts,omitempty"`
}

// Folder modes.
const (
	ModeSendReceive = "send-receive"
	ModeSendOnly    = "send-only"
	ModeReceiveOnly = "receive-only"
)

// Folder key access levels (Folder.Access).
const (
	AccessReadWrite = "rw"
	AccessReadOnly  = "ro"
	AccessEncrypted = "encrypted"
)

// Version archive types.
const (
	VersioningOff       = "off"
	VersioningTrash     = "trash"
	VersioningStaggered = "staggered"
)

// DefaultMaxConflicts is the conflict-copy cap per file when none is set.
const DefaultMaxConflicts = 10

// Versioning is a folder's version archive policy. Files that sync replaces
// or deletes on this device are moved into the folder's .shoal/versions.
type Versioning struct {
	// Type is VersioningOff, VersioningTrash or VersioningStaggered.
	Type string `json:"type"`
	// KeepDays is how long trash keeps a version; 0 means 30.
	KeepDays int `json:"keepDays,omitempty"`
	// MaxAgeDays is the oldest version staggered keeps; 0 means 365.
	MaxAgeDays int `json:"maxAgeDays,omitempty"`
	// CleanupSeconds is the period of archive cleanup; 0 means 3600.
	CleanupSeconds int `json:"cleanupSeconds,omitempty"`
}

// DefaultVersioning is the policy of a folder that sets none: trash, 30 days.
func DefaultVersioning() Versioning { return Versioning{Type: VersioningTrash, KeepDays: 30} }

// Validate checks a versioning policy.
func (v Versioning) Validate() error {
	switch v.Type {
	case VersioningOff, VersioningTrash, VersioningStaggered:
	default:
		return fmt.Errorf("%w: versioning type %q (use off, trash or staggered)", ErrInvalid, v.Type)
	}
	if v.KeepDays < 0 || v.MaxAgeDays < 0 || v.CleanupSeconds < 0 {
		return fmt.Errorf("%w: versioning durations must not be negative", ErrInvalid)
	}
	return nil
}

// EffectiveMode returns the folder's mode with the default applied.
func (f Folder) EffectiveMode() string {
	if f.Mode == "" {
		return ModeSendReceive
	}
	return f.Mode
}

// EffectiveVersioning returns the folder's archive policy with defaults applied.
func (f Folder) EffectiveVersioning() Versioning {
	v := DefaultVersioning()
	if f.Versioning != nil {
		v = *f.Versioning
	}
	if v.KeepDays == 0 {
		v.KeepDays = 30
	}
	if v.MaxAgeDays == 0 {
		v.MaxAgeDays = 365
	}
	if v.CleanupSeconds == 0 {
		v.CleanupSeconds = 3600
	}
	return v
}

// EffectiveMaxConflicts returns the conflict cap (-1: none) with the default applied.
func (f Folder) EffectiveMaxConflicts() int {
	if f.MaxConflicts == 0 {
		return DefaultMaxConflicts
	}
	return f.MaxConflicts
}

// ErrInvalid marks a configuration that fails validation.
var ErrInvalid = errors.New("invalid")

// New returns the configuration of a fresh agent.
func New(name string) *Config {
	return &Config{Version: 1, Name: name, Listen: slices.Clone(DefaultListen), Admin: DefaultAdmin}
}

// Load reads the configuration from home. A missing file gives
// fs.ErrNotExist.
func Load(home string) (*Config, error) {
	b, err := os.ReadFile(filepath.Join(home, FileName))
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	var c Config
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("parsing config %s: %w", filepath.Join(home, FileName), err)
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("config %s: %w", filepath.Join(home, FileName), err)
	}
	return &c, nil
}

// Exists reports whether home holds a configuration.
func Exists(home string) bool {
	_, err := os.Stat(filepath.Join(home, FileName))
	return !errors.Is(err, fs.ErrNotExist)
}

// Save validates c and writes it atomically (temporary file, fsync, rename).
func (c *Config) Save(home string) error {
	if err := c.Validate(); err != nil {
		return err
	}
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding config: %w", err)
	}
	path := filepath.Join(home, FileName)
	tmp, err := os.CreateTemp(home, ".config-*.tmp")
	if err != nil {
		return fmt.Errorf("saving config: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("saving config: %w", err)
	}
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("saving config: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("saving config: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("saving config: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("saving config: %w", err)
	}
	return nil
}

// Clone returns a deep copy.
func (c *Config) Clone() *Config {
	b, _ := json.Marshal(c)
	var out Config
	_ = json.Unmarshal(b, &out)
	return &out
}

// Validate checks internal consistency.
func (c *Config) Validate() error {
	switch c.Discovery.Role {
	case "", RoleAnchor:
	default:
		return fmt.Errorf("%w: discovery role %q (want \"anchor\" or nothing)", ErrInvalid, c.Discovery.Role)
	}
	for _, a := range c.Discovery.Anchors {
		if !strings.Contains(a, "/p2p/") {
			return fmt.Errorf("%w: anchor %q must end in /p2p/DEVICE_ID", ErrInvalid, a)
		}
	}
	seen := map[string]bool{}
	for _, d := range c.Devices {
		if _, err := identity.Parse(d.ID); err != nil {
			return fmt.Errorf("%w: device %q: %v", ErrInvalid, d.ID, err)
		}
		if seen[d.ID] {
			return fmt.Errorf("%w: device %s listed twice", ErrInvalid, d.ID)
		}
		seen[d.ID] = true
	}
	fseen := map[string]bool{}
	for _, f := range c.Folders {
		if err := ValidFolderID(f.ID); err != nil {
			return err
		}
		if fseen[f.ID] {
			return fmt.Errorf("%w: folder %s listed twice", ErrInvalid, f.ID)
		}
		fseen[f.ID] = true
		if !filepath.IsAbs(f.Path) {
			return fmt.Errorf("%w: folder %s: path %q is not absolute", ErrInvalid, f.ID, f.Path)
		}
		switch f.Mode {
		case "", ModeSendReceive, ModeSendOnly, ModeReceiveOnly:
		default:
			return fmt.Errorf("%w: folder %s: mode %q (use send-receive, send-only or receive-only)", ErrInvalid, f.ID, f.Mode)
		}
		switch f.Access {
		case "", AccessReadWrite:
		case AccessReadOnly, AccessEncrypted:
			if f.EffectiveMode() != ModeReceiveOnly {
				return fmt.Errorf("%w: folder %s: this device holds the %s key, so the folder is receive-only", ErrInvalid, f.ID, f.Access)
			}
		default:
			return fmt.Errorf("%w: folder %s: access %q (use rw, ro or encrypted)", ErrInvalid, f.ID, f.Access)
		}
		if f.Versioning != nil {
			if err := f.Versioning.Validate(); err != nil {
				return fmt.Errorf("folder %s: %w", f.ID, err)
			}
		}
		if f.MaxConflicts < -1 {
			return fmt.Errorf("%w: folder %s: maxConflicts %d (use -1 for no cap)", ErrInvalid, f.ID, f.MaxConflicts)
		}
		for _, d := range f.Devices {
			if !seen[d] {
				return fmt.Errorf("%w: folder %s is shared with unknown device %s", ErrInvalid, f.ID, d)
			}
		}
	}
	return nil
}

// ValidFolderID checks a folder ID: 1–64 characters from [A-Za-z0-9._-].
func ValidFolderID(id string) error {
	if id == "" || len(id) > 64 || strings.Trim(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != "" || id == "." || id == ".." {
		return fmt.Errorf("%w: folder ID %q (use 1-64 letters, digits, '.', '_' or '-')", ErrInvalid, id)
	}
	return nil
}

// Device returns the device with this ID.
func (c *Config) Device(id string) (Device, bool) {
	for _, d := range c.Devices {
		if d.ID == id {
			return d, true
		}
	}
	return Device{}, false
}

// Folder returns the folder with this ID.
func (c *Config) Folder(id string) (Folder, bool) {
	for _, f := range c.Folders {
		if f.ID == id {
			return f, true
		}
	}
	return Folder{}, false
}
