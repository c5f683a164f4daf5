package agent

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoalsync/shoal/internal/testutil"
	"github.com/shoalsync/shoal/sync/model"
	"github.com/shoalsync/shoal/transport/wire"
)

// keyedFolder makes ta's folder a folder shared by key (a new read-write
// key) and returns its keys.
func keyedFolder(t *testing.T, ta *testAgent) model.FolderKeys {
	t.Helper()
	ctx := context.Background()
	st, err := ta.Model().AddFolder(ctx, model.AddFolderRequest{Path: ta.dir})
	if err != nil {
		t.Fatalf("%s: adding folder: %v", ta.name, err)
	}
	ta.fid = st.ID
	keys, err := ta.Model().FolderKeys(ctx, st.ID)
	if err != nil {
		t.Fatal(err)
	}
	if keys.ReadWrite == "" || keys.ReadOnly == "" || keys.Encrypted == "" {
		t.Fatalf("a new folder's creator should hold every key: %+v", keys)
	}
	return keys
}

// joinByKey joins ta to a folder with key, reaching it through via.
func joinByKey(t *testing.T, ta *testAgent, key string, via ...*testAgent) {
	t.Helper()
	var peers []string
	for _, v := range via {
		peers = append(peers, v.Addrs()[0])
	}
	st, err := ta.Model().JoinFolder(context.Background(), model.JoinRequest{Key: key, Path: ta.dir, Peers: peers})
	if err != nil {
		t.Fatalf("%s: joining: %v", ta.name, err)
	}
	ta.fid = st.ID
}

func fileIs(ta *testAgent, rel, want string) error {
	b, err := os.ReadFile(filepath.Join(ta.dir, rel))
	if err != nil {
		return fmt.Errorf("%s: %w", ta.name, err)
	}
	if string(b) != want {
		return fmt.Errorf("%s: %s holds %q, want %q", ta.name, rel, b, want)
	}
	return nil
}

// TestJoinByKey: a device that knows only a read-write key and one member's
// address joins, and changes flow both ways. The member did not know the
// device: it proved the key.
func TestJoinByKey(t *testing.T) {
	a := startAgent(t, "a")
	b := startAgent(t, "b")
	a.write("from-a.txt", "hello from a")
	keys := keyedFolder(t, a)
	joinByKey(t, b, keys.ReadWrite, a)
	if b.fid != a.fid {
		t.Fatalf("joined folder %s, want %s", b.fid, a.fid)
	}
	testutil.Eventually(t, 30*time.Second, func() error { return fileIs(b, "from-a.txt", "hello from a") })
	b.write("from-b.txt", "hello from b")
	testutil.Eventually(t, 30*time.Second, func() error { return fileIs(a, "from-b.txt", "hello from b") })
	converged(t, 30*time.Second, a, b)

	// The member learned the device from its proof and keeps it.
	found := false
	for _, d := range mustDevices(t, a) {
		if d.ID == b.ID().String() {
			found = true
		}
	}
	if !found {
		t.Fatalf("a does not list b after it proved the key")
	}
}

// TestReadOnlyMember: a read-only member receives everything, its own
// changes stay local, and its records relay to another read-only member
// while the writer is offline.
func TestReadOnlyMember(t *testing.T) {
	a := startAgent(t, "writer")
	b := startAgent(t, "reader")
	a.write("doc.txt", "version 1")
	keys := keyedFolder(t, a)
	joinByKey(t, b, keys.ReadOnly, a)
	testutil.Eventually(t, 30*time.Second, func() error { return fileIs(b, "doc.txt", "version 1") })
	if st := b.folder(); st.Mode != "receive-only" {
		t.Fatalf("read-only member's folder mode is %s, want receive-only", st.Mode)
	}
	if k, err := b.Model().FolderKeys(context.Background(), b.fid); err != nil || k.ReadWrite != "" || k.ReadOnly == "" {
		t.Fatalf("read-only member holds keys %+v (%v); want ro and encrypted only", k, err)
	}

	// A local change on the read-only device stays there.
	b.write("local-note.txt", "mine")
	testutil.Eventually(t, 10*time.Second, func() error {
		if b.folder().Differences == 0 {
			return fmt.Errorf("local change not counted yet")
		}
		return nil
	})
	a.write("doc.txt", "version 2")
	testutil.Eventually(t, 30*time.Second, func() error { return fileIs(b, "doc.txt", "version 2") })
	if _, err := os.Stat(filepath.Join(a.dir, "local-note.txt")); !os.IsNotExist(err) {
		t.Fatalf("a read-only member's change reached the writer: %v", err)
	}

	// The writer goes offline; a second reader joins through the first
	// alone and gets the writer's signed records from it.
	a.stop()
	c := startAgent(t, "reader2")
	joinByKey(t, c, keys.ReadOnly, b)
	testutil.Eventually(t, 30*time.Second, func() error { return fileIs(c, "doc.txt", "version 2") })
	if _, err := os.Stat(filepath.Join(c.dir, "local-note.txt")); !os.IsNotExist(err) {
		t.Fatalf("the first reader's local change reached the second: %v", err)
	}
}

