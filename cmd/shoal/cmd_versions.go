package main

import (
	"errors"
	"fmt"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/shoalsync/shoal/admin"
	"github.com/shoalsync/shoal/sync/config"
	"github.com/shoalsync/shoal/sync/model"
	"github.com/shoalsync/shoal/transport/wire"
)

func (c *cli) versionsCmd() *cobra.Command {
	cmd := groupCmd("versions", "List and restore archived versions of files",
		c.versionsListCmd(), c.versionsRestoreCmd())
	cmd.Long = `When sync replaces or deletes a file on this device, the old content goes to
the folder's version archive (FOLDER/.shoal/versions) instead of being lost,
as long as the folder's versioning is not off (see 'shoal folder set
--versioning'). These commands list and restore the archived versions.

PATH is the file's path inside the folder (like docs/report.txt), or its
absolute path on this machine.`
	return cmd
}

func (c *cli) versionsListCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list FOLDER_ID PATH",
		Short: "List the archived versions of a file, newest first",
		Long: `List the archived versions of the file PATH in a folder, newest first.
ARCHIVED is when sync replaced or deleted that content on this device,
MODIFIED its modification time then. PATH is the file's path inside the
folder, or its absolute path on this machine.`,
		Args: exactArgs("FOLDER_ID", "PATH"),
		RunE: func(cmd *cobra.Command, args []string) error {
			folder := args[0]
			if err := checkFolderID(folder); err != nil {
				return err
			}
			rel, err := relFilePath(args[1])
			if err != nil {
				return err
			}
			client, err := c.client()
			if err != nil {
				return err
			}
			p, err := folderFilePath(cmd, client, folder, args[1], rel)
			if err != nil {
				return err
			}
			vs, err := client.Versions(cmd.Context(), folder, p)
			if err != nil {
				return err
			}
			slices.SortStableFunc(vs, func(a, b model.Version) int { return b.ArchivedAt.Compare(a.ArchivedAt) })
			out := cmd.OutOrStdout()
			if asJSON {
				return printJSON(out, nonNil(vs))
			}
			if len(vs) == 0 {
				_, err := fmt.Fprintf(out, "No archived versions of %s in folder %s.\n", p, folder)
				return err
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ARCHIVED\tMODIFIED\tSIZE")
			for _, v := range vs {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", localTime(v.ArchivedAt), localTime(v.ModTime), humanBytes(v.Size))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			_, err = fmt.Fprintf(out, "To restore one: shoal versions restore %s %s --at \"ARCHIVED\" (the newest without --at).\n", folder, shellQuote(p))
			return err
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func (c *cli) versionsRestoreCmd() *cobra.Command {
	var at string
	cmd := &cobra.Command{
		Use:   "restore FOLDER_ID PATH",
		Short: "Put an archived version of a file back in place",
		Long: `Put an archived version of the file PATH back in place. The current file,
if there is one, is archived first, so a restore can itself be undone. The
restore is an ordinary change of the file: it syncs to the other devices
(unless the folder is receive-only).

Without --at, the newest archived version is restored. With --at, the newest
version archived at or before TIME is. TIME is one of:

  2006-01-02 15:04:05   a local date and time (also 2006-01-02T15:04:05)
  2006-01-02 15:04      a local date and time to the minute
  2006-01-02            a local date
  2006-01-02T15:04:05Z  RFC 3339, with a zone offset or Z
  2h, 90m, 3d, 1d12h    that long ago

A time given to the second, minute or day covers that whole second, minute or
day: the ARCHIVED time printed by 'shoal versions list' selects that version,
and a date alone selects the last version archived on that day.`,
		Args: exactArgs("FOLDER_ID", "PATH"),
		RunE: func(cmd *cobra.Command, args []string) error {
			folder := args[0]
			if err := checkFolderID(folder); err != nil {
				return err
			}
			rel, err := relFilePath(args[1])
			if err != nil {
				return err
			}
			var req model.RestoreRequest
			if cmd.Flags().Changed("at") {
				if req.At, err = parseAt(at, time.Now(), time.Local); err != nil {
					return err
				}
			}
			client, err := c.client()
			if err != nil {
				return err
			}
			if req.Path, err = folderFilePath(cmd, client, folder, args[1], rel); err != nil {
				return err
			}
			v, err := client.RestoreVersion(cmd.Context(), folder, req)
			if err != nil {
				return err
			}
			// Only for the message: whether the change is sent.
			syncs := "the change will sync to other devices"
			if fs, err := client.Folders(cmd.Context()); err == nil {
				for _, f := range fs {
					if f.ID == folder && f.Mode == config.ModeReceiveOnly {
						syncs = "this receive-only folder does not send the change to other devices"
					}
				}
			}
			p := v.Path
			if p == "" {
				p = req.Path
			}
			out := cmd.OutOrStdout()
			if v.ModTime.IsZero() {
				_, err = fmt.Fprintf(out, "Restored %s (archived %s); %s.\n", p, localTime(v.ArchivedAt), syncs)
			} else {
				_, err = fmt.Fprintf(out, "Restored %s as of %s (archived %s); %s.\n", p, localTime(v.ModTime), localTime(v.ArchivedAt), syncs)
			}
			return err
		},
	}
	cmd.Flags().StringVar(&at, "at", "", "restore the newest version archived at or before TIME (see above)")
	return cmd
}

// maxAgoDays bounds a "that long ago" --at value: more would overflow a
// time.Duration.
const maxAgoDays = 36500

// errBadAt explains the accepted --at forms.
const errBadAt = `use a local date and time like "2006-01-02 15:04:05", "2006-01-02 15:04" or "2006-01-02", RFC 3339, or a duration ago like "2h", "90m" or "3d"`

// parseAt parses a --at TIME relative to now, reading dates and times
// without a zone in loc. It returns the last instant TIME covers: a time
// given to the second, minute or day stands for all of it, so that the
// newest version archived "at or before" it includes versions archived
// during it. A time in the future is an error.
func parseAt(s string, now time.Time, loc *time.Location) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, errors.New("--at is empty; " + errBadAt)
	}
	if d, ok, err := parseAgo(s); ok {
		if err != nil {
			return time.Time{}, fmt.Errorf("invalid --at %q: %v", s, err)
		}
		return now.Add(-d), nil
	}
	// Fractional seconds name an instant; otherwise the whole second.
	exact := strings.Contains(s, ".")
	var start, end time.Time
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		start, end = t, t
		if !exact {
			end = t.Add(time.Second - 1)
		}
	} else {
		layouts := []struct {
			layout string
			span   string // what the layout names: second, minute or day
		}{
			{time.DateTime, "second"},
			{"2006-01-02T15:04:05", "second"},
			{"2006-01-02 15:04", "minute"},
			{"2006-01-02T15:04", "minute"},
			{time.DateOnly, "day"},
		}
		found := false
		for _, l := range layouts {
			t, err := time.ParseInLocation(l.layout, s, loc)
			if err != nil {
				continue
			}
			found = true
			start, end = t, t
			switch {
			case exact:
			case l.span == "second":
				end = t.Add(time.Second - 1)
			case l.span == "minute":
				end = t.Add(time.Minute - 1)
			default:
				end = t.AddDate(0, 0, 1).Add(-1) // days are not always 24 h
			}
			break
		}
		if !found {
			return time.Time{}, fmt.Errorf("invalid --at %q; %s", s, errBadAt)
		}
	}
	if start.After(now) {
		return time.Time{}, fmt.Errorf("--at %q is in the future", s)
	}
	return end, nil
}

