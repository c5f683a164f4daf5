package main

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"unicode"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/shoalsync/shoal/sync/config"
	"github.com/shoalsync/shoal/sync/model"
)

func (c *cli) folderSetCmd() *cobra.Command {
	var (
		label, mode, versioning           string
		keepDays, maxAgeDays, maxConflict int
	)
	cmd := &cobra.Command{
		Use:   "set FOLDER_ID [flags]",
		Short: "Change a folder's label, mode, versioning or conflict-copy cap",
		Long: `Change the settings of a folder. Only the settings given are changed.

Modes:
  send-receive   the default: changes go both ways
  send-only      changes made here are sent; changes from other devices are
                 not applied here (see 'shoal folder diff' and 'override')
  receive-only   changes from other devices are applied; changes made here are
                 not sent (see 'shoal folder diff' and 'revert')

Versioning decides what happens to a file that sync replaces or deletes on
this device:
  off        it is gone
  trash      it is kept in FOLDER/.shoal/versions for --keep-days (default 30)
  staggered  versions are thinned out as they age (all of the last hour,
             then one per hour for a day, one per day for 30 days, one per
             week beyond) and none is kept past --max-age-days (default 365)
Without --versioning, --keep-days and --max-age-days change the folder's
current policy.

--max-conflicts caps the conflict copies kept next to each file (default 10;
-1 for no cap); older copies go to the version archive.`,
		Args: exactArgs("FOLDER_ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			folder := args[0]
			if err := checkFolderID(folder); err != nil {
				return err
			}
			flags := cmd.Flags()
			if !slices.ContainsFunc([]string{"label", "mode", "versioning", "keep-days", "max-age-days", "max-conflicts"}, flags.Changed) {
				return usagef(cmd, "nothing to change; give --label, --mode, --versioning, --keep-days, --max-age-days or --max-conflicts")
			}
			var req model.UpdateFolderRequest
			if flags.Changed("label") {
				if err := checkLabel(label); err != nil {
					return err
				}
				req.Label = &label
			}
			if flags.Changed("mode") {
				switch mode {
				case config.ModeSendReceive, config.ModeSendOnly, config.ModeReceiveOnly:
				default:
					return fmt.Errorf("invalid --mode %q (use send-receive, send-only or receive-only)", mode)
				}
				req.Mode = &mode
			}
			if flags.Changed("versioning") {
				switch versioning {
				case config.VersioningOff, config.VersioningTrash, config.VersioningStaggered:
				default:
					return fmt.Errorf("invalid --versioning %q (use off, trash or staggered)", versioning)
				}
			}
			for _, f := range []struct {
				name string
				v    int
			}{{"keep-days", keepDays}, {"max-age-days", maxAgeDays}} {
				if flags.Changed(f.name) && (f.v < 1 || f.v > maxAgoDays) {
					return fmt.Errorf("invalid --%s %d (use 1 to %d days)", f.name, f.v, maxAgoDays)
				}
			}
			if flags.Changed("max-conflicts") {
				if maxConflict == 0 || maxConflict < -1 {
					return fmt.Errorf("invalid --max-conflicts %d (use a number of copies, or -1 for no cap)", maxConflict)
				}
				req.MaxConflicts = &maxConflict
			}

			client, err := c.client()
			if err != nil {
				return err
			}
			if flags.Changed("versioning") || flags.Changed("keep-days") || flags.Changed("max-age-days") {
				var v config.Versioning
				if flags.Changed("versioning") {
					v.Type = versioning
				} else {
					// Change the policy in effect: fetch it first.
					fs, err := client.Folders(cmd.Context())
					if err != nil {
						return err
					}
					i := slices.IndexFunc(fs, func(f model.FolderStatus) bool { return f.ID == folder })
					if i < 0 {
						return fmt.Errorf("folder %s: %w", folder, model.ErrNotFound)
					}
					v = fs[i].Versioning
					if v.Type == "" {
						v = config.DefaultVersioning()
					}
				}
				if flags.Changed("keep-days") {
					if v.Type != config.VersioningTrash {
						return fmt.Errorf("--keep-days applies to trash versioning; this would be %s (use --max-age-days for staggered)", v.Type)
					}
					v.KeepDays = keepDays
				}
				if flags.Changed("max-age-days") {
					if v.Type != config.VersioningStaggered {
						return fmt.Errorf("--max-age-days applies to staggered versioning; this would be %s (use --keep-days for trash)", v.Type)
					}
					v.MaxAgeDays = maxAgeDays
				}
				req.Versioning = &v
			}
			f, err := client.UpdateFolder(cmd.Context(), folder, req)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "Updated folder %s (%s): %s.\n", f.ID, orDash(f.Label), describeSettings(f))
			if req.Mode != nil {
				switch *req.Mode {
				case config.ModeSendOnly:
					fmt.Fprintf(out, "Changes from other devices are no longer applied here; see them with 'shoal folder diff %s'.\n", f.ID)
				case config.ModeReceiveOnly:
					fmt.Fprintf(out, "Changes made here are no longer sent; see them with 'shoal folder diff %s'.\n", f.ID)
				}
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&label, "label", "", "human-readable name")
	fl.StringVar(&mode, "mode", "", "send-receive, send-only or receive-only")
	fl.StringVar(&versioning, "versioning", "", "version archive policy: off, trash or staggered")
	fl.IntVar(&keepDays, "keep-days", 0, "days trash versioning keeps a version")
	fl.IntVar(&maxAgeDays, "max-age-days", 0, "days staggered versioning keeps versions")
	fl.IntVar(&maxConflict, "max-conflicts", 0, "conflict copies kept per file (-1: no cap)")
	return cmd
}

func (c *cli) folderOverrideCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "override FOLDER_ID",
		Short: "Make every device match this send-only folder",
		Long: `Make every device that shares this send-only folder match it: changes the
other devices made are undone there, and the files they replace or delete
go to those devices' version archives, where they can be restored.

See what would change with 'shoal folder diff FOLDER_ID' first. Only for
send-only folders.`,
		Args: exactArgs("FOLDER_ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			folder := args[0]
			if err := checkFolderID(folder); err != nil {
				return err
			}
			client, err := c.client()
			if err != nil {
				return err
			}
			if err := client.OverrideFolder(cmd.Context(), folder); err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "Overriding folder %s: other devices will be made to match this one; files they replace go to their version archives.\n", folder)
			return err
		},
	}
}

