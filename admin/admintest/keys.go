package admintest

import (
	"context"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/shoalsync/shoal/crypto/folderkey"
	"github.com/shoalsync/shoal/crypto/identity"
	"github.com/shoalsync/shoal/crypto/invite"
	"github.com/shoalsync/shoal/sync/config"
	"github.com/shoalsync/shoal/sync/model"
)

// InviteCall records one successful CreateInvite call.
type InviteCall struct {
	Folder  string
	Request model.InviteRequest
	Invite  model.Invite // what the agent answered, link included
}

// Decision records one successful Approve or Deny call.
type Decision struct {
	Device   string // full device ID
	Folder   string // the folder decided on
	Approved bool
}

// JoinOutcome scripts how a join by invite ends (see SetJoinOutcome).
type JoinOutcome struct {
	// State is what the join becomes: model.JoinPending, model.JoinJoined
	// or model.JoinFailed. Empty leaves it connecting for ever.
	State string
	// Error is the failure reason of a failed join.
	Error string
	// AfterPolls is how many Joins calls still report the join as
	// connecting before it takes State.
	AfterPolls int
}

// join is one join by invite and its scripted outcome.
type join struct {
	status  model.JoinStatus
	outcome JoinOutcome
	polls   int
}

// inviteAddr is the address the fake's invites name.
const inviteAddr = "/ip4/127.0.0.1/udp/22100/quic-v1"

// defaultInviteSeconds is an invite's lifetime when the request gives none.
const defaultInviteSeconds = 7 * 24 * 3600

// SetFolderKeys gives a configured folder the keys this device holds, as if
// it had been created or joined with a key. (JoinFolder sets them too.)
func (a *Agent) SetFolderKeys(folderID string, k model.FolderKeys) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.keys[folderID] = k
}

// SetJoinOutcome scripts the joins by invite started after it: each shows
// as connecting for o.AfterPolls calls of Joins and then takes o.State. A
// join that ends joined adds its folder, as the engine does.
func (a *Agent) SetJoinOutcome(o JoinOutcome) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.outcome = o
}

// AddPending records a device waiting for approval; ShortID and Since are
// filled in when empty.
func (a *Agent) AddPending(p model.PendingDevice) {
	if p.ShortID == "" {
		p.ShortID = shortOf(p.ID)
	}
	if p.Since.IsZero() {
		p.Since = time.Now()
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.pending = append(a.pending, p)
}

// JoinRequests returns the requests of successful JoinFolder calls, oldest
// first.
func (a *Agent) JoinRequests() []model.JoinRequest {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := slices.Clone(a.joinReqs)
	for i := range out {
		out[i].Peers = slices.Clone(out[i].Peers)
	}
	return out
}

// InviteRequests returns the successful CreateInvite calls, oldest first.
func (a *Agent) InviteRequests() []InviteCall {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.inviteReqs)
}

// JoinInviteRequests returns the requests of successful JoinInvite calls,
// oldest first.
func (a *Agent) JoinInviteRequests() []model.JoinInviteRequest {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.joinInvReqs)
}

// Decisions returns the successful Approve and Deny calls, oldest first.
func (a *Agent) Decisions() []Decision {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.decisions)
}

