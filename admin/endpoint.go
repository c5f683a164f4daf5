package admin

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// EndpointFile is the name of the endpoint file inside the agent's home.
const EndpointFile = "admin.json"

// maxEndpointFile bounds the endpoint file we are willing to read.
const maxEndpointFile = 64 << 10

// Endpoint is where a running agent serves its admin API, as recorded in
// HOME/admin.json.
type Endpoint struct {
	Address string `json:"address"` // host:port a local client dials
	Token   string `json:"token"`   // API token
	PID     int    `json:"pid"`     // process ID of the agent

	// Home is the directory the endpoint was read from. It is not stored in
	// the file; the client uses it in error messages.
	Home string `json:"-"`
}

// ErrNoAgent marks the absence of a running agent: no endpoint file, a file
// left behind by a process that is gone, or nothing listening at the address.
var ErrNoAgent = errors.New("admin: no running agent")

// noAgentError is the user-facing form of ErrNoAgent.
type noAgentError struct {
	home string
	addr string
}

func (e *noAgentError) Error() string {
	if e.home == "" {
		return fmt.Sprintf("no running agent found at %s (start one with 'shoal run')", e.addr)
	}
	return fmt.Sprintf("no running agent found for home %s (start one with 'shoal run')", e.home)
}

func (e *noAgentError) Is(target error) bool { return target == ErrNoAgent }

// WriteEndpoint writes ep to home/admin.json with mode 0600, atomically
// (temporary file, fsync, rename), so a reader never sees a partial file.
func WriteEndpoint(home string, ep Endpoint) error {
	b, err := json.MarshalIndent(ep, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding admin endpoint: %w", err)
	}
	tmp, err := os.CreateTemp(home, ".admin-*.tmp")
	if err != nil {
		return fmt.Errorf("writing admin endpoint: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	// CreateTemp already uses 0600; Chmod makes it independent of that detail.
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("writing admin endpoint: %w", err)
	}
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("writing admin endpoint: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("writing admin endpoint: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing admin endpoint: %w", err)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(home, EndpointFile)); err != nil {
		return fmt.Errorf("writing admin endpoint: %w", err)
	}
	return nil
}

// ReadEndpoint reads home/admin.json. The error matches ErrNoAgent when the
// file does not exist or the process that wrote it is no longer running; its
// message then tells the user to start an agent.
func ReadEndpoint(home string) (Endpoint, error) {
	path := filepath.Join(home, EndpointFile)
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return Endpoint{}, &noAgentError{home: home}
	}
	if err != nil {
		return Endpoint{}, fmt.Errorf("reading admin endpoint: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxEndpointFile+1))
	if err != nil {
		return Endpoint{}, fmt.Errorf("reading admin endpoint: %w", err)
	}
	if len(b) > maxEndpointFile {
		return Endpoint{}, fmt.Errorf("reading admin endpoint %s: file larger than %d bytes", path, maxEndpointFile)
	}
	var ep Endpoint
	if err := json.Unmarshal(b, &ep); err != nil {
		return Endpoint{}, fmt.Errorf("reading admin endpoint %s: %w", path, err)
	}
	if ep.Address == "" || ep.Token == "" || ep.PID <= 0 {
		return Endpoint{}, fmt.Errorf("reading admin endpoint %s: missing address, token or pid", path)
	}
	if !processAlive(ep.PID) {
		return Endpoint{}, &noAgentError{home: home}
	}
	ep.Home = home
	return ep, nil
}

// RemoveEndpoint removes home/admin.json if it still names process pid, so an
// agent shutting down never removes the file of an agent that replaced it.
func RemoveEndpoint(home string, pid int) error {
	path := filepath.Join(home, EndpointFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("removing admin endpoint: %w", err)
	}
	var ep Endpoint
	if err := json.Unmarshal(b, &ep); err == nil && ep.PID != pid {
		return nil
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("removing admin endpoint: %w", err)
	}
	return nil
}
