package model

import (
	"bytes"
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
	"github.com/shoalsync/shoal/sync/config"
	"github.com/shoalsync/shoal/transport/wire"
)

// KeyStore keeps secrets at rest (crypto/keystore in the agent). Folder
// secrets are stored under "folder/<folder ID>" in their printable form.
type KeyStore interface {
	Get(name string) ([]byte, bool)
	Put(name string, secret []byte) error
	Delete(name string) error
}

// memKeys is the key store of a model made without one (tests).
type memKeys struct {
	mu sync.Mutex
	m  map[string][]byte
}

func (k *memKeys) Get(name string) ([]byte, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	b, ok := k.m[name]
	return slices.Clone(b), ok
}

func (k *memKeys) Put(name string, secret []byte) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.m[name] = slices.Clone(secret)
	return nil
}

func (k *memKeys) Delete(name string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	delete(k.m, name)
	return nil
}

func folderKeyName(id string) string { return "folder/" + id }

// accessString maps a key level to config.Folder.Access.
func accessString(a folderkey.Access) string {
	switch a {
	case folderkey.ReadWrite:
		return config.AccessReadWrite
	case folderkey.ReadOnly:
		return config.AccessReadOnly
	case folderkey.Encrypted:
		return config.AccessEncrypted
	}
	return ""
}

// loadSecret reads a keyed folder's secret from the key store.
func (m *Model) loadSecret(fc config.Folder) (*folderkey.Secret, error) {
	if fc.Access == "" {
		return nil, nil
	}
	b, ok := m.keys.Get(folderKeyName(fc.ID))
	if !ok {
		return nil, fmt.Errorf("the folder key is missing from the key store (%s); join the folder again with its key", folderKeyName(fc.ID))
	}
	sec, err := folderkey.Parse(string(b))
	if err != nil {
		return nil, fmt.Errorf("reading folder key from the key store: %w", err)
	}
	if sec.FolderID() != fc.ID {
		return nil, fmt.Errorf("the key store holds the key of folder %s under folder %s", sec.FolderID(), fc.ID)
	}
	if accessString(sec.Access()) != fc.Access {
		return nil, fmt.Errorf("the key store holds a %s key, the configuration says %s", accessString(sec.Access()), fc.Access)
	}
	return sec, nil
}

// updateGuests opens the transport to devices outside the configuration
// while this device holds a folder by key: anyone with the key may come.
func (m *Model) updateGuests() {
	m.mu.Lock()
	n := m.mu.net
	open := false
	for _, f := range m.mu.cfg.Folders {
		if f.Access != "" {
			open = true
		}
	}
	var topics []Topic
	for _, f := range m.mu.folders {
		if sec := f.key(); sec != nil && !f.removed.Load() {
			topics = append(topics, Topic{Folder: f.id, Secret: sec.RendezvousSecret()})
		}
	}
	m.mu.Unlock()
	slices.SortFunc(topics, func(a, b Topic) int { return strings.Compare(a.Folder, b.Folder) })
	if n != nil {
		n.SetGuests(open)
		n.SetTopics(topics)
	}
}

// Topic is what discovery advertises and looks up for one keyed folder: a
// secret every member holds (derived from the encrypted-peer level, the
// lowest), from which rendezvous keys are made. It changes with the key
// epoch.
type Topic struct {
	Folder string
	Secret []byte
}

// Configured reports whether dev is a configured device.
func (m *Model) Configured(dev identity.DeviceID) bool { return m.configured(dev) }

// configured reports whether dev is a configured device.
func (m *Model) configured(dev identity.DeviceID) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.mu.cfg.Device(dev.String())
	return ok
}

// maxPendingSession is how long a guest waiting for approval keeps its
// session; it then reconnects and presents its invite again, so a pending
// device cannot hold a guest slot for good.
const maxPendingSession = 10 * time.Minute

// watchGuest watches the session of a device outside the configuration:
// it is closed when it has proven no folder key within
// Options.GuestTimeout, or, while it waits for approval, after
// maxPendingSession.
func (m *Model) watchGuest(p *peer) {
	start := time.Now()
	t := time.NewTicker(m.opts.GuestTimeout)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-p.ctx.Done():
			return
		}
		dev := p.conn.ID()
		switch {
		case m.configured(dev):
			return
		case m.pendingDevice(dev) && time.Since(start) < maxPendingSession:
			continue
		}
		m.log.Info("Closing session with unknown device: it proved no folder key", dev.LogAttr())
		p.conn.Close("no folder in common")
		return
	}
}