// FolderKeys implements admin.Agent.
func (a *Agent) FolderKeys(ctx context.Context, folderID string) (model.FolderKeys, error) {
	if err := a.enter(ctx, "FolderKeys"); err != nil {
		return model.FolderKeys{}, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, err := a.folder(folderID); err != nil {
		return model.FolderKeys{}, err
	}
	k, ok := a.keys[folderID]
	if !ok {
		return model.FolderKeys{}, fmt.Errorf("%w: folder %s is shared by device pairing and has no key (folders added without --id have keys)", model.ErrInvalid, folderID)
	}
	return k, nil
}

// JoinFolder implements admin.Agent like the engine: the key names the
// folder, a read-only key makes it receive-only, and the peers become
// configured devices the folder is shared with.
func (a *Agent) JoinFolder(ctx context.Context, req model.JoinRequest) (model.FolderStatus, error) {
	if err := a.enter(ctx, "JoinFolder"); err != nil {
		return model.FolderStatus{}, err
	}
	sec, err := folderkey.Parse(req.Key)
	if err != nil {
		return model.FolderStatus{}, fmt.Errorf("%w: folder key: %v", model.ErrInvalid, err)
	}
	if !filepath.IsAbs(req.Path) {
		return model.FolderStatus{}, fmt.Errorf("%w: path %q is not absolute", model.ErrInvalid, req.Path)
	}
	type peer struct{ id, addr string }
	var peers []peer
	for _, s := range req.Peers {
		id, addr, err := parsePeer(s)
		if err != nil {
			return model.FolderStatus{}, fmt.Errorf("%w: peer %q: %v", model.ErrInvalid, s, err)
		}
		if id == a.self {
			return model.FolderStatus{}, fmt.Errorf("%w: peer %s is this device", model.ErrInvalid, id.Short())
		}
		peers = append(peers, peer{id.String(), addr})
	}
	id := sec.FolderID()
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.checkNewFolder(id, req.Path); err != nil {
		return model.FolderStatus{}, err
	}
	f := a.newFolder(id, req.Label, req.Path, accessOf(sec.Access()))
	for _, p := range peers {
		i := a.deviceIndex(p.id)
		if i < 0 {
			a.devices = append(a.devices, model.DeviceStatus{ID: p.id, ShortID: shortOf(p.id), Addrs: []string{p.addr}})
		} else if !slices.Contains(a.devices[i].Addrs, p.addr) {
			a.devices[i].Addrs = append(a.devices[i].Addrs, p.addr)
		}
		if !slices.Contains(f.Devices, p.id) {
			f.Devices = append(f.Devices, p.id)
		}
	}
	a.folders = append(a.folders, f)
	var k model.FolderKeys
	k.ReadWrite, _ = sec.Key(folderkey.ReadWrite)
	k.ReadOnly, _ = sec.Key(folderkey.ReadOnly)
	k.Encrypted, _ = sec.Key(folderkey.Encrypted)
	a.keys[id] = k
	req.Peers = slices.Clone(req.Peers)
	a.joinReqs = append(a.joinReqs, req)
	return cloneFolders([]model.FolderStatus{f})[0], nil
}

// checkNewFolder fails if a folder with this ID or path exists. a.mu must
// be held.
func (a *Agent) checkNewFolder(id, path string) error {
	if a.folderIndex(id) >= 0 {
		return fmt.Errorf("%w: folder %s (this device already has it)", model.ErrExists, id)
	}
	for _, f := range a.folders {
		if f.Path == path {
			return fmt.Errorf("path %s is already folder %s: %w", path, f.ID, model.ErrExists)
		}
	}
	return nil
}

// newFolder returns the status of a folder added by key or invite; access
// is the level of its key.
func (a *Agent) newFolder(id, label, path, access string) model.FolderStatus {
	if label == "" {
		label = filepath.Base(path)
	}
	cf := config.Folder{ID: id, Access: access}
	if access != config.AccessReadWrite {
		cf.Mode = config.ModeReceiveOnly
	}
	return model.FolderStatus{
		ID: id, Label: label, Path: path, State: model.StateScanning,
		Mode: cf.EffectiveMode(), Versioning: cf.EffectiveVersioning(), MaxConflicts: cf.EffectiveMaxConflicts(),
	}
}

// parsePeer splits "<device ID>@<address>" or "<multiaddr>/p2p/<device ID>".
func parsePeer(s string) (identity.DeviceID, string, error) {
	s = strings.TrimSpace(s)
	if id, addr, ok := strings.Cut(s, "@"); ok {
		did, err := identity.Parse(id)
		return did, addr, err
	}
	i := strings.LastIndex(s, "/p2p/")
	if i < 0 {
		return "", "", fmt.Errorf("want DEVICE_ID@ADDRESS or a multiaddr ending in /p2p/DEVICE_ID")
	}
	did, err := identity.Parse(s[i+len("/p2p/"):])
	return did, s[:i], err
}

func accessOf(a folderkey.Access) string {
	switch a {
	case folderkey.ReadWrite:
		return config.AccessReadWrite
	case folderkey.ReadOnly:
		return config.AccessReadOnly
	}
	return config.AccessEncrypted
}

// rank orders access levels; 0 for an unknown one.
func rank(access string) int {
	switch access {
	case config.AccessEncrypted:
		return 1
	case config.AccessReadOnly:
		return 2
	case config.AccessReadWrite:
		return 3
	}
	return 0
}

// held is the highest level of k.
func held(k model.FolderKeys) string {
	switch {
	case k.ReadWrite != "":
		return config.AccessReadWrite
	case k.ReadOnly != "":
		return config.AccessReadOnly
	case k.Encrypted != "":
		return config.AccessEncrypted
	}
	return ""
}

// CreateInvite implements admin.Agent: it signs a real invite with the
// fake's device key, naming 127.0.0.1:22100 as the inviter's address.
func (a *Agent) CreateInvite(ctx context.Context, folderID string, req model.InviteRequest) (model.Invite, error) {
	if err := a.enter(ctx, "CreateInvite"); err != nil {
		return model.Invite{}, err
	}
	if req.ExpiresSeconds < 0 {
		return model.Invite{}, fmt.Errorf("%w: expiresSeconds %d is negative", model.ErrInvalid, req.ExpiresSeconds)
	}
	if req.Uses < 0 || req.Uses > invite.MaxUses {
		return model.Invite{}, fmt.Errorf("%w: uses %d out of range", model.ErrInvalid, req.Uses)
	}
	if req.Access != "" && rank(req.Access) == 0 {
		return model.Invite{}, fmt.Errorf("%w: access %q (use rw, ro or encrypted)", model.ErrInvalid, req.Access)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	i, err := a.folder(folderID)
	if err != nil {
		return model.Invite{}, err
	}
	k, ok := a.keys[folderID]
	if !ok {
		return model.Invite{}, fmt.Errorf("%w: folder %s is shared by device pairing and has no key; invites need a folder with a key", model.ErrInvalid, folderID)
	}
	have := held(k)
	access := req.Access
	if access == "" {
		access = have
	}
	if rank(access) > rank(have) {
		return model.Invite{}, fmt.Errorf("%w: this device holds the %s key of folder %s and cannot invite with %s access", model.ErrInvalid, have, folderID, access)
	}
	secs := req.ExpiresSeconds
	if secs == 0 {
		secs = defaultInviteSeconds
	}
	label := a.folders[i].Label
	if len(label) > invite.MaxLabelLen {
		label = ""
	}
	inv, err := invite.New(invite.Capability{
		FolderID: folderID, Label: label, Access: access, Addrs: []string{inviteAddr},
		Expires: time.Now().Add(time.Duration(secs) * time.Second), Uses: req.Uses, Approve: req.Approve,
	}, a.key)
	if err != nil {
		return model.Invite{}, fmt.Errorf("%w: %v", model.ErrInvalid, err)
	}
	out := model.Invite{
		ID: hex.EncodeToString(inv.ID[:]), Folder: folderID, Label: label, Access: access,
		Expires: inv.Expires, Uses: req.Uses, Approve: req.Approve, Link: inv.Link(), ChatForm: inv.ChatForm(),
	}
	a.inviteReqs = append(a.inviteReqs, InviteCall{Folder: folderID, Request: req, Invite: out})
	return out, nil
}

// JoinInvite implements admin.Agent: it decodes and checks the link and
// records a join that is connecting; SetJoinOutcome decides how it ends.
func (a *Agent) JoinInvite(ctx context.Context, req model.JoinInviteRequest) (model.JoinStatus, error) {
	if err := a.enter(ctx, "JoinInvite"); err != nil {
		return model.JoinStatus{}, err
	}
	inv, err := invite.Decode(req.Link)
	if err != nil {
		return model.JoinStatus{}, fmt.Errorf("%w: %v", model.ErrInvalid, err)
	}
	if err := inv.Check(time.Now()); err != nil {
		return model.JoinStatus{}, fmt.Errorf("%w: %v", model.ErrInvalid, err)
	}
	if !filepath.IsAbs(req.Path) {
		return model.JoinStatus{}, fmt.Errorf("%w: path %q is not absolute", model.ErrInvalid, req.Path)
	}
	if inv.Inviter == a.self {
		return model.JoinStatus{}, fmt.Errorf("%w: this device made the invite; send it to the device that should join", model.ErrInvalid)
	}
	id := hex.EncodeToString(inv.ID[:])
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.checkNewFolder(inv.FolderID, req.Path); err != nil {
		return model.JoinStatus{}, err
	}
	for _, j := range a.joins {
		if j.status.InviteID == id && j.status.State != model.JoinFailed {
			return model.JoinStatus{}, fmt.Errorf("%w: already joining with this invite (state %s)", model.ErrExists, j.status.State)
		}
	}
	j := &join{
		status: model.JoinStatus{
			InviteID: id, Folder: inv.FolderID, Label: inv.Label, Access: inv.Access, Path: req.Path,
			Inviter: inv.Inviter.String(), State: model.JoinConnecting, Since: time.Now(),
		},
		outcome: a.outcome,
	}
	a.joins = append(a.joins, j)
	a.joinInvReqs = append(a.joinInvReqs, req)
	return j.status, nil
}

// Joins implements admin.Agent; each call advances the scripted joins.
func (a *Agent) Joins(ctx context.Context) ([]model.JoinStatus, error) {
	if err := a.enter(ctx, "Joins"); err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]model.JoinStatus, 0, len(a.joins))
	for _, j := range a.joins {
		a.advance(j)
		out = append(out, j.status)
	}
	return out, nil
}

