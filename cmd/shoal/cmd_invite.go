package main

import (
	"cmp"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/shoalsync/shoal/admin"
	"github.com/shoalsync/shoal/crypto/identity"
	"github.com/shoalsync/shoal/crypto/invite"
	"github.com/shoalsync/shoal/sync/model"
)

const (
	// maxInviteLifetime bounds --expires, as the API does: 10 years.
	maxInviteLifetime = 3653 * 24 * time.Hour
	// joinPoll is how often 'shoal join' asks the agent how the join goes.
	joinPoll = 500 * time.Millisecond
)

func (c *cli) inviteCmd() *cobra.Command {
	var (
		req            model.InviteRequest
		expires        string
		asJSON, showQR bool
	)
	cmd := &cobra.Command{
		Use:   "invite FOLDER_ID",
		Short: "Make an invite link to a folder",
		Long: `Make a link that lets another device join a folder. Send it to the person;
on their device they run 'shoal join LINK'.

The link is signed by this device and expires (--expires, default 7d; units
d, h, m, s, e.g. 7d, 36h, 90m). It does not contain the folder key: the
joining device gets the key from this device (or another member) over an
encrypted connection, after the invite is checked. --uses limits how many
devices may join with it; with --approve each one waits until you accept it
with 'shoal approve' (see 'shoal pending').

--access is what the link grants: rw (read-write), ro (read-only) or
encrypted (a device that stores the folder encrypted and cannot read it). The
default is rw when this device holds the read-write key, else the level it
holds; a link cannot grant more than that. Only folders added without --id
have keys and can be shared by invite.`,
		Args: exactArgs("FOLDER_ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			folder := args[0]
			if err := checkFolderID(folder); err != nil {
				return err
			}
			if asJSON && showQR {
				return usagef(cmd, "--json and --qr cannot be used together")
			}
			switch req.Access {
			case "", "rw", "ro", "encrypted":
			default:
				return fmt.Errorf("invalid --access %q (use rw, ro or encrypted)", req.Access)
			}
			d, err := parseLifetime(expires)
			if err != nil {
				return err
			}
			req.ExpiresSeconds = int64(d / time.Second)
			if req.Uses < 0 || req.Uses > invite.MaxUses {
				return fmt.Errorf("invalid --uses %d (use 1 to %d, or 0 for no limit)", req.Uses, invite.MaxUses)
			}
			client, err := c.client()
			if err != nil {
				return err
			}
			inv, err := client.CreateInvite(cmd.Context(), folder, req)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return printJSON(out, inv)
			}
			return printInvite(out, inv, showQR, time.Now())
		},
	}
	f := cmd.Flags()
	f.StringVar(&req.Access, "access", "", "what the link grants: rw, ro or encrypted (default: the highest level this device holds)")
	f.StringVar(&expires, "expires", "7d", "how long the link is valid, e.g. 7d, 36h, 90m (at most 10 years)")
	f.IntVar(&req.Uses, "uses", 0, "how many devices may join with it (0: no limit)")
	f.BoolVar(&req.Approve, "approve", false, "joining devices wait for your approval ('shoal approve')")
	f.BoolVar(&showQR, "qr", false, "also print the link as a QR code")
	f.BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// printInvite writes the human form of a new invite.
func printInvite(w io.Writer, inv model.Invite, showQR bool, now time.Time) error {
	link := inv.Link
	if link == "" {
		link = inv.ChatForm
	}
	if link == "" {
		return fmt.Errorf("the agent made invite %s but sent no link", inv.ID)
	}
	fmt.Fprintln(w, link)
	if inv.ChatForm != "" && inv.ChatForm != link {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "If the link gets mangled in chat, send this instead:")
		fmt.Fprintln(w, inv.ChatForm)
	}
	if showQR {
		q, err := invite.QR(link)
		if err != nil {
			return fmt.Errorf("drawing the QR code: %w", err)
		}
		fmt.Fprintln(w)
		fmt.Fprint(w, q)
	}
	var who string
	switch inv.Uses {
	case 0:
		who = "any number of devices"
	case 1:
		who = "1 device"
	default:
		who = fmt.Sprintf("up to %d devices", inv.Uses)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "It lets %s join folder %s as %s members until %s (in %s).\n",
		who, folderName(inv.Folder, inv.Label), accessWords(inv.Access), localTime(inv.Expires), humanDuration(inv.Expires.Sub(now)))
	if inv.Approve {
		fmt.Fprintln(w, "Each one waits for your approval: see them with 'shoal pending'.")
	}
	_, err := fmt.Fprintln(w, "On the other device, run: shoal join LINK")
	return err
}

