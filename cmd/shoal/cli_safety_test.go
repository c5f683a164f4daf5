package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoalsync/shoal/admin/admintest"
	"github.com/shoalsync/shoal/sync/config"
	"github.com/shoalsync/shoal/sync/model"
)

// safetyAgent starts a fake agent with folders docs and pics and returns it
// with its home and the directory of docs.
func safetyAgent(t *testing.T) (agent *admintest.Agent, home, docsDir string) {
	t.Helper()
	home = t.TempDir()
	agent = startAgent(t, home)
	docsDir = t.TempDir()
	mustRun(t, "--home", home, "folder", "add", docsDir, "--id", "docs", "--label", "Docs")
	mustRun(t, "--home", home, "folder", "add", t.TempDir(), "--id", "pics")
	return agent, home, docsDir
}

// wantLines checks that out contains every string in want.
func wantLines(t *testing.T, what, out string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("%s lacks %q:\n%s", what, w, out)
		}
	}
}

func TestConflictsCommand(t *testing.T) {
	agent, home, _ := safetyAgent(t)
	if out := mustRun(t, "--home", home, "conflicts"); out != "No conflict copies.\n" {
		t.Fatalf("empty conflicts: %q", out)
	}
	if out := mustRun(t, "--home", home, "conflicts", "docs", "--json"); strings.TrimSpace(out) != "[]" {
		t.Fatalf("empty conflicts --json: %q", out)
	}

	when := time.Date(2026, 11, 21, 13, 5, 1, 0, time.UTC)
	agent.AddConflict(model.Conflict{Folder: "docs", Path: "notes.sync-conflict-20261121-130501-Mgrd4Fg.txt", Original: "notes.txt", Device: "Mgrd4Fg", Time: when, Size: 2310})
	agent.AddConflict(model.Conflict{Folder: "pics", Path: "a.sync-conflict-20261121-130501-BvzNQ6c.jpg", Original: "a.jpg", Device: "BvzNQ6c", Time: when, Size: 5 << 20})

	out := mustRun(t, "--home", home, "conflicts")
	wantLines(t, "conflicts", out, "FOLDER", "PATH", "ORIGINAL", "DEVICE", "TIME", "SIZE",
		"notes.sync-conflict-20261121-130501-Mgrd4Fg.txt", "notes.txt", "Mgrd4Fg", when.Local().Format(time.DateTime), "2.3 KiB",
		"a.sync-conflict-20261121-130501-BvzNQ6c.jpg", "5.0 MiB", "To resolve one")
	if strings.Index(out, "docs") > strings.Index(out, "pics") {
		t.Errorf("conflicts not ordered by folder:\n%s", out)
	}
	out = mustRun(t, "--home", home, "conflicts", "pics")
	if strings.Contains(out, "notes.txt") || !strings.Contains(out, "a.jpg") {
		t.Errorf("conflicts pics:\n%s", out)
	}
	var cs []model.Conflict
	if err := json.Unmarshal([]byte(mustRun(t, "--home", home, "conflicts", "--json")), &cs); err != nil {
		t.Fatal(err)
	}
	if len(cs) != 2 || cs[0].Original != "notes.txt" || !cs[0].Time.Equal(when) {
		t.Fatalf("conflicts --json: %+v", cs)
	}

	// The folder list points at them.
	out = mustRun(t, "--home", home, "folder", "list")
	wantLines(t, "folder list", out, "1 conflict copy (see 'shoal conflicts docs')")
}