func (c *cli) folderRevertCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "revert FOLDER_ID",
		Short: "Undo the local changes in this receive-only folder",
		Long: `Undo the changes made on this device in this receive-only folder: changed
and added files are moved to the folder's version archive (see 'shoal
versions'), and the shared state is put back.

See what would change with 'shoal folder diff FOLDER_ID' first. Only for
receive-only folders.`,
		Args: exactArgs("FOLDER_ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			folder := args[0]
			if err := checkFolderID(folder); err != nil {
				return err
			}
			client, err := c.client()
			if err != nil {
				return err
			}
			if err := client.RevertFolder(cmd.Context(), folder); err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "Reverting folder %s: local changes go to the version archive and the shared state is put back.\n", folder)
			return err
		},
	}
}

func (c *cli) folderDiffCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "diff FOLDER_ID",
		Short: "List where a send-only or receive-only folder differs from the shared state",
		Long: `List the paths where a send-only or receive-only folder differs from the
state the other devices share.

KIND is remote-change (send-only: another device changed the path and the
change is not applied here) or local-change (receive-only: the path was
changed here and the change is not sent). LOCAL and GLOBAL describe the path
here and in the shared state: file, directory, symlink, deleted or absent.`,
		Args: exactArgs("FOLDER_ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			folder := args[0]
			if err := checkFolderID(folder); err != nil {
				return err
			}
			client, err := c.client()
			if err != nil {
				return err
			}
			ds, err := client.Differences(cmd.Context(), folder)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return printJSON(out, nonNil(ds))
			}
			if len(ds) == 0 {
				_, err := fmt.Fprintln(out, "No differences.")
				return err
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "KIND\tPATH\tLOCAL\tGLOBAL")
			remote, local := false, false
			for _, d := range ds {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", orDash(d.Kind), d.Path, orDash(d.Local), orDash(d.Global))
				remote = remote || d.Kind == model.DiffRemoteChange
				local = local || d.Kind == model.DiffLocalChange
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			if remote {
				fmt.Fprintf(out, "To make the other devices match this folder: shoal folder override %s\n", folder)
			}
			if local {
				fmt.Fprintf(out, "To undo the local changes: shoal folder revert %s\n", folder)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// checkLabel checks a folder label as the API will.
func checkLabel(s string) error {
	if strings.TrimSpace(s) == "" {
		return errors.New("--label is empty")
	}
	if len(s) > 256 {
		return errors.New("--label is longer than 256 bytes")
	}
	if !utf8.ValidString(s) || strings.ContainsFunc(s, unicode.IsControl) {
		return fmt.Errorf("--label %q contains invalid or control characters", s)
	}
	return nil
}

// describeSettings is a folder's mode, versioning and conflict cap in one
// phrase.
func describeSettings(f model.FolderStatus) string {
	mode := f.Mode
	if mode == "" {
		mode = config.ModeSendReceive
	}
	var v string
	switch f.Versioning.Type {
	case config.VersioningOff:
		v = "off"
	case config.VersioningTrash:
		v = "trash"
		if f.Versioning.KeepDays > 0 {
			v = fmt.Sprintf("trash, %s", plural(int64(f.Versioning.KeepDays), "day"))
		}
	case config.VersioningStaggered:
		v = "staggered"
		if f.Versioning.MaxAgeDays > 0 {
			v = fmt.Sprintf("staggered, up to %s", plural(int64(f.Versioning.MaxAgeDays), "day"))
		}
	default:
		v = orDash(f.Versioning.Type)
	}
	var cc string
	switch {
	case f.MaxConflicts < 0:
		cc = "all conflict copies kept"
	case f.MaxConflicts == 0:
		cc = "default conflict-copy cap"
	default:
		cc = fmt.Sprintf("at most %s per file", conflictCopies(int64(f.MaxConflicts)))
	}
	return fmt.Sprintf("mode %s; versioning %s; %s", mode, v, cc)
}

// conflictCopies is "1 conflict copy" or "N conflict copies".
func conflictCopies(n int64) string {
	if n == 1 {
		return "1 conflict copy"
	}
	return fmt.Sprintf("%d conflict copies", n)
}
