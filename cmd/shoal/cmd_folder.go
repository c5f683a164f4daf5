package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/shoalsync/shoal/sync/config"
	"github.com/shoalsync/shoal/sync/model"
)

func (c *cli) folderCmd() *cobra.Command {
	return groupCmd("folder", "Manage the folders this device syncs",
		c.folderAddCmd(), c.folderShareCmd(), c.folderListCmd(), c.folderRemoveCmd(),
		c.folderSetCmd(), c.folderDiffCmd(), c.folderOverrideCmd(), c.folderRevertCmd(),
		c.folderKeysCmd(), c.folderRemoveDeviceCmd(), c.folderJoinCmd())
}

func (c *cli) folderAddCmd() *cobra.Command {
	var req model.AddFolderRequest
	cmd := &cobra.Command{
		Use:   "add PATH",
		Short: "Sync a directory",
		Long: `Start syncing the directory PATH, which must exist. The folder ID is what
other devices use to match folders (generated when --id is not given).`,
		Args: exactArgs("PATH"),
		RunE: func(cmd *cobra.Command, args []string) error {
			path, err := folderPath(args[0])
			if err != nil {
				return err
			}
			req.Path = path
			if req.ID != "" {
				if err := checkFolderID(req.ID); err != nil {
					return err
				}
			}
			for i, s := range req.Devices {
				id, err := parseDeviceID(s)
				if err != nil {
					return err
				}
				req.Devices[i] = id.String()
			}
			client, err := c.client()
			if err != nil {
				return err
			}
			f, err := client.AddFolder(cmd.Context(), req)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "Added folder %s (%s) at %s.\n", f.ID, f.Label, f.Path)
			if len(f.Devices) > 0 {
				fmt.Fprintf(out, "Shared with %s.\n", shortList(f.Devices))
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&req.ID, "id", "", "folder ID, the same on every device (default: generated)")
	f.StringVar(&req.Label, "label", "", "human-readable name (default: the directory's name)")
	f.StringArrayVar(&req.Devices, "share", nil, "share with this device ID (repeatable)")
	return cmd
}

func (c *cli) folderShareCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "share FOLDER_ID DEVICE_ID",
		Short: "Share a folder with a device",
		Args:  exactArgs("FOLDER_ID", "DEVICE_ID"),
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
			if err := client.ShareFolder(cmd.Context(), args[0], id.String()); err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "Shared folder %s with %s.\n", args[0], id.Short())
			return err
		},
	}
}

func (c *cli) folderListCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the folders and their sync state",
		Args:  exactArgs(),
		RunE: func(cmd *cobra.Command, args []string) error {
			client, err := c.client()
			if err != nil {
				return err
			}
			fs, err := client.Folders(cmd.Context())
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return printJSON(out, nonNil(fs))
			}
			if len(fs) == 0 {
				_, err := fmt.Fprintln(out, "No folders. Add one with 'shoal folder add PATH'.")
				return err
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tLABEL\tPATH\tMODE\tSTATE\tNEEDED\tSHARED WITH")
			for _, f := range fs {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", f.ID, orDash(f.Label), f.Path, folderMode(f), folderState(f), needed(f), orDash(shortList(f.Devices)))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			printFolderErrors(out, fs)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func (c *cli) folderRemoveCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "remove FOLDER_ID",
		Short: "Stop syncing a folder (its files are left in place)",
		Args:  exactArgs("FOLDER_ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkFolderID(args[0]); err != nil {
				return err
			}
			client, err := c.client()
			if err != nil {
				return err
			}
			// Only for the message: where the files stay.
			var path string
			if fs, err := client.Folders(cmd.Context()); err == nil {
				for _, f := range fs {
					if f.ID == args[0] {
						path = f.Path
					}
				}
			}
			if err := client.RemoveFolder(cmd.Context(), args[0]); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if path != "" {
				_, err = fmt.Fprintf(out, "Removed folder %s. Its files were left in place in %s.\n", args[0], path)
			} else {
				_, err = fmt.Fprintf(out, "Removed folder %s. Its files were left in place.\n", args[0])
			}
			return err
		},
	}
}

// folderPath checks that p is an existing directory and makes it absolute.
func folderPath(p string) (string, error) {
	if strings.TrimSpace(p) == "" {
		return "", errors.New("folder path is empty")
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", fmt.Errorf("folder path %q: %w", p, err)
	}
	fi, err := os.Stat(abs)
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("folder path %s does not exist (create the directory first)", abs)
	}
	if err != nil {
		return "", fmt.Errorf("folder path: %w", err)
	}
	if !fi.IsDir() {
		return "", fmt.Errorf("folder path %s is not a directory", abs)
	}
	return abs, nil
}

func checkFolderID(id string) error {
	if config.ValidFolderID(id) != nil {
		return fmt.Errorf("invalid folder ID %q (use 1-64 letters, digits, '.', '_' or '-')", id)
	}
	return nil
}
