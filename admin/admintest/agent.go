// Package admintest provides an in-memory agent that implements admin.Agent,
// for tests of the admin API and of the CLI. It keeps the agent's contract
// (errors matching model.ErrNotFound, ErrExists and ErrInvalid; removing a
// folder never touches files) without any sync engine behind it. Tests seed
// what the engine would find on disk with AddConflict, AddVersion and
// SetDifferences, change a folder's status with EditFolder, and inspect
// calls with Calls and Restores.
//
// Folder keys and invites are real: JoinFolder parses the key with
// crypto/folderkey and CreateInvite signs links with crypto/invite, so
// JoinInvite on another fake (or the CLI's local decoding) accepts them.
// Tests give a folder keys with SetFolderKeys, script how joins by invite
// end with SetJoinOutcome, seed devices waiting for approval with
// AddPending, and inspect JoinRequests, JoinInviteRequests, InviteRequests
// and Decisions.
package admintest

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/shoalsync/shoal/crypto/identity"
	"github.com/shoalsync/shoal/sync/config"
	"github.com/shoalsync/shoal/sync/model"
)

// Agent is an in-memory admin.Agent. The zero value is not usable; call New.
type Agent struct {
	// Hook, if set, runs at the start of every method with the method's
	// name; a non-nil result is returned as the method's error. Tests use it
	// to inject failures or to block. Set it before use.
	Hook func(ctx context.Context, method string) error

	self      identity.DeviceID
	key       *identity.Key
	name      string
	startedAt time.Time

	// mu guards the following fields.
	mu      sync.Mutex
	devices []model.DeviceStatus
	folders []model.FolderStatus
	refused []model.Refused
	calls   map[string]int
	nextID  int

	conflicts []model.Conflict
	versions  map[string][]model.Version    // by folder ID
	diffs     map[string][]model.Difference // by folder ID
	restores  []Restore

	keys        map[string]model.FolderKeys // by folder ID
	joinReqs    []model.JoinRequest
	inviteReqs  []InviteCall
	joinInvReqs []model.JoinInviteRequest
	joins       []*join
	outcome     JoinOutcome
	pending     []model.PendingDevice
	decisions   []Decision
}

// New returns an empty agent named name with a random device ID.
func New(name string) *Agent {
	k, err := identity.Generate()
	if err != nil {
		panic(err)
	}
	return &Agent{
		self:      k.ID(),
		key:       k,
		name:      name,
		startedAt: time.Now().Add(-90 * time.Minute),
		calls:     map[string]int{},
		versions:  map[string][]model.Version{},
		diffs:     map[string][]model.Difference{},
		keys:      map[string]model.FolderKeys{},
	}
}

// ID returns the agent's own device ID.
func (a *Agent) ID() identity.DeviceID { return a.self }

// Calls returns how many times method was called.
func (a *Agent) Calls(method string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.calls[method]
}

// SetConnected marks a configured device as connected (or not).
func (a *Agent) SetConnected(id, transport, address string, connected bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for i := range a.devices {
		if a.devices[i].ID == id {
			a.devices[i].Connected = connected
			a.devices[i].Transport, a.devices[i].Address = "", ""
			if connected {
				a.devices[i].Transport, a.devices[i].Address = transport, address
			}
		}
	}
}

// EditFolder changes a folder's status through fn. (UpdateFolder is the
// admin.Agent method.)
func (a *Agent) EditFolder(id string, fn func(*model.FolderStatus)) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for i := range a.folders {
		if a.folders[i].ID == id {
			fn(&a.folders[i])
		}
	}
}

// AddRefused records a refused device.
func (a *Agent) AddRefused(r model.Refused) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.refused = append(a.refused, r)
}

func (a *Agent) enter(ctx context.Context, method string) error {
	a.mu.Lock()
	a.calls[method]++
	a.mu.Unlock()
	if a.Hook != nil {
		return a.Hook(ctx, method)
	}
	return nil
}

