package main

import (
	"cmp"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/shoalsync/shoal/sync/model"
)

func (c *cli) statusCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the agent, its devices and folders",
		Args:  exactArgs(),
		RunE: func(cmd *cobra.Command, args []string) error {
			client, err := c.client()
			if err != nil {
				return err
			}
			st, err := client.Status(cmd.Context())
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), st)
			}
			// Joins by invite and devices waiting for approval, best
			// effort: an agent that cannot list them shows none.
			joins, _ := client.Joins(cmd.Context())
			pending, _ := client.Pending(cmd.Context())
			now := time.Now()
			if err := printStatus(cmd.OutOrStdout(), st, now); err != nil {
				return err
			}
			return printJoins(cmd.OutOrStdout(), joins, pending, now)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the status as JSON")
	return cmd
}

// printStatus writes the human form of st.
func printStatus(w io.Writer, st model.Status, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "Agent\t%s (%s)\n", orDash(st.Name), shortID(st.DeviceID, st.ShortID))
	fmt.Fprintf(tw, "Device ID\t%s\n", st.DeviceID)
	fmt.Fprintf(tw, "Version\t%s\n", orDash(st.Version))
	if !st.StartedAt.IsZero() {
		fmt.Fprintf(tw, "Uptime\t%s (since %s)\n", humanDuration(now.Sub(st.StartedAt)), st.StartedAt.Local().Format(time.DateTime))
	}
	fmt.Fprintf(tw, "Listening\t%s\n", orDash(strings.Join(st.ListenAddrs, ", ")))
	fmt.Fprintf(tw, "Admin API\t%s\n", orDash(st.AdminAddr))
	if n := st.Network; n != nil {
		fmt.Fprintf(tw, "Reachability\t%s\n", n.Reachability)
		role := n.Role
		if len(n.Anchors) > 0 {
			role += fmt.Sprintf(", %d anchor(s), %d relay reservation(s)", len(n.Anchors), n.RelayReservations)
		}
		fmt.Fprintf(tw, "Role\t%s\n", role)
		dht := "off (no anchors: add one with 'shoal run --bootstrap ADDR')"
		if n.DHT.Enabled {
			dht = fmt.Sprintf("%s, %d peer(s) in routing table, %d/%d anchors connected, %d folder(s) advertised, %d device(s) found",
				n.DHT.Mode, n.DHT.RoutingTableSize, n.DHT.BootstrapConnected, len(n.Anchors), n.DHT.Topics, n.DHT.PeersFound)
			if n.DHT.LastError != "" {
				dht += "; last error: " + n.DHT.LastError
			}
		}
		fmt.Fprintf(tw, "DHT\t%s\n", dht)
		lan := "off"
		if n.LAN {
			lan = "on"
		}
		fmt.Fprintf(tw, "LAN discovery\t%s\n", lan)
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	fmt.Fprintf(w, "\nDevices (%d)\n", len(st.Devices))
	if len(st.Devices) == 0 {
		fmt.Fprintln(w, "  none; add one with 'shoal device add DEVICE_ID'")
	} else {
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  ID\tNAME\tCONNECTION")
		for _, d := range st.Devices {
			fmt.Fprintf(tw, "  %s\t%s\t%s\n", shortID(d.ID, d.ShortID), orDash(d.Name), connection(d))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}

	fmt.Fprintf(w, "\nFolders (%d)\n", len(st.Folders))
	if len(st.Folders) == 0 {
		fmt.Fprintln(w, "  none; add one with 'shoal folder add PATH'")
	} else {
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  ID\tLABEL\tPATH\tMODE\tSTATE\tNEEDED")
		for _, f := range st.Folders {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\n", f.ID, orDash(f.Label), f.Path, folderMode(f), folderState(f), needed(f))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		printFolderErrors(w, st.Folders)
	}

	if len(st.Refused) > 0 {
		fmt.Fprintf(w, "\nRefused devices (%d)\n", len(st.Refused))
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  ID\tADDRESS\tLAST SEEN\tATTEMPTS")
		for _, r := range st.Refused {
			fmt.Fprintf(tw, "  %s\t%s\t%s ago\t%d\n", shortID(r.ID, r.ShortID), orDash(r.Address), humanDuration(now.Sub(r.LastSeen)), r.Attempts)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		fmt.Fprintln(w, "  To accept one: shoal device add DEVICE_ID")
		for _, r := range st.Refused {
			fmt.Fprintf(w, "    %s\n", r.ID)
		}
	}
	return nil
}

// folderState is the folder's state, "-" when unknown.
func folderState(f model.FolderStatus) string {
	if f.State == "" {
		return "-"
	}
	return f.State
}

// folderMode is the folder's mode, "-" when the agent did not say.
func folderMode(f model.FolderStatus) string {
	return orDash(f.Mode)
}

// needed describes what a folder still has to fetch.
func needed(f model.FolderStatus) string {
	if f.NeedFiles == 0 && f.NeedBytes == 0 {
		return "up to date"
	}
	return fmt.Sprintf("%s, %s", plural(f.NeedFiles, "file"), humanBytes(f.NeedBytes))
}

// printFolderErrors lists folder and file errors, conflict copies and
// differences from the shared state under a folder table.
func printFolderErrors(w io.Writer, fs []model.FolderStatus) {
	const maxFileErrors = 10
	for _, f := range fs {
		if f.Error == "" && len(f.FileErrors) == 0 && f.Conflicts == 0 && f.Differences == 0 {
			continue
		}
		fmt.Fprintf(w, "  %s:\n", f.ID)
		if f.Error != "" {
			fmt.Fprintf(w, "    error: %s\n", oneLine(f.Error))
		}
		for i, e := range f.FileErrors {
			if i == maxFileErrors {
				fmt.Fprintf(w, "    ... and %s more\n", plural(int64(len(f.FileErrors)-maxFileErrors), "file error"))
				break
			}
			if e.Kind != "" && e.Kind != model.FileErrorFailed {
				fmt.Fprintf(w, "    %s (%s): %s\n", e.Path, strings.ReplaceAll(e.Kind, "-", " "), oneLine(e.Error))
			} else {
				fmt.Fprintf(w, "    %s: %s\n", e.Path, oneLine(e.Error))
			}
		}
		if f.Conflicts > 0 {
			fmt.Fprintf(w, "    %s (see 'shoal conflicts %s')\n", conflictCopies(f.Conflicts), f.ID)
		}
		if f.Differences > 0 {
			fmt.Fprintf(w, "    %s from the shared state (see 'shoal folder diff %s')\n", plural(f.Differences, "difference"), f.ID)
		}
	}
}

// printJoins lists the joins by invite still under way or failed, and the
// devices waiting for approval; nothing when there are none.
func printJoins(w io.Writer, joins []model.JoinStatus, pending []model.PendingDevice, now time.Time) error {
	var open []model.JoinStatus
	for _, j := range joins {
		if j.State != model.JoinJoined {
			open = append(open, j)
		}
	}
	if len(open) > 0 {
		fmt.Fprintf(w, "\nJoining by invite (%d)\n", len(open))
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  FOLDER\tPATH\tINVITER\tSTATE\tSINCE")
		for _, j := range open {
			state := j.State
			switch j.State {
			case model.JoinConnecting:
				state = "reaching the inviter"
			case model.JoinPending:
				state = "waiting for approval"
			case model.JoinFailed:
				state = "failed: " + oneLine(cmp.Or(j.Error, "refused"))
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s ago\n", folderName(j.Folder, j.Label), orDash(j.Path), shortID(j.Inviter, ""), orDash(state), humanDuration(now.Sub(j.Since)))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if len(pending) > 0 {
		fmt.Fprintf(w, "\nWaiting for approval (%d)\n", len(pending))
		for _, p := range pending {
			fmt.Fprintf(w, "  %s wants to join %s (%s)\n", deviceLabel(p.ID, p.Name), folderName(p.Folder, p.Label), accessWords(p.Access))
		}
		_, err := fmt.Fprintln(w, "  See them with 'shoal pending'; decide with 'shoal approve DEVICE' or 'shoal deny DEVICE'.")
		return err
	}
	return nil
}
