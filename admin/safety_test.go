package admin

import (
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shoalsync/shoal/sync/config"
	"github.com/shoalsync/shoal/sync/model"
)

// safetyServer starts a server whose agent has folders "docs" and "pics"
// with two conflict copies, three archived versions of docs/a.txt and one
// difference in pics.
func safetyServer(t *testing.T) (*testServer, time.Time) {
	t.Helper()
	ts := startServer(t, Options{})
	for _, id := range []string{"docs", "pics"} {
		if _, err := ts.agent.AddFolder(t.Context(), model.AddFolderRequest{Path: t.TempDir(), ID: id}); err != nil {
			t.Fatal(err)
		}
	}
	base := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	ts.agent.AddConflict(model.Conflict{Folder: "pics", Path: "b.sync-conflict-20261121-120000-ABCDEFG.jpg", Original: "b.jpg", Device: "ABCDEFG", Time: base, Size: 10})
	ts.agent.AddConflict(model.Conflict{Folder: "docs", Path: "a.sync-conflict-20261121-120000-ABCDEFG.txt", Original: "a.txt", Device: "ABCDEFG", Time: base, Size: 5})
	for i, h := range []int{1, 3, 2} { // out of order on purpose
		ts.agent.AddVersion("docs", model.Version{Path: "dir/a.txt", ArchivedAt: base.Add(time.Duration(h) * time.Hour), ModTime: base.Add(time.Duration(h)*time.Hour - time.Minute), Size: int64(100 + i)})
	}
	ts.agent.SetDifferences("pics", []model.Difference{{Path: "x.jpg", Kind: model.DiffRemoteChange, Local: "file", Global: "deleted"}})
	return ts, base
}

func decode[T any](t *testing.T, b []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decoding %s: %v", b, err)
	}
	return v
}

