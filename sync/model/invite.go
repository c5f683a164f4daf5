package model

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/shoalsync/shoal/crypto/folderkey"
	"github.com/shoalsync/shoal/crypto/identity"
	"github.com/shoalsync/shoal/crypto/invite"
	"github.com/shoalsync/shoal/sync/config"
	"github.com/shoalsync/shoal/transport/wire"
)

const (
	defaultInviteTTL = 7 * 24 * time.Hour
	maxInviteTTL     = 10 * 365 * 24 * time.Hour
	// maxPendingPerInvite bounds the devices one invite can make wait.
	maxPendingPerInvite = 100
	// maxRedeemsPerSession bounds the invites a device may present in one
	// session (each costs a signature check and maybe a config write).
	maxRedeemsPerSession = 16
)

// CreateInvite issues an invite to a folder this device holds by key.
func (m *Model) CreateInvite(ctx context.Context, folderID string, req InviteRequest) (Invite, error) {
	f := m.folderByID(folderID)
	if f == nil {
		return Invite{}, fmt.Errorf("%w: folder %s", ErrNotFound, folderID)
	}
	if f.key() == nil {
		return Invite{}, fmt.Errorf("%w: folder %s is shared by device pairing and has no key; invites need a folder added without --id", ErrInvalid, folderID)
	}
	if m.opts.DeviceKey == nil {
		return Invite{}, errors.New("model: no device key to sign invites")
	}
	held := f.key().Access()
	access := held
	if req.Access != "" {
		a, err := folderkey.ParseAccess(req.Access)
		if err != nil {
			return Invite{}, fmt.Errorf("%w: %v", ErrInvalid, err)
		}
		access = a
	}
	if access > held {
		return Invite{}, fmt.Errorf("%w: this device holds the %s key of folder %s and cannot invite at %s", ErrInvalid, held, folderID, access)
	}
	if req.Approve && held != folderkey.ReadWrite {
		return Invite{}, fmt.Errorf("%w: only a read-write member can approve joining devices", ErrInvalid)
	}
	ttl := defaultInviteTTL
	if req.ExpiresSeconds < 0 || time.Duration(req.ExpiresSeconds)*time.Second > maxInviteTTL {
		return Invite{}, fmt.Errorf("%w: expiry must be between 1 second and 10 years", ErrInvalid)
	}
	if req.ExpiresSeconds > 0 {
		ttl = time.Duration(req.ExpiresSeconds) * time.Second
	}
	if req.Uses < 0 || req.Uses > invite.MaxUses {
		return Invite{}, fmt.Errorf("%w: uses must be between 0 (no limit) and %d", ErrInvalid, invite.MaxUses)
	}
	label := cutLabel(f.label())
	if access == folderkey.Encrypted {
		label = "" // an encrypted peer does not learn the folder's name
	}
	capab := invite.Capability{
		Anchors:  m.inviteAnchors(),
		FolderID: folderID,
		Label:    label,
		Access:   accessString(access),
		Addrs:    m.inviteAddrs(),
		Expires:  time.Now().Add(ttl),
		Uses:     req.Uses,
		Approve:  req.Approve,
	}
	inv, err := invite.New(capab, m.opts.DeviceKey)
	if err != nil {
		return Invite{}, fmt.Errorf("making invite: %w", err)
	}
	ci := config.Invite{
		ID: hex.EncodeToString(inv.ID[:]), Folder: folderID, Access: capab.Access,
		Expires: inv.Expires, Uses: req.Uses, Approve: req.Approve,
	}
	if _, _, err := m.mutateConfig(func(c *config.Config) error {
		c.Invites = append(c.Invites, ci)
		return nil
	}); err != nil {
		return Invite{}, err
	}
	out := inviteInfo(ci, f.label())
	out.Link, out.ChatForm = inv.Link(), inv.ChatForm()
	return out, nil
}

