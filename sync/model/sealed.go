package model

// Encrypted peers (docs/protocol.md, "Encrypted peers").
//
// A device that holds only a folder's encrypted-peer key stores, serves and
// relays the folder without being able to read it. What it handles are
// twins: for every plaintext record P a writer makes a twin T with
//
//	name    EncryptName(P.name) (deterministic; the same for every writer)
//	type    always a file; directories and symlinks are twins without blocks
//	blocks  one per block of P: SealBlock of its data, with the SHA-256 and
//	        size of the sealed bytes, laid end to end
//	version, deleted, modified_by   as in P
//	meta    P itself (with P's signature), sealed with SealBytes
//
// and signs T with the writer key, whose public half every level holds, so
// an encrypted peer checks every twin and every sealed block it receives
// just as a trusted device checks plaintext. Twins travel with their
// records between trusted devices (FileInfo.sealed), so read-only members
// relay them too; to an encrypted peer a trusted device sends the twin
// instead of the record and serves sealed blocks; from one it opens twins
// back into records and fetches sealed blocks, which it decrypts and checks
// against the plaintext hash.
//
// Writers make twins after the fact (sealPass): the record is committed by
// the scanner or the puller first, then the folder loop reads the blocks
// back, seals them and records the twin with the record (a new sequence, so
// peers learn of it). A new key epoch makes every twin stale (names and
// blocks are keyed by the read-only secret), and writers seal everything
// again under the new keys.

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"slices"

	"google.golang.org/protobuf/proto"

	"github.com/shoalsync/shoal/crypto/folderkey"
	"github.com/shoalsync/shoal/crypto/identity"
	"github.com/shoalsync/shoal/index"
	"github.com/shoalsync/shoal/transport/wire"
)

const (
	// maxSealedRecord is the largest record given a twin: with the twin
	// (about twice its size again) it must fit in one message.
	maxSealedRecord  = wire.MaxMessageSize / 4
	sealBatchRecords = 256      // records sealed per pass before the loop runs again
	sealBatchBytes   = 64 << 20 // bytes of file data sealed per pass
	twinPermissions  = 0o644
)

// twinAD is the associated data of a twin's meta: the folder and the
// encrypted name, so meta cannot be moved to another twin.
func twinAD(folder, encName string) []byte {
	return []byte("shoal twin v1\x00" + folder + "\x00" + encName)
}

// exchangeMode reads once what the device on p proved for f in this
// session and says whether records and blocks may flow with it at all, and
// if so whether only twins and sealed blocks (we can read f; it proved only
// the encrypted-peer key). Callers decide on one reading, so a proof that
// changes midway cannot turn a sealed exchange into a plaintext one.
func (f *folder) exchangeMode(p *peer) (ok, sealed bool) {
	return f.modeFor(p.accessOf(f.id))
}

// modeFor is exchangeMode for an access level read earlier.
func (f *folder) modeFor(a folderkey.Access) (ok, sealed bool) {
	if f.removed.Load() {
		return false, false
	}
	sec := f.key()
	switch {
	case sec == nil:
		return true, false // shared by pairing
	case a == 0:
		return false, false
	case a == folderkey.Encrypted && sec.Access() >= folderkey.ReadOnly:
		return true, true
	}
	return true, false
}

// encryptedOnly reports whether this device holds only f's encrypted-peer
// key: its records are twins and it never scans.
func (f *folder) encryptedOnly() bool {
	sec := f.key()
	return sec != nil && sec.Access() == folderkey.Encrypted
}

// twinMatches reports whether t is the twin of rec under sec's keys: same
// encrypted name (which changes with the key epoch), version and deletion.
// It does not check the signature.
func twinMatches(sec *folderkey.Secret, rec, t *wire.FileInfo) bool {
	if t == nil || t.Deleted != rec.Deleted || index.Compare(t.Version, rec.Version) != index.Equal {
		return false
	}
	name, err := sec.EncryptName(rec.Name)
	return err == nil && name == t.Name
}