// parseLifetime parses --expires: a Go duration (36h, 90m) or a number of
// days (7d, 1.5d).
func parseLifetime(s string) (time.Duration, error) {
	bad := fmt.Errorf("invalid --expires %q (use a duration like 7d, 36h or 90m)", s)
	var d time.Duration
	if num, ok := strings.CutSuffix(strings.TrimSpace(s), "d"); ok {
		days, err := strconv.ParseFloat(num, 64)
		if err != nil || math.IsNaN(days) || math.IsInf(days, 0) {
			return 0, bad
		}
		if days*24 > maxInviteLifetime.Hours() {
			return 0, fmt.Errorf("invalid --expires %q (at most 10 years)", s)
		}
		d = time.Duration(days * float64(24*time.Hour))
	} else {
		var err error
		if d, err = time.ParseDuration(strings.TrimSpace(s)); err != nil {
			return 0, bad
		}
	}
	switch {
	case d < time.Second:
		return 0, fmt.Errorf("invalid --expires %q (a link must be valid for at least a second)", s)
	case d > maxInviteLifetime:
		return 0, fmt.Errorf("invalid --expires %q (at most 10 years)", s)
	}
	return d, nil
}

func (c *cli) joinCmd() *cobra.Command {
	var wait time.Duration
	cmd := &cobra.Command{
		Use:   "join LINK [PATH]",
		Short: "Join a folder with an invite link",
		Long: `Join the folder an invite link (either form: shoal://join/… or SHOAL-…)
leads to, syncing it into PATH, which is created if missing. PATH defaults to
~/Shoal/LABEL, with the folder's label from the link.

The agent connects to the device that made the invite and gets the folder's
key from it. This command waits up to --wait for that; the agent keeps trying
after it returns (see 'shoal status'). If the invite needs approval, ask the
person who sent it to run the 'shoal approve' command this one prints.`,
		Args: rangeArgs(1, "LINK", "PATH"),
		RunE: func(cmd *cobra.Command, args []string) error {
			link := strings.TrimSpace(args[0])
			inv, err := invite.Decode(link)
			if err != nil {
				return err // written for end users
			}
			if err := inv.Check(time.Now()); err != nil {
				return err
			}
			if wait < 0 {
				return fmt.Errorf("invalid --wait %s (use a duration like 60s, or 0 not to wait)", wait)
			}
			var path string
			if len(args) == 2 {
				path, err = newFolderPath(args[1])
			} else {
				path, err = defaultJoinPath(inv)
			}
			if err != nil {
				return err
			}
			client, err := c.client()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			js, err := client.JoinInvite(ctx, model.JoinInviteRequest{Link: link, Path: path})
			if err != nil {
				return err
			}
			if js.InviteID == "" {
				js.InviteID = hex.EncodeToString(inv.ID[:])
			}
			out := cmd.OutOrStdout()
			if !joinSettled(js.State) {
				fmt.Fprintf(out, "Joining folder %s from %s…\n", folderName(inv.FolderID, inv.Label), inv.Inviter.Short())
				if js, err = waitJoin(ctx, client, js, wait); err != nil {
					return err
				}
			}
			return reportJoin(ctx, out, client, js, inv)
		},
	}
	cmd.Flags().DurationVar(&wait, "wait", 60*time.Second, "how long to wait for the inviter (0: do not wait)")
	return cmd
}

// joinSettled reports whether a join state is one 'shoal join' reports.
func joinSettled(state string) bool {
	return state == model.JoinJoined || state == model.JoinPending || state == model.JoinFailed
}