// parseAgo parses a duration like "90m", "2h30m", "3d" or "1d12h". ok is
// false when s does not look like a duration at all.
func parseAgo(s string) (d time.Duration, ok bool, err error) {
	if s == "" || !strings.ContainsAny(s[len(s)-1:], "smhd") || strings.ContainsAny(s, " :T") {
		return 0, false, nil
	}
	if strings.HasPrefix(s, "-") {
		return 0, true, errors.New("a duration ago must not be negative")
	}
	rest := s
	if days, after, found := strings.Cut(s, "d"); found {
		n, err := strconv.Atoi(days)
		if err != nil || n < 0 {
			return 0, true, fmt.Errorf("bad number of days %q", days)
		}
		if n > maxAgoDays {
			return 0, true, fmt.Errorf("more than %d days ago", maxAgoDays)
		}
		d = time.Duration(n) * 24 * time.Hour
		rest = after
	}
	if rest != "" {
		r, err := time.ParseDuration(rest)
		if err != nil {
			return 0, true, fmt.Errorf("bad duration %q (use units s, m, h and d)", rest)
		}
		if r < 0 {
			return 0, true, errors.New("a duration ago must not be negative")
		}
		if r > maxAgoDays*24*time.Hour-d {
			return 0, true, fmt.Errorf("more than %d days ago", maxAgoDays)
		}
		d += r
	}
	return d, true, nil
}

