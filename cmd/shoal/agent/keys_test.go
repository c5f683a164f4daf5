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

// invite makes an invite to ta's keyed folder.
func makeInvite(t *testing.T, ta *testAgent, req model.InviteRequest) model.Invite {
	t.Helper()
	inv, err := ta.Model().CreateInvite(context.Background(), ta.fid, req)
	if err != nil {
		t.Fatalf("%s: making invite: %v", ta.name, err)
	}
	return inv
}

// joinState waits until ta's join of the invite reaches state.
func joinState(t *testing.T, ta *testAgent, inviteID, state string) model.JoinStatus {
	t.Helper()
	var out model.JoinStatus
	testutil.Eventually(t, 30*time.Second, func() error {
		js, err := ta.Model().Joins(context.Background())
		if err != nil {
			return err
		}
		for _, j := range js {
			if j.InviteID == inviteID {
				out = j
				if j.State == state {
					return nil
				}
				return fmt.Errorf("%s: join is %s (%s), want %s", ta.name, j.State, j.Error, state)
			}
		}
		return fmt.Errorf("%s: no join for invite %s", ta.name, inviteID)
	})
	return out
}

// TestInviteLinkAlone: the invited device knows nothing but the link; it
// joins at the invite's level and the folder syncs both ways.
func TestInviteLinkAlone(t *testing.T) {
	a := startAgent(t, "inviter")
	b := startAgent(t, "guest")
	a.write("photos/beach.jpg", "sand and sea")
	keyedFolder(t, a)
	inv := makeInvite(t, a, model.InviteRequest{Access: "rw", Uses: 1})
	if !strings.HasPrefix(inv.Link, "shoal://join/") || !strings.HasPrefix(inv.ChatForm, "SHOAL-") {
		t.Fatalf("invite forms: %q, %q", inv.Link, inv.ChatForm)
	}
	if strings.Contains(inv.Link, "shoal-rw-") {
		t.Fatal("the link carries the folder key")
	}
	js, err := b.Model().JoinInvite(context.Background(), model.JoinInviteRequest{Link: inv.ChatForm, Path: b.dir})
	if err != nil {
		t.Fatal(err)
	}
	joinState(t, b, js.InviteID, model.JoinJoined)
	b.fid = js.Folder
	testutil.Eventually(t, 30*time.Second, func() error { return fileIs(b, "photos/beach.jpg", "sand and sea") })
	b.write("from-guest.txt", "thanks")
	testutil.Eventually(t, 30*time.Second, func() error { return fileIs(a, "from-guest.txt", "thanks") })

	// Used up: a second device with the same link is refused.
	c := startAgent(t, "late")
	js2, err := c.Model().JoinInvite(context.Background(), model.JoinInviteRequest{Link: inv.Link, Path: c.dir})
	if err != nil {
		t.Fatal(err)
	}
	got := joinState(t, c, js2.InviteID, model.JoinFailed)
	if !strings.Contains(got.Error, "used") {
		t.Fatalf("used-up invite failed with %q", got.Error)
	}
	if _, err := os.Stat(filepath.Join(c.dir, "photos")); !os.IsNotExist(err) {
		t.Fatalf("a refused device got files: %v", err)
	}
}

// TestInviteApproval: with approval required, the device waits in the
// pending list; a denied device is refused, an approved one joins.
func TestInviteApproval(t *testing.T) {
	a := startAgent(t, "admin")
	b := startAgent(t, "laptop")
	d := startAgent(t, "stranger")
	a.write("plan.txt", "the plan")
	keyedFolder(t, a)
	inv := makeInvite(t, a, model.InviteRequest{Access: "ro", Approve: true})
	ctx := context.Background()
	jb, err := b.Model().JoinInvite(ctx, model.JoinInviteRequest{Link: inv.Link, Path: b.dir})
	if err != nil {
		t.Fatal(err)
	}
	jd, err := d.Model().JoinInvite(ctx, model.JoinInviteRequest{Link: inv.Link, Path: d.dir})
	if err != nil {
		t.Fatal(err)
	}
	joinState(t, b, jb.InviteID, model.JoinPending)
	joinState(t, d, jd.InviteID, model.JoinPending)
	pend, err := a.Model().Pending(ctx)
	if err != nil || len(pend) != 2 {
		t.Fatalf("pending = %+v, %v; want both devices", pend, err)
	}
	if _, err := os.Stat(filepath.Join(b.dir, "plan.txt")); !os.IsNotExist(err) {
		t.Fatal("a pending device got files")
	}
	if err := a.Model().Deny(ctx, d.ID().String(), model.DecideRequest{}); err != nil {
		t.Fatal(err)
	}
	if err := a.Model().Approve(ctx, b.ID().String(), model.DecideRequest{}); err != nil {
		t.Fatal(err)
	}
	joinState(t, b, jb.InviteID, model.JoinJoined)
	b.fid = jb.Folder
	testutil.Eventually(t, 30*time.Second, func() error { return fileIs(b, "plan.txt", "the plan") })
	if st := b.folder(); st.Mode != "receive-only" {
		t.Fatalf("read-only invite gave mode %s", st.Mode)
	}
	got := joinState(t, d, jd.InviteID, model.JoinFailed)
	if !strings.Contains(got.Error, "turned") {
		t.Fatalf("denied device's error: %q", got.Error)
	}
	if pend, _ := a.Model().Pending(ctx); len(pend) != 0 {
		t.Fatalf("still pending after deciding: %+v", pend)
	}
}

