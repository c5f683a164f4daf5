//go:build unix

package chunk

import (
	"os"
	"syscall"
)

// diskUsage returns the bytes f occupies on disk.
func diskUsage(f *os.File) (int64, bool) {
	fi, err := f.Stat()
	if err != nil {
		return 0, false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return int64(st.Blocks) * 512, true
}
