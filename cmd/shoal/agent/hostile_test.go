package agent

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoalsync/shoal/index"
	"github.com/shoalsync/shoal/internal/testutil"
	"github.com/shoalsync/shoal/sync/model"
	"github.com/shoalsync/shoal/transport/wire"
)

// TestCorruptBlockNotWritten: a peer that answers with data that does not
// match the requested hash gets nothing written to disk.
func TestCorruptBlockNotWritten(t *testing.T) {
	marker := []byte("EVIL")
	evil := startAgentWith(t, "evil", func(o *Options) {
		o.TamperResponse = func(r *wire.Response) {
			if len(r.Data) >= len(marker) {
				copy(r.Data, marker)
			}
		}
	})
	victim := startAgent(t, "victim")
	evil.write("payload.txt", strings.Repeat("good data ", 10000))
	pair(t, evil, victim)

	testutil.Eventually(t, 30*time.Second, func() error {
		st := victim.folder()
		for _, fe := range st.FileErrors {
			if fe.Path == "payload.txt" && strings.Contains(fe.Error, "corrupt") {
				return nil
			}
		}
		return fmt.Errorf("no corrupt-block error yet: %+v", st.FileErrors)
	})
	if _, err := os.Stat(filepath.Join(victim.dir, "payload.txt")); !os.IsNotExist(err) {
		t.Fatalf("file from a corrupt peer is in view: %v", err)
	}
	filepath.WalkDir(victim.dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if b, _ := os.ReadFile(p); bytes.Contains(b, marker) {
				t.Errorf("corrupt data written to %s", p)
			}
		}
		return nil
	})
	if st := victim.folder(); st.PulledBytes != 0 {
		t.Errorf("corrupt blocks counted as pulled: %d bytes", st.PulledBytes)
	}
}

// TestUnknownDeviceRefused: a device that is not configured cannot connect
// and shows up in the refused list.
func TestUnknownDeviceRefused(t *testing.T) {
	a := startAgent(t, "a")
	stranger := startAgent(t, "stranger")
	ctx := context.Background()
	if _, err := stranger.Model().AddDevice(ctx, model.AddDeviceRequest{ID: a.ID().String(), Addrs: a.Addrs()}); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 30*time.Second, func() error {
		st, err := a.Model().Status(ctx)
		if err != nil {
			return err
		}
		for _, r := range st.Refused {
			if r.ID == stranger.ID().String() && r.Attempts > 0 {
				return nil
			}
		}
		return fmt.Errorf("stranger not in refused list: %+v", st.Refused)
	})
	for _, d := range mustDevices(t, stranger) {
		if d.Connected {
			t.Fatalf("stranger has a session with %s", d.ShortID)
		}
	}
}

// TestPeerCannotAnnounceInternalNames: a peer that announces Shoal's own
// names (a symlink named like a temporary file, aimed outside the folder,
// could later be written through) is rejected and nothing is created.
func TestPeerCannotAnnounceInternalNames(t *testing.T) {
	evil := startAgent(t, "evil")
	victim := startAgent(t, "victim")
	outside := filepath.Join(t.TempDir(), "outside")
	fidx, err := evil.idx.Folder(testFolder)
	if err != nil {
		t.Fatal(err)
	}
	id := evil.ID().Uint64()
	recs := []index.LocalFile{
		{Info: &wire.FileInfo{Name: "d", Type: wire.FileType_FILE_TYPE_DIRECTORY, Permissions: 0o755, ModifiedBy: id, Version: index.Bump(nil, id)}},
		{Info: &wire.FileInfo{Name: "d/.shoal-tmp.x.0badc0de", Type: wire.FileType_FILE_TYPE_SYMLINK, Permissions: 0o777, SymlinkTarget: outside, ModifiedBy: id, Version: index.Bump(nil, id)}},
		{Info: &wire.FileInfo{Name: ".shoal/evil", Type: wire.FileType_FILE_TYPE_DIRECTORY, Permissions: 0o755, ModifiedBy: id, Version: index.Bump(nil, id)}},
	}
	if err := fidx.UpdateLocal(recs); err != nil {
		t.Fatal(err)
	}
	pair(t, evil, victim)
	testutil.Eventually(t, 30*time.Second, func() error {
		if victim.folder().IndexesRejected == 0 {
			return fmt.Errorf("victim has not rejected the index yet")
		}
		return nil
	})
	if n := victim.folder().RecordsReceived; n != 0 {
		t.Errorf("victim accepted %d records from an index naming internal files", n)
	}
	for _, p := range []string{"d/.shoal-tmp.x.0badc0de", ".shoal/evil"} {
		if _, err := os.Lstat(filepath.Join(victim.dir, p)); err == nil {
			t.Errorf("%s was created", p)
		}
	}
	if _, err := os.Lstat(outside); err == nil {
		t.Error("a file outside the folder was created")
	}
}
