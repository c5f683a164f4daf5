package admin

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoalsync/shoal/admin/admintest"
	"github.com/shoalsync/shoal/crypto/folderkey"
	"github.com/shoalsync/shoal/crypto/identity"
	"github.com/shoalsync/shoal/crypto/invite"
	"github.com/shoalsync/shoal/sync/config"
	"github.com/shoalsync/shoal/sync/model"
)

// newSecret returns a fresh folder secret and its printable keys.
func newSecret(t *testing.T) (*folderkey.Secret, model.FolderKeys) {
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

// inviteLink makes a link to a keyed folder on a separate fake agent, the
// inviter.
func inviteLink(t *testing.T, req model.InviteRequest) (model.Invite, *admintest.Agent) {
	t.Helper()
	inviter := admintest.New("inviter")
	_, k := newSecret(t)
	f, err := inviter.JoinFolder(t.Context(), model.JoinRequest{Key: k.ReadWrite, Path: t.TempDir(), Label: "Shared"})
	if err != nil {
		t.Fatal(err)
	}
	inv, err := inviter.CreateInvite(t.Context(), f.ID, req)
	if err != nil {
		t.Fatal(err)
	}
	return inv, inviter
}

func TestKeyRoutes(t *testing.T) {
	ts := startServer(t, Options{})
	call := func(method, path, body string, want int) []byte {
		t.Helper()
		code, b := ts.call(t, method, path, body)
		if code != want {
			t.Fatalf("%s %s = %d %s, want %d", method, path, code, b, want)
		}
		return b
	}
	rwSec, rw := newSecret(t)
	roSec, ro := newSecret(t)
	peer := newDeviceID(t)
	dir := t.TempDir()

	t.Run("join by key and list keys", func(t *testing.T) {
		f := decode[model.FolderStatus](t, call("POST", "/api/v1/folders/join",
			`{"key":`+jsonString(rw.ReadWrite)+`,"path":`+jsonString(dir+"/rw/")+`,"label":"Team","peers":["`+peer+`@quic://192.0.2.7:22100"]}`, 201))
		if f.ID != rwSec.FolderID() || f.Path != dir+"/rw" || f.Label != "Team" || f.Mode != config.ModeSendReceive || len(f.Devices) != 1 || f.Devices[0] != peer {
			t.Fatalf("joined folder %+v", f)
		}
		got := decode[map[string]string](t, call("GET", "/api/v1/folders/"+f.ID+"/keys", "", 200))
		if len(got) != 3 || got["rw"] != rw.ReadWrite || got["ro"] != rw.ReadOnly || got["encrypted"] != rw.Encrypted {
			t.Fatalf("keys %v", got)
		}

		// A read-only member holds no read-write key: the member is absent.
		f = decode[model.FolderStatus](t, call("POST", "/api/v1/folders/join", `{"key":`+jsonString(ro.ReadOnly)+`,"path":`+jsonString(dir+"/ro")+`}`, 201))
		if f.ID != roSec.FolderID() || f.Mode != config.ModeReceiveOnly || f.Label != "ro" {
			t.Fatalf("read-only folder %+v", f)
		}
		b := call("GET", "/api/v1/folders/"+f.ID+"/keys", "", 200)
		got = decode[map[string]string](t, b)
		if _, ok := got["rw"]; ok || len(got) != 2 || got["ro"] != ro.ReadOnly || got["encrypted"] != ro.Encrypted {
			t.Fatalf("read-only keys %s", b)
		}
	})

	t.Run("invites", func(t *testing.T) {
		inv := decode[model.Invite](t, call("POST", "/api/v1/folders/"+rwSec.FolderID()+"/invites", `{}`, 201))
		if inv.Folder != rwSec.FolderID() || inv.Access != "rw" || inv.Link == "" || inv.ChatForm == "" || time.Until(inv.Expires) < 6*24*time.Hour {
			t.Fatalf("invite %+v", inv)
		}
		for _, text := range []string{inv.Link, inv.ChatForm} {
			d, err := invite.Decode(text)
			if err != nil || d.FolderID != inv.Folder || d.Inviter != ts.agent.ID() {
				t.Fatalf("decoding %q: %+v %v", text, d, err)
			}
		}
		inv = decode[model.Invite](t, call("POST", "/api/v1/folders/"+rwSec.FolderID()+"/invites", `{"access":"ro","expiresSeconds":3600,"uses":2,"approve":true}`, 201))
		if inv.Access != "ro" || inv.Uses != 2 || !inv.Approve || time.Until(inv.Expires) > time.Hour {
			t.Fatalf("invite %+v", inv)
		}
		calls := ts.agent.InviteRequests()
		if len(calls) != 2 || calls[1].Request != (model.InviteRequest{Access: "ro", ExpiresSeconds: 3600, Uses: 2, Approve: true}) {
			t.Fatalf("invite requests %+v", calls)
		}
		// A read-only member cannot hand out write access.
		msg := errorMessage(t, call("POST", "/api/v1/folders/"+roSec.FolderID()+"/invites", `{"access":"rw"}`, 400))
		if !strings.Contains(msg, "cannot invite with rw") {
			t.Fatalf("message %q", msg)
		}
	})

	t.Run("join by invite", func(t *testing.T) {
		inv, inviter := inviteLink(t, model.InviteRequest{Access: "ro"})
		js := decode[model.JoinStatus](t, call("POST", "/api/v1/joins", `{"link":`+jsonString(inv.ChatForm)+`,"path":`+jsonString(dir+"/invited")+`}`, 201))
		if js.InviteID != inv.ID || js.Folder != inv.Folder || js.Access != "ro" || js.State != model.JoinConnecting || js.Inviter != inviter.ID().String() || js.Path != dir+"/invited" {
			t.Fatalf("join %+v (invite %+v)", js, inv)
		}
		all := decode[[]model.JoinStatus](t, call("GET", "/api/v1/joins", "", 200))
		if len(all) != 1 || all[0].InviteID != inv.ID {
			t.Fatalf("joins %+v", all)
		}
		msg := errorMessage(t, call("POST", "/api/v1/joins", `{"link":`+jsonString(inv.Link)+`,"path":"/elsewhere"}`, 409))
		if !strings.Contains(msg, "already joining") {
			t.Fatalf("message %q", msg)
		}
		// A link this device made.
		own := decode[model.Invite](t, call("POST", "/api/v1/folders/"+rwSec.FolderID()+"/invites", `{}`, 201))
		call("POST", "/api/v1/joins", `{"link":`+jsonString(own.Link)+`,"path":"/x"}`, 400)
	})

	t.Run("pending, approve and deny", func(t *testing.T) {
		if b := call("GET", "/api/v1/pending", "", 200); strings.TrimSpace(string(b)) != "[]" {
			t.Fatalf("empty pending %s", b)
		}
		a, b, c := newDeviceID(t), newDeviceID(t), newDeviceID(t)
		ts.agent.AddPending(model.PendingDevice{ID: a, Name: "phone", Folder: rwSec.FolderID(), Access: "ro"})
		ts.agent.AddPending(model.PendingDevice{ID: b, Folder: rwSec.FolderID(), Access: "rw"})
		ts.agent.AddPending(model.PendingDevice{ID: c, Folder: rwSec.FolderID(), Access: "rw"})
		ts.agent.AddPending(model.PendingDevice{ID: c, Folder: roSec.FolderID(), Access: "ro"})
		ps := decode[[]model.PendingDevice](t, call("GET", "/api/v1/pending", "", 200))
		if len(ps) != 4 || ps[0].ID != a || ps[0].Name != "phone" || ps[0].ShortID == "" {
			t.Fatalf("pending %+v", ps)
		}
		if b := call("POST", "/api/v1/pending/"+a+"/approve", `{}`, 204); len(b) != 0 {
			t.Fatalf("204 with body %q", b)
		}
		call("POST", "/api/v1/pending/"+b+"/deny", "", 204) // no body at all
		call("POST", "/api/v1/pending/"+c+"/approve", `{"folder":"`+roSec.FolderID()+`"}`, 204)
		ds := ts.agent.Decisions()
		want := []admintest.Decision{
			{Device: a, Folder: rwSec.FolderID(), Approved: true},
			{Device: b, Folder: rwSec.FolderID()},
			{Device: c, Folder: roSec.FolderID(), Approved: true},
		}
		if len(ds) != len(want) {
			t.Fatalf("decisions %+v", ds)
		}
		for i := range want {
			if ds[i] != want[i] {
				t.Fatalf("decision %d = %+v, want %+v", i, ds[i], want[i])
			}
		}
		call("POST", "/api/v1/pending/"+a+"/approve", `{}`, 404) // decided already
	})

	t.Run("literal join segment next to folder IDs", func(t *testing.T) {
		// A folder may be called "join": its own routes still work, and
		// POST /folders/join means joining by key.
		if _, err := ts.agent.AddFolder(t.Context(), model.AddFolderRequest{Path: dir + "/j", ID: "join"}); err != nil {
			t.Fatal(err)
		}
		ts.agent.SetFolderKeys("join", rw)
		call("POST", "/api/v1/folders/join/invites", `{}`, 201)
		call("GET", "/api/v1/folders/join/keys", "", 200)
		call("PATCH", "/api/v1/folders/join", `{"label":"J"}`, 200)
		msg := errorMessage(t, call("POST", "/api/v1/folders/join", `{"path":"/x"}`, 400))
		if !strings.Contains(msg, "folder key is missing") {
			t.Fatalf("POST /folders/join answered %q", msg)
		}
		call("GET", "/api/v1/folders/join", "", 405)
		call("DELETE", "/api/v1/folders/join", "", 204)
	})
}

func TestKeyRouteErrors(t *testing.T) {
	ts := startServer(t, Options{})
	sec, k := newSecret(t)
	if _, err := ts.agent.JoinFolder(t.Context(), model.JoinRequest{Key: k.ReadWrite, Path: t.TempDir()}); err != nil {
		t.Fatal(err)
	}
	if _, err := ts.agent.AddFolder(t.Context(), model.AddFolderRequest{Path: t.TempDir(), ID: "paired"}); err != nil {
		t.Fatal(err)
	}
	keyed := sec.FolderID()
	dev := newDeviceID(t)
	ts.agent.AddPending(model.PendingDevice{ID: dev, Folder: keyed})
	ts.agent.AddPending(model.PendingDevice{ID: dev, Folder: "paired"})
	_, other := newSecret(t)
	mistyped := other.ReadOnly[:20] + strings.Map(func(r rune) rune {
		if r == 'a' {
			return 'b'
		}
		return 'a'
	}, other.ReadOnly[20:21]) + other.ReadOnly[21:]

	key, err := identity.Generate()
	if err != nil {
		t.Fatal(err)
	}
	old, err := invite.New(invite.Capability{FolderID: "x", Access: "rw", Expires: time.Now().Add(-time.Hour)}, key)
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("a", 400)
	peers := `["` + strings.Repeat(`a@b","`, 256) + `a@b"]`

	tests := []struct {
		name, method, path, body string
		want                     int
		wantMsg                  string
		reaches                  string // the agent method the request reaches, if any
	}{
		{name: "keys of unknown folder", method: "GET", path: "/api/v1/folders/nope/keys", want: 404, reaches: "FolderKeys"},
		{name: "keys of paired folder", method: "GET", path: "/api/v1/folders/paired/keys", want: 400, wantMsg: "has no key", reaches: "FolderKeys"},
		{name: "keys with bad folder ID", method: "GET", path: "/api/v1/folders/a%20b/keys", want: 400, wantMsg: "invalid folder ID"},

		{name: "join without key", method: "POST", path: "/api/v1/folders/join", body: `{"path":"/x"}`, want: 400, wantMsg: "folder key is missing"},
		{name: "join with blank key", method: "POST", path: "/api/v1/folders/join", body: `{"key":" \n","path":"/x"}`, want: 400, wantMsg: "folder key is missing"},
		{name: "join with long key", method: "POST", path: "/api/v1/folders/join", body: `{"key":"` + long + long + `","path":"/x"}`, want: 400, wantMsg: "longer than 512"},
		{name: "join without path", method: "POST", path: "/api/v1/folders/join", body: `{"key":"k"}`, want: 400, wantMsg: "folder path is missing"},
		{name: "join relative path", method: "POST", path: "/api/v1/folders/join", body: `{"key":"k","path":"rel"}`, want: 400, wantMsg: "not absolute"},
		{name: "join bad label", method: "POST", path: "/api/v1/folders/join", body: `{"key":"k","path":"/x","label":"a\u0007"}`, want: 400, wantMsg: "folder label"},
		{name: "join empty peer", method: "POST", path: "/api/v1/folders/join", body: `{"key":"k","path":"/x","peers":[" "]}`, want: 400, wantMsg: "empty peer"},
		{name: "join too many peers", method: "POST", path: "/api/v1/folders/join", body: `{"key":"k","path":"/x","peers":` + peers + `}`, want: 400, wantMsg: "too many peers"},
		{name: "join unknown field", method: "POST", path: "/api/v1/folders/join", body: `{"key":"k","path":"/x","secret":1}`, want: 400, wantMsg: "secret"},
		{name: "join not a key", method: "POST", path: "/api/v1/folders/join", body: `{"key":"hello","path":"/x"}`, want: 400, wantMsg: "not a folder key", reaches: "JoinFolder"},
		{name: "join mistyped key", method: "POST", path: "/api/v1/folders/join", body: `{"key":"` + mistyped + `","path":"/x"}`, want: 400, wantMsg: "mistyped", reaches: "JoinFolder"},
		{name: "join folder it has", method: "POST", path: "/api/v1/folders/join", body: `{"key":"` + k.ReadOnly + `","path":"/x"}`, want: 409, wantMsg: "already has it", reaches: "JoinFolder"},
		{name: "join bad peer", method: "POST", path: "/api/v1/folders/join", body: `{"key":"` + other.ReadOnly + `","path":"/x","peers":["nobody"]}`, want: 400, wantMsg: "peer", reaches: "JoinFolder"},

		{name: "invite bad access", method: "POST", path: "/api/v1/folders/" + keyed + "/invites", body: `{"access":"admin"}`, want: 400, wantMsg: `invalid access "admin"`},
		{name: "invite negative expiry", method: "POST", path: "/api/v1/folders/" + keyed + "/invites", body: `{"expiresSeconds":-1}`, want: 400, wantMsg: "expiresSeconds"},
		{name: "invite expiry past 10 years", method: "POST", path: "/api/v1/folders/" + keyed + "/invites", body: `{"expiresSeconds":315619201}`, want: 400, wantMsg: "expiresSeconds"},
		{name: "invite negative uses", method: "POST", path: "/api/v1/folders/" + keyed + "/invites", body: `{"uses":-1}`, want: 400, wantMsg: "uses"},
		{name: "invite too many uses", method: "POST", path: "/api/v1/folders/" + keyed + "/invites", body: `{"uses":1000001}`, want: 400, wantMsg: "uses"},
		{name: "invite empty body", method: "POST", path: "/api/v1/folders/" + keyed + "/invites", want: 400, wantMsg: "empty"},
		{name: "invite bad folder ID", method: "POST", path: "/api/v1/folders/a%20b/invites", body: `{}`, want: 400, wantMsg: "invalid folder ID"},
		{name: "invite unknown folder", method: "POST", path: "/api/v1/folders/nope/invites", body: `{}`, want: 404, reaches: "CreateInvite"},
		{name: "invite paired folder", method: "POST", path: "/api/v1/folders/paired/invites", body: `{}`, want: 400, wantMsg: "no key", reaches: "CreateInvite"},
		{name: "invites with GET", method: "GET", path: "/api/v1/folders/" + keyed + "/invites", want: 405},

		{name: "join invite without link", method: "POST", path: "/api/v1/joins", body: `{"path":"/x"}`, want: 400, wantMsg: "invite link is missing"},
		{name: "join invite long link", method: "POST", path: "/api/v1/joins", body: `{"link":"` + strings.Repeat("A", 32<<10+1) + `","path":"/x"}`, want: 400, wantMsg: "invite link is longer"},
		{name: "join invite without path", method: "POST", path: "/api/v1/joins", body: `{"link":"SHOAL-A"}`, want: 400, wantMsg: "folder path is missing"},
		{name: "join invite relative path", method: "POST", path: "/api/v1/joins", body: `{"link":"SHOAL-A","path":"Shoal/x"}`, want: 400, wantMsg: "not absolute"},
		{name: "join invite garbled", method: "POST", path: "/api/v1/joins", body: `{"link":"SHOAL-AAAA-BBBB","path":"/x"}`, want: 400, wantMsg: "garbled", reaches: "JoinInvite"},
		{name: "join invite expired", method: "POST", path: "/api/v1/joins", body: `{"link":"` + old.Link() + `","path":"/x"}`, want: 400, wantMsg: "expired", reaches: "JoinInvite"},

		{name: "approve bad device", method: "POST", path: "/api/v1/pending/bob/approve", body: `{}`, want: 400, wantMsg: "invalid device ID"},
		{name: "approve bad folder", method: "POST", path: "/api/v1/pending/" + dev + "/approve", body: `{"folder":"a b"}`, want: 400, wantMsg: "invalid folder ID"},
		{name: "approve unknown field", method: "POST", path: "/api/v1/pending/" + dev + "/approve", body: `{"device":"x"}`, want: 400, wantMsg: "device"},
		{name: "approve trailing data", method: "POST", path: "/api/v1/pending/" + dev + "/approve", body: `{} {}`, want: 400, wantMsg: "trailing"},
		{name: "approve device waiting for two folders", method: "POST", path: "/api/v1/pending/" + dev + "/approve", body: `{}`, want: 400, wantMsg: "2 folders", reaches: "Approve"},
		{name: "approve for another folder", method: "POST", path: "/api/v1/pending/" + dev + "/approve", body: `{"folder":"nope"}`, want: 404, reaches: "Approve"},
		{name: "deny unknown device", method: "POST", path: "/api/v1/pending/" + newDeviceID(t) + "/deny", want: 404, wantMsg: "not waiting", reaches: "Deny"},
		{name: "deny bad device", method: "POST", path: "/api/v1/pending/x/deny", want: 400},
		{name: "approve with GET", method: "GET", path: "/api/v1/pending/" + dev + "/approve", want: 405},
		{name: "pending with POST", method: "POST", path: "/api/v1/pending", body: `{}`, want: 405},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var before int
			methods := []string{"FolderKeys", "JoinFolder", "CreateInvite", "JoinInvite", "Approve", "Deny"}
			for _, m := range methods {
				before += ts.agent.Calls(m)
			}
			code, body := ts.call(t, tt.method, tt.path, tt.body)
			if code != tt.want {
				t.Fatalf("%s %s = %d %s, want %d", tt.method, tt.path, code, body, tt.want)
			}
			msg := errorMessage(t, body)
			if tt.wantMsg != "" && !strings.Contains(msg, tt.wantMsg) {
				t.Errorf("message %q does not contain %q", msg, tt.wantMsg)
			}
			if strings.Contains(msg, mistyped[9:30]) || strings.Contains(msg, other.Encrypted[10:30]) || strings.Contains(msg, old.Link()[13:40]) {
				t.Errorf("message %q quotes a secret", msg)
			}
			var after int
			for _, m := range methods {
				after += ts.agent.Calls(m)
			}
			switch {
			case tt.reaches == "" && after != before:
				t.Errorf("invalid input reached the agent")
			case tt.reaches != "" && after != before+1:
				t.Errorf("request did not reach agent.%s", tt.reaches)
			}
		})
	}
	if ds := ts.agent.Decisions(); len(ds) != 0 {
		t.Errorf("failed requests decided: %+v", ds)
	}
}

