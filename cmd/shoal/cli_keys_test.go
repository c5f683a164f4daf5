package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoalsync/shoal/admin/admintest"
	"github.com/shoalsync/shoal/crypto/folderkey"
	"github.com/shoalsync/shoal/crypto/identity"
	"github.com/shoalsync/shoal/crypto/invite"
	"github.com/shoalsync/shoal/sync/model"
)

// folderKeys returns a fresh folder secret and its printable keys.
func folderKeys(t *testing.T) (*folderkey.Secret, model.FolderKeys) {
	t.Helper()
	sec, err := folderkey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	var k model.FolderKeys
	k.ReadWrite, _ = sec.Key(folderkey.ReadWrite)
	k.ReadOnly, _ = sec.Key(folderkey.ReadOnly)
	k.Encrypted, _ = sec.Key(folderkey.Encrypted)
	return sec, k
}

// keyedFolder joins a new keyed folder on agent with key level access and
// returns its ID and keys.
func keyedFolder(t *testing.T, agent *admintest.Agent, access, label string) (string, model.FolderKeys) {
	t.Helper()
	sec, k := folderKeys(t)
	key := k.ReadWrite
	if access == "ro" {
		key = k.ReadOnly
	}
	if _, err := agent.JoinFolder(t.Context(), model.JoinRequest{Key: key, Path: t.TempDir(), Label: label}); err != nil {
		t.Fatal(err)
	}
	return sec.FolderID(), k
}

// newInvite returns a link made by a separate fake agent to a new folder.
func newInvite(t *testing.T, label string, req model.InviteRequest) model.Invite {
	t.Helper()
	inviter := admintest.New("inviter")
	id, _ := keyedFolder(t, inviter, "rw", label)
	inv, err := inviter.CreateInvite(t.Context(), id, req)
	if err != nil {
		t.Fatal(err)
	}
	return inv
}

// signedInvite makes a link with invite.New, for fields the fake does not
// choose (an empty label, a past expiry).
func signedInvite(t *testing.T, c invite.Capability) string {
	t.Helper()
	k, err := identity.Generate()
	if err != nil {
		t.Fatal(err)
	}
	inv, err := invite.New(c, k)
	if err != nil {
		t.Fatal(err)
	}
	return inv.Link()
}

// wantFail runs a command that must fail with code and a one-line message
// containing msg, and checks that it did not call agent.method (if given).
func wantFail(t *testing.T, agent *admintest.Agent, method string, code int, msg string, args ...string) {
	t.Helper()
	before := 0
	if method != "" {
		before = agent.Calls(method)
	}
	got, stdout, stderr := runCLI(t, args...)
	if got != code {
		t.Errorf("shoal %s: exit %d, want %d (stderr %q)", strings.Join(args, " "), got, code, stderr)
	}
	checkOneLineError(t, stdout, stderr)
	if !strings.Contains(stderr, msg) {
		t.Errorf("shoal %s: stderr %q does not contain %q", strings.Join(args, " "), stderr, msg)
	}
	if method != "" && agent.Calls(method) != before {
		t.Errorf("shoal %s: invalid input reached agent.%s", strings.Join(args, " "), method)
	}
}

