package model

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"time"

	"github.com/shoalsync/shoal/crypto/folderkey"
	"github.com/shoalsync/shoal/crypto/identity"
	"github.com/shoalsync/shoal/sync/config"
	"github.com/shoalsync/shoal/transport/wire"
)

// epochKeyName is where the key of an earlier epoch is kept: members still
// on that epoch prove themselves with it before they are handed the new one.
func epochKeyName(folder string, epoch uint32) string {
	return folderKeyName(folder) + "/epoch/" + strconv.FormatUint(uint64(epoch), 10)
}

// oldKey returns the folder's key of an earlier epoch, if kept.
func (m *Model) oldKey(f *folder, epoch uint32) *folderkey.Secret {
	b, ok := m.keys.Get(epochKeyName(f.id, epoch))
	if !ok {
		return nil
	}
	sec, err := folderkey.Parse(string(b))
	if err != nil || sec.FolderID() != f.id || sec.Epoch() != epoch {
		return nil
	}
	return sec
}

// denied reports whether dev was removed from folder fc.
func denied(fc config.Folder, dev identity.DeviceID) bool {
	for _, r := range fc.Removals {
		if slices.Contains(r.Devices, dev.String()) {
			return true
		}
	}
	return false
}

func (f *folder) denies(dev identity.DeviceID) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return denied(f.mu.cfg, dev)
}