// lockedBuffer is a bytes.Buffer safe for the server's concurrent logging.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// TestSecretsNotLogged checks that neither a folder key nor an invite link
// reaches the server's log, at debug level and on failures.
func TestSecretsNotLogged(t *testing.T) {
	var logs lockedBuffer
	ts := startServer(t, Options{Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	_, k := newSecret(t)
	inv, _ := inviteLink(t, model.InviteRequest{})
	var fail error
	ts.agent.Hook = func(_ context.Context, method string) error {
		if method == "JoinInvite" || method == "CreateInvite" {
			return fail
		}
		return nil
	}
	dir := t.TempDir()
	code, b := ts.call(t, "POST", "/api/v1/folders/join", `{"key":`+jsonString(k.ReadWrite)+`,"path":`+jsonString(dir+"/a")+`}`)
	if code != 201 {
		t.Fatalf("join: %d %s", code, b)
	}
	f := decode[model.FolderStatus](t, b)
	ts.call(t, "GET", "/api/v1/folders/"+f.ID+"/keys", "")
	code, b = ts.call(t, "POST", "/api/v1/folders/"+f.ID+"/invites", `{}`)
	if code != 201 {
		t.Fatalf("invite: %d %s", code, b)
	}
	own := decode[model.Invite](t, b)
	ts.call(t, "POST", "/api/v1/joins", `{"link":`+jsonString(inv.Link)+`,"path":`+jsonString(dir+"/b")+`}`)
	fail = errors.New("disk on fire")
	ts.call(t, "POST", "/api/v1/joins", `{"link":`+jsonString(inv.ChatForm)+`,"path":`+jsonString(dir+"/c")+`}`)
	ts.call(t, "POST", "/api/v1/folders/"+f.ID+"/invites", `{}`)
	ts.call(t, "POST", "/api/v1/folders/join", `{"key":`+jsonString(k.ReadOnly)+`,"path":"rel"}`)

	out := logs.String()
	if !strings.Contains(out, "Admin request") || !strings.Contains(out, "disk on fire") {
		t.Fatalf("expected request and failure logs, got:\n%s", out)
	}
	for name, secret := range map[string]string{
		"rw key": k.ReadWrite[9:], "ro key": k.ReadOnly[9:], "link": inv.Link[13:],
		"chat form": inv.ChatForm[6:30], "own link": own.Link[13:],
	} {
		if strings.Contains(out, secret) {
			t.Errorf("the %s appears in the log:\n%s", name, out)
		}
	}
}

func TestClientKeys(t *testing.T) {
	ts := startServer(t, Options{})
	c := NewClient(waitEndpoint(t, ts.home))
	ctx := t.Context()
	sec, k := newSecret(t)
	dir := t.TempDir()

	f, err := c.JoinFolder(ctx, model.JoinRequest{Key: k.ReadOnly, Path: dir + "/a", Label: "A"})
	if err != nil || f.ID != sec.FolderID() || f.Label != "A" {
		t.Fatalf("JoinFolder: %+v %v", f, err)
	}
	if _, err := c.JoinFolder(ctx, model.JoinRequest{Key: k.ReadOnly, Path: dir + "/b"}); !errors.Is(err, model.ErrExists) {
		t.Fatalf("second JoinFolder: %v", err)
	}
	got, err := c.FolderKeys(ctx, f.ID)
	if err != nil || got != (model.FolderKeys{ReadOnly: k.ReadOnly, Encrypted: k.Encrypted}) {
		t.Fatalf("FolderKeys: %+v %v", got, err)
	}
	if _, err := c.FolderKeys(ctx, "nope"); !errors.Is(err, model.ErrNotFound) {
		t.Fatalf("FolderKeys(nope): %v", err)
	}
	inv, err := c.CreateInvite(ctx, f.ID, model.InviteRequest{Uses: 1})
	if err != nil || inv.Access != "ro" || inv.Uses != 1 || inv.Link == "" {
		t.Fatalf("CreateInvite: %+v %v", inv, err)
	}
	if _, err := c.CreateInvite(ctx, f.ID, model.InviteRequest{Access: "rw"}); !errors.Is(err, model.ErrInvalid) {
		t.Fatalf("CreateInvite(rw) by a read-only member: %v", err)
	}

	other, _ := inviteLink(t, model.InviteRequest{})
	ts.agent.SetJoinOutcome(admintest.JoinOutcome{State: model.JoinFailed, Error: "the invite was used up"})
	js, err := c.JoinInvite(ctx, model.JoinInviteRequest{Link: other.Link, Path: dir + "/c"})
	if err != nil || js.State != model.JoinConnecting || js.InviteID != other.ID {
		t.Fatalf("JoinInvite: %+v %v", js, err)
	}
	all, err := c.Joins(ctx)
	if err != nil || len(all) != 1 || all[0].State != model.JoinFailed || all[0].Error != "the invite was used up" {
		t.Fatalf("Joins: %+v %v", all, err)
	}
	if _, err := c.JoinInvite(ctx, model.JoinInviteRequest{Link: "shoal://join/aaaa", Path: dir + "/d"}); !errors.Is(err, model.ErrInvalid) || !strings.Contains(err.Error(), "garbled") {
		t.Fatalf("JoinInvite(garbled): %v", err)
	}

	ps, err := c.Pending(ctx)
	if err != nil || ps == nil || len(ps) != 0 {
		t.Fatalf("Pending: %#v %v (want an empty, non-nil list)", ps, err)
	}
	dev := newDeviceID(t)
	ts.agent.AddPending(model.PendingDevice{ID: dev, Folder: f.ID, Access: "ro"})
	ts.agent.AddPending(model.PendingDevice{ID: dev, Folder: "other", Access: "ro"})
	if err := c.Approve(ctx, dev, model.DecideRequest{}); !errors.Is(err, model.ErrInvalid) {
		t.Fatalf("Approve without folder: %v", err)
	}
	if err := c.Approve(ctx, dev, model.DecideRequest{Folder: f.ID}); err != nil {
		t.Fatalf("Approve: %v", err)
	}
	if err := c.Deny(ctx, dev, model.DecideRequest{}); err != nil {
		t.Fatalf("Deny: %v", err)
	}
	if err := c.Deny(ctx, dev, model.DecideRequest{}); !errors.Is(err, model.ErrNotFound) {
		t.Fatalf("second Deny: %v", err)
	}
	// An empty or odd device ID never addresses another route.
	calls := ts.agent.Calls("Approve")
	if err := c.Approve(ctx, "", model.DecideRequest{}); !errors.Is(err, model.ErrInvalid) || err.Error() != "device ID is missing" {
		t.Fatalf("Approve(\"\"): %v", err)
	}
	if err := c.Approve(ctx, "a/../../devices", model.DecideRequest{}); !errors.Is(err, model.ErrInvalid) {
		t.Fatalf("Approve(path): %v", err)
	}
	if ts.agent.Calls("Approve") != calls {
		t.Error("a request with a bad device ID reached the agent")
	}
	if _, err := c.FolderKeys(ctx, ""); !errors.Is(err, model.ErrInvalid) {
		t.Fatalf("FolderKeys(\"\"): %v", err)
	}
	if _, err := c.CreateInvite(ctx, "", model.InviteRequest{}); !errors.Is(err, model.ErrInvalid) {
		t.Fatalf("CreateInvite(\"\"): %v", err)
	}
}
