package discovery

import (
	"log/slog"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/discovery/mdns"
)

// lanService is a running mDNS service.
type lanService struct {
	d   *Discovery
	svc mdns.Service
}

func (l *lanService) close() {
	_ = l.svc.Close() // never fails
	l.d.mu.Lock()
	l.d.mu.lan.Running = false
	l.d.mu.Unlock()
}

// startLAN starts mDNS on the host's current addresses. If it cannot start
// (no multicast interface, no IP address) it logs, records why in Status
// and returns nil: discovery goes on without it.
func (d *Discovery) startLAN() *lanService {
	svc := mdns.NewMdnsService(d.h, d.cfg.LANService, lanNotifee{d})
	err := svc.Start()
	d.mu.Lock()
	d.mu.lan.Running = err == nil
	d.mu.lan.Error = ""
	if err != nil {
		d.mu.lan.Error = err.Error()
	}
	d.mu.Unlock()
	if err != nil {
		_ = svc.Close()
		d.log.Warn("LAN discovery (mDNS) cannot start; going on without it", slog.Any("err", err))
		return nil
	}
	d.log.Debug("LAN discovery (mDNS) started", slog.String("service", d.cfg.LANService))
	return &lanService{d: d, svc: svc}
}

// lanNotifee receives mDNS answers. The mdns package calls it on goroutines
// of its own, possibly after it was closed, so it checks that Run is still
// running and lets Run wait for the calls already inside.
type lanNotifee struct{ d *Discovery }

// HandlePeerFound implements mdns.Notifee.
func (n lanNotifee) HandlePeerFound(ai peer.AddrInfo) {
	d := n.d
	d.lanMu.Lock()
	if d.lanClosed {
		d.lanMu.Unlock()
		return
	}
	d.lanWG.Add(1)
	d.lanMu.Unlock()
	defer d.lanWG.Done()
	d.report(ai, "", SourceLAN)
}