func TestVersionsCommands(t *testing.T) {
	agent, home, docsDir := safetyAgent(t)
	if out := mustRun(t, "--home", home, "versions", "list", "docs", "dir/a.txt"); out != "No archived versions of dir/a.txt in folder docs.\n" {
		t.Fatalf("no versions: %q", out)
	}

	base := time.Date(2025, 3, 10, 12, 0, 0, 0, time.UTC)
	at := func(h int) time.Time { return base.Add(time.Duration(h)*time.Hour + 500*time.Millisecond) }
	for _, h := range []int{1, 3, 2} {
		agent.AddVersion("docs", model.Version{Path: "dir/a.txt", ArchivedAt: at(h), ModTime: at(h).Add(-time.Minute), Size: int64(1000 * h)})
	}

	out := mustRun(t, "--home", home, "versions", "list", "docs", "dir/a.txt")
	wantLines(t, "versions list", out, "ARCHIVED", "MODIFIED", "SIZE", "2.9 KiB", "1000 B",
		"To restore one: shoal versions restore docs dir/a.txt --at \"ARCHIVED\"")
	i3, i2, i1 := strings.Index(out, localTime(at(3))), strings.Index(out, localTime(at(2))), strings.Index(out, localTime(at(1)))
	if i3 < 0 || i2 < 0 || i1 < 0 || !(i3 < i2 && i2 < i1) {
		t.Errorf("versions not listed newest first:\n%s", out)
	}
	// Leading ./ and an absolute path inside the folder mean the same file.
	for _, p := range []string{"./dir/a.txt", "dir//a.txt", filepath.Join(docsDir, "dir", "a.txt")} {
		if got := mustRun(t, "--home", home, "versions", "list", "docs", p); got != out {
			t.Errorf("versions list %s:\n%s\nwant:\n%s", p, got, out)
		}
	}
	var vs []model.Version
	if err := json.Unmarshal([]byte(mustRun(t, "--home", home, "versions", "list", "docs", "dir/a.txt", "--json")), &vs); err != nil {
		t.Fatal(err)
	}
	if len(vs) != 3 || !vs[0].ArchivedAt.Equal(at(3)) {
		t.Fatalf("versions list --json: %+v", vs)
	}

	// Restore: the newest without --at.
	out = mustRun(t, "--home", home, "versions", "restore", "docs", "dir/a.txt")
	want := "Restored dir/a.txt as of " + localTime(at(3).Add(-time.Minute)) + " (archived " + localTime(at(3)) + "); the change will sync to other devices.\n"
	if out != want {
		t.Fatalf("restore printed %q, want %q", out, want)
	}
	// --at with the ARCHIVED value as listed (to the second; the version was
	// archived half a second into it) selects that version.
	out = mustRun(t, "--home", home, "versions", "restore", "docs", "dir/a.txt", "--at", localTime(at(2)))
	if !strings.Contains(out, "(archived "+localTime(at(2))+")") {
		t.Fatalf("restore --at printed %q", out)
	}
	// RFC 3339 and an absolute path.
	mustRun(t, "--home", home, "versions", "restore", "docs", filepath.Join(docsDir, "dir/a.txt"), "--at", base.Add(90*time.Minute).Format(time.RFC3339))
	rs := agent.Restores()
	if len(rs) != 3 || !rs[0].Request.At.IsZero() || !rs[1].Version.ArchivedAt.Equal(at(2)) ||
		!rs[2].Version.ArchivedAt.Equal(at(1)) || rs[2].Request.Path != "dir/a.txt" {
		t.Fatalf("restores %+v", rs)
	}

	// A duration ago.
	now := time.Now()
	agent.AddVersion("docs", model.Version{Path: "recent.txt", ArchivedAt: now.Add(-3 * time.Hour)})
	agent.AddVersion("docs", model.Version{Path: "recent.txt", ArchivedAt: now.Add(-2 * time.Hour)})
	agent.AddVersion("docs", model.Version{Path: "recent.txt", ArchivedAt: now.Add(-time.Hour)})
	out = mustRun(t, "--home", home, "versions", "restore", "docs", "recent.txt", "--at", "90m")
	if !strings.HasPrefix(out, "Restored recent.txt (archived "+localTime(now.Add(-2*time.Hour))+")") {
		t.Fatalf("restore --at 90m printed %q", out)
	}

	// In a receive-only folder the message says the change is not sent.
	mustRun(t, "--home", home, "folder", "set", "docs", "--mode", "receive-only")
	out = mustRun(t, "--home", home, "versions", "restore", "docs", "dir/a.txt")
	if !strings.Contains(out, "does not send the change") {
		t.Fatalf("restore in receive-only folder printed %q", out)
	}
}

