package model

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/shoalsync/shoal/crypto/folderkey"
	"github.com/shoalsync/shoal/crypto/identity"
	"github.com/shoalsync/shoal/sync/fsutil"
	"github.com/shoalsync/shoal/transport/wire"
)

// Index messages are cut at this many records or bytes.
const (
	indexBatchFiles = 1000
	indexBatchBytes = 4 << 20
)

// maxPeerRequests bounds our requests in flight to one device, below the
// transport's per-session limit (64) above which a peer answers BUSY.
const maxPeerRequests = 48

// requestTimeout bounds one block request, so a device that stops answering
// cannot hold a pull forever; the block is then asked of another device.
const requestTimeout = 60 * time.Second

// peer is the model's side of one session.
type peer struct {
	conn   Conn
	sem    chan struct{} // one slot per request in flight to this device
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // index senders

	mu      sync.Mutex
	senders map[string]*sender          // folder ID → running index sender
	lastCC  *wire.ClusterConfig         // the device's latest cluster config
	access  map[string]folderkey.Access // keyed folder → level the device proved in this session
	redeems int                         // invites the device presented in this session
	rekeyed map[string]bool             // folders whose new key we handed it in this session
	epochs  map[string]uint32           // key epoch at which each index sender started
}

type sender struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// Connected is called by the transport when a session is up.
func (m *Model) Connected(c Conn) {
	m.mu.Lock()
	if old := m.mu.conns[c.ID()]; old != nil {
		old.cancel()
	}
	base := m.mu.ctx
	if base == nil {
		base = context.Background()
	}
	ctx, cancel := context.WithCancel(base)
	p := &peer{conn: c, ctx: ctx, cancel: cancel, senders: map[string]*sender{}, sem: make(chan struct{}, maxPeerRequests)}
	m.mu.conns[c.ID()] = p
	m.mu.Unlock()
	m.log.Debug("Device connected", c.ID().LogAttr(), slog.String("addr", c.Info().Address), slog.String("transport", c.Info().Transport))
	if !m.configured(c.ID()) {
		p.wg.Go(func() { m.watchGuest(p) })
	}
	m.sendClusterConfig(p)
	m.redeemOnConnect(p)
	m.wakeFolders()
}

// Disconnected is called by the transport when a session ends.
func (m *Model) Disconnected(c Conn, err error) {
	m.mu.Lock()
	p := m.mu.conns[c.ID()]
	if p != nil && p.conn == c {
		delete(m.mu.conns, c.ID())
	} else {
		p = nil
	}
	m.mu.Unlock()
	if p != nil {
		p.cancel()
		p.wg.Wait()
	}
	m.log.Debug("Device disconnected", c.ID().LogAttr(), slog.Any("reason", err))
}

func (m *Model) peerFor(id identity.DeviceID) *peer {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.mu.conns[id]
}

// connected returns the peers among devs that have a session.
func (m *Model) connected(devs []identity.DeviceID) []*peer {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*peer
	for _, d := range devs {
		if p := m.mu.conns[d]; p != nil {
			out = append(out, p)
		}
	}
	return out
}