// Status implements admin.Agent.
func (a *Agent) Status(ctx context.Context) (model.Status, error) {
	if err := a.enter(ctx, "Status"); err != nil {
		return model.Status{}, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return model.Status{
		DeviceID:    a.self.String(),
		ShortID:     a.self.Short(),
		Name:        a.name,
		Version:     "test",
		StartedAt:   a.startedAt,
		ListenAddrs: []string{"quic://0.0.0.0:22100", "tcp://0.0.0.0:22100"},
		AdminAddr:   "127.0.0.1:8384",
		Devices:     cloneDevices(a.devices),
		Folders:     cloneFolders(a.folders),
		Refused:     slices.Clone(a.refused),
	}, nil
}

// Devices implements admin.Agent.
func (a *Agent) Devices(ctx context.Context) ([]model.DeviceStatus, error) {
	if err := a.enter(ctx, "Devices"); err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return cloneDevices(a.devices), nil
}

// AddDevice implements admin.Agent.
func (a *Agent) AddDevice(ctx context.Context, req model.AddDeviceRequest) (model.DeviceStatus, error) {
	if err := a.enter(ctx, "AddDevice"); err != nil {
		return model.DeviceStatus{}, err
	}
	id, err := identity.Parse(req.ID)
	if err != nil {
		return model.DeviceStatus{}, fmt.Errorf("%w: %v", model.ErrInvalid, err)
	}
	if id == a.self {
		return model.DeviceStatus{}, fmt.Errorf("%w: %s is this device's own ID", model.ErrInvalid, id.Short())
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.deviceIndex(id.String()) >= 0 {
		return model.DeviceStatus{}, fmt.Errorf("device %s: %w", id.Short(), model.ErrExists)
	}
	d := model.DeviceStatus{ID: id.String(), ShortID: id.Short(), Name: req.Name, Addrs: slices.Clone(req.Addrs)}
	a.devices = append(a.devices, d)
	return d, nil
}

// RemoveDevice implements admin.Agent.
func (a *Agent) RemoveDevice(ctx context.Context, id string) error {
	if err := a.enter(ctx, "RemoveDevice"); err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	i := a.deviceIndex(id)
	if i < 0 {
		return fmt.Errorf("device %s: %w", shortOf(id), model.ErrNotFound)
	}
	a.devices = slices.Delete(a.devices, i, i+1)
	for j := range a.folders {
		a.folders[j].Devices = slices.DeleteFunc(a.folders[j].Devices, func(d string) bool { return d == id })
	}
	return nil
}

// Folders implements admin.Agent.
func (a *Agent) Folders(ctx context.Context) ([]model.FolderStatus, error) {
	if err := a.enter(ctx, "Folders"); err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return cloneFolders(a.folders), nil
}

// AddFolder implements admin.Agent.
func (a *Agent) AddFolder(ctx context.Context, req model.AddFolderRequest) (model.FolderStatus, error) {
	if err := a.enter(ctx, "AddFolder"); err != nil {
		return model.FolderStatus{}, err
	}
	if !filepath.IsAbs(req.Path) {
		return model.FolderStatus{}, fmt.Errorf("%w: path %q is not absolute", model.ErrInvalid, req.Path)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if req.ID == "" {
		a.nextID++
		req.ID = fmt.Sprintf("folder-%d", a.nextID)
	}
	if err := config.ValidFolderID(req.ID); err != nil {
		return model.FolderStatus{}, err
	}
	if a.folderIndex(req.ID) >= 0 {
		return model.FolderStatus{}, fmt.Errorf("folder %s: %w", req.ID, model.ErrExists)
	}
	for _, f := range a.folders {
		if f.Path == req.Path {
			return model.FolderStatus{}, fmt.Errorf("path %s is already folder %s: %w", req.Path, f.ID, model.ErrExists)
		}
	}
	for _, d := range req.Devices {
		if a.deviceIndex(d) < 0 {
			return model.FolderStatus{}, fmt.Errorf("%w: unknown device %s (add it with 'shoal device add')", model.ErrInvalid, shortOf(d))
		}
	}
	if req.Label == "" {
		req.Label = filepath.Base(req.Path)
	}
	cf := config.Folder{ID: req.ID}
	f := model.FolderStatus{
		ID: req.ID, Label: req.Label, Path: req.Path, Devices: slices.Clone(req.Devices), State: model.StateScanning,
		Mode: cf.EffectiveMode(), Versioning: cf.EffectiveVersioning(), MaxConflicts: cf.EffectiveMaxConflicts(),
	}
	a.folders = append(a.folders, f)
	return f, nil
}

// ShareFolder implements admin.Agent. Sharing twice is not an error.
func (a *Agent) ShareFolder(ctx context.Context, folderID, deviceID string) error {
	if err := a.enter(ctx, "ShareFolder"); err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	i := a.folderIndex(folderID)
	if i < 0 {
		return fmt.Errorf("folder %s: %w", folderID, model.ErrNotFound)
	}
	if a.deviceIndex(deviceID) < 0 {
		return fmt.Errorf("device %s: %w", shortOf(deviceID), model.ErrNotFound)
	}
	if !slices.Contains(a.folders[i].Devices, deviceID) {
		a.folders[i].Devices = append(a.folders[i].Devices, deviceID)
	}
	return nil
}

// RemoveFolder implements admin.Agent.
func (a *Agent) RemoveFolder(ctx context.Context, id string) error {
	if err := a.enter(ctx, "RemoveFolder"); err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	i := a.folderIndex(id)
	if i < 0 {
		return fmt.Errorf("folder %s: %w", id, model.ErrNotFound)
	}
	a.folders = slices.Delete(a.folders, i, i+1)
	a.conflicts = slices.DeleteFunc(a.conflicts, func(c model.Conflict) bool { return c.Folder == id })
	delete(a.versions, id)
	delete(a.diffs, id)
	delete(a.keys, id)
	return nil
}

func (a *Agent) deviceIndex(id string) int {
	return slices.IndexFunc(a.devices, func(d model.DeviceStatus) bool { return d.ID == id })
}

func (a *Agent) folderIndex(id string) int {
	return slices.IndexFunc(a.folders, func(f model.FolderStatus) bool { return f.ID == id })
}

func shortOf(id string) string {
	if d, err := identity.Parse(id); err == nil {
		return d.Short()
	}
	return id
}

// cloneDevices and cloneFolders deep-copy statuses so callers never share
// slices with the agent.
func cloneDevices(in []model.DeviceStatus) []model.DeviceStatus {
	out := slices.Clone(in)
	for i := range out {
		out[i].Addrs = slices.Clone(out[i].Addrs)
	}
	return out
}

func cloneFolders(in []model.FolderStatus) []model.FolderStatus {
	out := slices.Clone(in)
	for i := range out {
		out[i].Devices = slices.Clone(out[i].Devices)
		out[i].FileErrors = slices.Clone(out[i].FileErrors)
	}
	return out
}