// TestForgedRecordsRejected: a modified read-only agent that sends records
// it signed itself, unsigned records, or a valid signature on altered
// content is refused by the writer and by another reader, and nothing it
// announced is written anywhere.
func TestForgedRecordsRejected(t *testing.T) {
	_, fake, _ := ed25519.GenerateKey(rand.Reader)
	forgers := map[string]func(folder string, fi *wire.FileInfo){
		"own key": func(folder string, fi *wire.FileInfo) {
			fi.Signature = ed25519.Sign(fake, wire.SigningBytes(folder, fi))
		},
		"unsigned": func(folder string, fi *wire.FileInfo) { fi.Signature = nil },
		"altered": func(folder string, fi *wire.FileInfo) {
			// Keep the writer's signature but change what it covers.
			fi.ModifiedS++
		},
	}
	for name, forge := range forgers {
		t.Run(strings.ReplaceAll(name, " ", "-"), func(t *testing.T) {
			a := startAgent(t, "writer")
			r := startAgent(t, "reader")
			evil := startAgentWith(t, "evil", func(o *Options) { o.Model.ForgeRecord = forge })
			a.write("real.txt", "real content")
			keys := keyedFolder(t, a)
			joinByKey(t, evil, keys.ReadOnly, a)
			testutil.Eventually(t, 30*time.Second, func() error { return fileIs(evil, "real.txt", "real content") })
			evil.write("planted.txt", "evil content")
			joinByKey(t, r, keys.ReadOnly, evil)

			for _, victim := range []*testAgent{a, r} {
				testutil.Eventually(t, 30*time.Second, func() error {
					if victim.folder().IndexesRejected == 0 {
						return fmt.Errorf("%s has not rejected the forger's index yet", victim.name)
					}
					return nil
				})
			}
			for _, victim := range []*testAgent{a, r} {
				if _, err := os.Stat(filepath.Join(victim.dir, "planted.txt")); !os.IsNotExist(err) {
					t.Errorf("%s wrote a forged file: %v", victim.name, err)
				}
			}
			if err := fileIs(a, "real.txt", "real content"); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestWrongKeyGetsNothing: a device with the key of another folder, claiming
// this folder's ID, proves nothing and receives nothing.
func TestWrongKeyGetsNothing(t *testing.T) {
	a := startAgent(t, "a")
	b := startAgent(t, "b")
	a.write("secret.txt", "for members only")
	keyedFolder(t, a)
	other := startAgent(t, "other")
	otherKeys := keyedFolder(t, other)
	joinByKey(t, b, otherKeys.ReadWrite, a) // reaches a, but with another folder's key
	testutil.Eventually(t, 30*time.Second, func() error {
		for _, d := range mustDevices(t, b) {
			if d.ID == a.ID().String() && d.Connected {
				return fmt.Errorf("still connected to a")
			}
		}
		return nil
	})
	if _, err := os.Stat(filepath.Join(b.dir, "secret.txt")); !os.IsNotExist(err) {
		t.Fatalf("a device without the key got a file: %v", err)
	}
	for _, d := range mustDevices(t, a) {
		if d.ID == b.ID().String() {
			t.Fatalf("a added a device that proved no key")
		}
	}
}