func TestFolderSetCommand(t *testing.T) {
	agent, home, _ := safetyAgent(t)
	folder := func(id string) model.FolderStatus {
		t.Helper()
		fs, err := agent.Folders(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range fs {
			if f.ID == id {
				return f
			}
		}
		t.Fatalf("no folder %s", id)
		return model.FolderStatus{}
	}

	out := mustRun(t, "--home", home, "folder", "set", "docs", "--mode", "send-only")
	want := "Updated folder docs (Docs): mode send-only; versioning trash, 30 days; at most 10 conflict copies per file.\n" +
		"Changes from other devices are no longer applied here; see them with 'shoal folder diff docs'.\n"
	if out != want {
		t.Fatalf("folder set --mode printed %q, want %q", out, want)
	}
	if f := folder("docs"); f.Mode != config.ModeSendOnly || f.Label != "Docs" {
		t.Fatalf("after set --mode: %+v", f)
	}

	// --keep-days alone changes the current trash policy.
	mustRun(t, "--home", home, "folder", "set", "docs", "--keep-days", "7")
	if f := folder("docs"); f.Versioning.Type != config.VersioningTrash || f.Versioning.KeepDays != 7 || f.Mode != config.ModeSendOnly {
		t.Fatalf("after --keep-days: %+v", f)
	}
	out = mustRun(t, "--home", home, "folder", "set", "docs", "--versioning", "staggered", "--max-age-days", "90", "--max-conflicts", "-1", "--label", "Documents")
	if out != "Updated folder docs (Documents): mode send-only; versioning staggered, up to 90 days; all conflict copies kept.\n" {
		t.Fatalf("folder set printed %q", out)
	}
	f := folder("docs")
	if f.Versioning.Type != config.VersioningStaggered || f.Versioning.MaxAgeDays != 90 || f.MaxConflicts != -1 || f.Label != "Documents" {
		t.Fatalf("after set: %+v", f)
	}
	mustRun(t, "--home", home, "folder", "set", "docs", "--max-age-days", "30")
	if f := folder("docs"); f.Versioning.Type != config.VersioningStaggered || f.Versioning.MaxAgeDays != 30 {
		t.Fatalf("after --max-age-days: %+v", f)
	}
	out = mustRun(t, "--home", home, "folder", "set", "docs", "--versioning", "off", "--max-conflicts", "1")
	if !strings.Contains(out, "versioning off; at most 1 conflict copy per file.") {
		t.Fatalf("folder set printed %q", out)
	}
	out = mustRun(t, "--home", home, "folder", "set", "pics", "--mode", "receive-only")
	wantLines(t, "folder set receive-only", out, "mode receive-only", "Changes made here are no longer sent")

	// MODE shows in the folder list and the status.
	out = mustRun(t, "--home", home, "folder", "list")
	wantLines(t, "folder list", out, "MODE", "send-only", "receive-only")
	out = mustRun(t, "--home", home, "status")
	wantLines(t, "status", out, "MODE", "send-only", "receive-only")
}

func TestFolderDiffOverrideRevert(t *testing.T) {
	agent, home, _ := safetyAgent(t)
	if out := mustRun(t, "--home", home, "folder", "diff", "docs"); out != "No differences.\n" {
		t.Fatalf("empty diff: %q", out)
	}
	if out := mustRun(t, "--home", home, "folder", "diff", "docs", "--json"); strings.TrimSpace(out) != "[]" {
		t.Fatalf("empty diff --json: %q", out)
	}

	mustRun(t, "--home", home, "folder", "set", "docs", "--mode", "send-only")
	agent.SetDifferences("docs", []model.Difference{
		{Path: "a.txt", Kind: model.DiffRemoteChange, Local: "file", Global: "file"},
		{Path: "old", Kind: model.DiffRemoteChange, Local: "directory", Global: "deleted"},
	})
	out := mustRun(t, "--home", home, "folder", "diff", "docs")
	wantLines(t, "folder diff", out, "KIND", "PATH", "LOCAL", "GLOBAL", "remote-change", "a.txt", "directory", "deleted",
		"To make the other devices match this folder: shoal folder override docs")
	if strings.Contains(out, "revert") {
		t.Errorf("diff of a send-only folder suggests revert:\n%s", out)
	}
	wantLines(t, "folder list", mustRun(t, "--home", home, "folder", "list"), "2 differences from the shared state (see 'shoal folder diff docs')")
	var ds []model.Difference
	if err := json.Unmarshal([]byte(mustRun(t, "--home", home, "folder", "diff", "docs", "--json")), &ds); err != nil || len(ds) != 2 {
		t.Fatalf("diff --json: %+v %v", ds, err)
	}

	out = mustRun(t, "--home", home, "folder", "override", "docs")
	if out != "Overriding folder docs: other devices will be made to match this one; files they replace go to their version archives.\n" {
		t.Fatalf("override printed %q", out)
	}
	if out := mustRun(t, "--home", home, "folder", "diff", "docs"); out != "No differences.\n" {
		t.Fatalf("diff after override: %q", out)
	}

	mustRun(t, "--home", home, "folder", "set", "pics", "--mode", "receive-only")
	agent.SetDifferences("pics", []model.Difference{{Path: "new.jpg", Kind: model.DiffLocalChange, Local: "file", Global: "absent"}})
	wantLines(t, "folder diff", mustRun(t, "--home", home, "folder", "diff", "pics"), "local-change", "new.jpg", "absent",
		"To undo the local changes: shoal folder revert pics")
	out = mustRun(t, "--home", home, "folder", "revert", "pics")
	if out != "Reverting folder pics: local changes go to the version archive and the shared state is put back.\n" {
		t.Fatalf("revert printed %q", out)
	}
	if agent.Calls("OverrideFolder") != 1 || agent.Calls("RevertFolder") != 1 {
		t.Fatal("override or revert not called exactly once")
	}

	for _, args := range [][]string{{"folder", "override", "--help"}, {"folder", "revert", "--help"}} {
		out := mustRun(t, args...)
		wantLines(t, strings.Join(args, " "), out, "version archive", "shoal folder diff")
	}
}

func TestSafetyCommandErrors(t *testing.T) {
	agent, home, _ := safetyAgent(t)
	agent.AddVersion("docs", model.Version{Path: "a.txt", ArchivedAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)})
	outside := filepath.Join(t.TempDir(), "x.txt")

	tests := []struct {
		name      string
		args      []string
		wantCode  int
		wantMsg   string
		agentCall string // a method that must not have been called
	}{
		{name: "conflicts extra argument", args: []string{"conflicts", "docs", "pics"}, wantCode: 2, wantMsg: `unexpected argument "pics"`},
		{name: "conflicts bad folder ID", args: []string{"conflicts", "a b"}, wantCode: 1, wantMsg: `invalid folder ID "a b"`, agentCall: "Conflicts"},
		{name: "conflicts unknown folder", args: []string{"conflicts", "nope"}, wantCode: 1, wantMsg: "folder nope: not found"},
		{name: "conflicts unknown flag", args: []string{"conflicts", "--all"}, wantCode: 2, wantMsg: "unknown flag: --all"},

		{name: "versions without subcommand", args: []string{"versions"}, wantCode: 2, wantMsg: "missing subcommand (list, restore)"},
		{name: "versions list missing path", args: []string{"versions", "list", "docs"}, wantCode: 2, wantMsg: "missing PATH"},
		{name: "versions list parent path", args: []string{"versions", "list", "docs", "../etc/passwd"}, wantCode: 1, wantMsg: "is outside the folder", agentCall: "Versions"},
		{name: "versions list folder root", args: []string{"versions", "list", "docs", "."}, wantCode: 1, wantMsg: "is outside the folder", agentCall: "Versions"},
		{name: "versions list empty path", args: []string{"versions", "list", "docs", ""}, wantCode: 1, wantMsg: "file path is empty", agentCall: "Versions"},
		{name: "versions list absolute path outside", args: []string{"versions", "list", "docs", outside}, wantCode: 1, wantMsg: "is not inside folder docs", agentCall: "Versions"},
		{name: "versions list unknown folder", args: []string{"versions", "list", "nope", "a.txt"}, wantCode: 1, wantMsg: "folder nope: not found"},
		{name: "versions list bad folder ID", args: []string{"versions", "list", "../x", "a.txt"}, wantCode: 1, wantMsg: "invalid folder ID", agentCall: "Versions"},
		{name: "restore bad time", args: []string{"versions", "restore", "docs", "a.txt", "--at", "yesterday"}, wantCode: 1, wantMsg: `invalid --at "yesterday"; use a local date and time`, agentCall: "RestoreVersion"},
		{name: "restore empty time", args: []string{"versions", "restore", "docs", "a.txt", "--at", ""}, wantCode: 1, wantMsg: "--at is empty", agentCall: "RestoreVersion"},
		{name: "restore future time", args: []string{"versions", "restore", "docs", "a.txt", "--at", "2999-01-01"}, wantCode: 1, wantMsg: "is in the future", agentCall: "RestoreVersion"},
		{name: "restore negative duration", args: []string{"versions", "restore", "docs", "a.txt", "--at", "-2h"}, wantCode: 1, wantMsg: "must not be negative", agentCall: "RestoreVersion"},
		{name: "restore without --at value", args: []string{"versions", "restore", "docs", "a.txt", "--at"}, wantCode: 2, wantMsg: "flag needs an argument"},
		{name: "restore before the oldest", args: []string{"versions", "restore", "docs", "a.txt", "--at", "2025-12-30"}, wantCode: 1, wantMsg: "no version of a.txt archived at or before"},
		{name: "restore without versions", args: []string{"versions", "restore", "docs", "b.txt"}, wantCode: 1, wantMsg: "no archived version of b.txt"},

		{name: "set nothing", args: []string{"folder", "set", "docs"}, wantCode: 2, wantMsg: "nothing to change", agentCall: "UpdateFolder"},
		{name: "set missing folder", args: []string{"folder", "set"}, wantCode: 2, wantMsg: "missing FOLDER_ID"},
		{name: "set bad mode", args: []string{"folder", "set", "docs", "--mode", "mirror"}, wantCode: 1, wantMsg: `invalid --mode "mirror" (use send-receive, send-only or receive-only)`, agentCall: "UpdateFolder"},
		{name: "set bad versioning", args: []string{"folder", "set", "docs", "--versioning", "simple"}, wantCode: 1, wantMsg: `invalid --versioning "simple"`, agentCall: "UpdateFolder"},
		{name: "set keep days not a number", args: []string{"folder", "set", "docs", "--keep-days", "ten"}, wantCode: 2, wantMsg: "--keep-days"},
		{name: "set keep days zero", args: []string{"folder", "set", "docs", "--keep-days", "0"}, wantCode: 1, wantMsg: "invalid --keep-days 0", agentCall: "UpdateFolder"},
		{name: "set keep days for staggered", args: []string{"folder", "set", "docs", "--versioning", "staggered", "--keep-days", "3"}, wantCode: 1, wantMsg: "--keep-days applies to trash versioning", agentCall: "UpdateFolder"},
		{name: "set max age for current trash", args: []string{"folder", "set", "docs", "--max-age-days", "3"}, wantCode: 1, wantMsg: "--max-age-days applies to staggered versioning; this would be trash", agentCall: "UpdateFolder"},
		{name: "set max conflicts zero", args: []string{"folder", "set", "docs", "--max-conflicts", "0"}, wantCode: 1, wantMsg: "invalid --max-conflicts 0", agentCall: "UpdateFolder"},
		{name: "set max conflicts too small", args: []string{"folder", "set", "docs", "--max-conflicts", "-5"}, wantCode: 1, wantMsg: "invalid --max-conflicts -5", agentCall: "UpdateFolder"},
		{name: "set empty label", args: []string{"folder", "set", "docs", "--label", " "}, wantCode: 1, wantMsg: "--label is empty", agentCall: "UpdateFolder"},
		{name: "set label with control character", args: []string{"folder", "set", "docs", "--label", "a\tb"}, wantCode: 1, wantMsg: "control characters", agentCall: "UpdateFolder"},
		{name: "set unknown folder", args: []string{"folder", "set", "nope", "--mode", "send-only"}, wantCode: 1, wantMsg: "folder nope: not found"},
		{name: "set keep days unknown folder", args: []string{"folder", "set", "nope", "--keep-days", "3"}, wantCode: 1, wantMsg: "folder nope: not found", agentCall: "UpdateFolder"},

		{name: "override send-receive folder", args: []string{"folder", "override", "docs"}, wantCode: 1, wantMsg: "override applies to send-only folders"},
		{name: "revert send-receive folder", args: []string{"folder", "revert", "docs"}, wantCode: 1, wantMsg: "revert applies to receive-only folders"},
		{name: "override unknown folder", args: []string{"folder", "override", "nope"}, wantCode: 1, wantMsg: "folder nope: not found"},
		{name: "revert bad folder ID", args: []string{"folder", "revert", "a/b"}, wantCode: 1, wantMsg: "invalid folder ID", agentCall: "RevertFolder"},
		{name: "override extra argument", args: []string{"folder", "override", "docs", "now"}, wantCode: 2, wantMsg: `unexpected argument "now"`},
		{name: "diff unknown folder", args: []string{"folder", "diff", "nope"}, wantCode: 1, wantMsg: "folder nope: not found"},
		{name: "diff missing folder", args: []string{"folder", "diff"}, wantCode: 2, wantMsg: "missing FOLDER_ID"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls := 0
			if tt.agentCall != "" {
				calls = agent.Calls(tt.agentCall)
			}
			code, stdout, stderr := runCLI(t, append([]string{"--home", home}, tt.args...)...)
			if code != tt.wantCode {
				t.Errorf("exit %d, want %d (stderr %q)", code, tt.wantCode, stderr)
			}
			checkOneLineError(t, stdout, stderr)
			if !strings.Contains(stderr, tt.wantMsg) {
				t.Errorf("stderr %q does not contain %q", stderr, tt.wantMsg)
			}
			if tt.agentCall != "" && agent.Calls(tt.agentCall) != calls {
				t.Errorf("invalid input reached agent.%s", tt.agentCall)
			}
		})
	}
	fs, _ := agent.Folders(t.Context())
	for _, f := range fs {
		if f.Mode != config.ModeSendReceive || f.MaxConflicts != config.DefaultMaxConflicts || f.Versioning != (config.Folder{}).EffectiveVersioning() {
			t.Errorf("failed commands changed folder %+v", f)
		}
	}
}