// proofsFor returns our membership proofs of f for the device on p.
func (m *Model) proofsFor(p *peer, sec *folderkey.Secret) []*wire.Proof {
	_, remote := p.conn.Binding()
	var out []*wire.Proof
	for a := sec.Access(); a >= folderkey.Encrypted; a-- {
		mac := sec.Proof(a, m.local.Bytes(), p.conn.ID().Bytes(), remote)
		if mac != nil {
			out = append(out, &wire.Proof{Access: wire.Access(a), Mac: mac})
		}
	}
	return out
}

// verifiedAccess returns the highest access level of f the device on p
// proved in this session, as far as our own key can check (a read-only
// device sees a writer as read-only: it cannot check more).
func (m *Model) verifiedAccess(p *peer, sec *folderkey.Secret, proofs []*wire.Proof) folderkey.Access {
	local, _ := p.conn.Binding()
	best := folderkey.Access(0)
	for _, pr := range proofs {
		a := folderkey.Access(pr.Access)
		if a > sec.Access() || a <= best {
			continue
		}
		if sec.CheckProof(a, pr.Mac, p.conn.ID().Bytes(), m.local.Bytes(), local) {
			best = a
		}
	}
	return best
}

// setAccess records what the device on p proved for a folder.
func (p *peer) setAccess(folder string, a folderkey.Access) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.access == nil {
		p.access = map[string]folderkey.Access{}
	}
	if a == 0 {
		delete(p.access, folder)
		return
	}
	p.access[folder] = a
}

// accessOf returns what the device on p proved for a folder in this session.
func (p *peer) accessOf(folder string) folderkey.Access {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.access[folder]
}

// mayExchange reports whether records and blocks of f may flow with the
// device on p: always for a folder shared by pairing; for a keyed folder
// only after the device proved a key of the folder in this session (see
// exchangeMode, which also says whether only twins may flow).
func (f *folder) mayExchange(p *peer) bool {
	ok, _ := f.exchangeMode(p)
	return ok
}