func TestSafetyRoutes(t *testing.T) {
	ts, base := safetyServer(t)
	call := func(method, path, body string, want int) []byte {
		t.Helper()
		code, b := ts.call(t, method, path, body)
		if code != want {
			t.Fatalf("%s %s = %d %s, want %d", method, path, code, b, want)
		}
		return b
	}

	t.Run("conflicts", func(t *testing.T) {
		all := decode[[]model.Conflict](t, call("GET", "/api/v1/conflicts", "", 200))
		if len(all) != 2 || all[0].Folder != "docs" || all[1].Folder != "pics" || all[0].Original != "a.txt" || !all[0].Time.Equal(base) {
			t.Fatalf("all conflicts %+v", all)
		}
		one := decode[[]model.Conflict](t, call("GET", "/api/v1/folders/pics/conflicts", "", 200))
		if len(one) != 1 || one[0].Path != "b.sync-conflict-20261121-120000-ABCDEFG.jpg" || one[0].Size != 10 {
			t.Fatalf("pics conflicts %+v", one)
		}
	})

	t.Run("versions newest first", func(t *testing.T) {
		vs := decode[[]model.Version](t, call("GET", "/api/v1/folders/docs/versions?path=dir%2Fa.txt", "", 200))
		if len(vs) != 3 {
			t.Fatalf("versions %+v", vs)
		}
		for i, h := range []int{3, 2, 1} {
			if !vs[i].ArchivedAt.Equal(base.Add(time.Duration(h)*time.Hour)) || vs[i].Path != "dir/a.txt" {
				t.Fatalf("version %d: %+v", i, vs[i])
			}
		}
	})

	t.Run("restore", func(t *testing.T) {
		tests := []struct {
			body  string
			wantH int
		}{
			{`{"path":"dir/a.txt"}`, 3},
			{`{"path":"dir/a.txt","at":"2026-11-21T14:30:00Z"}`, 2},
			{`{"path":"dir/a.txt","at":"2026-11-21T14:00:00Z"}`, 2}, // at is inclusive
			{`{"path":"dir/a.txt","at":"2026-11-21T15:00:00+01:00"}`, 2},
			{`{"path":"dir/a.txt","at":"2030-01-01T00:00:00Z"}`, 3},
		}
		for _, tt := range tests {
			v := decode[model.Version](t, call("POST", "/api/v1/folders/docs/versions/restore", tt.body, 200))
			if !v.ArchivedAt.Equal(base.Add(time.Duration(tt.wantH) * time.Hour)) {
				t.Errorf("restore %s picked %v, want +%dh", tt.body, v.ArchivedAt, tt.wantH)
			}
		}
		rs := ts.agent.Restores()
		if len(rs) != len(tests) || rs[1].Folder != "docs" || !rs[1].Request.At.Equal(base.Add(150*time.Minute)) {
			t.Fatalf("restores %+v", rs)
		}
	})

	t.Run("update folder", func(t *testing.T) {
		f := decode[model.FolderStatus](t, call("PATCH", "/api/v1/folders/docs",
			`{"label":"Documents","mode":"send-only","versioning":{"type":"staggered","maxAgeDays":90},"maxConflicts":-1}`, 200))
		if f.ID != "docs" || f.Label != "Documents" || f.Mode != config.ModeSendOnly || f.MaxConflicts != -1 ||
			f.Versioning.Type != config.VersioningStaggered || f.Versioning.MaxAgeDays != 90 || f.Versioning.KeepDays != 30 {
			t.Fatalf("updated folder %+v", f)
		}
		// Absent fields are kept; {} changes nothing.
		f = decode[model.FolderStatus](t, call("PATCH", "/api/v1/folders/docs", `{"maxConflicts":3}`, 200))
		if f.Mode != config.ModeSendOnly || f.Label != "Documents" || f.MaxConflicts != 3 || f.Versioning.Type != config.VersioningStaggered {
			t.Fatalf("partial update %+v", f)
		}
		same := decode[model.FolderStatus](t, call("PATCH", "/api/v1/folders/docs", `{}`, 200))
		if same.Mode != f.Mode || same.Label != f.Label || same.MaxConflicts != f.MaxConflicts {
			t.Fatalf("empty update changed %+v to %+v", f, same)
		}
		fs := decode[[]model.FolderStatus](t, call("GET", "/api/v1/folders", "", 200))
		if fs[0].Mode != config.ModeSendOnly {
			t.Fatalf("folder list after update %+v", fs[0])
		}
	})

	t.Run("differences, override and revert", func(t *testing.T) {
		ds := decode[[]model.Difference](t, call("GET", "/api/v1/folders/pics/differences", "", 200))
		if len(ds) != 1 || ds[0].Kind != model.DiffRemoteChange || ds[0].Global != "deleted" {
			t.Fatalf("differences %+v", ds)
		}
		call("PATCH", "/api/v1/folders/pics", `{"mode":"send-only"}`, 200)
		if b := call("POST", "/api/v1/folders/pics/override", "", 204); len(b) != 0 {
			t.Fatalf("204 with body %q", b)
		}
		if b := call("GET", "/api/v1/folders/pics/differences", "", 200); strings.TrimSpace(string(b)) != "[]" {
			t.Fatalf("differences after override %s", b)
		}
		call("PATCH", "/api/v1/folders/pics", `{"mode":"receive-only"}`, 200)
		ts.agent.SetDifferences("pics", []model.Difference{{Path: "new.txt", Kind: model.DiffLocalChange, Local: "file", Global: "absent"}})
		call("POST", "/api/v1/folders/pics/revert", "", 204)
		if vs := decode[[]model.Version](t, call("GET", "/api/v1/folders/pics/versions?path=new.txt", "", 200)); len(vs) != 1 {
			t.Fatalf("reverted file not archived: %+v", vs)
		}
		if ts.agent.Calls("OverrideFolder") != 1 || ts.agent.Calls("RevertFolder") != 1 {
			t.Fatal("override/revert not called once each")
		}
	})
}

func TestSafetyEmptyListsAreArrays(t *testing.T) {
	ts := startServer(t, Options{})
	if _, err := ts.agent.AddFolder(t.Context(), model.AddFolderRequest{Path: t.TempDir(), ID: "docs"}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/api/v1/conflicts", "/api/v1/folders/docs/conflicts", "/api/v1/folders/docs/versions?path=a", "/api/v1/folders/docs/differences"} {
		code, body := ts.call(t, "GET", p, "")
		if code != 200 || strings.TrimSpace(string(body)) != "[]" {
			t.Errorf("GET %s = %d %q, want 200 []", p, code, body)
		}
	}
}

