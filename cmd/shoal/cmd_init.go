package main

import (
	"fmt"
	"github.com/shoalsync/shoal/cmd/shoal/agent"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/shoalsync/shoal/crypto/identity"
	"github.com/shoalsync/shoal/sync/config"
)

func (c *cli) initCmd() *cobra.Command {
	var noDefaultFolder bool
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Create this device's identity and configuration",
		Long: `Create the device key and the configuration in the home directory if they
do not exist yet, and print the device ID. Running it again changes nothing.

The ID is the only thing printed on standard output, so scripts can use
ID=$(shoal init).`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, args []string) error {
			home, err := c.home()
			if err != nil {
				return err
			}
			key, created, err := identity.LoadOrCreate(home)
			if err != nil {
				return err
			}
			stderr := cmd.ErrOrStderr()
			if created {
				fmt.Fprintf(stderr, "Created a device key in %s\n", home)
			}
			if config.Exists(home) {
				if _, err := config.Load(home); err != nil {
					return err
				}
				if noDefaultFolder {
					fmt.Fprintf(stderr, "Configuration exists; --no-default-folder applies to new configurations only\n")
				}
			} else {
				cfg := config.New(hostname())
				if noDefaultFolder {
					no := false
					cfg.DefaultFolder = &no
				}
				if err := cfg.Save(home); err != nil {
					return err
				}
				fmt.Fprintf(stderr, "Wrote the configuration to %s\n", filepath.Join(home, config.FileName))
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), key.ID())
			return err
		},
	}
	cmd.Flags().BoolVar(&noDefaultFolder, "no-default-folder", false, "do not create the default folder ~/Shoal when the agent first starts")
	return cmd
}

func (c *cli) idCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "id",
		Short: "Print this device's ID",
		Long:  "Print the full device ID, creating the device key if there is none yet.",
		Args:  exactArgs(),
		RunE: func(cmd *cobra.Command, args []string) error {
			home, err := c.home()
			if err != nil {
				return err
			}
			var key *identity.Key
			inStore, err := agent.DeviceKeyInStore(home)
			if err != nil {
				return err
			}
			if inStore {
				// Never make a new key over one kept in the key store.
				pass, err := c.passphrase()
				if err != nil {
					return err
				}
				if _, key, err = agent.OpenKeys(home, pass); err != nil {
					return err
				}
			} else if key, _, err = identity.LoadOrCreate(home); err != nil {
				return err
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), key.ID())
			return err
		},
	}
}

// hostname is the default device name.
func hostname() string {
	if h, err := os.Hostname(); err == nil && h != "" {
		return h
	}
	return "shoal"
}