// admitMember makes a device that proved it holds f's key a member: it is
// added to the configuration (if new) and f is shared with it.
func (m *Model) admitMember(p *peer, f *folder, a folderkey.Access) error {
	dev := p.conn.ID()
	name := p.conn.Info().Name
	_, cur, err := m.mutateConfig(func(c *config.Config) error {
		if _, ok := c.Device(dev.String()); !ok {
			c.Devices = append(c.Devices, config.Device{ID: dev.String(), Name: name})
		}
		for i := range c.Folders {
			if c.Folders[i].ID == f.id && !slices.Contains(c.Folders[i].Devices, dev.String()) {
				c.Folders[i].Devices = append(c.Folders[i].Devices, dev.String())
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if fc, ok := cur.Folder(f.id); ok {
		f.setConfig(fc)
	}
	m.log.Info("Device proved the folder key; sharing the folder with it", dev.LogAttr(), slog.String("folder", f.id), slog.String("access", a.String()))
	m.pushDevices()
	return nil
}

// signRecord prepares one of our records for sending on a keyed folder: a
// writer signs it; a read-only device passes on the writer's signature and
// reports false for a record that has none that verifies (its own local
// changes, which stay local).
func (f *folder) signRecord(fi *wire.FileInfo) bool {
	sec := f.key()
	if sec == nil {
		return true
	}
	msg := wire.SigningBytes(f.id, fi)
	if sec.Access() == folderkey.ReadWrite {
		sig, err := sec.Sign(msg)
		if err != nil {
			return false
		}
		fi.Signature = sig
		return true
	}
	if sec.Verify(msg, fi.Signature) {
		return true
	}
	// Signed in an earlier key epoch: a writer may have sent the same
	// record signed anew, and that signature serves as well.
	if g, ok, err := f.idx.Global(fi.Name); err == nil && ok && g.Winner != nil &&
		bytes.Equal(wire.SigningBytes(f.id, g.Winner), msg) && sec.Verify(msg, g.Winner.Signature) {
		fi.Signature = g.Winner.Signature
		return true
	}
	return false
}

// checkSignatures verifies every record of an index from a peer against the
// folder's writer key.
func (f *folder) checkSignatures(files []*wire.FileInfo) error {
	sec := f.key()
	if sec == nil {
		return nil
	}
	for _, fi := range files {
		if len(fi.Signature) == 0 {
			return fmt.Errorf("record %s is not signed by the folder's writer key", quoteName(fi.Name))
		}
		if !sec.Verify(wire.SigningBytes(f.id, fi), fi.Signature) {
			return fmt.Errorf("record %s carries a signature that does not verify with the folder's writer key (forged or altered)", quoteName(fi.Name))
		}
	}
	return nil
}

func quoteName(s string) string {
	if len(s) > 64 {
		s = s[:64] + "…"
	}
	return fmt.Sprintf("%q", s)
}

// JoinRequest is the input of JoinFolder.
type JoinRequest struct {
	Key   string   `json:"key"`             // a printable folder key
	Path  string   `json:"path"`            // created if missing
	Label string   `json:"label,omitempty"` // base name of the path when empty
	Peers []string `json:"peers,omitempty"` // members to reach: multiaddrs ending in /p2p/<device ID>, or <device ID>@<address>
}

// FolderKeys are the printable keys of a folder this device holds; a level
// it does not hold is empty.
type FolderKeys struct {
	ReadWrite string `json:"rw,omitempty"`
	ReadOnly  string `json:"ro,omitempty"`
	Encrypted string `json:"encrypted,omitempty"`
}

// FolderKeys returns the keys of a folder this device holds.
func (m *Model) FolderKeys(ctx context.Context, id string) (FolderKeys, error) {
	f := m.folderByID(id)
	if f == nil {
		return FolderKeys{}, fmt.Errorf("%w: folder %s", ErrNotFound, id)
	}
	if f.key() == nil {
		return FolderKeys{}, fmt.Errorf("%w: folder %s is shared by device pairing and has no key (folders added without --id have keys)", ErrInvalid, id)
	}
	var out FolderKeys
	out.ReadWrite, _ = f.key().Key(folderkey.ReadWrite)
	out.ReadOnly, _ = f.key().Key(folderkey.ReadOnly)
	out.Encrypted, _ = f.key().Key(folderkey.Encrypted)
	return out, nil
}

// parsePeer splits a member address into its device ID and the address to
// dial: "<multiaddr>/p2p/<ID>" or "<ID>@<address>".
func parsePeer(s string) (identity.DeviceID, string, error) {
	s = strings.TrimSpace(s)
	if id, addr, ok := strings.Cut(s, "@"); ok {
		did, err := identity.Parse(id)
		if err != nil {
			return "", "", err
		}
		return did, addr, nil
	}
	i := strings.LastIndex(s, "/p2p/")
	if i < 0 {
		return "", "", fmt.Errorf("peer address %q names no device: use <multiaddr>/p2p/<device ID> or <device ID>@<address>", s)
	}
	did, err := identity.Parse(s[i+len("/p2p/"):])
	if err != nil {
		return "", "", err
	}
	return did, s, nil
}

// JoinFolder joins a folder by key at the key's access level. The device
// finds members among the given peers and the devices it knows; each must
// prove it holds the key before anything is exchanged.
func (m *Model) JoinFolder(ctx context.Context, req JoinRequest) (FolderStatus, error) {
	sec, err := folderkey.Parse(req.Key)
	if err != nil {
		return FolderStatus{}, fmt.Errorf("%w: folder key: %v", ErrInvalid, err)
	}
	return m.joinWithSecret(sec, req)
}

// joinWithSecret adds a folder by key, shared with the devices named in
// req.Peers and with also.
func (m *Model) joinWithSecret(sec *folderkey.Secret, req JoinRequest, also ...identity.DeviceID) (FolderStatus, error) {
	if req.Path == "" {
		return FolderStatus{}, fmt.Errorf("%w: a path for the folder is required", ErrInvalid)
	}
	p, err := filepath.Abs(req.Path)
	if err != nil {
		return FolderStatus{}, fmt.Errorf("%w: path %q: %v", ErrInvalid, req.Path, err)
	}
	if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
		return FolderStatus{}, fmt.Errorf("%w: path %s is not a directory", ErrInvalid, p)
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return FolderStatus{}, fmt.Errorf("%w: path %s: %v", ErrInvalid, p, err)
	}
	type peerAddr struct {
		id   identity.DeviceID
		addr string
	}
	var peers []peerAddr
	for _, s := range req.Peers {
		id, addr, err := parsePeer(s)
		if err != nil {
			return FolderStatus{}, fmt.Errorf("%w: %v", ErrInvalid, err)
		}
		if id == m.local {
			return FolderStatus{}, fmt.Errorf("%w: peer %s is this device", ErrInvalid, id.Short())
		}
		peers = append(peers, peerAddr{id, addr})
	}
	id := sec.FolderID()
	if m.folderByID(id) != nil {
		return FolderStatus{}, fmt.Errorf("%w: folder %s (this device already has it)", ErrExists, id)
	}
	label := req.Label
	if label == "" {
		label = filepath.Base(p)
	}
	fc := config.Folder{ID: id, Label: label, Path: p, Access: accessString(sec.Access())}
	if sec.Access() < folderkey.ReadWrite {
		fc.Mode = config.ModeReceiveOnly
	}
	for _, pa := range peers {
		also = append(also, pa.id)
	}
	for _, d := range also {
		if !slices.Contains(fc.Devices, d.String()) {
			fc.Devices = append(fc.Devices, d.String())
		}
	}
	if err := m.checkOverlap(p, ""); err != nil {
		return FolderStatus{}, err
	}
	if err := os.MkdirAll(p, 0o755); err != nil {
		return FolderStatus{}, fmt.Errorf("creating folder directory: %w", err)
	}
	key, _ := sec.Key(sec.Access())
	if err := m.keys.Put(folderKeyName(id), []byte(key)); err != nil {
		return FolderStatus{}, fmt.Errorf("saving folder key: %w", err)
	}
	_, _, err = m.mutateConfig(func(c *config.Config) error {
		if _, ok := c.Folder(id); ok {
			return fmt.Errorf("%w: folder %s", ErrExists, id)
		}
		if err := overlapIn(c, p, ""); err != nil {
			return err
		}
		for _, pa := range peers {
			i := slices.IndexFunc(c.Devices, func(d config.Device) bool { return d.ID == pa.id.String() })
			if i < 0 {
				c.Devices = append(c.Devices, config.Device{ID: pa.id.String(), Addrs: []string{pa.addr}})
			} else if !slices.Contains(c.Devices[i].Addrs, pa.addr) {
				c.Devices[i].Addrs = append(c.Devices[i].Addrs, pa.addr)
			}
		}
		c.Folders = append(c.Folders, fc)
		return nil
	})
	if err != nil {
		_ = m.keys.Delete(folderKeyName(id))
		return FolderStatus{}, err
	}
	m.mu.Lock()
	m.startFolderLocked(fc)
	m.mu.Unlock()
	m.pushDevices()
	m.updateGuests()
	m.sendClusterConfigs()
	return m.folderStatus(id)
}

// checkOverlap refuses a folder path inside, around or equal to another
// folder's (except the folder except).
func (m *Model) checkOverlap(p, except string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return overlapIn(m.mu.cfg, p, except)
}

func overlapIn(c *config.Config, p, except string) error {
	for _, f := range c.Folders {
		if f.ID == except {
			continue
		}
		if f.Path == p || strings.HasPrefix(p, f.Path+string(filepath.Separator)) || strings.HasPrefix(f.Path, p+string(filepath.Separator)) {
			return fmt.Errorf("%w: %s overlaps folder %s at %s", ErrInvalid, p, f.ID, f.Path)
		}
	}
	return nil
}

// key returns the folder's key of the current epoch, or nil for a folder
// shared by pairing.
func (f *folder) key() *folderkey.Secret { return f.sec.Load() }

// Bounds on introductions (Introduce).
const (
	maxIntroduced   = 1024
	introductionTTL = 10 * time.Minute
)

// Introduce tells the model that discovery found dev under folder's
// rendezvous key. Until it proves a key, dev is a stranger; but the next
// sessions with it offer the folder, with our proof, so it can see that
// we are a member and prove its own key (both sides may know the other
// only from the DHT).
func (m *Model) Introduce(dev identity.DeviceID, folder string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.mu.folders[folder] == nil || dev == m.local {
		return
	}
	if m.mu.introduced == nil {
		m.mu.introduced = map[identity.DeviceID]map[string]time.Time{}
	}
	now := time.Now()
	if len(m.mu.introduced) >= maxIntroduced {
		for d, fs := range m.mu.introduced {
			for id, t := range fs {
				if now.Sub(t) > introductionTTL {
					delete(fs, id)
				}
			}
			if len(fs) == 0 {
				delete(m.mu.introduced, d)
			}
		}
		if len(m.mu.introduced) >= maxIntroduced {
			return
		}
	}
	if m.mu.introduced[dev] == nil {
		m.mu.introduced[dev] = map[string]time.Time{}
	}
	m.mu.introduced[dev][folder] = now
}

// IntroduceAll is Introduce for every keyed folder: for a device found on
// the LAN, where discovery does not say which folders it has. The device
// learns the IDs of our keyed folders (not their keys), and only if we
// dial it; LAN discovery can be turned off on untrusted networks.
func (m *Model) IntroduceAll(dev identity.DeviceID) {
	m.mu.Lock()
	var ids []string
	for id, f := range m.mu.folders {
		if f.key() != nil {
			ids = append(ids, id)
		}
	}
	m.mu.Unlock()
	for _, id := range ids {
		m.Introduce(dev, id)
	}
}

// introducedFolders returns the keyed folders dev was recently found under
// that are not shared with it yet.
func (m *Model) introducedFolders(dev identity.DeviceID) []*folder {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*folder
	for id, t := range m.mu.introduced[dev] {
		f := m.mu.folders[id]
		if f == nil || time.Since(t) > introductionTTL || f.key() == nil || f.removed.Load() || f.sharedWith(dev) || f.denies(dev) {
			continue
		}
		out = append(out, f)
	}
	return out
}
