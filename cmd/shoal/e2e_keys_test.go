package main

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/shoalsync/shoal/internal/testutil"
)

// TestCLIInviteAlone: two agents share a folder from an invite link alone,
// using only the CLI: the invited person types nothing but `shoal join LINK
// PATH`. The inviter then removes the device, and protects its key store
// with a passphrase.
func TestCLIInviteAlone(t *testing.T) {
	base := t.TempDir()
	homeA, homeB := filepath.Join(base, "a"), filepath.Join(base, "b")
	dirA, dirB := filepath.Join(base, "A"), filepath.Join(base, "B")
	os.MkdirAll(dirA, 0o755)
	pa := startProc(t, homeA)
	startProc(t, homeB)
	os.WriteFile(filepath.Join(dirA, "hello.txt"), []byte("hello, invitee"), 0o644)

	out := mustShoal(t, homeA, "folder", "add", dirA)
	m := regexp.MustCompile(`Added folder (\S+) `).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("folder add output: %q", out)
	}
	folder := m[1]
	out = mustShoal(t, homeA, "invite", folder, "--uses", "1", "--expires", "1h")
	link := regexp.MustCompile(`shoal://join/\S+`).FindString(out)
	if link == "" || strings.Contains(out, "shoal-rw-") {
		t.Fatalf("invite output has no link or shows a key:\n%s", out)
	}
	out = mustShoal(t, homeB, "join", link, dirB)
	if !strings.Contains(out, "Joined") {
		t.Fatalf("join output: %q", out)
	}
	testutil.Eventually(t, 30*time.Second, func() error {
		b, err := os.ReadFile(filepath.Join(dirB, "hello.txt"))
		if err != nil || string(b) != "hello, invitee" {
			return fmt.Errorf("not synced yet: %q %v", b, err)
		}
		return nil
	})
	os.WriteFile(filepath.Join(dirB, "reply.txt"), []byte("thanks"), 0o644)
	testutil.Eventually(t, 30*time.Second, func() error {
		b, err := os.ReadFile(filepath.Join(dirA, "reply.txt"))
		if err != nil || string(b) != "thanks" {
			return fmt.Errorf("reply not synced yet: %q %v", b, err)
		}
		return nil
	})
	// The link was for one device.
	if out, err := shoal(t, filepath.Join(base, "c"), "join", link, filepath.Join(base, "C")); err == nil && strings.Contains(out, "Joined") {
		t.Fatalf("a used-up link worked again: %s", out)
	}

	keysBefore := mustShoal(t, homeA, "folder", "keys", folder, "--json")
	idB := strings.TrimSpace(mustShoal(t, homeB, "id"))
	mustShoal(t, homeA, "folder", "remove-device", folder, idB)
	if mustShoal(t, homeA, "folder", "keys", folder, "--json") == keysBefore {
		t.Fatal("keys unchanged after removing a device")
	}
	os.WriteFile(filepath.Join(dirA, "after.txt"), []byte("not for b"), 0o644)

	// Keys at rest: a passphrase, set while the agent is stopped.
	pa.stop()
	pass := filepath.Join(base, "pass")
	os.WriteFile(pass, []byte("hunter2 but longer\n"), 0o600)
	mustShoal(t, homeA, "passphrase", "set", "--new-passphrase-file", pass)
	if _, err := os.Stat(filepath.Join(homeA, "keys.sealed")); err != nil {
		t.Fatalf("no sealed key store: %v", err)
	}
	idA := strings.TrimSpace(mustShoal(t, homeA, "--passphrase-file", pass, "id"))
	if out, err := shoal(t, homeA, "id"); err == nil {
		t.Fatalf("id without the passphrase worked: %s", out)
	}
	if _, err := os.Stat(filepath.Join(dirB, "after.txt")); !os.IsNotExist(err) {
		t.Errorf("the removed device got a file written after its removal: %v", err)
	}
	if idA == "" {
		t.Fatal("no device ID")
	}
}

// TestCLIEncryptedInvite: a vault joins from an encrypted-level invite link
// alone, as a user would type it, and holds the folder only as ciphertext.
func TestCLIEncryptedInvite(t *testing.T) {
	base := t.TempDir()
	homeA, homeV := filepath.Join(base, "a"), filepath.Join(base, "v")
	dirA, dirV := filepath.Join(base, "Payroll"), filepath.Join(base, "vault")
	os.MkdirAll(dirA, 0o755)
	startProc(t, homeA)
	startProc(t, homeV)
	os.WriteFile(filepath.Join(dirA, "salaries-2026.csv"), []byte("alice,100\nbob,200\n"), 0o644)
	out := mustShoal(t, homeA, "folder", "add", dirA)
	m := regexp.MustCompile(`Added folder (\S+) `).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("folder add output: %q", out)
	}
	out = mustShoal(t, homeA, "invite", m[1], "--access", "encrypted")
	link := regexp.MustCompile(`shoal://join/\S+`).FindString(out)
	if link == "" {
		t.Fatalf("invite output has no link:\n%s", out)
	}
	mustShoal(t, homeV, "join", link, dirV)
	testutil.Eventually(t, 30*time.Second, func() error {
		st := statusOf(t, homeV)
		if len(st.Folders) != 1 || st.Folders[0].LocalFiles != 1 || st.Folders[0].NeedFiles != 0 {
			return fmt.Errorf("vault not synced yet: %+v", st.Folders)
		}
		if st.Folders[0].Label == "Payroll" {
			t.Fatalf("the vault learned the folder's name")
		}
		return nil
	})
	keys := mustShoal(t, homeV, "folder", "keys", statusOf(t, homeV).Folders[0].ID, "--json")
	if strings.Contains(keys, `"ro"`) || strings.Contains(keys, `"rw"`) || !strings.Contains(keys, "shoal-enc-") {
		t.Fatalf("vault keys: %s", keys)
	}
	filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !strings.HasPrefix(p, dirV) && !strings.HasPrefix(p, homeV) {
			return nil
		}
		if strings.Contains(p, "salaries") || strings.Contains(p, "Payroll") {
			t.Errorf("plaintext name on the vault: %s", p)
		}
		if d.Type().IsRegular() {
			if b, _ := os.ReadFile(p); strings.Contains(string(b), "alice,100") || strings.Contains(string(b), "salaries") {
				t.Errorf("plaintext in %s", p)
			}
		}
		return nil
	})
}
