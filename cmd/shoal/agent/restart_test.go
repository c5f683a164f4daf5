package agent

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/shoalsync/shoal/internal/testutil"
)

// TestRestartResumes: after a restart, unchanged files are not re-hashed
// and neither side resends its index; after the index is deleted (a new
// index ID), the peers exchange full indexes again.
func TestRestartResumes(t *testing.T) {
	a, b := startAgent(t, "a"), startAgent(t, "b")
	for i := range 50 {
		a.write(fmt.Sprintf("dir%d/file%d.txt", i%5, i), fmt.Sprintf("content %d", i))
	}
	pair(t, a, b)
	converged(t, 60*time.Second, a, b)

	b.stop()
	a.write("while-b-was-away.txt", "new")
	waitScanned(t, a, "while-b-was-away.txt", "new")
	sentBefore := a.folder().RecordsSent
	b.start()
	converged(t, 60*time.Second, a, b)
	waitConnected(t, a, b)
	st := b.folder()
	if st.HashedBytes != 0 {
		t.Errorf("restart re-hashed %d bytes of unchanged files", st.HashedBytes)
	}
	if st.FullResendsReceived != 0 {
		t.Errorf("restart caused %d full index resends to b", st.FullResendsReceived)
	}
	if st.RecordsReceived != 1 {
		t.Errorf("b received %d records after restart, want just the 1 change", st.RecordsReceived)
	}
	if d := a.folder().RecordsSent - sentBefore; d != 1 {
		t.Errorf("a sent %d records after b's restart, want 1", d)
	}
	if st.RecordsSent != 1 { // only its record of the file it just pulled
		t.Errorf("b sent %d records to a after restart, want 1", st.RecordsSent)
	}

	// A reset index: b starts over with a new index ID.
	b.stop()
	if err := os.RemoveAll(filepath.Join(b.home, IndexDir)); err != nil {
		t.Fatal(err)
	}
	fullBefore := a.folder().FullResendsReceived
	b.start()
	waitConnected(t, a, b)
	converged(t, 60*time.Second, a, b)
	testutil.Eventually(t, 30*time.Second, func() error {
		if a.folder().FullResendsReceived <= fullBefore {
			return fmt.Errorf("a did not get b's full index after b's index reset")
		}
		if b.folder().FullResendsReceived == 0 {
			return fmt.Errorf("b did not get a's full index after its own reset")
		}
		return nil
	})
}

func waitConnected(t *testing.T, agents ...*testAgent) {
	t.Helper()
	testutil.Eventually(t, 30*time.Second, func() error {
		for _, x := range agents {
			for _, d := range mustDevices(t, x) {
				if !d.Connected {
					return fmt.Errorf("%s not connected to %s", x.name, d.ShortID)
				}
			}
		}
		return nil
	})
}