// advance moves a connecting join towards its outcome. a.mu must be held.
func (a *Agent) advance(j *join) {
	o := j.outcome
	if j.status.State != model.JoinConnecting || o.State == "" {
		return
	}
	if j.polls < o.AfterPolls {
		j.polls++
		return
	}
	j.status.State, j.status.Error = o.State, o.Error
	if o.State == model.JoinJoined {
		s := j.status
		if a.checkNewFolder(s.Folder, s.Path) == nil {
			f := a.newFolder(s.Folder, s.Label, s.Path, s.Access)
			f.Devices = []string{s.Inviter}
			if a.deviceIndex(s.Inviter) < 0 {
				a.devices = append(a.devices, model.DeviceStatus{ID: s.Inviter, ShortID: shortOf(s.Inviter), Addrs: []string{inviteAddr}})
			}
			a.folders = append(a.folders, f)
		}
	}
}

// Pending implements admin.Agent.
func (a *Agent) Pending(ctx context.Context) ([]model.PendingDevice, error) {
	if err := a.enter(ctx, "Pending"); err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.pending), nil
}

// Approve implements admin.Agent: the device becomes a configured device
// the folder is shared with.
func (a *Agent) Approve(ctx context.Context, deviceID string, req model.DecideRequest) error {
	if err := a.enter(ctx, "Approve"); err != nil {
		return err
	}
	return a.decide(deviceID, req, true)
}