func TestSafetyErrors(t *testing.T) {
	ts, _ := safetyServer(t)
	before, err := ts.agent.Folders(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, method, path, body string
		want                     int
		wantMsg                  string
	}{
		{name: "conflicts of unknown folder", method: "GET", path: "/api/v1/folders/nope/conflicts", want: 404, wantMsg: "folder nope: not found"},
		{name: "versions of unknown folder", method: "GET", path: "/api/v1/folders/nope/versions?path=a", want: 404},
		{name: "restore in unknown folder", method: "POST", path: "/api/v1/folders/nope/versions/restore", body: `{"path":"a"}`, want: 404},
		{name: "update unknown folder", method: "PATCH", path: "/api/v1/folders/nope", body: `{"label":"x"}`, want: 404},
		{name: "override unknown folder", method: "POST", path: "/api/v1/folders/nope/override", want: 404},
		{name: "revert unknown folder", method: "POST", path: "/api/v1/folders/nope/revert", want: 404},
		{name: "differences of unknown folder", method: "GET", path: "/api/v1/folders/nope/differences", want: 404},
		{name: "bad folder ID", method: "GET", path: "/api/v1/folders/a%20b/conflicts", want: 400, wantMsg: "invalid folder ID"},
		{name: "bad folder ID in update", method: "PATCH", path: "/api/v1/folders/a%20b", body: `{}`, want: 400, wantMsg: "invalid folder ID"},

		{name: "versions without path", method: "GET", path: "/api/v1/folders/docs/versions", want: 400, wantMsg: "file path is missing"},
		{name: "versions with empty path", method: "GET", path: "/api/v1/folders/docs/versions?path=", want: 400, wantMsg: "file path is missing"},
		{name: "versions with two paths", method: "GET", path: "/api/v1/folders/docs/versions?path=a&path=b", want: 400, wantMsg: "more than once"},
		{name: "versions of parent path", method: "GET", path: "/api/v1/folders/docs/versions?path=..%2Fetc%2Fpasswd", want: 400, wantMsg: "invalid file path"},
		{name: "versions of absolute path", method: "GET", path: "/api/v1/folders/docs/versions?path=%2Fetc%2Fpasswd", want: 400, wantMsg: "invalid file path"},
		{name: "versions of unclean path", method: "GET", path: "/api/v1/folders/docs/versions?path=a%2F%2Fb", want: 400},
		{name: "restore without path", method: "POST", path: "/api/v1/folders/docs/versions/restore", body: `{}`, want: 400, wantMsg: "file path is missing"},
		{name: "restore bad path", method: "POST", path: "/api/v1/folders/docs/versions/restore", body: `{"path":"a/../../b"}`, want: 400, wantMsg: "invalid file path"},
		{name: "restore unknown field", method: "POST", path: "/api/v1/folders/docs/versions/restore", body: `{"path":"a","when":"now"}`, want: 400, wantMsg: "when"},
		{name: "restore bad time", method: "POST", path: "/api/v1/folders/docs/versions/restore", body: `{"path":"a","at":"yesterday"}`, want: 400, wantMsg: "invalid JSON"},
		{name: "restore empty body", method: "POST", path: "/api/v1/folders/docs/versions/restore", want: 400, wantMsg: "empty"},
		{name: "restore file without versions", method: "POST", path: "/api/v1/folders/docs/versions/restore", body: `{"path":"zzz"}`, want: 404, wantMsg: "no archived version"},
		{name: "restore before the oldest", method: "POST", path: "/api/v1/folders/docs/versions/restore", body: `{"path":"dir/a.txt","at":"2026-11-21T12:59:59Z"}`, want: 404, wantMsg: "at or before"},

		{name: "bad mode", method: "PATCH", path: "/api/v1/folders/docs", body: `{"mode":"mirror"}`, want: 400, wantMsg: `invalid folder mode "mirror"`},
		{name: "empty mode", method: "PATCH", path: "/api/v1/folders/docs", body: `{"mode":""}`, want: 400, wantMsg: "mode"},
		{name: "bad versioning type", method: "PATCH", path: "/api/v1/folders/docs", body: `{"versioning":{"type":"simple"}}`, want: 400, wantMsg: `versioning type "simple"`},
		{name: "versioning without type", method: "PATCH", path: "/api/v1/folders/docs", body: `{"versioning":{"keepDays":3}}`, want: 400},
		{name: "negative keep days", method: "PATCH", path: "/api/v1/folders/docs", body: `{"versioning":{"type":"trash","keepDays":-1}}`, want: 400, wantMsg: "keepDays"},
		{name: "huge max age", method: "PATCH", path: "/api/v1/folders/docs", body: `{"versioning":{"type":"staggered","maxAgeDays":9999999}}`, want: 400, wantMsg: "maxAgeDays"},
		{name: "huge cleanup", method: "PATCH", path: "/api/v1/folders/docs", body: `{"versioning":{"type":"trash","cleanupSeconds":9999999999}}`, want: 400, wantMsg: "cleanupSeconds"},
		{name: "unknown versioning field", method: "PATCH", path: "/api/v1/folders/docs", body: `{"versioning":{"type":"trash","versions":3}}`, want: 400, wantMsg: "versions"},
		{name: "max conflicts too small", method: "PATCH", path: "/api/v1/folders/docs", body: `{"maxConflicts":-2}`, want: 400, wantMsg: "maxConflicts"},
		{name: "max conflicts not a number", method: "PATCH", path: "/api/v1/folders/docs", body: `{"maxConflicts":"10"}`, want: 400},
		{name: "label with control character", method: "PATCH", path: "/api/v1/folders/docs", body: `{"label":"a\u0007"}`, want: 400, wantMsg: "folder label"},
		{name: "update unknown field", method: "PATCH", path: "/api/v1/folders/docs", body: `{"colour":"red"}`, want: 400, wantMsg: "colour"},
		{name: "update trailing data", method: "PATCH", path: "/api/v1/folders/docs", body: `{} {}`, want: 400, wantMsg: "trailing"},
		{name: "update empty body", method: "PATCH", path: "/api/v1/folders/docs", want: 400, wantMsg: "empty"},

		{name: "override send-receive folder", method: "POST", path: "/api/v1/folders/docs/override", want: 400, wantMsg: "send-only"},
		{name: "revert send-receive folder", method: "POST", path: "/api/v1/folders/docs/revert", want: 400, wantMsg: "receive-only"},
		{name: "override with GET", method: "GET", path: "/api/v1/folders/docs/override", want: 405, wantMsg: "not allowed"},
		{name: "restore with GET", method: "GET", path: "/api/v1/folders/docs/versions/restore", want: 405},
		{name: "PUT folder", method: "PUT", path: "/api/v1/folders/docs", body: `{}`, want: 405},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := ts.call(t, tt.method, tt.path, tt.body)
			if code != tt.want {
				t.Fatalf("%s %s = %d %s, want %d", tt.method, tt.path, code, body, tt.want)
			}
			msg := errorMessage(t, body)
			if tt.wantMsg != "" && !strings.Contains(msg, tt.wantMsg) {
				t.Errorf("message %q does not contain %q", msg, tt.wantMsg)
			}
		})
	}
	// Requests the server rejects never reach the agent: the only
	// UpdateFolder call is the one for the unknown folder.
	if n := ts.agent.Calls("UpdateFolder"); n != 1 {
		t.Errorf("UpdateFolder called %d times, want 1 (invalid input must not reach the agent)", n)
	}
	if n := ts.agent.Calls("Versions"); n != 1 {
		t.Errorf("Versions called %d times, want 1", n)
	}
	// Nothing changed.
	after, _ := ts.agent.Folders(t.Context())
	if !reflect.DeepEqual(before, after) || after[0].Mode != config.ModeSendReceive || after[0].MaxConflicts != config.DefaultMaxConflicts {
		t.Errorf("failed requests changed the folders:\n%+v\n%+v", before, after)
	}
}

