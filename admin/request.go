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

	// Bounds of the folder-key requests.
	maxKeyLen        = 512              // a printable folder key (about 120 characters)
	maxLinkLen       = 32 << 10         // an invite link, either form
	maxInviteSeconds = 3653 * 24 * 3600 // invite lifetime: 10 years
	maxInviteUses    = 1_000_000        // devices one invite admits
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
	body, err := readBody(r)
	if err != nil {
		return err
	}
	return decodeJSON(body, v)
}

// decodeOptionalBody is decodeBody for a route whose body may be absent: an
// absent or blank body leaves v as it is.
func decodeOptionalBody(r *http.Request, v any) error {
	body, err := readBody(r)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	return decodeJSON(body, v)
}

// readBody reads a request body of at most MaxBodyBytes; r.Body may be nil.
func readBody(r *http.Request) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBodyBytes+1))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, err
		}
		return nil, fmt.Errorf("reading request body: %w", err)
	}
	if len(body) > MaxBodyBytes {
		return nil, &http.MaxBytesError{Limit: MaxBodyBytes}
	}
	return body, nil
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

// checkAbsPath checks and cleans an absolute path on the agent's machine.
func checkAbsPath(what string, p *string) error {
	if *p == "" {
		return badRequest("%s is missing", what)
	}
	if err := checkText(what, *p, maxPathLen); err != nil {
		return err
	}
	if !filepath.IsAbs(*p) {
		return badRequest("%s %q is not absolute", what, truncate(*p, 200))
	}
	*p = filepath.Clean(*p)
	return nil
}

// checkSecret checks the size and encoding of a folder key or invite link.
// Its messages never quote the secret. White space and line breaks are
// allowed: the engine's parsers skip them, as people paste keys from chat.
func checkSecret(what, s string, max int) error {
	if strings.TrimSpace(s) == "" {
		return badRequest("%s is missing", what)
	}
	if len(s) > max {
		return badRequest("%s is longer than %d bytes", what, max)
	}
	if !utf8.ValidString(s) {
		return badRequest("%s is not valid UTF-8", what)
	}
	return nil
}

// checkJoinFolder validates req and cleans its path.
func checkJoinFolder(req *model.JoinRequest) error {
	if err := checkSecret("folder key", req.Key, maxKeyLen); err != nil {
		return err
	}
	if err := checkAbsPath("folder path", &req.Path); err != nil {
		return err
	}
	if err := checkText("folder label", req.Label, maxNameLen); err != nil {
		return err
	}
	if len(req.Peers) > maxListLen {
		return badRequest("too many peers (%d, at most %d)", len(req.Peers), maxListLen)
	}
	for _, p := range req.Peers {
		if strings.TrimSpace(p) == "" {
			return badRequest("empty peer address")
		}
		if err := checkText("peer address", p, maxAddrLen); err != nil {
			return err
		}
	}
	return nil
}

// checkInvite validates an invite request.
func checkInvite(req *model.InviteRequest) error {
	switch req.Access {
	case "", config.AccessReadWrite, config.AccessReadOnly, config.AccessEncrypted:
	default:
		return badRequest("invalid access %q (use rw, ro or encrypted, or leave it out for the default)", truncate(req.Access, 80))
	}
	if req.ExpiresSeconds < 0 || req.ExpiresSeconds > maxInviteSeconds {
		return badRequest("expiresSeconds %d is out of range (1 to %d, 10 years, or 0 for the default of 7 days)", req.ExpiresSeconds, maxInviteSeconds)
	}
	if req.Uses < 0 || req.Uses > maxInviteUses {
		return badRequest("uses %d is out of range (1 to %d, or 0 for no limit)", req.Uses, maxInviteUses)
	}
	return nil
}

// checkJoinInvite validates req and cleans its path.
func checkJoinInvite(req *model.JoinInviteRequest) error {
	if err := checkSecret("invite link", req.Link, maxLinkLen); err != nil {
		return err
	}
	return checkAbsPath("folder path", &req.Path)
}

// checkDecide validates the body of an approve or deny request.
func checkDecide(req *model.DecideRequest) error {
	if req.Folder == "" {
		return nil
	}
	_, err := checkFolderID(req.Folder)
	return err
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