// TestBadInviteLinks: garbled, tampered and expired links get clear errors
// before anything is contacted.
func TestBadInviteLinks(t *testing.T) {
	a := startAgent(t, "a")
	b := startAgent(t, "b")
	keyedFolder(t, a)
	inv := makeInvite(t, a, model.InviteRequest{ExpiresSeconds: 1})
	ctx := context.Background()
	body := strings.TrimPrefix(inv.Link, "shoal://join/")
	flip := func(s string, i int) string {
		c := byte('a')
		if s[i] == 'a' {
			c = 'b'
		}
		return s[:i] + string(c) + s[i+1:]
	}
	cases := map[string]string{
		"garbled":    "shoal://join/" + flip(body, len(body)/2),
		"cut short":  inv.Link[:len(inv.Link)-10],
		"not a link": "hello there",
	}
	for name, link := range cases {
		_, err := b.Model().JoinInvite(ctx, model.JoinInviteRequest{Link: link, Path: b.dir})
		if err == nil || !strings.Contains(err.Error(), "garbled") {
			t.Errorf("%s link: error %v, want a garbled-link error", name, err)
		}
	}
	testutil.Eventually(t, 10*time.Second, func() error {
		_, err := b.Model().JoinInvite(ctx, model.JoinInviteRequest{Link: inv.Link, Path: b.dir})
		if err == nil || !strings.Contains(err.Error(), "expired") {
			return fmt.Errorf("expired link: error %v", err)
		}
		return nil
	})
}

