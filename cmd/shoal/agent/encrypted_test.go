package agent

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoalsync/shoal/crypto/folderkey"
	"github.com/shoalsync/shoal/internal/testutil"
	"github.com/shoalsync/shoal/transport/wire"
)

// marker returns a random token that cannot occur by chance.
func marker(t *testing.T) string {
	t.Helper()
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// secretTree writes a folder whose every name and content holds a marker,
// and returns the files (relative path → content) and the markers.
func secretTree(t *testing.T, ta *testAgent) (files map[string]string, markers []string) {
	t.Helper()
	nameMark, textMark := marker(t), marker(t)
	big := strings.Repeat("payroll line "+textMark+"\n", 40000) // ~1.5 MiB, many blocks
	files = map[string]string{
		"Secret Plans/budget-" + nameMark + ".txt": "confidential " + textMark,
		"Secret Plans/big-" + nameMark + ".log":    big,
		"readme-" + nameMark + ".md":               "top level " + textMark,
		"empty-" + nameMark:                        "",
	}
	for rel, content := range files {
		ta.write(rel, content)
	}
	if err := os.Symlink("readme-"+nameMark+".md", filepath.Join(ta.dir, "link-"+nameMark)); err != nil {
		t.Fatal(err)
	}
	return files, []string{nameMark, textMark, "Secret Plans", "budget", "payroll", "confidential"}
}

// noPlaintext fails if any file under root has a marker in its path or in
// its bytes.
func noPlaintext(t *testing.T, root string, markers []string) (files int) {
	t.Helper()
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		for _, m := range markers {
			if strings.Contains(p, m) {
				t.Errorf("path %s holds plaintext %q", p, m)
			}
		}
		if !d.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		files++
		for _, m := range markers {
			if bytes.Contains(b, []byte(m)) {
				t.Errorf("%s holds plaintext %q", p, m)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// holdsTwins waits until the encrypted peer holds n twins and needs nothing.
func holdsTwins(t *testing.T, e *testAgent, n int64) {
	t.Helper()
	testutil.Eventually(t, 60*time.Second, func() error {
		st := e.folder()
		if st.LocalFiles != n || st.NeedFiles != 0 {
			return fmt.Errorf("%s holds %d of %d twins (needs %d, state %s %s)", e.name, st.LocalFiles, n, st.NeedFiles, st.State, st.Error)
		}
		return nil
	})
}

// TestEncryptedPeer: a device with only the encrypted-peer key stores the
// whole folder with nothing readable on its disk or in its index, relays
// records and blocks, and a new writer syncs everything from it alone.
func TestEncryptedPeer(t *testing.T) {
	a := startAgent(t, "writer")
	e := startAgent(t, "vault")
	files, markers := secretTree(t, a)
	keys := keyedFolder(t, a)
	joinByKey(t, e, keys.Encrypted, a)
	if k, err := e.Model().FolderKeys(context.Background(), e.fid); err != nil || k.ReadOnly != "" || k.Encrypted == "" {
		t.Fatalf("encrypted peer holds keys %+v (%v)", k, err)
	}
	// 4 files, 1 directory, 1 symlink: each is one twin.
	holdsTwins(t, e, 6)
	if st := e.folder(); st.Label == "Secret Plans" || st.IndexesRejected != 0 {
		t.Fatalf("encrypted peer status %+v", st)
	}
	if got := noPlaintext(t, e.dir, markers); got < 6 {
		t.Fatalf("encrypted peer's folder holds %d files, want at least 6", got)
	}
	a.pinPorts() // the vault knows where to find it when it is back
	a.stop()
	e.stop()
	noPlaintext(t, e.home, markers) // the index, config and logs of the vault
	e.start()

	// A new writer that knows only the key and the vault gets everything.
	n := startAgent(t, "new-laptop")
	joinByKey(t, n, keys.ReadWrite, e)
	for rel, content := range files {
		testutil.Eventually(t, 60*time.Second, func() error { return fileIs(n, rel, content) })
	}
	testutil.Eventually(t, 30*time.Second, func() error {
		m := markers[0]
		if target, err := os.Readlink(filepath.Join(n.dir, "link-"+m)); err != nil || target != "readme-"+m+".md" {
			return fmt.Errorf("symlink from the vault: %q, %v", target, err)
		}
		if fi, err := os.Stat(filepath.Join(n.dir, "Secret Plans")); err != nil || !fi.IsDir() {
			return fmt.Errorf("directory from the vault: %v", err)
		}
		return nil
	})

	// Its changes reach the old writer through the vault alone (the two
	// writers know no address of each other).
	n.write("from-new.txt", "written while the first writer was away")
	holdsTwins(t, e, 7)
	a.start()
	testutil.Eventually(t, 60*time.Second, func() error { return fileIs(a, "from-new.txt", "written while the first writer was away") })
	noPlaintext(t, e.dir, append(markers, "written while"))
}

// TestEncryptedPeerAfterRemoval: after a member is removed, what the
// encrypted peer stores from then on cannot be read with the removed
// member's keys.
func TestEncryptedPeerAfterRemoval(t *testing.T) {
	a := startAgent(t, "writer")
	r := startAgent(t, "leaver")
	e := startAgent(t, "vault")
	a.write("before.txt", "before the removal")
	keys := keyedFolder(t, a)
	joinByKey(t, r, keys.ReadOnly, a)
	joinByKey(t, e, keys.Encrypted, a)
	testutil.Eventually(t, 30*time.Second, func() error { return fileIs(r, "before.txt", "before the removal") })
	holdsTwins(t, e, 1)

	removeMember(t, a, r)
	testutil.Eventually(t, 30*time.Second, func() error {
		k, err := e.Model().FolderKeys(context.Background(), e.fid)
		if err != nil {
			return err
		}
		if k.Encrypted == keys.Encrypted {
			return fmt.Errorf("vault still holds the old key")
		}
		return nil
	})
	secret := "after the removal " + marker(t)
	a.write("after.txt", secret)
	// The old twin of before.txt stays (unserved) until it is superseded;
	// the new epoch adds before.txt and after.txt sealed anew.
	testutil.Eventually(t, 60*time.Second, func() error {
		st := e.folder()
		if st.LocalFiles < 3 || st.NeedFiles != 0 {
			return fmt.Errorf("vault holds %d twins, needs %d", st.LocalFiles, st.NeedFiles)
		}
		return nil
	})
	old, err := folderkey.Parse(keys.ReadOnly)
	if err != nil {
		t.Fatal(err)
	}
	var unreadable int
	err = filepath.WalkDir(e.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		rel, _ := filepath.Rel(e.dir, p)
		rel = filepath.ToSlash(rel)
		if strings.HasPrefix(rel, ".shoal") {
			return nil
		}
		name, derr := old.DecryptName(rel)
		if derr == nil {
			if name == "after.txt" {
				t.Errorf("the removed member's key decrypts the name of a file written after its removal")
			}
			return nil
		}
		unreadable++
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if len(b) >= folderkey.SealedSize(0) {
			if _, err := old.OpenBlock(b[:folderkey.SealedSize(len(secret))]); err == nil {
				t.Errorf("the removed member's key opens %s", rel)
			}
		}
		if bytes.Contains(b, []byte(secret)) {
			t.Errorf("%s holds plaintext", rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if unreadable < 2 {
		t.Fatalf("%d twins of the new epoch on the vault, want at least 2", unreadable)
	}
}

// TestHostileVault: an encrypted peer that alters the twins it relays, or
// the sealed blocks it serves, gets nothing written anywhere.
func TestHostileVault(t *testing.T) {
	const content = "the real content of the file"
	cases := map[string]func(*Options){
		"altered-twin": func(o *Options) {
			o.Model.ForgeRecord = func(_ string, fi *wire.FileInfo) {
				if len(fi.Meta) > 0 {
					fi.Meta[len(fi.Meta)-1] ^= 1 // under the writer's signature
				}
			}
		},
		"corrupt-block": func(o *Options) {
			o.TamperResponse = func(r *wire.Response) {
				if len(r.Data) > 100 {
					r.Data[100] ^= 1
				}
			}
		},
	}
	for name, evil := range cases {
		t.Run(name, func(t *testing.T) {
			a := startAgent(t, "writer")
			e := startAgentWith(t, "evil-vault", evil)
			a.write("doc.txt", content)
			keys := keyedFolder(t, a)
			joinByKey(t, e, keys.Encrypted, a)
			holdsTwins(t, e, 1)
			a.stop()
			n := startAgent(t, "new-laptop")
			joinByKey(t, n, keys.ReadWrite, e)
			testutil.Eventually(t, 30*time.Second, func() error {
				st := n.folder()
				if st.IndexesRejected > 0 {
					return nil
				}
				for _, fe := range st.FileErrors {
					if strings.Contains(fe.Error, "corrupt") {
						return nil
					}
				}
				return fmt.Errorf("no rejection yet: %+v", st)
			})
			if _, err := os.Stat(filepath.Join(n.dir, "doc.txt")); !os.IsNotExist(err) {
				t.Fatalf("a file from a hostile vault is in view: %v", err)
			}
		})
	}
}

// TestReaderRelaysTwinsToVault: a vault that knows only a read-only member
// gets every file through it, also when the writer's twin reaches the
// reader after the record it belongs to (the writer seals after sending).
func TestReaderRelaysTwinsToVault(t *testing.T) {
	a := startAgent(t, "writer")
	r := startAgent(t, "reader")
	e := startAgent(t, "vault")
	a.write("first.txt", "first")
	keys := keyedFolder(t, a)
	joinByKey(t, r, keys.ReadOnly, a)
	testutil.Eventually(t, 30*time.Second, func() error { return fileIs(r, "first.txt", "first") })
	joinByKey(t, e, keys.Encrypted, r)
	holdsTwins(t, e, 1)
	big := strings.Repeat("late content ", 300000) // ~3.7 MiB: sealing takes a while
	a.write("late.bin", big)
	testutil.Eventually(t, 60*time.Second, func() error { return fileIs(r, "late.bin", big) })
	holdsTwins(t, e, 2)
}