// RemoveMember removes a device from a keyed folder: the folder moves to a
// new key epoch, the remaining members get the new key over their sessions,
// and the device is refused from then on. Only a read-write member can.
func (m *Model) RemoveMember(ctx context.Context, folderID, deviceID string) (FolderStatus, error) {
	f := m.folderByID(folderID)
	if f == nil {
		return FolderStatus{}, fmt.Errorf("%w: folder %s", ErrNotFound, folderID)
	}
	sec := f.key()
	if sec == nil {
		return FolderStatus{}, fmt.Errorf("%w: folder %s is shared by device pairing; use 'shoal device remove'", ErrInvalid, folderID)
	}
	if sec.Access() != folderkey.ReadWrite {
		return FolderStatus{}, fmt.Errorf("%w: only a read-write member can remove devices (this device holds the %s key)", ErrInvalid, sec.Access())
	}
	dev, err := identity.Parse(deviceID)
	if err != nil {
		return FolderStatus{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if dev == m.local {
		return FolderStatus{}, fmt.Errorf("%w: a device cannot remove itself; use 'shoal folder remove' to leave", ErrInvalid)
	}
	if f.denies(dev) {
		return FolderStatus{}, fmt.Errorf("%w: device %s was already removed from folder %s", ErrExists, dev.Short(), folderID)
	}
	next, err := sec.Rotate()
	if err != nil {
		return FolderStatus{}, fmt.Errorf("making the new key: %w", err)
	}
	rm := &wire.Removal{Epoch: next.Epoch(), Devices: [][]byte{dev.Bytes()}, Writer: next.WriterPublic(), Time: time.Now().Unix()}
	if rm.Signature, err = sec.Sign(wire.RemovalBytes(f.id, rm)); err != nil {
		return FolderStatus{}, fmt.Errorf("signing the removal: %w", err)
	}
	if err := m.installEpoch(f, sec, next, []*wire.Removal{rm}); err != nil {
		return FolderStatus{}, err
	}
	m.log.Info("Removed device from folder; moved to a new key epoch", dev.LogAttr(), slog.String("folder", f.id), slog.Uint64("epoch", uint64(next.Epoch())))
	m.afterRekey(f, nil)
	return m.folderStatus(folderID)
}

// installEpoch saves the key of a new epoch and the removals leading to it
// (the old key is kept to recognise members still on it), then makes it
// current.
func (m *Model) installEpoch(f *folder, old, next *folderkey.Secret, removals []*wire.Removal) error {
	oldKey, _ := old.Key(old.Access())
	newKey, _ := next.Key(next.Access())
	if err := m.keys.Put(epochKeyName(f.id, old.Epoch()), []byte(oldKey)); err != nil {
		return fmt.Errorf("saving the previous folder key: %w", err)
	}
	if err := m.keys.Put(folderKeyName(f.id), []byte(newKey)); err != nil {
		return fmt.Errorf("saving the new folder key: %w", err)
	}
	var gone []identity.DeviceID
	_, cur, err := m.mutateConfig(func(c *config.Config) error {
		for i := range c.Folders {
			fc := &c.Folders[i]
			if fc.ID != f.id {
				continue
			}
			for _, r := range removals {
				cr := config.Removal{Epoch: r.Epoch, Writer: r.Writer, Time: r.Time, Signature: r.Signature}
				for _, d := range r.Devices {
					id, err := identity.FromBytes(d)
					if err != nil {
						return fmt.Errorf("%w: removal names a bad device ID", ErrInvalid)
					}
					cr.Devices = append(cr.Devices, id.String())
					gone = append(gone, id)
					fc.Devices = slices.DeleteFunc(fc.Devices, func(s string) bool { return s == id.String() })
				}
				fc.Removals = append(fc.Removals, cr)
			}
		}
		// A removed device that shares nothing else is forgotten: it is
		// then only a guest, refused after the guest timeout.
		for _, id := range gone {
			still := false
			for _, fc := range c.Folders {
				if slices.Contains(fc.Devices, id.String()) {
					still = true
				}
			}
			if !still {
				c.Devices = slices.DeleteFunc(c.Devices, func(d config.Device) bool { return d.ID == id.String() })
			}
		}
		return nil
	})
	if err != nil {
		// Put the old key back: the configuration still names the old epoch.
		if perr := m.keys.Put(folderKeyName(f.id), []byte(oldKey)); perr != nil {
			m.log.Error("Restoring the folder key failed", slog.String("folder", f.id), slog.Any("error", perr))
		}
		return err
	}
	if fc, ok := cur.Folder(f.id); ok {
		f.setConfig(fc)
	}
	f.sec.Store(next)
	// Every twin was sealed with the old keys: seal again.
	f.sealedUpTo.Store(0)
	f.sealSoon()
	m.updateGuests() // a new rendezvous secret
	for _, id := range gone {
		if p := m.peerFor(id); p != nil {
			p.conn.Close("removed from a folder")
		}
		if err := f.idx.DropRemote(id); err != nil {
			m.log.Warn("Dropping index of removed device failed", id.LogAttr(), slog.Any("error", err))
		}
	}
	m.pushDevices()
	f.pullSoon()
	return nil
}

// afterRekey tells every connected member of f (except from, which told
// us) about the new epoch, at the level it proved, and re-offers the
// folder with proofs of the new epoch.
func (m *Model) afterRekey(f *folder, from *peer) {
	m.mu.Lock()
	peers := make([]*peer, 0, len(m.mu.conns))
	for _, p := range m.mu.conns {
		peers = append(peers, p)
	}
	m.mu.Unlock()
	for _, p := range peers {
		if p == from || f.denies(p.conn.ID()) {
			continue
		}
		if a := p.accessOf(f.id); a >= folderkey.Encrypted {
			m.sendRekey(p, f, a)
		}
	}
	m.sendClusterConfigs()
}

// sendRekey hands p the current key of f at level a (or ours if lower),
// with the folder's removal history.
func (m *Model) sendRekey(p *peer, f *folder, a folderkey.Access) {
	sec := f.key()
	if sec == nil {
		return
	}
	a = min(a, sec.Access())
	d, err := sec.Downgrade(a)
	if err != nil {
		return
	}
	key, _ := d.Key(a)
	f.mu.Lock()
	var rms []*wire.Removal
	for _, r := range f.mu.cfg.Removals {
		wr := &wire.Removal{Epoch: r.Epoch, Writer: r.Writer, Time: r.Time, Signature: r.Signature}
		for _, s := range r.Devices {
			if id, err := identity.Parse(s); err == nil {
				wr.Devices = append(wr.Devices, id.Bytes())
			}
		}
		rms = append(rms, wr)
	}
	f.mu.Unlock()
	if len(rms) == 0 {
		return
	}
	msg := &wire.Message{Payload: &wire.Message_Rekey{Rekey: &wire.Rekey{Folder: f.id, Removals: rms, Key: key}}}
	if err := p.conn.Send(p.ctx, msg); err != nil {
		m.log.Debug("Sending new folder key failed", p.conn.ID().LogAttr(), slog.Any("error", err))
	}
}

// handleRekey checks a new epoch's removals against the writer key we know
// and installs the new key.
func (m *Model) handleRekey(p *peer, r *wire.Rekey) error {
	f := m.folderByID(r.Folder)
	if f == nil || f.key() == nil || !f.sharedWith(p.conn.ID()) {
		return nil // not ours: nothing to learn
	}
	sec := f.key()
	cur := int(sec.Epoch())
	if len(r.Removals) <= cur {
		return nil // nothing newer than what we have
	}
	writer := sec.WriterPublic()
	removedUs := false
	for _, rm := range r.Removals[cur:] {
		if !folderkey.VerifyWriter(writer, wire.RemovalBytes(f.id, rm), rm.Signature) {
			return fmt.Errorf("removal starting epoch %d of folder %s is not signed by the writer key of epoch %d", rm.Epoch, f.id, rm.Epoch-1)
		}
		for _, d := range rm.Devices {
			if string(d) == string(m.local.Bytes()) {
				removedUs = true
			}
		}
		writer = rm.Writer
	}
	last := r.Removals[len(r.Removals)-1]
	if removedUs {
		m.log.Warn("This device was removed from the folder by a member", slog.String("folder", f.id))
		f.removed.Store(true)
		f.setError(fmt.Errorf("this device was removed from the folder by a read-write member (%s); its files stay on disk", time.Unix(last.Time, 0).UTC().Format(time.RFC1123)))
		if err := m.keys.Delete(folderKeyName(f.id)); err != nil {
			m.log.Warn("Deleting folder key failed", slog.Any("error", err))
		}
		m.sendClusterConfigs()
		return nil
	}
	next, err := folderkey.Parse(r.Key)
	if err != nil {
		return fmt.Errorf("new folder key: %w", err)
	}
	switch {
	case next.FolderID() != f.id || int(next.Epoch()) != len(r.Removals) || !slices.Equal(next.WriterPublic(), last.Writer):
		return fmt.Errorf("new folder key does not match the removal it comes with")
	case next.Access() < sec.Access():
		// A reader cannot hand a writer its key; wait for a writer.
		m.log.Debug("New epoch key below our level; waiting for a writer", p.conn.ID().LogAttr(), slog.String("folder", f.id))
		return nil
	case next.Access() > sec.Access():
		if next, err = next.Downgrade(sec.Access()); err != nil {
			return err
		}
	}
	if err := m.installEpoch(f, sec, next, r.Removals[cur:]); err != nil {
		return err
	}
	m.log.Info("Folder moved to a new key epoch", slog.String("folder", f.id), slog.Uint64("epoch", uint64(next.Epoch())), p.conn.ID().LogAttr())
	m.afterRekey(f, p)
	return nil
}

// offerRekey handles a member whose proofs are of an earlier epoch: if it
// was a member before (the folder is shared with it here), proves that
// epoch's key and was not removed, it gets the new key. A device we did not
// know as a member gets nothing: an old key, leaked or kept by a removed
// person under a new device ID, does not open the new epoch.
func (m *Model) offerRekey(p *peer, f *folder, wf *wire.Folder) {
	if !f.sharedWith(p.conn.ID()) || f.denies(p.conn.ID()) || p.rekeyOffered(f.id) {
		return
	}
	old := m.oldKey(f, wf.KeyEpoch)
	if old == nil {
		return
	}
	if a := m.verifiedAccess(p, old, wf.Proofs); a >= folderkey.Encrypted {
		p.setAccess(f.id, 0)
		m.sendRekey(p, f, a)
	}
}

// rekeyOffered reports whether p was already sent a rekey for folder in
// this session, and marks it.
func (p *peer) rekeyOffered(folder string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.rekeyed == nil {
		p.rekeyed = map[string]bool{}
	}
	if p.rekeyed[folder] {
		return true
	}
	p.rekeyed[folder] = true
	return false
}

// sentEpoch records the epoch at which an index sender to p was started and
// reports the previous one.
func (p *peer) sentEpoch(folder string, epoch uint32) (prev uint32, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.epochs == nil {
		p.epochs = map[string]uint32{}
	}
	prev, ok = p.epochs[folder]
	p.epochs[folder] = epoch
	return prev, ok
}