// relFilePath turns a relative PATH argument into the '/'-separated path
// relative to the folder root that the API takes. An absolute PATH is
// returned unchanged; folderFilePath resolves it.
func relFilePath(arg string) (string, error) {
	if strings.TrimSpace(arg) == "" {
		return "", errors.New("file path is empty")
	}
	if filepath.IsAbs(arg) {
		return arg, nil
	}
	p := path.Clean(filepath.ToSlash(arg))
	if p == "." || p == ".." || strings.HasPrefix(p, "../") {
		return "", fmt.Errorf("file path %q is outside the folder (give a path inside the folder, like docs/a.txt)", arg)
	}
	if wire.ValidName(p) != nil {
		return "", fmt.Errorf("invalid file path %q (give a path inside the folder, like docs/a.txt)", arg)
	}
	return p, nil
}

// folderFilePath returns rel (from relFilePath) as the API path. An
// absolute path must lie inside the folder's directory; the folder list
// tells where that is.
func folderFilePath(cmd *cobra.Command, client *admin.Client, folderID, arg, rel string) (string, error) {
	if !filepath.IsAbs(rel) {
		return rel, nil
	}
	fs, err := client.Folders(cmd.Context())
	if err != nil {
		return "", err
	}
	i := slices.IndexFunc(fs, func(f model.FolderStatus) bool { return f.ID == folderID })
	if i < 0 {
		return "", fmt.Errorf("folder %s: %w", folderID, model.ErrNotFound)
	}
	root := fs[i].Path
	r, err := filepath.Rel(root, filepath.Clean(arg))
	if err != nil || r == "." || r == ".." || strings.HasPrefix(r, ".."+string(filepath.Separator)) {
		// The same place may be spelled through a symbolic link.
		er, err1 := filepath.EvalSymlinks(root)
		ea, err2 := filepath.EvalSymlinks(filepath.Dir(arg))
		if err1 != nil || err2 != nil {
			return "", fmt.Errorf("%s is not inside folder %s (%s)", arg, folderID, root)
		}
		r, err = filepath.Rel(er, filepath.Join(ea, filepath.Base(arg)))
		if err != nil || r == "." || r == ".." || strings.HasPrefix(r, ".."+string(filepath.Separator)) {
			return "", fmt.Errorf("%s is not inside folder %s (%s)", arg, folderID, root)
		}
	}
	p := filepath.ToSlash(r)
	if wire.ValidName(p) != nil {
		return "", fmt.Errorf("invalid file path %q (give a path inside the folder, like docs/a.txt)", arg)
	}
	return p, nil
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && !strings.ContainsFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("/._-+,@%=:", r))
	}) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
