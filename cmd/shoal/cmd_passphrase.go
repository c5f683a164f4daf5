package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/shoalsync/shoal/cmd/shoal/agent"
)

// passphrase returns the key store passphrase from --passphrase-file, else
// $SHOAL_PASSPHRASE, else nil. One trailing line break of a file is dropped.
func (c *cli) passphrase() ([]byte, error) {
	if c.passphraseFile != "" {
		return readPassphrase(c.passphraseFile)
	}
	if p := os.Getenv("SHOAL_PASSPHRASE"); p != "" {
		return []byte(p), nil
	}
	return nil, nil
}

func readPassphrase(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading passphrase file: %w", err)
	}
	b = bytes.TrimSuffix(b, []byte("\n"))
	b = bytes.TrimSuffix(b, []byte("\r"))
	if len(b) == 0 {
		return nil, errors.New("the passphrase file is empty")
	}
	return b, nil
}

func (c *cli) passphraseCmd() *cobra.Command {
	return groupCmd("passphrase", "Protect the key store with a passphrase",
		c.passphraseSetCmd(), c.passphraseRemoveCmd())
}

// agentStopped refuses to change the key store while the agent runs: it
// keeps its own copy and would write over the change.
func (c *cli) agentStopped(cmd *cobra.Command) error {
	client, err := c.client()
	if err != nil {
		return nil // no endpoint: not running
	}
	if client.Health(cmd.Context()) == nil {
		return errors.New("the agent is running; stop it first (the key store can only be changed while it is stopped)")
	}
	return nil
}

func (c *cli) passphraseSetCmd() *cobra.Command {
	var newFile string
	cmd := &cobra.Command{
		Use:   "set --new-passphrase-file FILE",
		Short: "Protect (or re-protect) the device key and folder keys with a passphrase",
		Long: `Seal the key store (the device key and every folder key) with a passphrase
(Argon2id). From then on the agent starts only with the passphrase, given with
--passphrase-file or $SHOAL_PASSPHRASE. The agent must be stopped. If the store
is protected already, give its current passphrase the same way.`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, args []string) error {
			if newFile == "" {
				return usagef(cmd, "--new-passphrase-file is required")
			}
			home, err := c.home()
			if err != nil {
				return err
			}
			if err := c.agentStopped(cmd); err != nil {
				return err
			}
			next, err := readPassphrase(newFile)
			if err != nil {
				return err
			}
			cur, err := c.passphrase()
			if err != nil {
				return err
			}
			if err := agent.SetPassphrase(home, cur, next); err != nil {
				return err
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), "The key store is protected. Start the agent with --passphrase-file or $SHOAL_PASSPHRASE.")
			return err
		},
	}
	cmd.Flags().StringVar(&newFile, "new-passphrase-file", "", "file holding the new passphrase")
	return cmd
}

func (c *cli) passphraseRemoveCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "remove",
		Short: "Remove the passphrase protection of the key store",
		Args:  exactArgs(),
		RunE: func(cmd *cobra.Command, args []string) error {
			home, err := c.home()
			if err != nil {
				return err
			}
			if err := c.agentStopped(cmd); err != nil {
				return err
			}
			cur, err := c.passphrase()
			if err != nil {
				return err
			}
			if err := agent.SetPassphrase(home, cur, nil); err != nil {
				return err
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), "The key store is no longer protected by a passphrase.")
			return err
		},
	}
}