// currentTwin returns the twin of one of our records that is valid in the
// current epoch, or nil: the record's own, or else that of an equal winner
// a writer has sealed again since.
func (f *folder) currentTwin(rec *wire.FileInfo) *wire.FileInfo {
	sec := f.key()
	if sec == nil || sec.Access() < folderkey.ReadOnly {
		return nil
	}
	if twinMatches(sec, rec, rec.Sealed) {
		return rec.Sealed
	}
	if g, ok, err := f.idx.Global(rec.Name); err == nil && ok && g.Winner != nil && twinMatches(sec, rec, g.Winner.Sealed) &&
		sec.Verify(wire.SigningBytes(f.id, g.Winner.Sealed), g.Winner.Sealed.Signature) {
		return g.Winner.Sealed
	}
	return nil
}

// twinToSend returns the twin to send to an encrypted peer for our record
// rec (nil: none yet), carrying rec's sequence.
func (f *folder) twinToSend(rec *wire.FileInfo) *wire.FileInfo {
	t := f.currentTwin(rec)
	if t == nil {
		return nil
	}
	out := proto.Clone(t).(*wire.FileInfo)
	out.Sequence = rec.Sequence
	out.LocalFlags = 0
	return out
}

// makeTwin seals rec, one of our records, with a read-write key: it
// returns rec's signature and its signed twin. read returns the plaintext
// of one of rec's blocks, checked against its hash.
func makeTwin(sec *folderkey.Secret, folder string, rec *wire.FileInfo, read func(b *wire.BlockInfo) ([]byte, error)) (sig []byte, twin *wire.FileInfo, err error) {
	p := cloneInfo(rec)
	p.Sequence, p.LocalFlags, p.Sealed, p.Meta, p.Signature = 0, 0, nil, nil, nil
	if p.Signature, err = sec.Sign(wire.SigningBytes(folder, p)); err != nil {
		return nil, nil, err
	}
	name, err := sec.EncryptName(p.Name)
	if err != nil {
		return nil, nil, err
	}
	t := &wire.FileInfo{
		Name: name, Type: wire.FileType_FILE_TYPE_FILE, Permissions: twinPermissions,
		ModifiedBy: p.ModifiedBy, Version: index.Clone(p.Version), Deleted: p.Deleted,
	}
	if !p.Deleted {
		if p.Type == wire.FileType_FILE_TYPE_FILE && len(p.Blocks) > 0 {
			t.BlockSize = p.BlockSize
			for _, b := range p.Blocks {
				data, err := read(b)
				if err != nil {
					return nil, nil, err
				}
				sealed := sec.SealBlock(data)
				if sealed == nil {
					return nil, nil, fmt.Errorf("sealing a block of %d bytes", len(data))
				}
				h := sha256.Sum256(sealed)
				t.Blocks = append(t.Blocks, &wire.BlockInfo{Offset: t.Size, Size: int32(len(sealed)), Hash: h[:]})
				t.Size += int64(len(sealed))
			}
		}
		t.BlocksHash = wire.BlocksHash(t.Blocks)
	}
	plain, err := proto.MarshalOptions{Deterministic: true}.Marshal(p)
	if err != nil {
		return nil, nil, fmt.Errorf("encoding record: %w", err)
	}
	if t.Meta, err = sec.SealBytes(plain, twinAD(folder, name)); err != nil {
		return nil, nil, err
	}
	if t.Signature, err = sec.Sign(wire.SigningBytes(folder, t)); err != nil {
		return nil, nil, err
	}
	return p.Signature, t, nil
}

