package admin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/shoalsync/shoal/crypto/identity"
	"github.com/shoalsync/shoal/sync/config"
	"github.com/shoalsync/shoal/sync/model"
	"github.com/shoalsync/shoal/transport/wire"
)

// Limits on request input. Requests are small; anything larger is a mistake
// or an attack.
const (
	MaxBodyBytes = 1 << 20 // request body
	maxNameLen   = 256     // device name, folder label
	maxAddrLen   = 1024    // one address
	maxListLen   = 256     // addresses or devices in one request
	maxPathLen   = 4096    // folder path

	// Bounds of the folder settings. Larger values would overflow a
	// time.Duration (about 292 years) or are surely mistakes.
	maxVersioningDays = 36500           // keepDays, maxAgeDays: 100 years
	maxCleanupSeconds = 366 * 24 * 3600 // versioning cleanupSeconds: a year
	maxMaxConflicts   = 1_000_000       // maxConflicts
)

// requestError is a mistake in the request: it maps to 400 and its message
// is shown to the user as is.
type requestError struct{ msg string }

func (e *requestError) Error() string        { return e.msg }
func (e *requestError) Is(target error) bool { return target == model.ErrInvalid }

func badRequest(format string, args ...any) error {
	return &requestError{msg: fmt.Sprintf(format, args...)}
}

// decodeBody decodes one JSON object of at most MaxBodyBytes into v,
// rejecting unknown fields and trailing data. r.Body may be nil.
func decodeBody(r *http.Request, v any) error {
	if r.Body == nil {
		return badRequest("request body is empty; want a JSON object")
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBodyBytes+1))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		return fmt.Errorf("reading request body: %w", err)
	}
	if len(body) > MaxBodyBytes {
		return &http.MaxBytesError{Limit: MaxBodyBytes}
	}
	return decodeJSON(body, v)
}

// decodeJSON is the part of decodeBody that parses untrusted bytes.
func decodeJSON(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return badRequest("request body is empty; want a JSON object")
		}
		return badRequest("invalid JSON request: %s", oneLine(err.Error()))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return badRequest("invalid JSON request: trailing data after the object")
	}
	return nil
}

// checkDeviceID parses a device ID and returns its canonical form.
func checkDeviceID(s string) (string, error) {
	if s == "" {
		return "", badRequest("device ID is missing")
	}
	id, err := identity.Parse(s)
	if err != nil {
		return "", badRequest("invalid device ID %q (want the full ID as printed by 'shoal id')", truncate(s, 80))
	}
	return id.String(), nil
}

func checkFolderID(s string) (string, error) {
	if err := config.ValidFolderID(s); err != nil {
		return "", badRequest("invalid folder ID %q (use 1-64 letters, digits, '.', '_' or '-')", truncate(s, 80))
	}
	return s, nil
}

func checkText(what, s string, max int) error {
	if len(s) > max {
		return badRequest("%s is longer than %d bytes", what, max)
	}
	if !utf8.ValidString(s) || strings.ContainsFunc(s, unicode.IsControl) {
		return badRequest("%s contains invalid or control characters", what)
	}
	return nil
}

// checkAddDevice validates req and canonicalizes its ID.
func checkAddDevice(req *model.AddDeviceRequest) error {
	id, err := checkDeviceID(req.ID)
	if err != nil {
		return err
	}
	req.ID = id
	if err := checkText("device name", req.Name, maxNameLen); err != nil {
		return err
	}
	if len(req.Addrs) > maxListLen {
		return badRequest("too many addresses (%d, at most %d)", len(req.Addrs), maxListLen)
	}
	for _, a := range req.Addrs {
		if strings.TrimSpace(a) == "" {
			return badRequest("empty device address")
		}
		if err := checkText("device address", a, maxAddrLen); err != nil {
			return err
		}
	}
	return nil
}

// checkAddFolder validates req and canonicalizes its path and device IDs.
func checkAddFolder(req *model.AddFolderRequest) error {
	if req.Path == "" {
		return badRequest("folder path is missing")
	}
	if err := checkText("folder path", req.Path, maxPathLen); err != nil {
		return err
	}
	if !filepath.IsAbs(req.Path) {
		return badRequest("folder path %q is not absolute", truncate(req.Path, 200))
	}
	req.Path = filepath.Clean(req.Path)
	if req.ID != "" {
		if _, err := checkFolderID(req.ID); err != nil {
			return err
		}
	}
	if err := checkText("folder label", req.Label, maxNameLen); err != nil {
		return err
	}
	if len(req.Devices) > maxListLen {
		return badRequest("too many devices (%d, at most %d)", len(req.Devices), maxListLen)
	}
	for i, d := range req.Devices {
		id, err := checkDeviceID(d)
		if err != nil {
			return err
		}
		req.Devices[i] = id
	}
	return nil
}

// checkUpdateFolder validates the fields req sets.
func checkUpdateFolder(req *model.UpdateFolderRequest) error {
	if req.Label != nil {
		if err := checkText("folder label", *req.Label, maxNameLen); err != nil {
			return err
		}
	}
	if req.Mode != nil {
		switch *req.Mode {
		case config.ModeSendReceive, config.ModeSendOnly, config.ModeReceiveOnly:
		default:
			return badRequest("invalid folder mode %q (use send-receive, send-only or receive-only)", truncate(*req.Mode, 80))
		}
	}
	if v := req.Versioning; v != nil {
		switch v.Type {
		case config.VersioningOff, config.VersioningTrash, config.VersioningStaggered:
		default:
			return badRequest("invalid versioning type %q (use off, trash or staggered)", truncate(v.Type, 80))
		}
		if v.KeepDays < 0 || v.KeepDays > maxVersioningDays {
			return badRequest("versioning keepDays %d is out of range (1 to %d days, or 0 for the default)", v.KeepDays, maxVersioningDays)
		}
		if v.MaxAgeDays < 0 || v.MaxAgeDays > maxVersioningDays {
			return badRequest("versioning maxAgeDays %d is out of range (1 to %d days, or 0 for the default)", v.MaxAgeDays, maxVersioningDays)
		}
		if v.CleanupSeconds < 0 || v.CleanupSeconds > maxCleanupSeconds {
			return badRequest("versioning cleanupSeconds %d is out of range (1 to %d, or 0 for the default)", v.CleanupSeconds, maxCleanupSeconds)
		}
		if err := v.Validate(); err != nil {
			return badRequest("%s", oneLine(err.Error()))
		}
	}
	if req.MaxConflicts != nil {
		if n := *req.MaxConflicts; n < -1 || n > maxMaxConflicts {
			return badRequest("maxConflicts %d is out of range (-1 for no cap, 0 for the default, or 1 to %d)", n, maxMaxConflicts)
		}
	}
	return nil
}

// checkFilePath checks a path of a file inside a folder: relative to the
// folder root, '/'-separated, without empty, "." or ".." elements.
func checkFilePath(p string) (string, error) {
	if p == "" {
		return "", badRequest("file path is missing (want a path relative to the folder, like docs/a.txt)")
	}
	if err := wire.ValidName(p); err != nil {
		return "", badRequest("invalid file path %q (want a path relative to the folder, with '/' between names and no '.' or '..' elements)", truncate(p, 200))
	}
	return p, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
