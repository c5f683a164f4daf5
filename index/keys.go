package index

import (
	"encoding/binary"
)

// Key spaces. Every key starts with one of these bytes; integers inside keys
// are fixed-width big-endian so byte order is numeric order. See doc.go for
// the values.
const (
	pMeta       = 'M' // store meta: 'M' 'v' schema, 'M' 'f' next folder, 'M' 'd' next device
	pFolderName = 'N' // 'N' folderID → folder:u32
	pDevice     = 'D' // 'D' device:u32 → raw device ID
	pFolderMeta = 'I' // 'I' folder → index ID, sequence, counters
	pLocal      = 'F' // 'F' folder name → local record
	pSeq        = 'S' // 'S' folder seq:u64 → name
	pRemote     = 'R' // 'R' folder device:u32 name → remote record
	pPeer       = 'P' // 'P' folder device:u32 → remote index ID, max sequence
	pGlobal     = 'G' // 'G' folder name → global entry
	pNeed       = 'Q' // 'Q' folder name → (empty) this device needs name
	pBlock      = 'B' // 'B' folder hashLen:u8 hash name → offset, size
)

// folderPrefixes lists every key space that belongs to one folder.
var folderPrefixes = []byte{pFolderMeta, pLocal, pSeq, pRemote, pPeer, pGlobal, pNeed, pBlock}

// localDev is the device number of this device inside 'G' entries. Remote
// devices are numbered from 1 in the device registry.
const localDev uint32 = 0

var (
	keySchema     = []byte{pMeta, 'v'}
	keyNextFolder = []byte{pMeta, 'f'}
	keyNextDevice = []byte{pMeta, 'd'}
)

func keyFolderName(id string) []byte {
	return append([]byte{pFolderName}, id...)
}

func keyDevice(dev uint32) []byte {
	return binary.BigEndian.AppendUint32([]byte{pDevice}, dev)
}

// folderKey starts a key of a per-folder key space.
func folderKey(p byte, folder uint32, extra int) []byte {
	k := make([]byte, 0, 5+extra)
	k = append(k, p)
	return binary.BigEndian.AppendUint32(k, folder)
}

func keyFolderMeta(folder uint32) []byte { return folderKey(pFolderMeta, folder, 0) }

func keyLocal(folder uint32, name string) []byte {
	return append(folderKey(pLocal, folder, len(name)), name...)
}

func keySeq(folder uint32, seq int64) []byte {
	return binary.BigEndian.AppendUint64(folderKey(pSeq, folder, 8), uint64(seq))
}

func keyRemotePrefix(folder, dev uint32) []byte {
	return binary.BigEndian.AppendUint32(folderKey(pRemote, folder, 4), dev)
}

func keyRemote(folder, dev uint32, name string) []byte {
	return append(keyRemotePrefix(folder, dev), name...)
}

func keyPeer(folder, dev uint32) []byte {
	return binary.BigEndian.AppendUint32(folderKey(pPeer, folder, 4), dev)
}

func keyGlobal(folder uint32, name string) []byte {
	return append(folderKey(pGlobal, folder, len(name)), name...)
}

func keyNeed(folder uint32, name string) []byte {
	return append(folderKey(pNeed, folder, len(name)), name...)
}

func keyBlockPrefix(folder uint32, hash []byte) []byte {
	k := folderKey(pBlock, folder, 1+len(hash))
	k = append(k, byte(len(hash)))
	return append(k, hash...)
}

func keyBlock(folder uint32, hash []byte, name string) []byte {
	return append(keyBlockPrefix(folder, hash), name...)
}

// prefixEnd returns the smallest key greater than every key starting with
// p, or nil if there is none (p is all 0xff).
func prefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] != 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}