func TestFolderKeysCommand(t *testing.T) {
	home := t.TempDir()
	agent := startAgent(t, home)
	rwID, rw := keyedFolder(t, agent, "rw", "Team")
	roID, ro := keyedFolder(t, agent, "ro", "")
	mustRun(t, "--home", home, "folder", "add", t.TempDir(), "--id", "paired")

	out := mustRun(t, "--home", home, "folder", "keys", rwID)
	wantLines(t, "folder keys", out, "Read-write key: "+rw.ReadWrite+"\n", "Read-only key: "+rw.ReadOnly+"\n",
		"Encrypted-peer key: "+rw.Encrypted+"\n", "Anyone with one of these keys gets that access")
	var got map[string]string
	if err := json.Unmarshal([]byte(mustRun(t, "--home", home, "folder", "keys", rwID, "--json")), &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got["rw"] != rw.ReadWrite || got["ro"] != rw.ReadOnly || got["encrypted"] != rw.Encrypted {
		t.Fatalf("folder keys --json: %v", got)
	}

	// A read-only member: no read-write key, in either form.
	out = mustRun(t, "--home", home, "folder", "keys", roID)
	if strings.Contains(out, "Read-write") || !strings.Contains(out, "Read-only key: "+ro.ReadOnly) {
		t.Fatalf("read-only folder keys:\n%s", out)
	}
	js := mustRun(t, "--home", home, "folder", "keys", roID, "--json")
	got = nil
	if err := json.Unmarshal([]byte(js), &got); err != nil {
		t.Fatal(err)
	}
	if _, ok := got["rw"]; ok || len(got) != 2 || got["ro"] != ro.ReadOnly || got["encrypted"] != ro.Encrypted {
		t.Fatalf("read-only folder keys --json: %s", js)
	}

	wantFail(t, agent, "", 1, "folder nope: not found", "--home", home, "folder", "keys", "nope")
	wantFail(t, agent, "", 1, "has no key", "--home", home, "folder", "keys", "paired")
	wantFail(t, agent, "FolderKeys", 1, `invalid folder ID "a b"`, "--home", home, "folder", "keys", "a b")
	wantFail(t, agent, "FolderKeys", 2, "missing FOLDER_ID", "--home", home, "folder", "keys")
}

func TestFolderJoinCommand(t *testing.T) {
	home := t.TempDir()
	agent := startAgent(t, home)
	sec, k := folderKeys(t)
	peer := newID(t)
	parent := t.TempDir()
	t.Chdir(parent)

	// A pasted key with spaces and a line break is sent in canonical form;
	// the relative path is sent absolute and need not exist.
	pasted := "  " + strings.ToUpper(k.ReadOnly[:40]) + " \n" + k.ReadOnly[40:] + "\n"
	out := mustRun(t, "--home", home, "folder", "join", pasted, "sub/team", "--peer", peer.String()+"@quic://192.0.2.7:22100", "--label", "Team")
	want := "Joined folder " + sec.FolderID() + " (read-only) at " + filepath.Join(parent, "sub", "team") + ".\n"
	if out != want {
		t.Fatalf("folder join printed %q, want %q", out, want)
	}
	reqs := agent.JoinRequests()
	if len(reqs) != 1 || reqs[0].Key != k.ReadOnly || reqs[0].Path != filepath.Join(parent, "sub", "team") || reqs[0].Label != "Team" ||
		len(reqs[0].Peers) != 1 || reqs[0].Peers[0] != peer.String()+"@quic://192.0.2.7:22100" {
		t.Fatalf("join requests %+v", reqs)
	}

	// Without --peer: a hint on reaching a member.
	sec2, k2 := folderKeys(t)
	out = mustRun(t, "--home", home, "folder", "join", k2.ReadWrite, t.TempDir())
	wantLines(t, "folder join", out, "Joined folder "+sec2.FolderID()+" (read-write) at ", "discovery comes later", "shoal device add DEVICE_ID --addr ADDR")

	file := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, k3 := folderKeys(t)
	wantFail(t, agent, "JoinFolder", 1, "invalid folder key: not a folder key", "--home", home, "folder", "join", "hello", t.TempDir())
	wantFail(t, agent, "JoinFolder", 1, "invalid folder key: key checksum does not match", "--home", home, "folder", "join", k3.ReadOnly[:len(k3.ReadOnly)-1]+"a", t.TempDir())
	wantFail(t, agent, "JoinFolder", 1, "is not a directory", "--home", home, "folder", "join", k3.ReadOnly, file)
	wantFail(t, agent, "JoinFolder", 1, "empty --peer", "--home", home, "folder", "join", k3.ReadOnly, t.TempDir(), "--peer", " ")
	wantFail(t, agent, "JoinFolder", 1, "--label is empty", "--home", home, "folder", "join", k3.ReadOnly, t.TempDir(), "--label", "")
	wantFail(t, agent, "JoinFolder", 2, "missing PATH", "--home", home, "folder", "join", k3.ReadOnly)
	wantFail(t, agent, "", 1, "already has it", "--home", home, "folder", "join", k.ReadWrite, t.TempDir())
	wantFail(t, agent, "", 1, "peer", "--home", home, "folder", "join", k3.ReadOnly, t.TempDir(), "--peer", "nobody")
}

func TestInviteCommand(t *testing.T) {
	home := t.TempDir()
	agent := startAgent(t, home)
	id, _ := keyedFolder(t, agent, "rw", "Team")
	roID, _ := keyedFolder(t, agent, "ro", "Photos")
	mustRun(t, "--home", home, "folder", "add", t.TempDir(), "--id", "paired")

	out := mustRun(t, "--home", home, "invite", id)
	lines := strings.Split(out, "\n")
	if !strings.HasPrefix(lines[0], "shoal://join/") || lines[2] != "If the link gets mangled in chat, send this instead:" || !strings.HasPrefix(lines[3], "SHOAL-") {
		t.Fatalf("invite printed:\n%s", out)
	}
	wantLines(t, "invite", out, "It lets any number of devices join folder Team ("+id+") as read-write members until ", "(in 6d 23h)", "shoal join LINK")
	if strings.Contains(out, "approval") {
		t.Errorf("invite without --approve mentions approval:\n%s", out)
	}
	for _, text := range []string{lines[0], lines[3]} {
		inv, err := invite.Decode(text)
		if err != nil || inv.FolderID != id || inv.Access != "rw" || inv.Inviter != agent.ID() {
			t.Fatalf("decoding %q: %+v %v", text, inv, err)
		}
	}
	calls := agent.InviteRequests()
	if len(calls) != 1 || calls[0].Folder != id || calls[0].Request != (model.InviteRequest{ExpiresSeconds: 7 * 24 * 3600}) {
		t.Fatalf("invite requests %+v", calls)
	}

	out = mustRun(t, "--home", home, "invite", id, "--access", "ro", "--expires", "36h", "--uses", "1", "--approve")
	wantLines(t, "invite", out, "It lets 1 device join folder Team ("+id+") as read-only members", "(in 1d 11h)", "Each one waits for your approval: see them with 'shoal pending'.")
	mustRun(t, "--home", home, "invite", id, "--expires", "1.5d", "--uses", "3")
	mustRun(t, "--home", home, "invite", id, "--expires", "90m", "--access", "encrypted")
	calls = agent.InviteRequests()
	wantReqs := []model.InviteRequest{
		{Access: "ro", ExpiresSeconds: 36 * 3600, Uses: 1, Approve: true},
		{ExpiresSeconds: 36 * 3600, Uses: 3},
		{Access: "encrypted", ExpiresSeconds: 5400},
	}
	for i, w := range wantReqs {
		if calls[i+1].Request != w {
			t.Errorf("invite request %d = %+v, want %+v", i+1, calls[i+1].Request, w)
		}
	}

	var inv model.Invite
	if err := json.Unmarshal([]byte(mustRun(t, "--home", home, "invite", roID, "--json")), &inv); err != nil {
		t.Fatal(err)
	}
	if inv.Folder != roID || inv.Access != "ro" || inv.Label != "Photos" || inv.ID == "" || !strings.HasPrefix(inv.Link, "shoal://join/") || !strings.HasPrefix(inv.ChatForm, "SHOAL-") {
		t.Fatalf("invite --json: %+v", inv)
	}

	out = mustRun(t, "--home", home, "invite", id, "--qr")
	if !strings.Contains(out, "▀") && !strings.Contains(out, "▄") || strings.Count(out, "\n") < 20 {
		t.Fatalf("invite --qr printed no QR code:\n%s", out)
	}

	h := []string{"--home", home}
	wantFail(t, agent, "CreateInvite", 1, `invalid --expires "soon"`, append(h, "invite", id, "--expires", "soon")...)
	wantFail(t, agent, "CreateInvite", 1, `invalid --expires "-1d"`, append(h, "invite", id, "--expires", "-1d")...)
	wantFail(t, agent, "CreateInvite", 1, "at least a second", append(h, "invite", id, "--expires", "0s")...)
	wantFail(t, agent, "CreateInvite", 1, "at most 10 years", append(h, "invite", id, "--expires", "4000d")...)
	wantFail(t, agent, "CreateInvite", 1, "at most 10 years", append(h, "invite", id, "--expires", "90000h")...)
	wantFail(t, agent, "CreateInvite", 1, `invalid --access "admin" (use rw, ro or encrypted)`, append(h, "invite", id, "--access", "admin")...)
	wantFail(t, agent, "CreateInvite", 1, "invalid --uses -1", append(h, "invite", id, "--uses", "-1")...)
	wantFail(t, agent, "CreateInvite", 1, "invalid --uses 1000001", append(h, "invite", id, "--uses", "1000001")...)
	wantFail(t, agent, "CreateInvite", 2, "--json and --qr cannot be used together", append(h, "invite", id, "--json", "--qr")...)
	wantFail(t, agent, "CreateInvite", 1, `invalid folder ID "a/b"`, append(h, "invite", "a/b")...)
	wantFail(t, agent, "", 1, "folder nope: not found", append(h, "invite", "nope")...)
	wantFail(t, agent, "", 1, "no key", append(h, "invite", "paired")...)
	wantFail(t, agent, "", 1, "cannot invite with rw access", append(h, "invite", roID, "--access", "rw")...)
}

func TestParseLifetime(t *testing.T) {
	good := map[string]time.Duration{
		"7d": 7 * 24 * time.Hour, "1.5d": 36 * time.Hour, "36h": 36 * time.Hour, "90m": 90 * time.Minute,
		"1s": time.Second, " 2d ": 48 * time.Hour, "3653d": maxInviteLifetime,
	}
	for s, want := range good {
		if d, err := parseLifetime(s); err != nil || d != want {
			t.Errorf("parseLifetime(%q) = %v, %v; want %v", s, d, err, want)
		}
	}
	for _, s := range []string{"", "d", "7", "7 days", "-1d", "NaNd", "Infd", "1e300d", "3654d", "0d", "500ms", "-5m", "1w"} {
		if d, err := parseLifetime(s); err == nil {
			t.Errorf("parseLifetime(%q) = %v, want an error", s, d)
		}
	}
}

func TestJoinCommand(t *testing.T) {
	home := t.TempDir()
	agent := startAgent(t, home)
	userHome := t.TempDir()
	t.Setenv("HOME", userHome)

	t.Run("joined", func(t *testing.T) {
		inv := newInvite(t, "Team Docs", model.InviteRequest{Access: "ro"})
		agent.SetJoinOutcome(admintest.JoinOutcome{State: model.JoinJoined, AfterPolls: 1})
		start := time.Now()
		out := mustRun(t, "--home", home, "join", inv.Link)
		path := filepath.Join(userHome, "Shoal", "Team Docs")
		wantLines(t, "join", out, "Joining folder Team Docs ("+inv.Folder+") from ",
			"Joined folder "+inv.Folder+" (read-only) at "+path+".\n")
		if d := time.Since(start); d < joinPoll {
			t.Errorf("joined after %v: the join was not polled", d)
		}
		reqs := agent.JoinInviteRequests()
		if len(reqs) != 1 || reqs[0].Path != path || reqs[0].Link != inv.Link {
			t.Fatalf("join requests %+v", reqs)
		}
		fs, _ := agent.Folders(t.Context())
		if len(fs) != 1 || fs[0].ID != inv.Folder || fs[0].Path != path {
			t.Fatalf("folders after join %+v", fs)
		}
	})

	t.Run("pending", func(t *testing.T) {
		inv := newInvite(t, "Photos", model.InviteRequest{Approve: true})
		agent.SetJoinOutcome(admintest.JoinOutcome{State: model.JoinPending})
		dir := filepath.Join(t.TempDir(), "photos")
		out := mustRun(t, "--home", home, "join", "  "+inv.ChatForm+"\n", dir)
		wantLines(t, "join", out, "Waiting for approval: ask the person who invited you to run 'shoal approve "+agent.ID().Short()+"'.\n",
			"added at "+dir)
	})

	t.Run("failed", func(t *testing.T) {
		inv := newInvite(t, "Music", model.InviteRequest{})
		agent.SetJoinOutcome(admintest.JoinOutcome{State: model.JoinFailed, Error: "the invite was used up; ask for a new one", AfterPolls: 1})
		code, stdout, stderr := runCLI(t, "--home", home, "join", inv.Link, t.TempDir())
		if code != 1 || stderr != "shoal: joining folder "+inv.Folder+" failed: the invite was used up; ask for a new one\n" {
			t.Fatalf("exit %d, stderr %q", code, stderr)
		}
		if !strings.Contains(stdout, "Joining folder Music") {
			t.Errorf("stdout %q", stdout)
		}
	})

	t.Run("still trying", func(t *testing.T) {
		inv := newInvite(t, "Slow", model.InviteRequest{})
		agent.SetJoinOutcome(admintest.JoinOutcome{})
		polls := agent.Calls("Joins")
		out := mustRun(t, "--home", home, "join", inv.Link, t.TempDir(), "--wait", "1200ms")
		wantLines(t, "join", out, "Still trying to reach the inviter; the agent keeps trying in the background ('shoal status').\n")
		if n := agent.Calls("Joins") - polls; n < 1 || n > 3 {
			t.Errorf("polled %d times in 1.2 s, want about 2", n)
		}
		out = mustRun(t, "--home", home, "status")
		wantLines(t, "status", out, "Joining by invite (", "Slow ("+inv.Folder+")", "reaching the inviter", "waiting for approval",
			"failed: the invite was used up")
		if _, joining, _ := strings.Cut(out, "Joining by invite"); strings.Contains(joining, "Team Docs") {
			t.Errorf("status lists a finished join:\n%s", out)
		}
		// --wait 0 does not wait at all.
		inv = newInvite(t, "Slow2", model.InviteRequest{})
		polls = agent.Calls("Joins")
		out = mustRun(t, "--home", home, "join", inv.Link, t.TempDir(), "--wait", "0")
		if !strings.Contains(out, "Still trying") || agent.Calls("Joins") != polls {
			t.Errorf("--wait 0: %q, %d polls", out, agent.Calls("Joins")-polls)
		}
	})

	t.Run("default path from label or folder ID", func(t *testing.T) {
		agent.SetJoinOutcome(admintest.JoinOutcome{State: model.JoinJoined})
		link := signedInvite(t, invite.Capability{FolderID: "nolabel", Access: "rw", Expires: time.Now().Add(time.Hour)})
		out := mustRun(t, "--home", home, "join", link)
		wantLines(t, "join", out, "at "+filepath.Join(userHome, "Shoal", "nolabel")+".")
		link = signedInvite(t, invite.Capability{FolderID: "evil", Label: "../../etc", Access: "rw", Expires: time.Now().Add(time.Hour)})
		out = mustRun(t, "--home", home, "join", link)
		wantLines(t, "join", out, "at "+filepath.Join(userHome, "Shoal", "..-..-etc")+".")
	})

	t.Run("errors", func(t *testing.T) {
		h := []string{"--home", home}
		inv := newInvite(t, "X", model.InviteRequest{})
		file := filepath.Join(t.TempDir(), "f")
		if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		expired := signedInvite(t, invite.Capability{FolderID: "old", Access: "rw", Expires: time.Now().Add(-time.Hour)})
		wantFail(t, agent, "JoinInvite", 1, "shoal: invite link is garbled or cut short", append(h, "join", "shoal://join/aaaa")...)
		wantFail(t, agent, "JoinInvite", 1, "invite link is garbled", append(h, "join", inv.Link[:len(inv.Link)-5])...)
		wantFail(t, agent, "JoinInvite", 1, "invite link is garbled", append(h, "join", "https://example.com/")...)
		wantFail(t, agent, "JoinInvite", 1, "invite link has expired", append(h, "join", expired)...)
		wantFail(t, agent, "JoinInvite", 1, "is not a directory", append(h, "join", inv.Link, file)...)
		wantFail(t, agent, "JoinInvite", 1, "invalid --wait", append(h, "join", inv.Link, "--wait", "-1s")...)
		wantFail(t, agent, "JoinInvite", 2, "missing LINK", append(h, "join")...)
		wantFail(t, agent, "JoinInvite", 2, `unexpected argument "c"`, append(h, "join", inv.Link, "b", "c")...)
		// The agent refuses: it has the folder already (joined above).
		first := agent.JoinInviteRequests()[0]
		wantFail(t, agent, "", 1, "already has it", append(h, "join", first.Link, t.TempDir())...)
	})
}

func TestJoinDirName(t *testing.T) {
	tests := map[string]string{
		"Team Docs": "Team Docs", "": "ID", ".": "ID", "..": "ID", " ": "ID", "a/b": "a-b", `a\b`: "a-b",
		"../..": "..-..", "/": "-", ".hidden": ".hidden", "Fotos 2024 ☀": "Fotos 2024 ☀",
	}
	for label, want := range tests {
		if got := joinDirName(label, "ID"); got != want {
			t.Errorf("joinDirName(%q) = %q, want %q", label, got, want)
		}
	}
}

func TestPendingApproveDeny(t *testing.T) {
	home := t.TempDir()
	agent := startAgent(t, home)
	mustRun(t, "--home", home, "folder", "add", t.TempDir(), "--id", "docs", "--label", "Docs")
	mustRun(t, "--home", home, "folder", "add", t.TempDir(), "--id", "pics")
	if out := mustRun(t, "--home", home, "pending"); out != "No devices are waiting for approval.\n" {
		t.Fatalf("empty pending: %q", out)
	}
	if out := mustRun(t, "--home", home, "pending", "--json"); strings.TrimSpace(out) != "[]" {
		t.Fatalf("empty pending --json: %q", out)
	}

	a, b := newID(t), newID(t)
	agent.AddPending(model.PendingDevice{ID: a.String(), Name: "ben-phone", Folder: "docs", Label: "Docs", Access: "ro", Since: time.Now().Add(-5 * time.Minute)})
	agent.AddPending(model.PendingDevice{ID: b.String(), Folder: "docs", Label: "Docs", Access: "rw"})
	agent.AddPending(model.PendingDevice{ID: b.String(), Folder: "pics", Access: "encrypted"})

	out := mustRun(t, "--home", home, "pending")
	wantLines(t, "pending", out, "DEVICE", "NAME", "FOLDER", "ACCESS", "WAITING SINCE",
		a.Short(), "ben-phone", "Docs (docs)", "read-only", "(5m ", b.Short(), "encrypted peer",
		"check the ID with the person", "shoal approve DEVICE")
	if strings.Contains(out, a.String()) {
		t.Errorf("pending shows the full ID:\n%s", out)
	}
	var ps []model.PendingDevice
	if err := json.Unmarshal([]byte(mustRun(t, "--home", home, "pending", "--json")), &ps); err != nil {
		t.Fatal(err)
	}
	if len(ps) != 3 || ps[0].ID != a.String() || ps[0].Name != "ben-phone" || ps[2].Folder != "pics" {
		t.Fatalf("pending --json: %+v", ps)
	}

	h := []string{"--home", home}
	wantFail(t, agent, "Deny", 1, "waits to join 2 folders (docs, pics); choose one with --folder", append(h, "deny", b.Short())...)
	wantFail(t, agent, "Approve", 1, `no device waiting for approval has the ID "nobody1"`, append(h, "approve", "nobody1")...)
	wantFail(t, agent, "Approve", 1, `invalid folder ID "a b"`, append(h, "approve", a.String(), "--folder", "a b")...)
	wantFail(t, agent, "Approve", 2, "missing DEVICE", append(h, "approve")...)
	wantFail(t, agent, "", 1, "not waiting to join folder pics", append(h, "approve", a.String(), "--folder", "pics")...)
	wantFail(t, agent, "", 1, "is not waiting for approval", append(h, "approve", newID(t).String())...)

	out = mustRun(t, "--home", home, "approve", a.Short())
	if out != "Approved ben-phone ("+a.Short()+"): it joins folder Docs (docs).\n" {
		t.Fatalf("approve printed %q", out)
	}
	out = mustRun(t, "--home", home, "deny", b.Short(), "--folder", "pics")
	if out != "Denied "+b.Short()+": it will not join folder pics.\n" {
		t.Fatalf("deny printed %q", out)
	}
	out = mustRun(t, "--home", home, "approve", b.String()) // one folder left
	if out != "Approved "+b.Short()+": it joins folder Docs (docs).\n" {
		t.Fatalf("approve by full ID printed %q", out)
	}
	want := []admintest.Decision{
		{Device: a.String(), Folder: "docs", Approved: true},
		{Device: b.String(), Folder: "pics"},
		{Device: b.String(), Folder: "docs", Approved: true},
	}
	ds := agent.Decisions()
	if len(ds) != len(want) {
		t.Fatalf("decisions %+v", ds)
	}
	for i := range want {
		if ds[i] != want[i] {
			t.Errorf("decision %d = %+v, want %+v", i, ds[i], want[i])
		}
	}
	fs, _ := agent.Folders(t.Context())
	if len(fs[0].Devices) != 2 {
		t.Errorf("approved devices not sharing docs: %+v", fs[0])
	}

	// Two waiting devices that show the same short ID.
	c, d := newID(t), newID(t)
	agent.AddPending(model.PendingDevice{ID: c.String(), ShortID: "Same123", Folder: "docs"})
	agent.AddPending(model.PendingDevice{ID: d.String(), ShortID: "Same123", Folder: "docs"})
	wantFail(t, agent, "Approve", 1, `"Same123" matches 2 waiting devices`, append(h, "approve", "Same123")...)
}