// Deny implements admin.Agent.
func (a *Agent) Deny(ctx context.Context, deviceID string, req model.DecideRequest) error {
	if err := a.enter(ctx, "Deny"); err != nil {
		return err
	}
	return a.decide(deviceID, req, false)
}

func (a *Agent) decide(deviceID string, req model.DecideRequest, approve bool) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	var folders []string
	waiting := false
	for _, p := range a.pending {
		if p.ID != deviceID {
			continue
		}
		waiting = true
		if req.Folder == "" || p.Folder == req.Folder {
			folders = append(folders, p.Folder)
		}
	}
	switch {
	case !waiting:
		return fmt.Errorf("device %s is not waiting for approval: %w", shortOf(deviceID), model.ErrNotFound)
	case len(folders) == 0:
		return fmt.Errorf("device %s is not waiting to join folder %s: %w", shortOf(deviceID), req.Folder, model.ErrNotFound)
	case len(folders) > 1:
		return fmt.Errorf("%w: device %s waits to join %d folders (%s); name one", model.ErrInvalid, shortOf(deviceID), len(folders), strings.Join(folders, ", "))
	}
	folder := folders[0]
	i := slices.IndexFunc(a.pending, func(p model.PendingDevice) bool { return p.ID == deviceID && p.Folder == folder })
	p := a.pending[i]
	a.pending = slices.Delete(a.pending, i, i+1)
	a.decisions = append(a.decisions, Decision{Device: deviceID, Folder: folder, Approved: approve})
	if !approve {
		return nil
	}
	if a.deviceIndex(deviceID) < 0 {
		a.devices = append(a.devices, model.DeviceStatus{ID: deviceID, ShortID: shortOf(deviceID), Name: p.Name})
	}
	if fi := a.folderIndex(folder); fi >= 0 && !slices.Contains(a.folders[fi].Devices, deviceID) {
		a.folders[fi].Devices = append(a.folders[fi].Devices, deviceID)
	}
	return nil
}

// RemoveMember implements admin.Agent: it records the call and drops the
// device from the folder's device list.
func (a *Agent) RemoveMember(ctx context.Context, folderID, deviceID string) (model.FolderStatus, error) {
	if err := a.enter(ctx, "RemoveMember"); err != nil {
		return model.FolderStatus{}, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	i, err := a.folder(folderID)
	if err != nil {
		return model.FolderStatus{}, err
	}
	if _, ok := a.keys[folderID]; !ok {
		return model.FolderStatus{}, fmt.Errorf("%w: folder %s is shared by device pairing", model.ErrInvalid, folderID)
	}
	f := &a.folders[i]
	f.Devices = slices.DeleteFunc(f.Devices, func(d string) bool { return d == deviceID })
	return *f, nil
}