func inviteInfo(ci config.Invite, label string) Invite {
	return Invite{ID: ci.ID, Folder: ci.Folder, Label: label, Access: ci.Access, Expires: ci.Expires,
		Uses: ci.Uses, Used: len(ci.Granted), Approve: ci.Approve}
}

// cutLabel shortens a label to what an invite carries.
func cutLabel(s string) string {
	for len(s) > invite.MaxLabelLen {
		_, n := utf8.DecodeLastRuneInString(s)
		s = s[:len(s)-n]
	}
	return s
}

// inviteAddrs returns our listen addresses for an invite, without the
// /p2p/ suffix (the invite carries the device ID once).
// inviteAnchors returns the anchors an invite names: ours.
func (m *Model) inviteAnchors() []string {
	m.mu.Lock()
	n := m.mu.net
	m.mu.Unlock()
	if n == nil {
		return nil
	}
	var out []string
	for _, a := range n.Status().AnchorAddrs {
		if len(a) <= invite.MaxAddrLen && len(out) < invite.MaxAddrs {
			out = append(out, a)
		}
	}
	return out
}

func (m *Model) inviteAddrs() []string {
	m.mu.Lock()
	n := m.mu.net
	m.mu.Unlock()
	if n == nil {
		return nil
	}
	var out []string
	for _, a := range n.Addrs() {
		if i := strings.Index(a, "/p2p/"); i > 0 {
			a = a[:i]
		}
		if len(a) > invite.MaxAddrLen || slices.Contains(out, a) {
			continue
		}
		out = append(out, a)
		if len(out) == invite.MaxAddrs {
			break
		}
	}
	return out
}

// handleInviteRedeem answers a device that presents an invite we issued.
func (m *Model) handleInviteRedeem(p *peer, r *wire.InviteRedeem) {
	dev := p.conn.ID()
	p.mu.Lock()
	p.redeems++
	n := p.redeems
	p.mu.Unlock()
	if n > maxRedeemsPerSession {
		m.log.Warn("Device presents too many invites; closing the session", dev.LogAttr())
		p.conn.Close("too many invites presented")
		return
	}
	res := m.redeem(p, r.Invite)
	if res.Status != wire.InviteStatus_INVITE_STATUS_GRANTED {
		m.log.Info("Invite not granted", dev.LogAttr(), slog.String("status", res.Status.String()), slog.String("reason", res.Reason))
	}
	m.sendInviteResult(p, res)
}

func (m *Model) sendInviteResult(p *peer, res *wire.InviteResult) {
	if err := p.conn.Send(p.ctx, &wire.Message{Payload: &wire.Message_InviteResult{InviteResult: res}}); err != nil {
		m.log.Debug("Sending invite result failed", p.conn.ID().LogAttr(), slog.Any("error", err))
	}
}

