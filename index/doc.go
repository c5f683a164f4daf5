// Package index is the per-device file index on Pebble: this device's file
// records, what each peer announced, the global winner of every path, a
// change log by sequence and a chunk-hash → location map.
//
// # Key layout
//
// One Pebble database holds every folder. Each key starts with a one-byte
// key space; integers are fixed-width big-endian so byte order is numeric
// order. Folders and remote devices are mapped to small integers (folder:u32,
// device:u32) by registries, so keys stay short. Device 0 is this device.
//
//	'M' 'v'                       → schema version u32
//	'M' 'f' / 'M' 'd'             → next folder / device number u32
//	'N' folderID                  → folder:u32                     folder registry
//	'D' device:u32                → raw device ID                  device registry
//	'I' folder                    → index ID, sequence, Counts     folder meta
//	'F' folder name               → inode, FileInfo                local records
//	'S' folder seq:u64            → name                           change log, one entry per name
//	'R' folder device name        → FileInfo                       remote records
//	'P' folder device             → index ID, max sequence         remote state
//	'G' folder name               → winner summary, devices        global entry (derived)
//	'Q' folder name               → (empty)                        names this device needs (derived)
//	'B' folder hashLen:u8 hash name → offset, size                 local block map (derived)
//
// A 'G' entry lists every device holding a record of the name, the winner
// first (then by device number), each flagged when its version equals the
// winner's (availability), plus the winner's deleted flag, type and size and
// whether this device needs it. Values start with a format byte.
//
// # Consistency
//
// Every change is one Pebble batch that writes the records together with
// every derived key ('S', 'G', 'Q', 'B') and the folder's counters, under a
// single writer lock, so the derived keys cannot drift. Local updates commit
// with Sync so a sequence number is never handed out twice; remote updates
// commit without Sync because losing the tail of them after a crash also
// loses the matching resume point in 'P', so the peer simply resends.
// Folder.Check verifies the derived keys against the records.
package index
