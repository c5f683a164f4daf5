package main

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/shoalsync/shoal/crypto/identity"
	"github.com/shoalsync/shoal/sync/model"
)

func (c *cli) deviceCmd() *cobra.Command {
	return groupCmd("device", "Manage the devices this one syncs with",
		c.deviceAddCmd(), c.deviceListCmd(), c.deviceRemoveCmd())
}

func (c *cli) deviceAddCmd() *cobra.Command {
	var req model.AddDeviceRequest
	cmd := &cobra.Command{
		Use:   "add DEVICE_ID",
		Short: "Trust a device and connect to it",
		Long: `Trust the device with this ID (as printed by 'shoal id' on it) and start
connecting to it. The other device must add this one too.`,
		Args: exactArgs("DEVICE_ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseDeviceID(args[0])
			if err != nil {
				return err
			}
			home, err := c.home()
			if err != nil {
				return err
			}
			self, _ := identity.Load(home) // absent key: the agent checks
			if self != nil && self.ID() == id {
				return fmt.Errorf("%s is this device's own ID; add the ID of the other device", id.Short())
			}
			for _, a := range req.Addrs {
				if strings.TrimSpace(a) == "" {
					return fmt.Errorf("empty --addr value")
				}
			}
			client, err := c.client()
			if err != nil {
				return err
			}
			req.ID = id.String()
			d, err := client.AddDevice(cmd.Context(), req)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "Added device %s.\n", deviceLabel(d.ID, d.Name))
			if self != nil {
				fmt.Fprintf(out, "On that device, run: shoal device add %s\n", self.ID())
			}
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&req.Addrs, "addr", nil, "static address of the device, e.g. quic://192.0.2.7:22100 (repeatable)")
	cmd.Flags().StringVar(&req.Name, "name", "", "a name for the device")
	return cmd
}

func (c *cli) deviceListCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the devices and their connections",
		Args:  exactArgs(),
		RunE: func(cmd *cobra.Command, args []string) error {
			client, err := c.client()
			if err != nil {
				return err
			}
			ds, err := client.Devices(cmd.Context())
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return printJSON(out, nonNil(ds))
			}
			if len(ds) == 0 {
				_, err := fmt.Fprintln(out, "No devices. Add one with 'shoal device add DEVICE_ID'.")
				return err
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tNAME\tCONNECTION\tADDRESSES")
			for _, d := range ds {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", shortID(d.ID, d.ShortID), orDash(d.Name), connection(d), orDash(strings.Join(d.Addrs, ", ")))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func (c *cli) deviceRemoveCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "remove DEVICE_ID",
		Short: "Forget a device and stop sharing folders with it",
		Args:  exactArgs("DEVICE_ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseDeviceID(args[0])
			if err != nil {
				return err
			}
			client, err := c.client()
			if err != nil {
				return err
			}
			if err := client.RemoveDevice(cmd.Context(), id.String()); err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "Removed device %s.\n", id.Short())
			return err
		},
	}
}

func parseDeviceID(s string) (identity.DeviceID, error) {
	id, err := identity.Parse(s)
	if err != nil {
		return "", fmt.Errorf("invalid device ID %q (want the full ID as printed by 'shoal id')", s)
	}
	return id, nil
}

// connection describes a device's connection in one phrase.
func connection(d model.DeviceStatus) string {
	if !d.Connected {
		return "not connected"
	}
	via := strings.TrimSpace(d.Transport + " " + d.Address)
	prefix := "connected"
	if d.Path != "" {
		prefix = d.Path // lan, direct or relayed
	}
	if via == "" {
		return prefix
	}
	return prefix + " via " + via
}