// request sends a block request to p, waiting for a free request slot, and
// retries a few times when the device answers BUSY.
func (p *peer) request(ctx context.Context, r *wire.Request) (*wire.Response, error) {
	for attempt := 0; ; attempt++ {
		select {
		case p.sem <- struct{}{}:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-p.ctx.Done():
			return nil, errors.New("device disconnected")
		}
		rctx, cancel := context.WithTimeout(ctx, requestTimeout)
		resp, err := p.conn.Request(rctx, r)
		cancel()
		<-p.sem
		if err != nil || resp.Code != wire.ErrorCode_ERROR_CODE_BUSY || attempt >= 5 {
			return resp, err
		}
		select {
		case <-time.After(time.Duration(20<<attempt) * time.Millisecond):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func (m *Model) wakeFolders() {
	m.mu.Lock()
	fs := m.folderListLocked()
	m.mu.Unlock()
	for _, f := range fs {
		f.pullSoon()
	}
}

// sendClusterConfigs resends the cluster config to every connected device.
func (m *Model) sendClusterConfigs() {
	m.mu.Lock()
	peers := make([]*peer, 0, len(m.mu.conns))
	for _, p := range m.mu.conns {
		peers = append(peers, p)
	}
	m.mu.Unlock()
	for _, p := range peers {
		m.sendClusterConfig(p)
		p.mu.Lock()
		cc := p.lastCC
		p.mu.Unlock()
		if cc != nil {
			m.handleClusterConfig(p, cc, true)
		}
	}
}

// sharedFolders returns the folders this device shares with dev.
func (m *Model) sharedFolders(dev identity.DeviceID) []*folder {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*folder
	for _, f := range m.folderListLocked() {
		if f.sharedWith(dev) {
			out = append(out, f)
		}
	}
	return out
}

func (m *Model) sendClusterConfig(p *peer) {
	dev := p.conn.ID()
	cc := &wire.ClusterConfig{}
	for _, f := range append(m.sharedFolders(dev), m.introducedFolders(dev)...) {
		if f.idx == nil {
			continue
		}
		rIdx, rSeq, err := f.idx.RemoteState(dev)
		if err != nil {
			m.log.Warn("Reading remote index state failed", dev.LogAttr(), slog.Any("error", err))
			continue
		}
		wf := &wire.Folder{
			Id:    f.id,
			Label: f.label(),
			Devices: []*wire.FolderDevice{
				{Id: m.local.Bytes(), IndexId: f.idx.IndexID(), MaxSequence: f.idx.Sequence()},
				{Id: dev.Bytes(), IndexId: rIdx, MaxSequence: rSeq},
			},
		}
		if sec := f.key(); sec != nil {
			if f.removed.Load() {
				continue
			}
			wf.Proofs = m.proofsFor(p, sec)
			wf.KeyEpoch = sec.Epoch()
			if p.accessOf(f.id) < folderkey.ReadOnly {
				wf.Label = "" // only members that can read the folder see its name
			}
		}
		cc.Folders = append(cc.Folders, wf)
	}
	if err := p.conn.Send(p.ctx, &wire.Message{Payload: &wire.Message_ClusterConfig{ClusterConfig: cc}}); err != nil {
		m.log.Debug("Sending cluster config failed", dev.LogAttr(), slog.Any("error", err))
	}
}

// Message handles a non-request message from a device, in arrival order.
func (m *Model) Message(c Conn, msg *wire.Message) {
	if err := wire.Validate(msg); err != nil {
		m.log.Warn("Invalid message from device", c.ID().LogAttr(), slog.Any("error", err))
		c.Close(fmt.Sprintf("invalid message: %v", err))
		return
	}
	p := m.peerFor(c.ID())
	if p == nil || p.conn != c {
		return
	}
	switch pl := msg.Payload.(type) {
	case *wire.Message_ClusterConfig:
		p.mu.Lock()
		p.lastCC = pl.ClusterConfig
		p.mu.Unlock()
		m.handleClusterConfig(p, pl.ClusterConfig, false)
	case *wire.Message_Index:
		if err := m.handleIndex(p, pl.Index); err != nil {
			m.log.Warn("Rejected index from device", c.ID().LogAttr(), slog.Any("error", err))
			c.Close(err.Error())
		}
	case *wire.Message_InviteRedeem:
		m.handleInviteRedeem(p, pl.InviteRedeem)
	case *wire.Message_InviteResult:
		m.handleInviteResult(p, pl.InviteResult)
	case *wire.Message_Rekey:
		if err := m.handleRekey(p, pl.Rekey); err != nil {
			m.log.Warn("Rejected new folder key from device", c.ID().LogAttr(), slog.Any("error", err))
			c.Close(err.Error())
		}
	case *wire.Message_Ping, *wire.Message_Hello:
	default:
		m.log.Debug("Ignoring unexpected message", c.ID().LogAttr(), slog.String("type", fmt.Sprintf("%T", pl)))
	}
}

// handleClusterConfig starts an index sender for every folder the device
// offers that we share with it (only those without one when onlyMissing:
// a folder added or shared here after the device's cluster config came).
func (m *Model) handleClusterConfig(p *peer, cc *wire.ClusterConfig, onlyMissing bool) {
	dev := p.conn.ID()
	offered := map[string]*wire.Folder{}
	admitted := false
	for _, wf := range cc.Folders {
		offered[wf.Id] = wf
		f := m.folderByID(wf.Id)
		if f == nil || f.key() == nil || f.idx == nil || f.removed.Load() {
			continue
		}
		if f.denies(dev) {
			p.setAccess(f.id, 0)
			m.log.Debug("Removed device offers the folder; refused", dev.LogAttr(), slog.String("folder", f.id))
			continue
		}
		if ep := f.key().Epoch(); wf.KeyEpoch != ep {
			p.setAccess(f.id, 0)
			if wf.KeyEpoch < ep {
				m.offerRekey(p, f, wf) // a member that missed a removal
			}
			continue // a newer epoch: the device hands us the key
		}
		a := m.verifiedAccess(p, f.key(), wf.Proofs)
		p.setAccess(f.id, a)
		if a == 0 {
			level := slog.LevelWarn
			if !m.configured(dev) {
				level = slog.LevelDebug // a guest: do not let it fill the log
			}
			m.log.Log(context.Background(), level, "Device offers a keyed folder without a valid proof of its key", dev.LogAttr(), slog.String("folder", f.id))
			continue
		}
		if !f.sharedWith(dev) && !onlyMissing {
			if err := m.admitMember(p, f, a); err != nil {
				m.log.Warn("Adding member failed", dev.LogAttr(), slog.String("folder", f.id), slog.Any("error", err))
				continue
			}
			admitted = true
		}
	}
	if admitted {
		// Our cluster config now offers the folder (with our proofs);
		// sendClusterConfigs also starts the index senders.
		m.sendClusterConfigs()
		return
	}
	for _, f := range m.sharedFolders(dev) {
		wf, ok := offered[f.id]
		if !ok || f.idx == nil || !f.mayExchange(p) {
			continue
		}
		if onlyMissing {
			p.mu.Lock()
			running := false
			if sd := p.senders[f.id]; sd != nil {
				select {
				case <-sd.done:
				default:
					running = true
				}
			}
			p.mu.Unlock()
			if running {
				continue
			}
		}
		// What the peer has of our index decides where we resume.
		from, reset := int64(0), true
		for _, d := range wf.Devices {
			if bytes.Equal(d.Id, m.local.Bytes()) && d.IndexId == f.idx.IndexID() {
				from, reset = d.MaxSequence, false
			}
		}
		if sec := f.key(); sec != nil {
			if prev, ok := p.sentEpoch(f.id, sec.Epoch()); ok && prev < sec.Epoch() {
				// A new key epoch: resend everything, signed anew, so
				// read-only members can relay it.
				from, reset = 0, true
			}
		}
		m.startIndexSender(p, f, from, reset)
	}
	if m.configured(dev) {
		for id := range offered {
			if m.folderByID(id) == nil {
				m.log.Info("Device offers a folder this device does not have", dev.LogAttr(), slog.String("folder", id))
			}
		}
	}
}

// startIndexSender (re)starts the goroutine that streams our index of f to p.
// The sender gets the access p has proved now; it stops if that changes.
func (m *Model) startIndexSender(p *peer, f *folder, from int64, reset bool) {
	p.mu.Lock()
	old := p.senders[f.id]
	ctx, cancel := context.WithCancel(p.ctx)
	s := &sender{cancel: cancel, done: make(chan struct{})}
	p.senders[f.id] = s
	access := p.access[f.id]
	p.mu.Unlock()
	p.wg.Go(func() {
		defer close(s.done)
		if old != nil {
			// Stop the old sender and wait, so none of its messages can
			// follow the new sender's first one. (Not under p.mu: the old
			// sender takes it.)
			old.cancel()
			<-old.done
		}
		if err := m.sendIndex(ctx, p, f, from, reset, access); err != nil && ctx.Err() == nil {
			m.log.Debug("Index sender stopped", p.conn.ID().LogAttr(), slog.String("folder", f.id), slog.Any("error", err))
		}
	})
}

var (
	errBatchFull     = errors.New("batch full")
	errAccessChanged = errors.New("the device's proven access changed")
)

// sendIndex sends our records with sequence > from, then every later change,
// until ctx ends.
func (m *Model) sendIndex(ctx context.Context, p *peer, f *folder, from int64, reset bool, access folderkey.Access) error {
	seq := from
	ok, sealed := f.modeFor(access)
	if !ok {
		return errAccessChanged
	}
	first := true
	for {
		changed := f.localChanged() // take the channel before reading, so no change is missed
		for {
			if f.key() != nil && p.accessOf(f.id) != access {
				return errAccessChanged // a new sender starts when it is proved again
			}
			var batch []*wire.FileInfo
			size := 0
			last := seq
			err := f.idx.LocalSince(seq, func(fi *wire.FileInfo) error {
				last = fi.Sequence
				if forge := m.opts.ForgeRecord; forge != nil && f.key() != nil {
					fi.LocalFlags = 0
					forge(f.id, fi)
				} else {
					if fi.LocalFlags&flagLocalOnly != 0 {
						return nil // a receive-only folder's local change: never sent
					}
					fi.LocalFlags = 0 // bookkeeping stays here
					if sealed {
						if fi = f.twinToSend(fi); fi == nil {
							return nil // not sealed yet: sent once a writer has
						}
					} else {
						if !f.signRecord(fi) {
							return nil // unsigned on a read-only device: its own change
						}
						if fi.Sealed != nil {
							fi.Sealed = f.currentTwin(fi) // nil if from an earlier epoch
						}
					}
				}
				batch = append(batch, fi)
				size += proto.Size(fi)
				if len(batch) >= indexBatchFiles || size >= indexBatchBytes {
					return errBatchFull
				}
				return nil
			})
			full := errors.Is(err, errBatchFull)
			if err != nil && !full {
				return fmt.Errorf("reading index: %w", err)
			}
			if len(batch) == 0 && !(first && reset) {
				seq = last
				break
			}
			msg := &wire.Index{Folder: f.id, IndexId: f.idx.IndexID(), ReplaceAll: first && reset, Files: batch, LastSequence: last}
			if err := p.conn.Send(ctx, &wire.Message{Payload: &wire.Message_Index{Index: msg}}); err != nil {
				return fmt.Errorf("sending index: %w", err)
			}
			f.recordsSent.Add(int64(len(batch)))
			first = false
			seq = last
			if !full {
				break
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-changed:
		}
	}
}

func (m *Model) handleIndex(p *peer, ix *wire.Index) error {
	dev := p.conn.ID()
	f := m.folderByID(ix.Folder)
	if f == nil || !f.sharedWith(dev) || f.idx == nil {
		return fmt.Errorf("index for folder %q that is not shared with this device", ix.Folder)
	}
	ok, sealed := f.exchangeMode(p)
	if !ok {
		return fmt.Errorf("index for folder %s before proving its key", ix.Folder)
	}
	if err := f.checkSignatures(ix.Files); err != nil {
		f.rejected.Add(1)
		return err
	}
	switch {
	case f.encryptedOnly():
		if err := f.checkEncryptedIndex(ix.Files); err != nil {
			f.rejected.Add(1)
			return err
		}
	case sealed:
		files, err := f.openTwins(ix.Files)
		if err != nil {
			f.rejected.Add(1)
			return err
		}
		ix.Files = files
	case f.key() != nil:
		if err := f.checkTwins(ix.Files); err != nil {
			f.rejected.Add(1)
			return err
		}
		f.noteTwins(dev, ix.Files)
	}
	if !ix.ReplaceAll {
		cur, _, err := f.idx.RemoteState(dev)
		if err != nil {
			return fmt.Errorf("reading remote state: %w", err)
		}
		if cur != ix.IndexId {
			return fmt.Errorf("index update for folder %s with index ID %x, expected %x", ix.Folder, ix.IndexId, cur)
		}
	}
	for _, fi := range ix.Files {
		if fsutil.Internal(fi.Name) {
			f.rejected.Add(1)
			return fmt.Errorf("index names Shoal's own file %q", fi.Name)
		}
	}
	if err := f.idx.UpdateRemote(dev, ix.IndexId, ix.ReplaceAll, ix.Files, ix.LastSequence); err != nil {
		f.rejected.Add(1)
		return fmt.Errorf("recording index: %w", err)
	}
	f.recordsRecv.Add(int64(len(ix.Files)))
	if ix.ReplaceAll {
		f.fullResends.Add(1)
	}
	f.pullSoon()
	return nil
}

// Request serves a block request from a device.
func (m *Model) Request(ctx context.Context, c Conn, r *wire.Request) *wire.Response {
	resp := &wire.Response{Id: r.Id}
	if err := wire.ValidateRequest(r); err != nil {
		resp.Code = wire.ErrorCode_ERROR_CODE_GENERIC
		return resp
	}
	f := m.folderByID(r.Folder)
	p := m.peerFor(c.ID())
	if f == nil || !f.sharedWith(c.ID()) || f.idx == nil || p == nil || p.conn != c {
		resp.Code = wire.ErrorCode_ERROR_CODE_NO_SUCH_FOLDER
		return resp
	}
	ok, sealed := f.exchangeMode(p)
	if !ok {
		resp.Code = wire.ErrorCode_ERROR_CODE_NO_SUCH_FOLDER
		return resp
	}
	var data []byte
	var err error
	if sealed {
		data, err = f.readSealed(ctx, r)
	} else {
		data, err = f.readBlock(ctx, r.Hash, r.Size, false)
	}
	if err != nil {
		resp.Code = wire.ErrorCode_ERROR_CODE_NO_SUCH_BLOCK
		return resp
	}
	resp.Data = data
	return resp
}

// readBlock finds a local copy of a block by hash, trying every location
// the index knows. With verify, the data is checked against the hash;
// without it, a location is used only if its file still has the size and
// mtime of our record (what the scanner hashed), and anything else is
// hashed. Serving peers uses verify=false: the requester checks every
// block itself, so hashing twice would only cost CPU.
func (f *folder) readBlock(ctx context.Context, hash []byte, size int32, verify bool) ([]byte, error) {
	var data []byte
	var lastErr error = errNoSuchBlock
	root := f.path()
	err := f.idx.BlockLocations(hash, func(name string, offset int64, bsize int32) bool {
		if ctx.Err() != nil {
			return false
		}
		if size > 0 && bsize != size {
			return true
		}
		b, current, err := f.readAt(root, name, offset, bsize)
		if err != nil {
			lastErr = err
			return true
		}
		if verify || !current {
			if h := sha256.Sum256(b); !bytes.Equal(h[:], hash) {
				lastErr = fmt.Errorf("block of %s at %d changed on disk", name, offset)
				return true
			}
		}
		data = b
		return false
	})
	if err != nil {
		return nil, err
	}
	if data == nil {
		return nil, lastErr
	}
	return data, nil
}

var errNoSuchBlock = errors.New("no local copy of block")

// readAt reads a block of a local file. current reports whether the file
// still has the size and mtime of its index record.
func (f *folder) readAt(root, name string, offset int64, size int32) (b []byte, current bool, err error) {
	if err := fsutil.CheckParents(root, name); err != nil {
		return nil, false, err
	}
	fd, err := fsutil.OpenNoFollow(fsutil.Native(root, name))
	if err != nil {
		return nil, false, err
	}
	defer fd.Close()
	lf, ok, err := f.idx.Local(name)
	matches := func() bool {
		fi, err := fd.Stat()
		return err == nil && ok && !lf.Info.Deleted && fi.Size() == lf.Info.Size &&
			fi.ModTime().Unix() == lf.Info.ModifiedS && int32(fi.ModTime().Nanosecond()) == lf.Info.ModifiedNs
	}
	current = err == nil && matches()
	b = make([]byte, size)
	if _, err := fd.ReadAt(b, offset); err != nil && !errors.Is(err, io.EOF) {
		return nil, false, err
	}
	// A write during the read changes the mtime: the data may then be
	// torn, and readBlock verifies it before serving.
	current = current && matches()
	return b, current, nil
}

// remoteOnly returns an availability list without this device.
func (m *Model) remoteOnly(devs []identity.DeviceID) []identity.DeviceID {
	return slices.DeleteFunc(slices.Clone(devs), func(d identity.DeviceID) bool { return d == m.local })
}