func (m *Model) redeem(p *peer, payload []byte) *wire.InviteResult {
	// One decision at a time: the checks below read the issued invites
	// and the writes depend on them (use limits, pending caps).
	m.inviteMu.Lock()
	defer m.inviteMu.Unlock()
	dev := p.conn.ID()
	res := &wire.InviteResult{InviteId: make([]byte, 16)}
	refuse := func(st wire.InviteStatus, format string, args ...any) *wire.InviteResult {
		res.Status, res.Reason = st, fmt.Sprintf(format, args...)
		return res
	}
	inv, err := invite.DecodeBytes(payload)
	if err != nil {
		return refuse(wire.InviteStatus_INVITE_STATUS_INVALID, "%v", err)
	}
	copy(res.InviteId, inv.ID[:])
	if inv.Inviter != m.local {
		return refuse(wire.InviteStatus_INVITE_STATUS_INVALID, "the invite was issued by another device")
	}
	id := hex.EncodeToString(inv.ID[:])
	var ci config.Invite
	found := false
	for _, c := range m.config().Invites {
		if c.ID == id {
			ci, found = c, true
		}
	}
	if !found {
		return refuse(wire.InviteStatus_INVITE_STATUS_INVALID, "the invite is unknown to the device that issued it (revoked or from an older setup)")
	}
	if err := inv.Check(time.Now()); err != nil {
		return refuse(wire.InviteStatus_INVITE_STATUS_EXPIRED, "%v", err)
	}
	f := m.folderByID(ci.Folder)
	want, err := folderkey.ParseAccess(ci.Access)
	if f == nil || f.key() == nil || err != nil || f.key().Access() < want {
		return refuse(wire.InviteStatus_INVITE_STATUS_INVALID, "the inviting device no longer shares this folder")
	}
	ds := dev.String()
	switch {
	case slices.Contains(ci.Denied, ds):
		return refuse(wire.InviteStatus_INVITE_STATUS_DENIED, "a member of the folder turned this device away")
	case slices.Contains(ci.Granted, ds):
		return m.grant(f, ci, want, res)
	case ci.Uses > 0 && len(ci.Granted) >= ci.Uses:
		return refuse(wire.InviteStatus_INVITE_STATUS_USED_UP, "the invite was for %d device(s) and has been used; ask for a new one", ci.Uses)
	}
	if ci.Approve {
		i := slices.IndexFunc(ci.Pending, func(pd config.Pending) bool { return pd.Device == ds })
		if i < 0 || !ci.Pending[i].Approved {
			if i < 0 {
				if len(ci.Pending) >= maxPendingPerInvite {
					return refuse(wire.InviteStatus_INVITE_STATUS_USED_UP, "too many devices are waiting for approval under this invite")
				}
				if err := m.editInvite(id, func(c *config.Invite) error {
					c.Pending = append(c.Pending, config.Pending{Device: ds, Name: p.conn.Info().Name, Since: time.Now()})
					return nil
				}); err != nil {
					return refuse(wire.InviteStatus_INVITE_STATUS_INVALID, "the inviting device could not record the request")
				}
				m.log.Info("Device waits for approval to join", dev.LogAttr(), slog.String("folder", f.id), slog.String("name", p.conn.Info().Name))
			}
			res.Status, res.Reason = wire.InviteStatus_INVITE_STATUS_PENDING, "waiting for a read-write member to approve this device"
			return res
		}
	}
	if err := m.editInvite(id, func(c *config.Invite) error {
		c.Pending = slices.DeleteFunc(c.Pending, func(pd config.Pending) bool { return pd.Device == ds })
		if !slices.Contains(c.Granted, ds) {
			c.Granted = append(c.Granted, ds)
		}
		return nil
	}); err != nil {
		return refuse(wire.InviteStatus_INVITE_STATUS_INVALID, "the inviting device could not record the use")
	}
	m.log.Info("Invite granted", dev.LogAttr(), slog.String("folder", f.id), slog.String("access", want.String()))
	return m.grant(f, ci, want, res)
}

// grant fills a GRANTED result with the folder key at level a.
func (m *Model) grant(f *folder, ci config.Invite, a folderkey.Access, res *wire.InviteResult) *wire.InviteResult {
	sec, err := f.key().Downgrade(a)
	if err != nil {
		res.Status, res.Reason = wire.InviteStatus_INVITE_STATUS_INVALID, "the inviting device cannot hand out this access"
		return res
	}
	key, _ := sec.Key(a)
	res.Status, res.Folder, res.Key = wire.InviteStatus_INVITE_STATUS_GRANTED, f.id, key
	if a >= folderkey.ReadOnly {
		res.Label = f.label() // an encrypted peer does not learn the folder's name
	}
	return res
}

// editInvite changes one issued invite in the configuration.
func (m *Model) editInvite(id string, fn func(c *config.Invite) error) error {
	_, _, err := m.mutateConfig(func(c *config.Config) error {
		for i := range c.Invites {
			if c.Invites[i].ID == id {
				return fn(&c.Invites[i])
			}
		}
		return fmt.Errorf("%w: invite %s", ErrNotFound, id)
	})
	return err
}