// waitJoin polls the agent's joins until js settles, wait passes or ctx is
// cancelled; it returns the last state seen.
func waitJoin(ctx context.Context, client *admin.Client, js model.JoinStatus, wait time.Duration) (model.JoinStatus, error) {
	timer := time.NewTimer(wait)
	defer timer.Stop()
	tick := time.NewTicker(joinPoll)
	defer tick.Stop()
	for !joinSettled(js.State) {
		select {
		case <-ctx.Done():
			return js, nil
		case <-timer.C:
			return js, nil
		case <-tick.C:
		}
		all, err := client.Joins(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return js, nil
			}
			return js, err
		}
		if i := slices.IndexFunc(all, func(j model.JoinStatus) bool { return j.InviteID == js.InviteID }); i >= 0 {
			js = all[i]
		}
	}
	return js, nil
}

// reportJoin prints how a join stands; a failed join is an error.
func reportJoin(ctx context.Context, out io.Writer, client *admin.Client, js model.JoinStatus, inv *invite.Invite) error {
	folder := cmp.Or(js.Folder, inv.FolderID)
	switch js.State {
	case model.JoinJoined:
		_, err := fmt.Fprintf(out, "Joined folder %s (%s) at %s.\n", folder, accessWords(cmp.Or(js.Access, inv.Access)), js.Path)
		return err
	case model.JoinPending:
		self := "YOUR_DEVICE_ID"
		if st, err := client.Status(ctx); err == nil {
			self = shortID(st.DeviceID, st.ShortID)
		}
		fmt.Fprintf(out, "Waiting for approval: ask the person who invited you to run 'shoal approve %s'.\n", self)
		_, err := fmt.Fprintf(out, "The folder is added at %s once they do; the agent keeps waiting in the background ('shoal status').\n", js.Path)
		return err
	case model.JoinFailed:
		reason := js.Error
		if reason == "" {
			reason = "the inviting device refused the invite"
		}
		return fmt.Errorf("joining folder %s failed: %s", folder, reason)
	}
	_, err := fmt.Fprintln(out, "Still trying to reach the inviter; the agent keeps trying in the background ('shoal status').")
	return err
}

// defaultJoinPath is ~/Shoal/LABEL for an invite, with the folder ID when
// the label is empty or cannot be a directory name.
func defaultJoinPath(inv *invite.Invite) (string, error) {
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("finding your home directory (give PATH): %w", err)
	}
	return newFolderPath(filepath.Join(home, "Shoal", joinDirName(inv.Label, inv.FolderID)))
}

// joinDirName makes a folder label a single, harmless path element: the
// label comes from someone else's link.
func joinDirName(label, folderID string) string {
	name := strings.Map(func(r rune) rune {
		if r == '/' || r == '\\' || r == 0 {
			return '-'
		}
		return r
	}, label)
	name = strings.TrimSpace(name)
	if name == "" || name == "." || name == ".." {
		return folderID
	}
	return name
}

func (c *cli) pendingCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "pending",
		Short: "List devices waiting for approval to join a folder",
		Long: `List the devices that used an invite made with --approve and wait for you to
let them in ('shoal approve DEVICE') or refuse them ('shoal deny DEVICE').

NAME is what the device calls itself: anyone can pick any name, so check the
device ID with the person before approving.`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, args []string) error {
			client, err := c.client()
			if err != nil {
				return err
			}
			ps, err := client.Pending(cmd.Context())
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return printJSON(out, nonNil(ps))
			}
			if len(ps) == 0 {
				_, err := fmt.Fprintln(out, "No devices are waiting for approval.")
				return err
			}
			now := time.Now()
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "DEVICE\tNAME\tFOLDER\tACCESS\tWAITING SINCE")
			for _, p := range ps {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s (%s ago)\n", shortID(p.ID, p.ShortID), orDash(p.Name),
					folderName(p.Folder, p.Label), accessWords(p.Access), localTime(p.Since), humanDuration(now.Sub(p.Since)))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Fprintln(out, "Names are chosen by the devices themselves: check the ID with the person before approving.")
			_, err = fmt.Fprintln(out, "To let one join: shoal approve DEVICE; to refuse it: shoal deny DEVICE")
			return err
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func (c *cli) approveCmd() *cobra.Command { return c.decideCmd(true) }
func (c *cli) denyCmd() *cobra.Command    { return c.decideCmd(false) }

