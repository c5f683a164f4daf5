package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/shoalsync/shoal/crypto/folderkey"
	"github.com/shoalsync/shoal/sync/model"
)

func (c *cli) folderKeysCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "keys FOLDER_ID",
		Short: "Print the folder keys this device holds (secrets)",
		Long: `Print the keys of a folder that this device holds: the read-write key, the
read-only key and the encrypted-peer key, as far as this device has them (a
read-only member has no read-write key).

Anyone with a key gets that access to the folder, on any device, for as long
as the folder exists: a key cannot be withdrawn. Prefer 'shoal invite', whose
links expire. Only folders added without --id have keys.

With --json, prints an object with the members rw, ro and encrypted; a key
this device does not hold is absent.`,
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
			k, err := client.FolderKeys(cmd.Context(), folder)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return printJSON(out, k)
			}
			if k == (model.FolderKeys{}) {
				_, err := fmt.Fprintf(out, "This device holds no key of folder %s.\n", folder)
				return err
			}
			for _, l := range []struct{ label, key string }{
				{"Read-write key", k.ReadWrite}, {"Read-only key", k.ReadOnly}, {"Encrypted-peer key", k.Encrypted},
			} {
				if l.key != "" {
					fmt.Fprintf(out, "%s: %s\n", l.label, l.key)
				}
			}
			_, err = fmt.Fprintln(out, "Anyone with one of these keys gets that access to the folder until a read-write member removes them ('shoal folder remove-device'); share keys only with people you trust, or use 'shoal invite'.")
			return err
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func (c *cli) folderJoinCmd() *cobra.Command {
	var req model.JoinRequest
	cmd := &cobra.Command{
		Use:   "join KEY PATH",
		Short: "Join a folder with its key",
		Long: `Join the folder that KEY (as printed by 'shoal folder keys' on a member)
belongs to, syncing it into the directory PATH, which is created if missing.
A read-only key makes the folder receive-only here.

This device must reach a member of the folder: give one with --peer
DEVICE_ID@ADDR (for example 12D3KooW…@quic://192.0.2.7:22100) or a multiaddr
ending in /p2p/DEVICE_ID. Discovery of members comes later.`,
		Args: exactArgs("KEY", "PATH"),
		RunE: func(cmd *cobra.Command, args []string) error {
			sec, err := folderkey.Parse(args[0])
			if err != nil {
				return fmt.Errorf("invalid folder key: %s", strings.TrimPrefix(err.Error(), "folderkey: "))
			}
			path, err := newFolderPath(args[1])
			if err != nil {
				return err
			}
			if cmd.Flags().Changed("label") {
				if err := checkLabel(req.Label); err != nil {
					return err
				}
			}
			for _, p := range req.Peers {
				if strings.TrimSpace(p) == "" {
					return errors.New("empty --peer value")
				}
			}
			client, err := c.client()
			if err != nil {
				return err
			}
			req.Key, _ = sec.Key(sec.Access()) // canonical: no spaces or line breaks from pasting
			req.Path = path
			f, err := client.JoinFolder(cmd.Context(), req)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "Joined folder %s (%s) at %s.\n", f.ID, accessWords(sec.Access().String()), f.Path)
			if len(req.Peers) == 0 {
				fmt.Fprintln(out, "No --peer given: this device reaches the folder's members only at addresses it knows (discovery comes later).")
				fmt.Fprintln(out, "Add a member with its static address: shoal device add DEVICE_ID --addr ADDR")
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&req.Peers, "peer", nil, "a member to reach: DEVICE_ID@ADDR or a multiaddr ending in /p2p/DEVICE_ID (repeatable)")
	f.StringVar(&req.Label, "label", "", "human-readable name (default: the directory's name)")
	return cmd
}

// newFolderPath makes p absolute for a folder the agent creates: it may not
// exist yet, but must not be something other than a directory.
func newFolderPath(p string) (string, error) {
	if strings.TrimSpace(p) == "" {
		return "", errors.New("folder path is empty")
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", fmt.Errorf("folder path %q: %w", p, err)
	}
	fi, err := os.Stat(abs)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return abs, nil
	case err != nil:
		return "", fmt.Errorf("folder path: %w", err)
	case !fi.IsDir():
		return "", fmt.Errorf("folder path %s is not a directory", abs)
	}
	return abs, nil
}

// accessWords names an access level for people.
func accessWords(access string) string {
	switch access {
	case "rw":
		return "read-write"
	case "ro":
		return "read-only"
	case "encrypted":
		return "encrypted peer"
	}
	return orDash(access)
}

func (c *cli) folderRemoveDeviceCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "remove-device FOLDER_ID DEVICE_ID",
		Short: "Remove a device from a folder shared by key (new keys for everyone else)",
		Long: `Remove a device from a folder shared by key. The folder moves to a new key
epoch: the remaining members get the new keys over their sessions (members that
are offline get them when they come back), and the removed device is refused
from then on, also with the keys it had. The keys printed by 'shoal folder keys'
change. Only a read-write member can remove devices.`,
		Args: exactArgs("FOLDER_ID", "DEVICE_ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkFolderID(args[0]); err != nil {
				return err
			}
			id, err := parseDeviceID(args[1])
			if err != nil {
				return err
			}
			client, err := c.client()
			if err != nil {
				return err
			}
			if _, err := client.RemoveMember(cmd.Context(), args[0], id.String()); err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "Removed device %s from folder %s. The folder has new keys; the other members get them over their sessions.\n", id.Short(), args[0])
			return err
		},
	}
}
