package agent

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	dht "github.com/libp2p/go-libp2p-kad-dht"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/shoalsync/shoal/crypto/identity"
	"github.com/shoalsync/shoal/discovery"
	"github.com/shoalsync/shoal/sync/config"
)

// DiscoveryTimers tunes discovery for tests; zero values mean the
// defaults of package discovery.
type DiscoveryTimers struct {
	Lookup    time.Duration // how often each folder's members are looked up
	Reprovide time.Duration // how often each folder is advertised again
	Period    time.Duration // rendezvous period
}

const (
	foundQueue   = 256              // discovered devices waiting for dialFound
	guestRetry   = 10 * time.Minute // a device found on the LAN is tried as a guest at most this often
	foundAddrTTL = time.Hour        // discovered addresses kept in the peerstore
)

// netSettings are the agent's network settings: configuration plus flags.
type netSettings struct {
	anchors []string
	anchor  bool
	server  bool // DHT server
	dht     bool // the DHT runs with peers to talk to
	lan     bool
}

func newNetSettings(o Options, cfg *config.Config) netSettings {
	n := netSettings{anchor: cfg.Discovery.Role == config.RoleAnchor, lan: cfg.Discovery.LANEnabled()}
	if o.Role != "" {
		n.anchor = o.Role == config.RoleAnchor
	}
	if o.LAN != nil {
		n.lan = *o.LAN
	}
	for _, a := range slices.Concat(cfg.Discovery.Anchors, o.Anchors) {
		if !slices.Contains(n.anchors, a) {
			n.anchors = append(n.anchors, a)
		}
	}
	n.dht = len(n.anchors) > 0 || n.anchor
	n.server = n.anchor || cfg.Discovery.DHTServer || o.DHTServer
	return n
}

// startDiscovery makes the discovery service on the transport's libp2p
// host, or returns nil when neither the DHT nor LAN discovery is wanted.
func (a *Agent) startDiscovery(n netSettings) (*discovery.Discovery, error) {
	if !n.dht && !n.lan {
		return nil, nil
	}
	mode := discovery.ModeClient
	if n.server {
		mode = discovery.ModeServer
	}
	var boot = a.host.Anchors()
	if !n.dht {
		boot = nil
	}
	a.found = make(chan discovery.Found, foundQueue)
	// Only our anchors (and DHT servers given as anchors) are DHT peers:
	// a stranger that speaks the protocol is never queried nor kept in the
	// routing table, so it never sees our rendezvous keys.
	dhtOpts := []dht.Option{
		dht.RoutingTableFilter(func(_ any, p peer.ID) bool { return a.host.IsAnchor(p) }),
		dht.QueryFilter(func(_ any, ai peer.AddrInfo) bool { return a.host.IsAnchor(ai.ID) }),
	}
	d, err := discovery.New(discovery.Config{
		Host: a.host.LibP2P(), Mode: mode, Bootstrap: boot, LAN: n.lan, Logger: a.log, DHTOptions: dhtOpts,
		Lookup: a.opts.Discovery.Lookup, Reprovide: a.opts.Discovery.Reprovide, Period: a.opts.Discovery.Period,
		AddrTTL: foundAddrTTL,
		Found: func(f discovery.Found) {
			select {
			case a.found <- f:
			default: // dialFound is behind; the next lookup finds it again
			}
		},
	})
	if err != nil {
		return nil, fmt.Errorf("starting discovery: %w", err)
	}
	return d, nil
}

// dialFound hands the devices discovery finds to the transport: addresses
// of configured devices go to their dialers; a device found under one of
// our folders' rendezvous keys (or on the LAN) that we do not know yet is
// dialed as a guest, so it can prove the folder key (that is how a device
// that joined by key alone meets the members).
func (a *Agent) dialFound(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	tried := map[identity.DeviceID]time.Time{}
	// waiting holds devices found while guests were closed (before this
	// device had a keyed folder): mDNS announces a device only now and
	// then, so they are tried once guests open.
	waiting := map[identity.DeviceID]discovery.Found{}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	dial := func(f discovery.Found) {
		id := identity.DeviceID(f.Peer)
		if a.host.Session(id) != nil || time.Since(tried[id]) < guestRetry {
			return
		}
		if !a.host.GuestsOpen() {
			if len(waiting) < foundQueue {
				waiting[id] = f
			}
			return
		}
		tried[id] = time.Now()
		for k, t := range tried {
			if time.Since(t) > guestRetry {
				delete(tried, k)
			}
		}
		if f.Topic == "" && f.Source == discovery.SourceLAN {
			a.model.IntroduceAll(id) // a topic was introduced on arrival
		}
		wg.Go(func() {
			if err := a.host.DialGuest(ctx, id, f.Addrs); err != nil && ctx.Err() == nil {
				a.log.Debug("Dialing a discovered device failed", id.LogAttr(), slog.String("source", string(f.Source)), slog.Any("error", err))
			}
		})
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			if len(waiting) > 0 && a.host.GuestsOpen() {
				for id, f := range waiting {
					delete(waiting, id)
					dial(f)
				}
			}
		case f := <-a.found:
			id := identity.DeviceID(f.Peer)
			if _, err := identity.FromBytes(id.Bytes()); err != nil {
				continue // not an Ed25519 peer ID: not a Shoal device
			}
			if f.Topic != "" {
				a.model.Introduce(id, f.Topic) // also for members: a later session offers the folder
			}
			if a.host.AddAddrs(id, f.Addrs, foundAddrTTL) {
				continue
			}
			dial(f)
		}
	}
}
