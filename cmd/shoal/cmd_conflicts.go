package main

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
)

func (c *cli) conflictsCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "conflicts [FOLDER_ID]",
		Short: "List conflict copies",
		Long: `List the conflict copies in one folder, or in every folder.

When two devices change the same file before they see each other's change,
both versions are kept: the winner under the file's name, the other one as a
conflict copy next to it, named NAME.sync-conflict-YYYYMMDD-HHMMSS-DEVICE.EXT.
PATH is the copy, ORIGINAL the file it belongs to, DEVICE the device whose
change it holds and TIME its modification time.

To resolve a conflict, put the content you want in ORIGINAL and delete the
copy; both changes sync to the other devices. Only the newest copies of each
file are kept (see 'shoal folder set --max-conflicts'); older ones go to the
version archive.`,
		Args: optionalArgs("FOLDER_ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			var folder string
			if len(args) == 1 {
				folder = args[0]
				if err := checkFolderID(folder); err != nil {
					return err
				}
			}
			client, err := c.client()
			if err != nil {
				return err
			}
			cs, err := client.Conflicts(cmd.Context(), folder)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return printJSON(out, nonNil(cs))
			}
			if len(cs) == 0 {
				_, err := fmt.Fprintln(out, "No conflict copies.")
				return err
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "FOLDER\tPATH\tORIGINAL\tDEVICE\tTIME\tSIZE")
			for _, c := range cs {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", c.Folder, c.Path, orDash(c.Original), orDash(c.Device), localTime(c.Time), humanBytes(c.Size))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			_, err = fmt.Fprintln(out, "To resolve one, keep the content you want in ORIGINAL and delete the conflict copy.")
			return err
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// optionalArgs allows up to the named positional arguments.
func optionalArgs(names ...string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) > len(names) {
			return usagef(cmd, "unexpected argument %q", args[len(names)])
		}
		return nil
	}
}

// localTime formats t in the local time zone to the second, as the time
// arguments accept it; "-" for the zero time.
func localTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format(time.DateTime)
}
