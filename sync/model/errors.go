package model

import (
	"errors"

	"github.com/shoalsync/shoal/sync/config"
)

// Errors the admin API maps to HTTP statuses.
var (
	ErrNotFound = errors.New("not found")      // 404
	ErrExists   = errors.New("already exists") // 409
	ErrInvalid  = config.ErrInvalid            // 400
)
