package admin

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/shoalsync/shoal/admin/admintest"
	"github.com/shoalsync/shoal/crypto/folderkey"
	"github.com/shoalsync/shoal/sync/model"
)

// FuzzDecodeRequests feeds untrusted bytes to the decoder and validators of
// every request body (POST and PATCH), folder keys and invite links included, and to the full handler. Decoding must never panic; what
// decodes and validates must survive a JSON round trip unchanged and
// validate again (validation is idempotent); and the handler must answer
// with a JSON body and a status from the documented set.
func FuzzDecodeRequests(f *testing.F) {
	dev := "12D3KooWHMxNZA7Ap5JWUCVQ1zENHdQWe3egZMdL5V5qi4zHFGVD"
	sec, err := folderkey.Generate()
	if err != nil {
		f.Fatal(err)
	}
	rwKey, _ := sec.Key(folderkey.ReadWrite)
	inviter := admintest.New("inviter")
	if _, err := inviter.JoinFolder(f.Context(), model.JoinRequest{Key: rwKey, Path: "/srv/inviter"}); err != nil {
		f.Fatal(err)
	}
	inv, err := inviter.CreateInvite(f.Context(), sec.FolderID(), model.InviteRequest{})
	if err != nil {
		f.Fatal(err)
	}
	link := inv.Link
	seeds := []struct {
		kind byte
		body string
	}{
		{0, `{"id":"` + dev + `","name":"laptop","addrs":["quic://192.0.2.1:22100","/ip4/192.0.2.1/udp/22100/quic-v1"]}`},
		{0, `{"id":"` + dev + `"}`},
		{0, `{"id":"x","unknown":1}`},
		{1, `{"path":"/home/a/Shoal","id":"default","label":"Shoal","devices":["` + dev + `"]}`},
		{1, `{"path":"/srv/x"}`},
		{1, `{"path":"rel"} trailing`},
		{2, `{"deviceId":"` + dev + `"}`},
		{2, `{"deviceId":null}`},
		{2, ``},
		{0, `{"id":"` + dev + `","name":"\u0000"}`},
		{3, `{"label":"Docs","mode":"send-only","versioning":{"type":"staggered","maxAgeDays":90},"maxConflicts":-1}`},
		{3, `{"mode":"receive-only"}`},
		{3, `{"versioning":{"type":"trash","keepDays":-1}}`},
		{3, `{}`},
		{4, `{"path":"dir/a.txt"}`},
		{4, `{"path":"dir/a.txt","at":"2026-11-21T14:30:00+01:00"}`},
		{4, `{"path":"../a","at":"0001-01-01T00:00:00Z"}`},
		{5, `{"key":"` + rwKey + `","path":"/srv/joined","label":"Joined","peers":["` + dev + `@quic://192.0.2.1:22100"]}`},
		{5, `{"key":"shoal-ro-nope","path":"/srv/x"}`},
		{5, `{"key":"","path":"rel","peers":[""]}`},
		{6, `{"access":"ro","expiresSeconds":86400,"uses":1,"approve":true}`},
		{6, `{}`},
		{6, `{"access":"admin","expiresSeconds":-1}`},
		{7, `{"link":"` + link + `","path":"/srv/invited"}`},
		{7, `{"link":"SHOAL-AAAA","path":"/srv/x"}`},
		{7, `{"link":"","path":""}`},
		{8, `{"folder":"default"}`},
		{8, `{}`},
		{8, ``},
		{8, `{"folder":"a b"}`},
	}
	for _, s := range seeds {
		f.Add(s.kind, []byte(s.body))
	}
	agent := admintest.New("fuzz")
	if _, err := agent.AddFolder(f.Context(), model.AddFolderRequest{Path: "/srv/default", ID: "default"}); err != nil {
		f.Fatal(err)
	}
	agent.SetFolderKeys("default", model.FolderKeys{ReadOnly: "shoal-ro-x", Encrypted: "shoal-enc-x"})
	agent.AddPending(model.PendingDevice{ID: dev, Folder: "default", Access: "ro"})
	agent.AddVersion("default", model.Version{Path: "dir/a.txt", ArchivedAt: time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)})
	srv, err := NewServer(Options{Agent: agent, Token: "t", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		f.Fatal(err)
	}
	h := srv.Handler()

	f.Fuzz(func(t *testing.T, kind byte, body []byte) {
		method, target := "POST", ""
		switch kind % 9 {
		case 0:
			target = "/api/v1/devices"
			var req model.AddDeviceRequest
			if decodeJSON(body, &req) == nil && checkAddDevice(&req) == nil {
				if len(req.Addrs) == 0 {
					req.Addrs = nil // omitempty: [] and absent are the same
				}
				var again model.AddDeviceRequest
				roundTrip(t, req, &again)
				if err := checkAddDevice(&again); err != nil || !reflect.DeepEqual(req, again) {
					t.Fatalf("round trip %+v -> %+v (%v)", req, again, err)
				}
			}
		case 1:
			target = "/api/v1/folders"
			var req model.AddFolderRequest
			if decodeJSON(body, &req) == nil && checkAddFolder(&req) == nil {
				if len(req.Devices) == 0 {
					req.Devices = nil
				}
				var again model.AddFolderRequest
				roundTrip(t, req, &again)
				if err := checkAddFolder(&again); err != nil || !reflect.DeepEqual(req, again) {
					t.Fatalf("round trip %+v -> %+v (%v)", req, again, err)
				}
			}
		case 2:
			target = "/api/v1/folders/default/devices"
			var req ShareRequest
			if decodeJSON(body, &req) == nil {
				if _, err := checkDeviceID(req.DeviceID); err == nil {
					var again ShareRequest
					roundTrip(t, req, &again)
					if again != req {
						t.Fatalf("round trip %+v -> %+v", req, again)
					}
				}
			}
		case 3:
			method, target = "PATCH", "/api/v1/folders/default"
			var req model.UpdateFolderRequest
			if decodeJSON(body, &req) == nil && checkUpdateFolder(&req) == nil {
				var again model.UpdateFolderRequest
				roundTrip(t, req, &again)
				if err := checkUpdateFolder(&again); err != nil || !reflect.DeepEqual(req, again) {
					t.Fatalf("round trip %+v -> %+v (%v)", req, again, err)
				}
			}
		case 4:
			target = "/api/v1/folders/default/versions/restore"
			var req model.RestoreRequest
			if decodeJSON(body, &req) == nil {
				if p, err := checkFilePath(req.Path); err == nil {
					if p != req.Path {
						t.Fatalf("checkFilePath changed %q to %q", req.Path, p)
					}
					var again model.RestoreRequest
					roundTrip(t, req, &again)
					if again.Path != req.Path || !again.At.Equal(req.At) {
						t.Fatalf("round trip %+v -> %+v", req, again)
					}
				}
			}
		case 5:
			target = "/api/v1/folders/join"
			var req model.JoinRequest
			if decodeJSON(body, &req) == nil && checkJoinFolder(&req) == nil {
				if len(req.Peers) == 0 {
					req.Peers = nil
				}
				var again model.JoinRequest
				roundTrip(t, req, &again)
				if err := checkJoinFolder(&again); err != nil || !reflect.DeepEqual(req, again) {
					t.Fatalf("round trip %+v -> %+v (%v)", req, again, err)
				}
			}
		case 6:
			target = "/api/v1/folders/default/invites"
			var req model.InviteRequest
			if decodeJSON(body, &req) == nil && checkInvite(&req) == nil {
				var again model.InviteRequest
				roundTrip(t, req, &again)
				if err := checkInvite(&again); err != nil || again != req {
					t.Fatalf("round trip %+v -> %+v (%v)", req, again, err)
				}
			}
		case 7:
			target = "/api/v1/joins"
			var req model.JoinInviteRequest
			if decodeJSON(body, &req) == nil && checkJoinInvite(&req) == nil {
				var again model.JoinInviteRequest
				roundTrip(t, req, &again)
				if err := checkJoinInvite(&again); err != nil || again != req {
					t.Fatalf("round trip %+v -> %+v (%v)", req, again, err)
				}
			}
		case 8:
			target = "/api/v1/pending/" + dev + "/approve"
			if kind%2 == 1 {
				target = "/api/v1/pending/" + dev + "/deny"
			}
			var req model.DecideRequest
			if decodeJSON(body, &req) == nil && checkDecide(&req) == nil {
				var again model.DecideRequest
				roundTrip(t, req, &again)
				if err := checkDecide(&again); err != nil || again != req {
					t.Fatalf("round trip %+v -> %+v (%v)", req, again, err)
				}
			}
		}

		r := httptest.NewRequest(method, target, strings.NewReader(string(body)))
		r.Header.Set("Authorization", "Bearer t")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		switch rec.Code {
		case http.StatusOK, http.StatusCreated:
			if !json.Valid(rec.Body.Bytes()) {
				t.Fatalf("%d with invalid JSON %q", rec.Code, rec.Body.Bytes())
			}
		case http.StatusNoContent:
		case http.StatusBadRequest, http.StatusNotFound, http.StatusConflict, http.StatusRequestEntityTooLarge:
			var eb ErrorBody
			if err := json.Unmarshal(rec.Body.Bytes(), &eb); err != nil || eb.Error == "" || strings.Contains(eb.Error, "\n") {
				t.Fatalf("%d with bad error body %q", rec.Code, rec.Body.Bytes())
			}
		default:
			t.Fatalf("%s %s %q: unexpected status %d %s", method, target, body, rec.Code, rec.Body.Bytes())
		}
	})
}

func roundTrip(t *testing.T, in, out any) {
	t.Helper()
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if err := decodeJSON(b, out); err != nil {
		t.Fatalf("re-decoding %s: %v", b, err)
	}
}