// openTwin turns a twin from an encrypted peer back into the plaintext
// record, with the twin attached. Every field the two share must agree, and
// both signatures must verify; the caller has checked the twin's.
func openTwin(sec *folderkey.Secret, folder string, t *wire.FileInfo) (*wire.FileInfo, error) {
	name, err := sec.DecryptName(t.Name)
	if err != nil {
		return nil, fmt.Errorf("twin %s: %w", quoteName(t.Name), err)
	}
	plain, err := sec.DecryptBytes(t.Meta, twinAD(folder, t.Name))
	if err != nil {
		return nil, fmt.Errorf("twin of %s: %w", quoteName(name), err)
	}
	p := &wire.FileInfo{}
	if err := (proto.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(plain, p); err != nil {
		return nil, fmt.Errorf("twin of %s: decoding its record: %w", quoteName(name), err)
	}
	if err := wire.ValidateFileInfo(p); err != nil {
		return nil, fmt.Errorf("twin of %s: %w", quoteName(name), err)
	}
	bad := func(what string) error { return fmt.Errorf("twin of %s: %s", quoteName(name), what) }
	switch {
	case p.Name != name:
		return nil, bad("its record has another name")
	case p.Sealed != nil || len(p.Meta) != 0 || p.Sequence != 0 || p.LocalFlags != 0:
		return nil, bad("its record has twin fields")
	case p.Deleted != t.Deleted || p.ModifiedBy != t.ModifiedBy || index.Compare(p.Version, t.Version) != index.Equal:
		return nil, bad("its record has another version")
	case !sec.Verify(wire.SigningBytes(folder, p), p.Signature):
		return nil, bad("its record's signature does not verify")
	}
	if !p.Deleted && p.Type == wire.FileType_FILE_TYPE_FILE {
		if len(p.Blocks) != len(t.Blocks) {
			return nil, bad("block count differs from its record")
		}
		for i, b := range p.Blocks {
			if int(t.Blocks[i].Size) != folderkey.SealedSize(int(b.Size)) {
				return nil, bad(fmt.Sprintf("block %d has the wrong sealed size", i))
			}
		}
	} else if len(t.Blocks) != 0 {
		return nil, bad("blocks for an entry without content")
	}
	p.Sequence = t.Sequence
	t = proto.Clone(t).(*wire.FileInfo)
	t.Sequence = 0
	p.Sealed = t
	return p, nil
}

// checkTwins checks the twins that come with records from a trusted peer.
// A twin that does not belong to its record in this epoch is dropped, not
// refused: it may be from an earlier epoch. One that claims to belong but
// whose signature fails is a forgery, and the message is refused.
func (f *folder) checkTwins(files []*wire.FileInfo) error {
	sec := f.key()
	for _, fi := range files {
		if len(fi.Meta) != 0 {
			return fmt.Errorf("record %s is a twin where a plaintext record belongs", quoteName(fi.Name))
		}
		if fi.Sealed == nil {
			continue
		}
		if sec == nil || !twinMatches(sec, fi, fi.Sealed) {
			fi.Sealed = nil
			continue
		}
		if !sec.Verify(wire.SigningBytes(f.id, fi.Sealed), fi.Sealed.Signature) {
			return fmt.Errorf("the twin of record %s carries a signature that does not verify (forged or altered)", quoteName(fi.Name))
		}
	}
	return nil
}

// openTwins turns an index from an encrypted peer into plaintext records.
// Signatures are checked first (checkSignatures).
func (f *folder) openTwins(files []*wire.FileInfo) ([]*wire.FileInfo, error) {
	sec := f.key()
	out := make([]*wire.FileInfo, 0, len(files))
	for _, t := range files {
		if t.Sealed != nil || len(t.Meta) == 0 {
			return nil, fmt.Errorf("an encrypted peer sent record %s that is not a twin", quoteName(t.Name))
		}
		p, err := openTwin(sec, f.id, t)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// checkEncryptedIndex is checkSignatures' companion on an encrypted peer:
// every record must be a twin.
func (f *folder) checkEncryptedIndex(files []*wire.FileInfo) error {
	for _, t := range files {
		if t.Sealed != nil || len(t.Meta) == 0 {
			return fmt.Errorf("record %s is not a twin: an encrypted peer takes only twins", quoteName(t.Name))
		}
	}
	return nil
}

// readSealed serves a sealed block to an encrypted peer: it finds our
// record by decrypting the requested name, reads the plaintext block,
// seals it and checks the result against the twin's hash.
func (f *folder) readSealed(ctx context.Context, r *wire.Request) ([]byte, error) {
	sec := f.key()
	name, err := sec.DecryptName(r.Name)
	if err != nil {
		return nil, errNoSuchBlock
	}
	lf, ok, err := f.idx.Local(name)
	if err != nil || !ok {
		return nil, errNoSuchBlock
	}
	t := f.currentTwin(lf.Info)
	if t == nil {
		return nil, errNoSuchBlock
	}
	i, found := blockAt(t.Blocks, r.Offset)
	if !found || i >= len(lf.Info.Blocks) || t.Blocks[i].Size != r.Size || !bytes.Equal(t.Blocks[i].Hash, r.Hash) {
		return nil, errNoSuchBlock
	}
	pb := lf.Info.Blocks[i]
	data, err := f.readBlock(ctx, pb.Hash, pb.Size, false)
	if err != nil {
		return nil, err
	}
	sealed := sec.SealBlock(data)
	if h := sha256.Sum256(sealed); !bytes.Equal(h[:], r.Hash) {
		return nil, errNoSuchBlock // changed on disk since it was recorded
	}
	return sealed, nil
}

// blockAt finds the block starting at off in blocks (sorted by offset).
func blockAt(blocks []*wire.BlockInfo, off int64) (int, bool) {
	return slices.BinarySearchFunc(blocks, off, func(b *wire.BlockInfo, off int64) int { return cmp.Compare(b.Offset, off) })
}

// sealedRequest maps block b of winner w to the request for its sealed
// form on the encrypted peer dev, from that peer's own record.
func (f *folder) sealedRequest(dev *peer, w *wire.FileInfo, b *wire.BlockInfo) (*wire.Request, *wire.BlockInfo, error) {
	rec, ok, err := f.idx.Remote(dev.conn.ID(), w.Name)
	if err != nil || !ok || rec.Sealed == nil || index.Compare(rec.Version, w.Version) != index.Equal {
		return nil, nil, fmt.Errorf("encrypted peer %s has no twin of this version", dev.conn.ID().Short())
	}
	i, found := blockAt(rec.Blocks, b.Offset)
	if !found || i >= len(rec.Sealed.Blocks) || !bytes.Equal(rec.Blocks[i].Hash, b.Hash) {
		return nil, nil, fmt.Errorf("encrypted peer %s has no twin of this block", dev.conn.ID().Short())
	}
	tb := rec.Sealed.Blocks[i]
	return &wire.Request{Folder: f.id, Hash: tb.Hash, Size: tb.Size, Name: rec.Sealed.Name, Offset: tb.Offset}, tb, nil
}

// openSealed checks a sealed block from an encrypted peer against its
// twin block and returns the plaintext checked against b.
func (f *folder) openSealed(data []byte, tb, b *wire.BlockInfo) ([]byte, error) {
	if h := sha256.Sum256(data); len(data) != int(tb.Size) || !bytes.Equal(h[:], tb.Hash) {
		return nil, errors.New("sealed block does not match its twin")
	}
	plain, err := f.key().OpenBlock(data)
	if err != nil {
		return nil, err
	}
	if h := sha256.Sum256(plain); len(plain) != int(b.Size) || !bytes.Equal(h[:], b.Hash) {
		return nil, errors.New("decrypted block does not match its record")
	}
	return plain, nil
}

// maxLateTwins bounds the twins a reader remembers to adopt.
const maxLateTwins = 100000

// noteTwins remembers, on a reader, the records dev sent with a twin, for
// adoptTwins: a reader cannot seal, so it relays the twins writers made,
// and a twin may arrive after the record it belongs to.
func (f *folder) noteTwins(dev identity.DeviceID, files []*wire.FileInfo) {
	if sec := f.key(); sec == nil || sec.Access() != folderkey.ReadOnly {
		return
	}
	n := 0
	f.mu.Lock()
	for _, fi := range files {
		if fi.Sealed == nil {
			continue
		}
		if f.mu.lateTwins == nil {
			f.mu.lateTwins = map[string]identity.DeviceID{}
		}
		if len(f.mu.lateTwins) < maxLateTwins {
			f.mu.lateTwins[fi.Name] = dev
			n++
		}
	}
	f.mu.Unlock()
	if n > 0 {
		f.sealSoon()
	}
}

// adoptTwins gives a reader's records the twins writers sent for the same
// versions, as new local records, so they are sent on.
func (f *folder) adoptTwins() {
	sec := f.key()
	f.mu.Lock()
	late := f.mu.lateTwins
	f.mu.lateTwins = nil
	f.mu.Unlock()
	var batch []index.LocalFile
	for name, dev := range late {
		lf, ok, err := f.idx.Local(name)
		if err != nil || !ok || twinMatches(sec, lf.Info, lf.Info.Sealed) {
			continue
		}
		rec, ok, err := f.idx.Remote(dev, name)
		if err != nil || !ok || index.Compare(rec.Version, lf.Info.Version) != index.Equal || !twinMatches(sec, lf.Info, rec.Sealed) ||
			!sec.Verify(wire.SigningBytes(f.id, rec.Sealed), rec.Sealed.Signature) {
			continue
		}
		info := cloneInfo(lf.Info)
		info.Sealed = rec.Sealed
		if !sec.Verify(wire.SigningBytes(f.id, info), info.Signature) {
			info.Signature = rec.Signature
		}
		batch = append(batch, index.LocalFile{Info: info, Inode: lf.Inode})
	}
	if len(batch) == 0 {
		return
	}
	if err := f.idx.UpdateLocal(batch); err != nil {
		f.log.Warn("Recording twins failed", slog.Any("error", err))
		return
	}
	f.notifyLocalChanged()
}

// sealSoon asks the folder loop to seal records that lack a twin.
func (f *folder) sealSoon() {
	select {
	case f.sealCh <- struct{}{}:
	default:
	}
}

// sealPass gives a twin to records that lack one in the current epoch, a
// bounded batch at a time; it runs in the folder loop, so no scan or pull
// changes a record meanwhile. Only writers seal.
func (f *folder) sealPass(ctx context.Context) {
	sec := f.key()
	if sec == nil || f.removed.Load() {
		return
	}
	if sec.Access() == folderkey.ReadOnly {
		f.adoptTwins()
		return
	}
	if sec.Access() != folderkey.ReadWrite {
		return
	}
	from := f.sealedUpTo.Load()
	var todo []*wire.FileInfo
	last, bytesTodo := from, int64(0)
	err := f.idx.LocalSince(from, func(fi *wire.FileInfo) error {
		if fi.LocalFlags&flagLocalOnly != 0 || twinMatches(sec, fi, fi.Sealed) {
			last = fi.Sequence
			return nil
		}
		if proto.Size(fi) > maxSealedRecord {
			// With its twin the record would not fit in a message.
			f.log.Warn("File has too many blocks to be sealed for encrypted peers; they will not hold it", slog.String("path", fi.Name), slog.Int("blocks", len(fi.Blocks)))
			last = fi.Sequence
			return nil
		}
		if len(todo) > 0 && (len(todo) >= sealBatchRecords || bytesTodo+fi.Size > sealBatchBytes) {
			return errBatchFull
		}
		last = fi.Sequence
		todo = append(todo, fi)
		if !fi.Deleted {
			bytesTodo += fi.Size
		}
		return nil
	})
	full := errors.Is(err, errBatchFull)
	if err != nil && !full {
		f.log.Warn("Reading the index to seal records failed", slog.Any("error", err))
		return
	}
	var batch []index.LocalFile
	for _, fi := range todo {
		lf, ok, err := f.idx.Local(fi.Name)
		if err != nil || !ok || lf.Info.Sequence != fi.Sequence {
			continue // changed since: a later pass sees the new record
		}
		sig, twin, err := makeTwin(sec, f.id, lf.Info, func(b *wire.BlockInfo) ([]byte, error) {
			return f.readBlock(ctx, b.Hash, b.Size, true)
		})
		if err != nil {
			// The file changed on disk after it was recorded; the scanner
			// will record the change, and that record gets its twin.
			f.log.Debug("Sealing a record failed", slog.String("path", fi.Name), slog.Any("error", err))
			continue
		}
		rec := cloneInfo(lf.Info)
		rec.Signature, rec.Sealed = sig, twin
		batch = append(batch, index.LocalFile{Info: rec, Inode: lf.Inode})
	}
	if len(batch) > 0 {
		if err := f.idx.UpdateLocal(batch); err != nil {
			f.log.Warn("Recording sealed records failed", slog.Any("error", err))
			return
		}
		f.notifyLocalChanged()
	}
	if f.key() == sec { // not if a new epoch began meanwhile: it reset the mark
		f.sealedUpTo.CompareAndSwap(from, last)
	}
	if full {
		f.sealSoon()
	}
}
