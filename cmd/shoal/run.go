package main

import (
	"context"
	"errors"
)

// runAgent is a placeholder; the lead replaces this file.
func runAgent(ctx context.Context, opts runOptions) error { return errors.New("not implemented") }
