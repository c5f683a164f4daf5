// Command shoal is the Shoal agent and its command-line client.
//
// `shoal run` is the agent. Every other subcommand except init, id and
// version is a thin client of the running agent's admin API: it finds the
// agent through HOME/admin.json and never edits the configuration itself.
// This is the only package that wires concrete types together.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

// version is set at build time: go build -ldflags "-X main.version=v1.2.3".
var version = "dev"

// Exit codes.
const (
	exitOK    = 0
	exitError = 1 // the command failed
	exitUsage = 2 // the command line is wrong
)

func main() {
	// The first SIGINT or SIGTERM cancels ctx, and commands wind down.
	// Cancelling also calls stop, which restores the default action, so a
	// second signal kills the process at once.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	context.AfterFunc(ctx, stop)
	code := execute(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// execute runs the command line args and returns the exit code. Errors are
// printed to stderr as one line, "shoal: message".
func execute(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := newRootCmd(stdout, stderr)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	fmt.Fprintf(stderr, "shoal: %s\n", oneLine(err.Error()))
	if isUsageError(err) {
		return exitUsage
	}
	return exitError
}

// oneLine folds a message onto a single line.
func oneLine(s string) string {
	lines := strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' })
	for i := range lines {
		lines[i] = strings.TrimSpace(lines[i])
	}
	return strings.Join(lines, "; ")
}