func TestSafetyCommandsWithoutAgent(t *testing.T) {
	home := t.TempDir()
	want := "shoal: no running agent found for home " + home + " (start one with 'shoal run')\n"
	for _, args := range [][]string{
		{"conflicts"}, {"conflicts", "docs"}, {"versions", "list", "docs", "a"}, {"versions", "restore", "docs", "a", "--at", "2h"},
		{"folder", "set", "docs", "--mode", "send-only"}, {"folder", "override", "docs"}, {"folder", "revert", "docs"},
		{"folder", "diff", "docs"},
	} {
		code, stdout, stderr := runCLI(t, append([]string{"--home", home}, args...)...)
		if code != 1 || stderr != want {
			t.Errorf("shoal %v: exit %d, stderr %q", args, code, stderr)
		}
		checkOneLineError(t, stdout, stderr)
	}
}

func TestParseAt(t *testing.T) {
	loc := time.FixedZone("CET", 3600)
	now := time.Date(2026, 11, 21, 15, 30, 0, 0, loc)
	end := func(t time.Time, d time.Duration) time.Time { return t.Add(d - 1) }
	tests := []struct {
		in      string
		want    time.Time
		wantErr string
	}{
		{in: "2026-11-21 13:05:01", want: end(time.Date(2026, 11, 21, 13, 5, 1, 0, loc), time.Second)},
		{in: "2026-11-21T13:05:01", want: end(time.Date(2026, 11, 21, 13, 5, 1, 0, loc), time.Second)},
		{in: " 2026-11-21 13:05:01 ", want: end(time.Date(2026, 11, 21, 13, 5, 1, 0, loc), time.Second)},
		{in: "2026-11-21 13:05:01.25", want: time.Date(2026, 11, 21, 13, 5, 1, 250e6, loc)},
		{in: "2026-11-21 13:05", want: end(time.Date(2026, 11, 21, 13, 5, 0, 0, loc), time.Minute)},
		{in: "2026-11-21T13:05", want: end(time.Date(2026, 11, 21, 13, 5, 0, 0, loc), time.Minute)},
		{in: "2026-11-20", want: end(time.Date(2026, 11, 20, 0, 0, 0, 0, loc), 24*time.Hour)},
		{in: "2026-11-21", want: end(time.Date(2026, 11, 21, 0, 0, 0, 0, loc), 24*time.Hour)}, // today: its end is later, its start is not
		{in: "2026-11-21T12:05:01Z", want: end(time.Date(2026, 11, 21, 12, 5, 1, 0, time.UTC), time.Second)},
		{in: "2026-11-21T13:05:01+01:00", want: end(time.Date(2026, 11, 21, 12, 5, 1, 0, time.UTC), time.Second)},
		{in: "2026-11-21T13:05:01.5-01:00", want: time.Date(2026, 11, 21, 14, 5, 1, 5e8, time.UTC)},
		{in: "2h", want: now.Add(-2 * time.Hour)},
		{in: "90m", want: now.Add(-90 * time.Minute)},
		{in: "1h30m", want: now.Add(-90 * time.Minute)},
		{in: "45s", want: now.Add(-45 * time.Second)},
		{in: "1.5h", want: now.Add(-90 * time.Minute)},
		{in: "3d", want: now.Add(-72 * time.Hour)},
		{in: "1d12h", want: now.Add(-36 * time.Hour)},
		{in: "0s", want: now},

		{in: "", wantErr: "--at is empty"},
		{in: "yesterday", wantErr: `invalid --at "yesterday"; use a local date and time`},
		{in: "2026-13-01", wantErr: "invalid --at"},
		{in: "2026-11-21 25:00", wantErr: "invalid --at"},
		{in: "21.11.2026", wantErr: "invalid --at"},
		{in: "2026-11-21 15:30:01", wantErr: "is in the future"},
		{in: "2026-11-22", wantErr: "is in the future"},
		{in: "2027-01-01T00:00:00Z", wantErr: "is in the future"},
		{in: "-2h", wantErr: "must not be negative"},
		{in: "2x", wantErr: "invalid --at"},
		{in: "xd", wantErr: "bad number of days"},
		{in: "2d-3h", wantErr: "must not be negative"}, {in: "2d3", wantErr: "invalid --at"},
		{in: "99999d", wantErr: "more than 36500 days ago"},
		{in: "36500d1h", wantErr: "more than 36500 days ago"},
		{in: "9999999999h", wantErr: "invalid --at"},
	}
	for _, tt := range tests {
		got, err := parseAt(tt.in, now, loc)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || strings.Contains(err.Error(), "\n") {
				t.Errorf("parseAt(%q) = %v, %v; want error containing %q", tt.in, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || !got.Equal(tt.want) {
			t.Errorf("parseAt(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

func TestRelFilePath(t *testing.T) {
	tests := []struct{ in, want, wantErr string }{
		{in: "a.txt", want: "a.txt"},
		{in: "./dir/a.txt", want: "dir/a.txt"},
		{in: "dir//a.txt/", want: "dir/a.txt"},
		{in: "dir/../a.txt", want: "a.txt"},
		{in: "/abs/a.txt", want: "/abs/a.txt"}, // resolved against the folder later
		{in: "", wantErr: "file path is empty"},
		{in: ".", wantErr: "outside the folder"},
		{in: "..", wantErr: "outside the folder"},
		{in: "../a", wantErr: "outside the folder"},
		{in: "dir/../../a", wantErr: "outside the folder"},
		{in: "a\x01b", wantErr: "invalid file path"},
	}
	for _, tt := range tests {
		got, err := relFilePath(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("relFilePath(%q) = %q, %v; want error %q", tt.in, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("relFilePath(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}