// TestKeysAtRest: keys live in the home with mode 0600; with a passphrase
// the home holds neither the device key nor a folder key in the clear, the
// agent does not start without the passphrase, and with it it is the same
// device holding the same folder.
func TestKeysAtRest(t *testing.T) {
	a := startAgent(t, "laptop")
	keys := keyedFolder(t, a)
	id, fid, home := a.ID(), a.fid, a.home
	for _, name := range []string{"device.key", "keys.json", "config.json"} {
		fi, err := os.Stat(filepath.Join(home, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", name, fi.Mode().Perm())
		}
	}
	a.stop()

	pass := []byte("correct horse battery staple")
	if err := SetPassphrase(home, nil, pass); err != nil {
		t.Fatal(err)
	}
	err := filepath.WalkDir(home, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, k := range []string{keys.ReadWrite, keys.ReadOnly, keys.Encrypted} {
			if strings.Contains(string(b), k) {
				t.Errorf("%s holds a folder key in the clear", p)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(home, "device.key")); !os.IsNotExist(err) {
		t.Fatalf("device.key still exists after protecting the store: %v", err)
	}

	if _, err := Start(context.Background(), Options{Home: home, NoDefaultFolder: true, Listen: []string{"quic://127.0.0.1:0"}, Admin: "127.0.0.1:0"}); err == nil || !strings.Contains(err.Error(), "passphrase") {
		t.Fatalf("start without the passphrase: %v, want a passphrase error", err)
	}
	if _, err := Start(context.Background(), Options{Home: home, NoDefaultFolder: true, Passphrase: []byte("wrong"), Listen: []string{"quic://127.0.0.1:0"}, Admin: "127.0.0.1:0"}); err == nil || !strings.Contains(err.Error(), "passphrase") {
		t.Fatalf("start with a wrong passphrase: %v, want a passphrase error", err)
	}
	a.tweak = func(o *Options) { o.Passphrase = pass }
	a.start()
	if a.ID() != id {
		t.Fatalf("device ID changed from %s to %s", id.Short(), a.ID().Short())
	}
	testutil.Eventually(t, 10*time.Second, func() error {
		got, err := a.Model().FolderKeys(context.Background(), fid)
		if err != nil || got != keys {
			return fmt.Errorf("folder keys after unlocking: %+v, %v", got, err)
		}
		return nil
	})
	a.stop()

	// Removing the passphrase puts the device key back in its file.
	if err := SetPassphrase(home, pass, nil); err != nil {
		t.Fatal(err)
	}
	a.tweak = nil
	a.start()
	if a.ID() != id {
		t.Fatalf("device ID changed after removing the passphrase")
	}
}

func removeMember(t *testing.T, ta, gone *testAgent) {
	t.Helper()
	if _, err := ta.Model().RemoveMember(context.Background(), ta.fid, gone.ID().String()); err != nil {
		t.Fatalf("%s: removing %s: %v", ta.name, gone.name, err)
	}
}

// TestRemovalHolds: removing a member moves the folder to a new key epoch;
// the remaining writer and reader carry on (the reader got the new key over
// its session), the removed device gets nothing more and its changes are
// refused, also after everyone restarts and after it tries its old key.
func TestRemovalHolds(t *testing.T) {
	a := startAgent(t, "admin")
	b := startAgent(t, "leaver")
	c := startAgent(t, "reader")
	a.write("before.txt", "everyone saw this")
	keys := keyedFolder(t, a)
	joinByKey(t, b, keys.ReadWrite, a)
	joinByKey(t, c, keys.ReadOnly, a)
	e := startAgent(t, "offline-reader")
	joinByKey(t, e, keys.ReadOnly, a)
	for _, x := range []*testAgent{b, c, e} {
		testutil.Eventually(t, 30*time.Second, func() error { return fileIs(x, "before.txt", "everyone saw this") })
	}

	e.stop() // misses the removal
	removeMember(t, a, b)
	testutil.Eventually(t, 30*time.Second, func() error {
		k, err := c.Model().FolderKeys(context.Background(), c.fid)
		if err != nil {
			return err
		}
		if k.ReadOnly == keys.ReadOnly {
			return fmt.Errorf("reader still holds the old key")
		}
		return nil
	})
	a.write("after.txt", "members only")
	testutil.Eventually(t, 30*time.Second, func() error { return fileIs(c, "after.txt", "members only") })
	// A member that was offline gets the new key when it comes back.
	e.start()
	testutil.Eventually(t, 30*time.Second, func() error { return fileIs(e, "after.txt", "members only") })

	// The removed writer changes a file with its old key: nobody takes it.
	b.write("before.txt", "vandalised")
	b.write("planted.txt", "from the removed device")
	check := func() {
		t.Helper()
		if _, err := os.Stat(filepath.Join(b.dir, "after.txt")); !os.IsNotExist(err) {
			t.Errorf("the removed device got a file written after its removal: %v", err)
		}
		for _, x := range []*testAgent{a, c} {
			if err := fileIs(x, "before.txt", "everyone saw this"); err != nil {
				t.Error(err)
			}
			if _, err := os.Stat(filepath.Join(x.dir, "planted.txt")); !os.IsNotExist(err) {
				t.Errorf("%s took a file from the removed device: %v", x.name, err)
			}
		}
	}
	// Give the removed device time to try (it keeps redialing a and c).
	a.write("marker.txt", "m")
	testutil.Eventually(t, 30*time.Second, func() error { return fileIs(c, "marker.txt", "m") })
	check()

	// Restarts change nothing; the removed device tries to join again with
	// its old key and is still refused.
	a.restartOnSamePorts()
	c.restartOnSamePorts()
	b.stop()
	b.start()
	a.write("after-restart.txt", "still members only")
	testutil.Eventually(t, 30*time.Second, func() error { return fileIs(c, "after-restart.txt", "still members only") })
	other := startAgent(t, "retry")
	joinByKey(t, other, keys.ReadWrite, a)
	a.write("late.txt", "late")
	testutil.Eventually(t, 30*time.Second, func() error { return fileIs(c, "late.txt", "late") })
	if _, err := os.Stat(filepath.Join(other.dir, "late.txt")); !os.IsNotExist(err) {
		t.Errorf("a device with the old key got files: %v", err)
	}
	check()
}

// restartOnSamePorts stops and starts ta listening on the ports the OS gave
// it before, so devices that know only its old address find it again.
func (ta *testAgent) restartOnSamePorts() {
	ta.t.Helper()
	ta.pinPorts()
	ta.stop()
	ta.start()
}

// pinPorts makes later starts of ta listen on the ports it has now.
func (ta *testAgent) pinPorts() {
	var listen []string
	for _, a := range ta.Addrs() {
		parts := strings.Split(a, "/") // /ip4/127.0.0.1/tcp/PORT/... or /udp/PORT/quic-v1/...
		if len(parts) > 4 && parts[3] == "tcp" {
			listen = append(listen, "tcp://127.0.0.1:"+parts[4])
		} else if len(parts) > 5 && parts[3] == "udp" && parts[5] == "quic-v1" {
			listen = append(listen, "quic://127.0.0.1:"+parts[4])
		}
	}
	prev := ta.tweak
	ta.tweak = func(o *Options) {
		if prev != nil {
			prev(o)
		}
		o.Listen = listen
	}
}
