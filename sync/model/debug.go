package model

import (
	"fmt"
	"os"

	"github.com/shoalsync/shoal/sync/fsutil"
)

// CheckScanned reports whether the local index record of rel matches the
// file on disk (size and mtime): nil when the last change was scanned.
func (m *Model) CheckScanned(folderID, rel string) error {
	f := m.folderByID(folderID)
	if f == nil || f.idx == nil {
		return fmt.Errorf("%w: folder %s", ErrNotFound, folderID)
	}
	lf, ok, err := f.idx.Local(rel)
	if err != nil {
		return err
	}
	if !ok || lf.Info.Deleted {
		return fmt.Errorf("%s not in the index", rel)
	}
	fi, err := os.Lstat(fsutil.Native(f.path(), rel))
	if err != nil {
		return err
	}
	if fi.Size() != lf.Info.Size || fi.ModTime().UnixNano() != lf.Info.ModifiedS*1e9+int64(lf.Info.ModifiedNs) {
		return fmt.Errorf("%s not scanned yet", rel)
	}
	return nil
}
