package main

import (
	"context"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/shoalsync/shoal/cmd/shoal/agent"
)

// runAgent runs the agent in the foreground until ctx is cancelled. Logs go
// to stderr; SHOAL_LOG=debug|info|warn|error sets the level.
func runAgent(ctx context.Context, opts runOptions) error {
	level := slog.LevelInfo
	switch strings.ToLower(os.Getenv("SHOAL_LOG")) {
	case "debug":
		level = slog.LevelDebug
	case "warn":
		level = slog.LevelWarn
	case "error":
		level = slog.LevelError
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	slog.SetDefault(log)
	a, err := agent.Start(ctx, agent.Options{
		Home:            opts.Home,
		Listen:          opts.Listen,
		Admin:           opts.Admin,
		NoDefaultFolder: opts.NoDefaultFolder,
		Name:            opts.Name,
		Passphrase:      opts.Passphrase,
		Version:         version,
		Logger:          log,
		Stdout:          opts.Stdout,
		Role:            opts.Role,
		Anchors:         opts.Bootstrap,
		LAN:             opts.LAN,
		DHTServer:       opts.DHTServer,
		NATPortMap:      true,
		Discovery:       discoveryTimers(opts.fastDiscovery),
	})
	if err != nil {
		return err
	}
	return a.Run(ctx)
}

// discoveryTimers are the defaults, or for multi-host tests frequent
// lookups and advertisements.
func discoveryTimers(fast bool) agent.DiscoveryTimers {
	if !fast {
		return agent.DiscoveryTimers{}
	}
	return agent.DiscoveryTimers{Lookup: time.Second, Reprovide: 5 * time.Second}
}