// decideCmd is 'shoal approve' or 'shoal deny'.
func (c *cli) decideCmd(approve bool) *cobra.Command {
	var folder string
	use, short := "deny DEVICE", "Refuse a device waiting to join a folder"
	if approve {
		use, short = "approve DEVICE", "Let a device waiting for approval join a folder"
	}
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Long: short + `.

DEVICE is the device's full ID or the short ID 'shoal pending' shows. When
the device waits to join more than one folder, name one with --folder.`,
		Args: exactArgs("DEVICE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if folder != "" {
				if err := checkFolderID(folder); err != nil {
					return err
				}
			}
			client, err := c.client()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			id, waiting, err := resolvePending(ctx, client, args[0])
			if err != nil {
				return err
			}
			// What the device waits for, to check --folder and for the message.
			var name, label string
			var folders []string
			for _, p := range waiting {
				if folder == "" || p.Folder == folder {
					folders = append(folders, p.Folder)
					name, label = cmp.Or(p.Name, name), p.Label
				}
			}
			if folder == "" && len(folders) > 1 {
				return fmt.Errorf("device %s waits to join %d folders (%s); choose one with --folder", shortID(id, ""), len(folders), strings.Join(folders, ", "))
			}
			target := folder
			if target == "" && len(folders) == 1 {
				target = folders[0]
			}
			req := model.DecideRequest{Folder: folder}
			if approve {
				err = client.Approve(ctx, id, req)
			} else {
				err = client.Deny(ctx, id, req)
			}
			if err != nil {
				return err
			}
			dev := deviceLabel(id, name)
			out := cmd.OutOrStdout()
			switch {
			case approve && target != "":
				_, err = fmt.Fprintf(out, "Approved %s: it joins folder %s.\n", dev, folderName(target, label))
			case approve:
				_, err = fmt.Fprintf(out, "Approved %s.\n", dev)
			case target != "":
				_, err = fmt.Fprintf(out, "Denied %s: it will not join folder %s.\n", dev, folderName(target, label))
			default:
				_, err = fmt.Fprintf(out, "Denied %s.\n", dev)
			}
			return err
		},
	}
	cmd.Flags().StringVar(&folder, "folder", "", "the folder to decide on, when the device waits for several")
	return cmd
}

// resolvePending turns a full or short device ID into the full one, and
// returns the pending entries of that device. A short ID must match exactly
// one waiting device. For a full ID the list is best effort.
func resolvePending(ctx context.Context, client *admin.Client, s string) (string, []model.PendingDevice, error) {
	s = strings.TrimSpace(s)
	if id, err := identity.Parse(s); err == nil {
		ps, _ := client.Pending(ctx)
		return id.String(), pendingOf(ps, id.String()), nil
	}
	if s == "" || len(s) > 64 {
		return "", nil, fmt.Errorf("invalid device ID %q (want the full ID or the short one 'shoal pending' shows)", s)
	}
	ps, err := client.Pending(ctx)
	if err != nil {
		return "", nil, err
	}
	var ids []string
	for _, p := range ps {
		if (p.ShortID == s || shortID(p.ID, "") == s) && !slices.Contains(ids, p.ID) {
			ids = append(ids, p.ID)
		}
	}
	switch len(ids) {
	case 0:
		return "", nil, fmt.Errorf("no device waiting for approval has the ID %q (see 'shoal pending')", s)
	case 1:
		return ids[0], pendingOf(ps, ids[0]), nil
	}
	return "", nil, fmt.Errorf("%q matches %d waiting devices (%s); give the full ID", s, len(ids), strings.Join(ids, ", "))
}

func pendingOf(ps []model.PendingDevice, id string) []model.PendingDevice {
	var out []model.PendingDevice
	for _, p := range ps {
		if p.ID == id {
			out = append(out, p)
		}
	}
	return out
}

// folderName is "LABEL (ID)", or the ID alone without a label.
func folderName(id, label string) string {
	if label == "" || label == id {
		return id
	}
	return fmt.Sprintf("%s (%s)", label, id)
}

// rangeArgs requires at least min of the named positional arguments and
// allows the rest.
func rangeArgs(min int, names ...string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < min {
			return usagef(cmd, "missing %s", strings.Join(names[len(args):min], " "))
		}
		if len(args) > len(names) {
			return usagef(cmd, "unexpected argument %q", args[len(names)])
		}
		return nil
	}
}
