package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/spf13/cobra"

	"github.com/shoalsync/shoal/admin"
)

// cli holds what every subcommand shares.
type cli struct {
	homeFlag       string
	passphraseFile string
}

func newRootCmd(stdout, stderr io.Writer) *cobra.Command {
	c := &cli{}
	root := &cobra.Command{
		Use:   "shoal",
		Short: "Peer-to-peer file sync",
		Long: `Shoal keeps folders in sync between your devices, directly and encrypted.

Start with 'shoal init', then 'shoal run' to start the agent. On each
device, add the other with 'shoal device add DEVICE_ID', and share a folder
with 'shoal folder add PATH --share DEVICE_ID'. Or invite another device to a
folder with 'shoal invite FOLDER_ID' and join it there with 'shoal join LINK'.`,
		Version:       version,
		SilenceErrors: true,
		SilenceUsage:  true,
		Args:          noSubcommand,
		RunE: func(cmd *cobra.Command, args []string) error {
			return cmd.Help()
		},
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetVersionTemplate(versionString() + "\n")
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return usagef(cmd, "%v", err)
	})
	root.CompletionOptions.HiddenDefaultCmd = true
	root.SuggestionsMinimumDistance = 2
	root.PersistentFlags().StringVar(&c.homeFlag, "home", "",
		"agent home directory (default $SHOAL_HOME, else the user config directory + /shoal)")
	root.PersistentFlags().StringVar(&c.passphraseFile, "passphrase-file", "",
		"file holding the key store's passphrase (default $SHOAL_PASSPHRASE), for a key store protected with 'shoal passphrase set'")

	root.AddCommand(
		c.initCmd(),
		c.idCmd(),
		c.runCmd(),
		c.deviceCmd(),
		c.folderCmd(),
		c.inviteCmd(),
		c.joinCmd(),
		c.pendingCmd(),
		c.approveCmd(),
		c.denyCmd(),
		c.conflictsCmd(),
		c.versionsCmd(),
		c.statusCmd(),
		c.passphraseCmd(),
		versionCmd(),
	)
	return root
}

// home returns the agent's home directory as an absolute path: --home, else
// $SHOAL_HOME, else os.UserConfigDir()/shoal.
func (c *cli) home() (string, error) {
	dir := c.homeFlag
	if dir == "" {
		dir = os.Getenv("SHOAL_HOME")
	}
	if dir == "" {
		cfg, err := os.UserConfigDir()
		if err != nil {
			return "", fmt.Errorf("finding the home directory (use --home or $SHOAL_HOME): %w", err)
		}
		dir = filepath.Join(cfg, "shoal")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("home directory %q: %w", dir, err)
	}
	return abs, nil
}

// client returns a client of the agent running for this home, or an error
// saying that none runs.
func (c *cli) client() (*admin.Client, error) {
	home, err := c.home()
	if err != nil {
		return nil, err
	}
	ep, err := admin.ReadEndpoint(home)
	if err != nil {
		return nil, err
	}
	return admin.NewClient(ep), nil
}

func versionString() string {
	return fmt.Sprintf("shoal %s (%s, %s/%s)", version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

func versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  exactArgs(),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, err := fmt.Fprintln(cmd.OutOrStdout(), versionString())
			return err
		},
	}
}

// usageError is a mistake on the command line; it exits with code 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func isUsageError(err error) bool {
	var ue *usageError
	return errors.As(err, &ue)
}

func usagef(cmd *cobra.Command, format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...) + fmt.Sprintf(" (see '%s --help')", cmd.CommandPath())}
}

// exactArgs requires exactly the named positional arguments.
func exactArgs(names ...string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < len(names) {
			return usagef(cmd, "missing %s", strings.Join(names[len(args):], " "))
		}
		if len(args) > len(names) {
			return usagef(cmd, "unexpected argument %q", args[len(names)])
		}
		return nil
	}
}

// noSubcommand rejects an unknown subcommand of a command group.
func noSubcommand(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	msg := fmt.Sprintf("unknown command %q for '%s'", args[0], cmd.CommandPath())
	if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
		msg += fmt.Sprintf("; did you mean %q?", s[0])
	}
	return &usageError{msg: msg + fmt.Sprintf(" (see '%s --help')", cmd.CommandPath())}
}

// groupCmd returns a command that only holds subcommands.
func groupCmd(use, short string, subs ...*cobra.Command) *cobra.Command {
	cmd := &cobra.Command{
		Use:                        use,
		Short:                      short,
		Args:                       noSubcommand,
		SuggestionsMinimumDistance: 2,
		RunE: func(cmd *cobra.Command, args []string) error {
			var names []string
			for _, s := range cmd.Commands() {
				if s.IsAvailableCommand() {
					names = append(names, s.Name())
				}
			}
			return usagef(cmd, "missing subcommand (%s)", strings.Join(names, ", "))
		},
	}
	cmd.AddCommand(subs...)
	return cmd
}