func TestSafetyAuthAndCrossOrigin(t *testing.T) {
	ts, _ := safetyServer(t)
	if _, err := ts.agent.UpdateFolder(t.Context(), "pics", model.UpdateFolderRequest{Mode: ptr(config.ModeSendOnly)}); err != nil {
		t.Fatal(err)
	}
	routes := [][3]string{
		{"GET", "/api/v1/conflicts", ""},
		{"GET", "/api/v1/folders/docs/conflicts", ""},
		{"GET", "/api/v1/folders/docs/versions?path=dir/a.txt", ""},
		{"POST", "/api/v1/folders/docs/versions/restore", `{"path":"dir/a.txt"}`},
		{"PATCH", "/api/v1/folders/docs", `{"mode":"receive-only"}`},
		{"POST", "/api/v1/folders/pics/override", ""},
		{"POST", "/api/v1/folders/docs/revert", ""},
		{"GET", "/api/v1/folders/pics/differences", ""},
	}
	methods := []string{"Conflicts", "Versions", "RestoreVersion", "UpdateFolder", "OverrideFolder", "RevertFolder", "Differences"}
	total := func() (n int) {
		for _, m := range methods {
			n += ts.agent.Calls(m)
		}
		return n - 1 // the UpdateFolder call above
	}
	for _, r := range routes {
		for _, hdr := range [][]string{{"Authorization", ""}, {"Authorization", "Bearer wrong"}} {
			code, body := ts.call(t, r[0], r[1], r[2], hdr...)
			if code != 401 {
				t.Errorf("%s %s with %q = %d, want 401", r[0], r[1], hdr, code)
			}
			errorMessage(t, body)
		}
		if r[0] != "GET" {
			for _, hdr := range [][]string{{"Sec-Fetch-Site", "cross-site"}, {"Origin", "https://evil.example"}} {
				code, body := ts.call(t, r[0], r[1], r[2], hdr...)
				if code != 403 {
					t.Errorf("cross-origin %s %s with %q = %d, want 403", r[0], r[1], hdr, code)
				}
				errorMessage(t, body)
			}
		}
	}
	if n := total(); n != 0 {
		t.Fatalf("rejected requests reached the agent %d times", n)
	}
	// With the token, non-browser and same-origin requests pass.
	for _, r := range routes {
		code, body := ts.call(t, r[0], r[1], r[2], "Sec-Fetch-Site", "same-origin")
		if code >= 300 {
			t.Errorf("%s %s = %d %s", r[0], r[1], code, body)
		}
	}
	if n := total(); n != len(routes) {
		t.Fatalf("agent called %d times, want %d", n, len(routes))
	}
}

