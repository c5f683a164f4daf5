package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
)

// runOptions are the flags of `shoal run`; runAgent (run.go) starts the
// agent with them.
type runOptions struct {
	Home            string   // absolute home directory
	Listen          []string // --listen, repeatable; empty means the configured addresses
	Admin           string   // --admin HOST:PORT; empty means the configured address
	NoDefaultFolder bool     // --no-default-folder
	Name            string   // --name; empty means the configured name
	Passphrase      []byte   // unlocks a protected key store
	Stdout          io.Writer
	Role            string   // --role: "" or anchor
	Bootstrap       []string // --bootstrap, repeatable: anchors
	LAN             *bool    // --lan, when given
	DHTServer       bool     // --dht-server
	// DiscoveryTimers, for the multi-host tests: SHOAL_TEST_DISCOVERY=1
	// makes lookups and advertisements frequent.
	fastDiscovery bool
}

func (c *cli) runCmd() *cobra.Command {
	var opts runOptions
	var lan bool
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run the agent",
		Long: `Run the sync agent in the foreground until interrupted.

The first SIGINT or SIGTERM shuts the agent down cleanly; a second one
exits at once. While it runs, the agent serves the admin API on a loopback
address and records it in HOME/admin.json for the other commands.`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, args []string) error {
			home, err := c.home()
			if err != nil {
				return err
			}
			opts.Home = home
			opts.Stdout = cmd.OutOrStdout()
			switch opts.Role {
			case "", "agent":
				opts.Role = ""
			case "anchor":
			default:
				return usagef(cmd, "invalid --role %q (use agent or anchor)", opts.Role)
			}
			if cmd.Flags().Changed("lan") {
				opts.LAN = &lan
			}
			opts.fastDiscovery = os.Getenv("SHOAL_TEST_DISCOVERY") != ""
			if opts.Passphrase, err = c.passphrase(); err != nil {
				return err
			}
			ctx := cmd.Context()
			stderr := cmd.ErrOrStderr()
			stopNote := context.AfterFunc(ctx, func() {
				if cause := context.Cause(ctx); cause != nil && cause != context.Canceled {
					fmt.Fprintf(stderr, "shoal: %v; shutting down (send it again to exit at once)\n", cause)
				}
			})
			defer stopNote()
			return runAgent(ctx, opts)
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&opts.Listen, "listen", nil, "listen address, e.g. quic://0.0.0.0:22100 or tcp://0.0.0.0:22100 (repeatable; default from the configuration)")
	f.StringVar(&opts.Admin, "admin", "", "admin API address HOST:PORT on a loopback interface (default from the configuration, 127.0.0.1:8384)")
	f.BoolVar(&opts.NoDefaultFolder, "no-default-folder", false, "do not create the default folder ~/Shoal")
	f.StringVar(&opts.Name, "name", "", "this device's name as shown to peers (default from the configuration, the host name)")
	f.StringVar(&opts.Role, "role", "", "agent (default) or anchor: an always-on node that serves the DHT, tells others their public address and relays")
	f.StringArrayVar(&opts.Bootstrap, "bootstrap", nil, "an anchor to find peers through: a multiaddr ending in /p2p/DEVICE_ID (repeatable; added to the configured anchors)")
	f.BoolVar(&opts.DHTServer, "dht-server", false, "answer DHT queries and store provider records, for an always-on agent with a public address (anchors always do; default from the configuration: client)")
	f.BoolVar(&lan, "lan", true, "find peers on the local network (mDNS); --lan=false on untrusted networks (default from the configuration: on)")
	return cmd
}
