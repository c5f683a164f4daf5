package model

import (
	"context"
	"fmt"
	"slices"

	"github.com/shoalsync/shoal/crypto/identity"
)

// Status returns the agent's status.
func (m *Model) Status(ctx context.Context) (Status, error) {
	devs, _ := m.Devices(ctx)
	folders, _ := m.Folders(ctx)
	m.mu.Lock()
	cfg, n, admin := m.mu.cfg, m.mu.net, m.mu.adminAddr
	m.mu.Unlock()
	st := Status{
		DeviceID:  m.local.String(),
		ShortID:   m.local.Short(),
		Name:      cfg.Name,
		Version:   m.opts.Version,
		StartedAt: m.started,
		AdminAddr: admin,
		Devices:   devs,
		Folders:   folders,
		Refused:   []Refused{},
	}
	if n != nil {
		st.ListenAddrs = n.Addrs()
		st.Refused = append(st.Refused, n.Refused()...)
		ns := n.Status()
		st.Network = &ns
	}
	return st, nil
}

// Devices lists configured devices with their connection state.
func (m *Model) Devices(ctx context.Context) ([]DeviceStatus, error) {
	cfg := m.config()
	out := make([]DeviceStatus, 0, len(cfg.Devices))
	for _, d := range cfg.Devices {
		ds, err := m.deviceStatus(d.ID)
		if err != nil {
			return nil, err
		}
		out = append(out, ds)
	}
	return out, nil
}

func (m *Model) deviceStatus(idStr string) (DeviceStatus, error) {
	cfg := m.config()
	d, ok := cfg.Device(idStr)
	if !ok {
		return DeviceStatus{}, fmt.Errorf("%w: device %s", ErrNotFound, idStr)
	}
	id, _ := identity.Parse(d.ID)
	ds := DeviceStatus{ID: d.ID, ShortID: id.Short(), Name: d.Name, Addrs: slices.Clone(d.Addrs)}
	if ds.Addrs == nil {
		ds.Addrs = []string{}
	}
	m.mu.Lock()
	p := m.mu.conns[id]
	m.mu.Unlock()
	if p != nil {
		info := p.conn.Info()
		ds.Connected = true
		ds.Address = info.Address
		ds.Transport = info.Transport
		ds.Path = info.Path
		since := info.Since
		ds.Since = &since
		ds.ClientVersion = info.ClientVersion
		ds.BytesIn, ds.BytesOut = info.BytesIn, info.BytesOut
		if ds.Name == "" {
			ds.Name = info.Name
		}
	}
	return ds, nil
}

// Folders lists configured folders with their sync state.
func (m *Model) Folders(ctx context.Context) ([]FolderStatus, error) {
	m.mu.Lock()
	folders := m.folderListLocked()
	m.mu.Unlock()
	out := make([]FolderStatus, 0, len(folders))
	for _, f := range folders {
		out = append(out, f.status())
	}
	return out, nil
}

func (m *Model) folderStatus(id string) (FolderStatus, error) {
	f := m.folderByID(id)
	if f == nil {
		return FolderStatus{}, fmt.Errorf("%w: folder %s", ErrNotFound, id)
	}
	return f.status(), nil
}

// Folder returns one folder's status.
func (m *Model) Folder(ctx context.Context, id string) (FolderStatus, error) {
	return m.folderStatus(id)
}
