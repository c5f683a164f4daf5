package wire

import (
	"encoding/binary"
)

// SignatureSize is the size of FileInfo.signature when present (Ed25519).
const SignatureSize = 64

// ProofSize is the size of Proof.mac (HMAC-SHA256).
const ProofSize = 32

// NonceSize is the size of Hello.nonce.
const NonceSize = 32

// signingTag starts every SigningBytes output, so a record signature can
// never be mistaken for a signature over anything else.
const signingTag = "shoal file record v1\x00"

// SigningBytes returns the canonical bytes a folder's writer key signs for a
// file record of folder: every field an author sets, in a fixed order with
// fixed-width integers and length-prefixed strings. The per-device fields
// (sequence, local_flags), the signature itself and the sealed twin (which
// carries its own signature) are left out, so a
// record keeps its signature as it is relayed from device to device.
// docs/protocol.md ("Signed records") gives the layout.
func SigningBytes(folder string, f *FileInfo) []byte {
	n := len(signingTag) + 8 + len(folder) + 8 + len(f.Name) + 64 +
		16*len(f.GetVersion().GetCounters()) + len(f.SymlinkTarget) + 48*len(f.Blocks) + 64
	b := make([]byte, 0, n)
	b = append(b, signingTag...)
	b = appendString(b, folder)
	b = appendString(b, f.Name)
	b = binary.BigEndian.AppendUint32(b, uint32(f.Type))
	b = binary.BigEndian.AppendUint64(b, uint64(f.Size))
	b = binary.BigEndian.AppendUint32(b, f.Permissions)
	b = binary.BigEndian.AppendUint64(b, uint64(f.ModifiedS))
	b = binary.BigEndian.AppendUint32(b, uint32(f.ModifiedNs))
	b = binary.BigEndian.AppendUint64(b, f.ModifiedBy)
	cs := f.GetVersion().GetCounters()
	b = binary.BigEndian.AppendUint32(b, uint32(len(cs)))
	for _, c := range cs {
		b = binary.BigEndian.AppendUint64(b, c.GetId())
		b = binary.BigEndian.AppendUint64(b, c.GetValue())
	}
	if f.Deleted {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	b = appendString(b, f.SymlinkTarget)
	b = binary.BigEndian.AppendUint32(b, f.BlockSize)
	b = appendString(b, string(f.BlocksHash))
	b = binary.BigEndian.AppendUint32(b, uint32(len(f.Blocks)))
	for _, bl := range f.Blocks {
		b = binary.BigEndian.AppendUint64(b, uint64(bl.GetOffset()))
		b = binary.BigEndian.AppendUint32(b, uint32(bl.GetSize()))
		b = appendString(b, string(bl.GetHash()))
	}
	if len(f.Meta) > 0 {
		// Twins only, so the bytes of every plaintext record stay as they
		// were before twins existed.
		b = appendString(b, string(f.Meta))
	}
	return b
}

func appendString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

// removalTag starts RemovalBytes.
const removalTag = "shoal removal v1\x00"

// RemovalBytes returns the bytes the previous epoch's writer key signs for
// a Removal of folder: the folder ID, the epoch, the removed devices in
// order, the new writer key and the time.
func RemovalBytes(folder string, r *Removal) []byte {
	b := make([]byte, 0, len(removalTag)+len(folder)+64+len(r.Devices)*44)
	b = append(b, removalTag...)
	b = appendString(b, folder)
	b = binary.BigEndian.AppendUint32(b, r.Epoch)
	b = binary.BigEndian.AppendUint32(b, uint32(len(r.Devices)))
	for _, d := range r.Devices {
		b = appendString(b, string(d))
	}
	b = appendString(b, string(r.Writer))
	b = binary.BigEndian.AppendUint64(b, uint64(r.Time))
	return b
}