// pendingDevice reports whether dev waits for approval (so its guest
// session is kept open).
func (m *Model) pendingDevice(dev identity.DeviceID) bool {
	now := time.Now()
	for _, ci := range m.config().Invites {
		if !now.Before(ci.Expires) {
			continue
		}
		for _, pd := range ci.Pending {
			if pd.Device == dev.String() {
				return true
			}
		}
	}
	return false
}

// Pending lists devices waiting for approval.
func (m *Model) Pending(ctx context.Context) ([]PendingDevice, error) {
	var out []PendingDevice
	for _, ci := range m.config().Invites {
		label := ""
		if f := m.folderByID(ci.Folder); f != nil {
			label = f.label()
		}
		for _, pd := range ci.Pending {
			if pd.Approved {
				continue
			}
			id, err := identity.Parse(pd.Device)
			if err != nil {
				continue
			}
			out = append(out, PendingDevice{ID: pd.Device, ShortID: id.Short(), Name: pd.Name, Folder: ci.Folder,
				Label: label, Access: ci.Access, InviteID: ci.ID, Since: pd.Since})
		}
	}
	return out, nil
}

// Approve lets a pending device join: it gets the key at once if
// connected, or when it next presents the invite.
func (m *Model) Approve(ctx context.Context, deviceID string, req DecideRequest) error {
	return m.decide(deviceID, req, true)
}

// Deny refuses a pending device; the invite stays refused to it.
func (m *Model) Deny(ctx context.Context, deviceID string, req DecideRequest) error {
	return m.decide(deviceID, req, false)
}

func (m *Model) decide(deviceID string, req DecideRequest, approve bool) error {
	dev, err := identity.Parse(deviceID)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	m.inviteMu.Lock()
	defer m.inviteMu.Unlock()
	ds := dev.String()
	var hits []config.Invite
	for _, ci := range m.config().Invites {
		if req.Folder != "" && ci.Folder != req.Folder {
			continue
		}
		if slices.ContainsFunc(ci.Pending, func(pd config.Pending) bool { return pd.Device == ds && !pd.Approved }) {
			hits = append(hits, ci)
		}
	}
	folders := map[string]bool{}
	for _, ci := range hits {
		folders[ci.Folder] = true
	}
	switch {
	case len(hits) == 0:
		return fmt.Errorf("%w: device %s is not waiting for approval", ErrNotFound, dev.Short())
	case len(folders) > 1:
		return fmt.Errorf("%w: device %s waits for several folders; name one", ErrInvalid, dev.Short())
	}
	for _, ci := range hits {
		if approve {
			if f := m.folderByID(ci.Folder); f == nil || f.key() == nil || f.key().Access() != folderkey.ReadWrite {
				return fmt.Errorf("%w: only a read-write member can approve devices for folder %s", ErrInvalid, ci.Folder)
			}
			if ci.Uses > 0 && len(ci.Granted) >= ci.Uses {
				return fmt.Errorf("%w: the invite was for %d device(s) and has been used", ErrInvalid, ci.Uses)
			}
			if !time.Now().Before(ci.Expires) {
				return fmt.Errorf("%w: the invite expired on %s; make a new one", ErrInvalid, ci.Expires.UTC().Format(time.RFC1123))
			}
		}
		if err := m.editInvite(ci.ID, func(c *config.Invite) error {
			if approve {
				for i := range c.Pending {
					if c.Pending[i].Device == ds {
						c.Pending[i].Approved = true
					}
				}
				return nil
			}
			c.Pending = slices.DeleteFunc(c.Pending, func(pd config.Pending) bool { return pd.Device == ds })
			if !slices.Contains(c.Denied, ds) {
				c.Denied = append(c.Denied, ds)
			}
			return nil
		}); err != nil {
			return err
		}
		m.log.Info("Pending device decided", dev.LogAttr(), slog.String("folder", ci.Folder), slog.Bool("approved", approve))
	}
	if p := m.peerFor(dev); p != nil {
		// Tell it now: a connected device gets the key (or the refusal)
		// at once; others when they next present the invite.
		for _, ci := range hits {
			idb, _ := hex.DecodeString(ci.ID)
			res := &wire.InviteResult{InviteId: idb}
			if !approve {
				res.Status, res.Reason = wire.InviteStatus_INVITE_STATUS_DENIED, "a member of the folder turned this device away"
				m.sendInviteResult(p, res)
				if !m.configured(dev) {
					p.conn.Close("denied")
				}
				continue
			}
			f := m.folderByID(ci.Folder)
			a, err := folderkey.ParseAccess(ci.Access)
			if f == nil || f.key() == nil || err != nil {
				continue
			}
			if err := m.editInvite(ci.ID, func(c *config.Invite) error {
				c.Pending = slices.DeleteFunc(c.Pending, func(pd config.Pending) bool { return pd.Device == ds })
				if !slices.Contains(c.Granted, ds) {
					c.Granted = append(c.Granted, ds)
				}
				return nil
			}); err != nil {
				return err
			}
			m.sendInviteResult(p, m.grant(f, ci, a, res))
		}
	}
	return nil
}