func TestClientSafety(t *testing.T) {
	ts, base := safetyServer(t)
	c := NewClient(waitEndpoint(t, ts.home))
	ctx := t.Context()

	cs, err := c.Conflicts(ctx, "")
	if err != nil || len(cs) != 2 {
		t.Fatalf("Conflicts: %+v %v", cs, err)
	}
	cs, err = c.Conflicts(ctx, "docs")
	if err != nil || len(cs) != 1 || cs[0].Folder != "docs" {
		t.Fatalf("Conflicts(docs): %+v %v", cs, err)
	}
	if _, err := c.Conflicts(ctx, "nope"); !errors.Is(err, model.ErrNotFound) {
		t.Fatalf("Conflicts(nope): %v", err)
	}

	// Paths are escaped: spaces, '?', '#', '&', '+', '%' and non-ASCII.
	odd := "d ir/?#&+%é.txt"
	ts.agent.AddVersion("docs", model.Version{Path: odd, ArchivedAt: base, Size: 1})
	vs, err := c.Versions(ctx, "docs", odd)
	if err != nil || len(vs) != 1 || vs[0].Path != odd {
		t.Fatalf("Versions(%q): %+v %v", odd, vs, err)
	}
	vs, err = c.Versions(ctx, "docs", "dir/a.txt")
	if err != nil || len(vs) != 3 || !slices.IsSortedFunc(vs, func(a, b model.Version) int { return b.ArchivedAt.Compare(a.ArchivedAt) }) {
		t.Fatalf("Versions: %+v %v", vs, err)
	}
	if _, err := c.Versions(ctx, "docs", "../x"); !errors.Is(err, model.ErrInvalid) {
		t.Fatalf("Versions(../x): %v", err)
	}
	v, err := c.RestoreVersion(ctx, "docs", model.RestoreRequest{Path: odd})
	if err != nil || v.Path != odd {
		t.Fatalf("RestoreVersion: %+v %v", v, err)
	}
	at := base.Add(90 * time.Minute).In(time.FixedZone("X", 5*3600))
	v, err = c.RestoreVersion(ctx, "docs", model.RestoreRequest{Path: "dir/a.txt", At: at})
	if err != nil || !v.ArchivedAt.Equal(base.Add(time.Hour)) {
		t.Fatalf("RestoreVersion(at): %+v %v", v, err)
	}
	if rs := ts.agent.Restores(); !rs[len(rs)-1].Request.At.Equal(at) {
		t.Fatalf("at sent as %v, want %v", rs[len(rs)-1].Request.At, at)
	}
	if _, err := c.RestoreVersion(ctx, "docs", model.RestoreRequest{Path: "dir/a.txt", At: base}); !errors.Is(err, model.ErrNotFound) {
		t.Fatalf("RestoreVersion before the oldest: %v", err)
	}

	f, err := c.UpdateFolder(ctx, "pics", model.UpdateFolderRequest{Mode: ptr(config.ModeSendOnly), Versioning: &config.Versioning{Type: config.VersioningOff}})
	if err != nil || f.Mode != config.ModeSendOnly || f.Versioning.Type != config.VersioningOff {
		t.Fatalf("UpdateFolder: %+v %v", f, err)
	}
	if _, err := c.UpdateFolder(ctx, "pics", model.UpdateFolderRequest{Mode: ptr("sideways")}); !errors.Is(err, model.ErrInvalid) {
		t.Fatalf("UpdateFolder(bad mode): %v", err)
	}
	ds, err := c.Differences(ctx, "pics")
	if err != nil || len(ds) != 1 {
		t.Fatalf("Differences: %+v %v", ds, err)
	}
	if err := c.RevertFolder(ctx, "pics"); !errors.Is(err, model.ErrInvalid) || !strings.Contains(err.Error(), "receive-only") {
		t.Fatalf("RevertFolder(send-only): %v", err)
	}
	if err := c.OverrideFolder(ctx, "pics"); err != nil {
		t.Fatalf("OverrideFolder: %v", err)
	}
	if ds, err := c.Differences(ctx, "pics"); err != nil || ds == nil || len(ds) != 0 {
		t.Fatalf("Differences after override: %#v %v (want an empty, non-nil list)", ds, err)
	}
	if err := c.OverrideFolder(ctx, "nope"); !errors.Is(err, model.ErrNotFound) {
		t.Fatalf("OverrideFolder(nope): %v", err)
	}

	// An empty folder ID would address another route; the client refuses.
	calls := ts.agent.Calls("UpdateFolder")
	for name, err := range map[string]error{
		"UpdateFolder":   func() error { _, err := c.UpdateFolder(ctx, "", model.UpdateFolderRequest{}); return err }(),
		"Versions":       func() error { _, err := c.Versions(ctx, "", "a"); return err }(),
		"RestoreVersion": func() error { _, err := c.RestoreVersion(ctx, "", model.RestoreRequest{Path: "a"}); return err }(),
		"OverrideFolder": c.OverrideFolder(ctx, ""),
		"RevertFolder":   c.RevertFolder(ctx, ""),
		"Differences":    func() error { _, err := c.Differences(ctx, ""); return err }(),
	} {
		if !errors.Is(err, model.ErrInvalid) || err.Error() != "folder ID is missing" {
			t.Errorf("%s with empty folder ID: %v", name, err)
		}
	}
	if ts.agent.Calls("UpdateFolder") != calls {
		t.Error("request with empty folder ID was sent")
	}
}

func ptr[T any](v T) *T { return &v }