// JoinInvite starts joining a folder by invite link: the inviter becomes a
// known device and is asked for the key whenever a session with it is up.
func (m *Model) JoinInvite(ctx context.Context, req JoinInviteRequest) (JoinStatus, error) {
	inv, err := invite.Decode(req.Link)
	if err != nil {
		return JoinStatus{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if err := inv.Check(time.Now()); err != nil {
		return JoinStatus{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if inv.Inviter == m.local {
		return JoinStatus{}, fmt.Errorf("%w: this invite was made by this device", ErrInvalid)
	}
	if m.folderByID(inv.FolderID) != nil {
		return JoinStatus{}, fmt.Errorf("%w: folder %s (this device already has it)", ErrExists, inv.FolderID)
	}
	if req.Path == "" || !filepath.IsAbs(req.Path) {
		return JoinStatus{}, fmt.Errorf("%w: the folder path must be absolute", ErrInvalid)
	}
	p := filepath.Clean(req.Path)
	if err := m.checkOverlap(p, ""); err != nil {
		return JoinStatus{}, err
	}
	link := inv.Link()
	id := hex.EncodeToString(inv.ID[:])
	_, _, err = m.mutateConfig(func(c *config.Config) error {
		c.Joins = slices.DeleteFunc(c.Joins, func(j config.Join) bool { return joinID(j) == id })
		c.Joins = append(c.Joins, config.Join{ID: id, Link: link, Path: p, State: JoinConnecting, Since: time.Now()})
		// The inviter's anchors become ours (from the next start of the
		// agent: the transport's anchors are fixed while it runs).
		for _, a := range inv.Anchors {
			if !slices.Contains(c.Discovery.Anchors, a) && len(c.Discovery.Anchors) < invite.MaxAddrs {
				c.Discovery.Anchors = append(c.Discovery.Anchors, a)
			}
		}
		i := slices.IndexFunc(c.Devices, func(d config.Device) bool { return d.ID == inv.Inviter.String() })
		if i < 0 {
			c.Devices = append(c.Devices, config.Device{ID: inv.Inviter.String(), Addrs: slices.Clone(inv.Addrs)})
			return nil
		}
		for _, a := range inv.Addrs {
			if !slices.Contains(c.Devices[i].Addrs, a) {
				c.Devices[i].Addrs = append(c.Devices[i].Addrs, a)
			}
		}
		return nil
	})
	if err != nil {
		return JoinStatus{}, err
	}
	m.pushDevices()
	if pr := m.peerFor(inv.Inviter); pr != nil {
		m.sendRedeem(pr, inv)
	}
	for _, js := range m.joins() {
		if js.InviteID == id {
			return js, nil
		}
	}
	return JoinStatus{}, fmt.Errorf("%w: join %s vanished", ErrNotFound, id)
}

// joinID returns the invite ID of a join (decoding the link of a join
// recorded without one).
func joinID(j config.Join) string {
	if j.ID != "" {
		return j.ID
	}
	inv, err := invite.Decode(j.Link)
	if err != nil {
		return ""
	}
	return hex.EncodeToString(inv.ID[:])
}

func (m *Model) sendRedeem(p *peer, inv *invite.Invite) {
	msg := &wire.Message{Payload: &wire.Message_InviteRedeem{InviteRedeem: &wire.InviteRedeem{Invite: inv.Encode()}}}
	if err := p.conn.Send(p.ctx, msg); err != nil {
		m.log.Debug("Presenting invite failed", p.conn.ID().LogAttr(), slog.Any("error", err))
	}
}

// redeemOnConnect presents every open invite whose inviter is on p.
func (m *Model) redeemOnConnect(p *peer) {
	for _, j := range m.config().Joins {
		if j.State == JoinFailed || j.State == JoinJoined {
			continue
		}
		inv, err := invite.Decode(j.Link)
		if err != nil || inv.Inviter != p.conn.ID() {
			continue
		}
		m.sendRedeem(p, inv)
	}
}

// handleInviteResult acts on the inviter's answer to one of our invites.
func (m *Model) handleInviteResult(p *peer, r *wire.InviteResult) {
	dev := p.conn.ID()
	id := hex.EncodeToString(r.InviteId)
	var join config.Join
	var inv *invite.Invite
	for _, j := range m.config().Joins {
		if joinID(j) == id {
			join = j
			inv, _ = invite.Decode(j.Link)
		}
	}
	if inv == nil || inv.Inviter != dev || join.State == JoinJoined {
		m.log.Debug("Ignoring invite result for no invite of ours", dev.LogAttr())
		return
	}
	setState := func(state, msg string) {
		_, _, err := m.mutateConfig(func(c *config.Config) error {
			for i := range c.Joins {
				if joinID(c.Joins[i]) == id {
					c.Joins[i].State, c.Joins[i].Error = state, msg
				}
			}
			return nil
		})
		if err != nil {
			m.log.Warn("Recording join state failed", slog.Any("error", err))
		}
	}
	switch r.Status {
	case wire.InviteStatus_INVITE_STATUS_GRANTED:
		sec, err := folderkey.Parse(r.Key)
		if err == nil && (sec.FolderID() != inv.FolderID || accessString(sec.Access()) != inv.Access) {
			err = fmt.Errorf("the inviter sent the key of another folder or access level")
		}
		if err != nil {
			setState(JoinFailed, fmt.Sprintf("the inviter's answer was invalid: %v", err))
			return
		}
		label := r.Label
		if label == "" {
			label = inv.Label
		}
		if _, err := m.joinWithSecret(sec, JoinRequest{Path: join.Path, Label: label}, dev); err != nil && !errors.Is(err, ErrExists) {
			setState(JoinFailed, fmt.Sprintf("adding the folder failed: %v", err))
			return
		}
		setState(JoinJoined, "")
		m.log.Info("Joined folder by invite", slog.String("folder", inv.FolderID), slog.String("path", join.Path), slog.String("access", inv.Access))
	case wire.InviteStatus_INVITE_STATUS_PENDING:
		setState(JoinPending, r.Reason)
	default:
		setState(JoinFailed, r.Reason)
	}
}

// Joins lists the invites this device is redeeming or has redeemed.
func (m *Model) Joins(ctx context.Context) ([]JoinStatus, error) { return m.joins(), nil }

func (m *Model) joins() []JoinStatus {
	var out []JoinStatus
	for _, j := range m.config().Joins {
		inv, err := invite.Decode(j.Link)
		if err != nil {
			continue
		}
		out = append(out, JoinStatus{
			InviteID: hex.EncodeToString(inv.ID[:]), Folder: inv.FolderID, Label: inv.Label, Access: inv.Access,
			Path: j.Path, Inviter: inv.Inviter.String(), State: j.State, Error: j.Error, Since: j.Since,
		})
	}
	return out
}
