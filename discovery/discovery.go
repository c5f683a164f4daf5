package discovery

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	dht "github.com/libp2p/go-libp2p-kad-dht"
	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	ma "github.com/multiformats/go-multiaddr"
)

// Defaults for Config.
const (
	DefaultPeriod     = 24 * time.Hour
	DefaultOverlap    = 10 * time.Minute
	DefaultReprovide  = 6 * time.Hour
	DefaultLookup     = 5 * time.Minute
	DefaultTimeout    = time.Minute
	DefaultAddrTTL    = time.Hour
	DefaultLANService = "_shoal._udp"
)

// ProtocolPrefix is the DHT's protocol prefix: its wire protocol is
// /shoal/kad/1.0.0, so it never talks to the public IPFS (Amino) DHT.
const ProtocolPrefix protocol.ID = "/shoal"

// dhtProtocol is the protocol a DHT server answers on.
const dhtProtocol = ProtocolPrefix + "/kad/1.0.0"

const (
	maxFoundAddrs    = 32          // addresses kept per found peer
	parallelCalls    = 4           // concurrent provides or lookups
	maxWake          = time.Minute // longest sleep of the advertise loop
	bootstrapMinWait = 250 * time.Millisecond
	bootstrapMaxWait = time.Minute
	bootstrapHealthy = 10 * time.Second // routing-table check when not empty
	retryMin         = 5 * time.Second  // first retry of a failed advertisement
	retryMax         = 10 * time.Minute
)

// Mode is the DHT mode of this node.
type Mode int

const (
	// ModeClient queries the DHT but does not answer queries or store
	// records: for laptops and anything behind NAT. The default.
	ModeClient Mode = iota
	// ModeServer answers queries and stores provider records: for anchors,
	// which must be reachable.
	ModeServer
	// ModeAuto switches between client and server as AutoNAT finds this
	// node reachable or not (event.EvtLocalReachabilityChanged); it starts
	// as a client.
	ModeAuto
)

// String returns "client", "server" or "auto".
func (m Mode) String() string {
	switch m {
	case ModeClient:
		return "client"
	case ModeServer:
		return "server"
	case ModeAuto:
		return "auto"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// Source says how a peer was found.
type Source string

// Sources of Found.
const (
	SourceDHT Source = "dht" // a provider record under a topic's rendezvous key
	SourceLAN Source = "lan" // an mDNS announcement; no topic
)

// Found is a peer discovery reports. The peer is not checked against
// anything: whoever wrote the provider record or sent the mDNS answer may
// be any device, enrolled or not, so the caller decides whether to dial.
type Found struct {
	Peer peer.ID
	// Addrs are the addresses that came with the record or answer (at most
	// 32, without /p2p suffixes), or if there were none those already in
	// the peerstore; possibly none (then try FindPeer).
	Addrs  []ma.Multiaddr
	Topic  string // Topic.ID of the rendezvous it was found under; "" for LAN
	Source Source
}

// Topic is something to meet peers about, typically a folder.
type Topic struct {
	// ID names the topic in logs, status and Found. It never reaches
	// the network.
	ID string
	// Secret derives the rendezvous keys (RendezvousKey). Use the folder's
	// lowest capability so that every member, encrypted-only ones
	// included, can compute it.
	Secret []byte
}

// Config configures a Discovery.
type Config struct {
	// Host is the libp2p host to run the DHT and mDNS on. Required.
	Host host.Host
	// Mode is the DHT mode: ModeClient (default), ModeServer or ModeAuto.
	Mode Mode
	// Bootstrap lists the peers (anchors, DHT servers) to join the DHT
	// through. They are dialled at start and whenever the routing table is
	// empty, with backoff. This host's own entry, if listed, is skipped.
	Bootstrap []peer.AddrInfo
	// LAN enables mDNS discovery on the local networks. mDNS announces
	// this host's peer ID and addresses to every device on those networks.
	LAN bool
	// LANService is the mDNS service name; default DefaultLANService.
	LANService string

	// Found is called for every peer found (never this host), once per
	// lookup that finds it. It may be called from several goroutines at
	// once and must not block for long. Optional.
	Found func(Found)
	// Logger receives the log; default slog.Default().
	Logger *slog.Logger

	// Period is the length of a rendezvous period; default DefaultPeriod.
	// All peers of a folder must use the same value.
	Period time.Duration
	// Overlap is the window around each period boundary during which both
	// periods are used (see the rollover rule on advertisePeriods); default
	// DefaultOverlap, at most a quarter of Period. Clocks of peers that must
	// meet must differ by less than this.
	Overlap time.Duration
	// Reprovide is how often each rendezvous key is advertised again;
	// default DefaultReprovide. It is also advertised again when the period
	// changes and when the host's addresses change.
	Reprovide time.Duration
	// Lookup is how often each topic's providers are looked up; default
	// DefaultLookup. Topics are also looked up when added and on Kick.
	Lookup time.Duration
	// Timeout bounds every DHT call (connect, advertise, lookup, refresh);
	// default DefaultTimeout.
	Timeout time.Duration
	// AddrTTL is how long found addresses stay in the host's peerstore;
	// default DefaultAddrTTL.
	AddrTTL time.Duration
	// Now is the clock that picks rendezvous periods; default time.Now.
	// Tests move it to cross period boundaries (then call Kick).
	Now func() time.Time
	// DHTOptions are appended to the DHT's options (after the prefix,
	// DisableValues and the mode), e.g. dht.DisableAutoRefresh() in tests.
	DHTOptions []dht.Option
}

// Discovery finds the peers that share topics with this host: through
// rendezvous keys in a private Kademlia DHT and, if enabled, mDNS on the LAN.
type Discovery struct {
	cfg       Config
	log       *slog.Logger
	h         host.Host
	bootstrap []peer.AddrInfo // without this host

	wakeAdvertise chan struct{} // buffered 1
	wakeLookup    chan struct{} // buffered 1

	mu struct {
		sync.Mutex
		started  bool
		dht      *dht.IpfsDHT // while Run runs
		topics   map[string]*topicState
		order    []string        // topic IDs as last given to SetTopics
		pending  map[string]bool // topics to look up soon
		all      bool            // look up every topic soon
		addrGen  uint64          // bumped when the host's addresses change
		addrs    string          // the addresses addrGen refers to
		found    map[peer.ID]struct{}
		lastLook time.Time
		lan      LANStatus
		counts   counters
	}

	// LAN notifications arrive on goroutines the mdns package starts;
	// lanWG lets Run wait for those inside our code before returning.
	lanMu     sync.Mutex
	lanClosed bool
	lanWG     sync.WaitGroup
}

type counters struct {
	advertised  uint64 // successful broadcast advertisements
	advertFails uint64
	lookups     uint64 // completed lookups of one topic
	addrChanges uint64
	bootstraps  uint64 // times the routing table went from empty to not
}

type topicState struct {
	id         string
	secret     []byte
	keys       map[int64]*keyState // by period
	lastLookup time.Time
	lookupErr  string
	providers  int // peers found by the last lookup
}

type keyState struct {
	key      cid.Cid
	lastOK   time.Time // by Config.Now
	gen      uint64    // addrGen at lastOK
	retryAt  time.Time // by the real clock: backoff after failures
	failures int
	lastErr  string
}

// New checks the configuration and returns a Discovery. Nothing runs
// until Run.
func New(cfg Config) (*Discovery, error) {
	if cfg.Host == nil {
		return nil, errors.New("discovery: no host")
	}
	switch cfg.Mode {
	case ModeClient, ModeServer, ModeAuto:
	default:
		return nil, fmt.Errorf("discovery: unknown mode %d", int(cfg.Mode))
	}
	if cfg.Period <= 0 {
		cfg.Period = DefaultPeriod
	}
	if cfg.Overlap <= 0 {
		cfg.Overlap = min(DefaultOverlap, cfg.Period/4)
	}
	if cfg.Overlap > cfg.Period/4 {
		return nil, fmt.Errorf("discovery: overlap %v is more than a quarter of the period %v", cfg.Overlap, cfg.Period)
	}
	if cfg.Reprovide <= 0 {
		cfg.Reprovide = DefaultReprovide
	}
	if cfg.Lookup <= 0 {
		cfg.Lookup = DefaultLookup
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.AddrTTL <= 0 {
		cfg.AddrTTL = DefaultAddrTTL
	}
	if cfg.LANService == "" {
		cfg.LANService = DefaultLANService
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	d := &Discovery{
		cfg:           cfg,
		log:           cfg.Logger.With(slog.String("component", "discovery")),
		h:             cfg.Host,
		wakeAdvertise: make(chan struct{}, 1),
		wakeLookup:    make(chan struct{}, 1),
	}
	self := cfg.Host.ID()
	for _, ai := range cfg.Bootstrap {
		if ai.ID == "" {
			return nil, errors.New("discovery: bootstrap peer without an ID")
		}
		if ai.ID != self {
			d.bootstrap = append(d.bootstrap, peer.AddrInfo{ID: ai.ID, Addrs: slices.Clone(ai.Addrs)})
		}
	}
	d.mu.topics = map[string]*topicState{}
	d.mu.pending = map[string]bool{}
	d.mu.found = map[peer.ID]struct{}{}
	d.mu.lan.Enabled = cfg.LAN
	return d, nil
}

// SetTopics replaces the set of topics. Added topics (and topics whose
// secret changed) are advertised and looked up at once; removed ones are no
// longer advertised (their records expire in the DHT by themselves). A
// later duplicate ID replaces an earlier one. Safe to call before and
// during Run.
func (d *Discovery) SetTopics(topics []Topic) {
	d.mu.Lock()
	next := make(map[string]*topicState, len(topics))
	var order, added []string
	for _, t := range topics {
		if _, dup := next[t.ID]; !dup {
			order = append(order, t.ID)
		}
		if old, ok := d.mu.topics[t.ID]; ok && bytes.Equal(old.secret, t.Secret) {
			next[t.ID] = old
			continue
		}
		next[t.ID] = &topicState{id: t.ID, secret: bytes.Clone(t.Secret), keys: map[int64]*keyState{}}
	}
	for _, id := range order {
		if d.mu.topics[id] != next[id] {
			added = append(added, id)
			d.mu.pending[id] = true
		}
	}
	var removed []string
	for id := range d.mu.topics {
		if next[id] == nil {
			removed = append(removed, id)
			delete(d.mu.pending, id)
		}
	}
	d.mu.topics, d.mu.order = next, order
	d.mu.Unlock()
	if len(added) > 0 || len(removed) > 0 {
		slices.Sort(removed)
		d.log.Info("Discovery topics changed", slog.Int("topics", len(order)),
			slog.Any("added", added), slog.Any("removed", removed))
	}
	if len(added) > 0 {
		signal(d.wakeAdvertise)
		signal(d.wakeLookup)
	}
}

// Kick asks for a lookup of every topic now and re-checks which rendezvous
// keys are due for advertising (for instance after the clock jumped).
func (d *Discovery) Kick() {
	d.mu.Lock()
	d.mu.all = true
	d.mu.Unlock()
	signal(d.wakeAdvertise)
	signal(d.wakeLookup)
}

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// FindPeer asks the DHT for a peer's addresses. It is a fallback: it finds
// DHT servers reliably, client-mode peers only by luck; prefer the
// addresses that come with Found.
func (d *Discovery) FindPeer(ctx context.Context, id peer.ID) (peer.AddrInfo, error) {
	d.mu.Lock()
	kad := d.mu.dht
	d.mu.Unlock()
	if kad == nil {
		return peer.AddrInfo{}, errors.New("discovery: not running")
	}
	ctx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
	defer cancel()
	ai, err := kad.FindPeer(ctx, id)
	if err != nil {
		return peer.AddrInfo{}, fmt.Errorf("finding peer %s in the DHT: %w", id, err)
	}
	return ai, nil
}

// Run runs the DHT, the advertising and lookup loops and mDNS until ctx
// ends, then stops them all and waits for them. It returns nil after ctx
// ends, or an error if the DHT cannot start. A Discovery runs only once.
func (d *Discovery) Run(ctx context.Context) error {
	d.mu.Lock()
	if d.mu.started {
		d.mu.Unlock()
		return errors.New("discovery: Run called twice")
	}
	d.mu.started = true
	d.mu.Unlock()

	var mode dht.ModeOpt
	switch d.cfg.Mode {
	case ModeServer:
		mode = dht.ModeServer
	case ModeAuto:
		mode = dht.ModeAuto
	default:
		mode = dht.ModeClient
	}
	opts := append([]dht.Option{
		dht.ProtocolPrefix(ProtocolPrefix),
		dht.DisableValues(),
		dht.Mode(mode),
	}, d.cfg.DHTOptions...)
	kad, err := dht.New(d.h, opts...)
	if err != nil {
		return fmt.Errorf("starting the DHT: %w", err)
	}
	sub, err := d.h.EventBus().Subscribe(new(event.EvtLocalAddressesUpdated))
	if err != nil {
		return errors.Join(fmt.Errorf("subscribing to address changes: %w", err), kad.Close())
	}
	d.mu.Lock()
	d.mu.dht = kad
	d.mu.addrs = addrsKey(d.h.Addrs())
	d.mu.Unlock()
	d.log.Info("Discovery started", slog.String("mode", d.cfg.Mode.String()),
		slog.Int("bootstrap_peers", len(d.bootstrap)), slog.Bool("lan", d.cfg.LAN),
		slog.Duration("period", d.cfg.Period))

	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { d.bootstrapLoop(ctx, kad) })
	wg.Go(func() { d.advertiseLoop(ctx, kad) })
	wg.Go(func() { d.lookupLoop(ctx, kad) })
	wg.Go(func() { d.eventLoop(ctx, sub) })
	<-ctx.Done()
	cancel()
	wg.Wait()

	d.lanMu.Lock()
	d.lanClosed = true
	d.lanMu.Unlock()
	d.lanWG.Wait()

	d.mu.Lock()
	d.mu.dht = nil
	d.mu.Unlock()
	errs := []error{sub.Close(), kad.Close()}
	if mode != dht.ModeClient {
		// The DHT leaves its handler on the host when it closes.
		d.h.RemoveStreamHandler(dhtProtocol)
	}
	if err := errors.Join(errs...); err != nil {
		d.log.Warn("Discovery stopped with errors", slog.Any("err", err))
	} else {
		d.log.Info("Discovery stopped")
	}
	return nil
}

// eventLoop watches the host's addresses: when they change, every key is
// advertised again (records carry the addresses) and mDNS restarts to
// announce the new ones. It also owns the mDNS service.
func (d *Discovery) eventLoop(ctx context.Context, sub event.Subscription) {
	var lan *lanService
	if d.cfg.LAN {
		lan = d.startLAN()
	}
	defer func() {
		if lan != nil {
			lan.close()
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-sub.Out():
			if !ok {
				return
			}
			ev, ok := e.(event.EvtLocalAddressesUpdated)
			if !ok {
				continue
			}
			addrs := make([]ma.Multiaddr, 0, len(ev.Current))
			for _, u := range ev.Current {
				addrs = append(addrs, u.Address)
			}
			key := addrsKey(addrs)
			d.mu.Lock()
			changed := key != d.mu.addrs
			if changed {
				d.mu.addrs = key
				d.mu.addrGen++
				d.mu.counts.addrChanges++
			}
			d.mu.Unlock()
			if !changed {
				continue
			}
			d.log.Info("Host addresses changed; advertising again", slog.Any("addrs", addrs))
			signal(d.wakeAdvertise)
			if lan != nil {
				lan.close()
			}
			if d.cfg.LAN {
				lan = d.startLAN()
			}
		}
	}
}

// addrsKey is a canonical form of an address set, to compare sets.
func addrsKey(addrs []ma.Multiaddr) string {
	s := make([]string, 0, len(addrs))
	for _, a := range addrs {
		s = append(s, a.String())
	}
	slices.Sort(s)
	return strings.Join(slices.Compact(s), " ")
}

// bootstrapLoop connects to the bootstrap peers while the routing table is
// empty, with backoff, and tells the other loops when it fills.
func (d *Discovery) bootstrapLoop(ctx context.Context, kad *dht.IpfsDHT) {
	wait := bootstrapMinWait
	empty := true
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		if kad.RoutingTable().Size() == 0 && len(d.bootstrap) > 0 {
			d.connectBootstrap(ctx)
		}
		size := kad.RoutingTable().Size()
		switch {
		case size > 0 && empty:
			empty = false
			wait = bootstrapMinWait
			d.mu.Lock()
			d.mu.counts.bootstraps++
			d.mu.Unlock()
			d.log.Info("DHT routing table has peers", slog.Int("size", size))
			d.readyAll()
			d.refresh(ctx, kad)
			timer.Reset(bootstrapHealthy)
		case size > 0:
			timer.Reset(bootstrapHealthy)
		default:
			if !empty {
				d.log.Warn("DHT routing table is empty; bootstrapping again")
			}
			empty = true
			timer.Reset(wait)
			wait = min(wait*2, bootstrapMaxWait)
		}
	}
}

// connectBootstrap dials the bootstrap peers this host is not connected to.
func (d *Discovery) connectBootstrap(ctx context.Context) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, parallelCalls)
	for _, ai := range d.bootstrap {
		if d.h.Network().Connectedness(ai.ID) == network.Connected {
			continue
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			cctx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
			defer cancel()
			if err := d.h.Connect(cctx, ai); err != nil && ctx.Err() == nil {
				d.log.Debug("Cannot reach bootstrap peer", slog.String("peer", ai.ID.String()), slog.Any("err", err))
			}
		})
	}
	wg.Wait()
}

// refresh refreshes the routing table and waits for it, within Timeout.
func (d *Discovery) refresh(ctx context.Context, kad *dht.IpfsDHT) {
	rctx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
	defer cancel()
	select {
	case err := <-kad.RefreshRoutingTable():
		if err != nil && ctx.Err() == nil {
			d.log.Debug("Refreshing the DHT routing table failed", slog.Any("err", err))
		}
	case <-rctx.Done():
	}
}

// readyAll makes the advertising loop retry everything now and the lookup
// loop look up every topic: the DHT has just become usable.
func (d *Discovery) readyAll() {
	d.mu.Lock()
	for _, t := range d.mu.topics {
		for _, k := range t.keys {
			k.retryAt = time.Time{}
		}
	}
	d.mu.all = true
	d.mu.Unlock()
	signal(d.wakeAdvertise)
	signal(d.wakeLookup)
}

type advertJob struct {
	topic  string
	period int64
	ks     *keyState
	key    cid.Cid
}

// advertiseLoop advertises each topic's rendezvous keys when due.
func (d *Discovery) advertiseLoop(ctx context.Context, kad *dht.IpfsDHT) {
	timer := time.NewTimer(maxWake)
	defer timer.Stop()
	for {
		next := d.advertiseRound(ctx, kad)
		timer.Reset(next)
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case <-d.wakeAdvertise:
		}
	}
}

// advertiseRound advertises the keys that are due and returns how long to
// sleep before the next round.
func (d *Discovery) advertiseRound(ctx context.Context, kad *dht.IpfsDHT) time.Duration {
	now, realNow := d.cfg.Now(), time.Now()
	periods := advertisePeriods(now, d.cfg.Period, d.cfg.Overlap)
	ready := kad.RoutingTable().Size() > 0
	var jobs []advertJob
	d.mu.Lock()
	gen := d.mu.addrGen
	for _, id := range d.mu.order {
		t := d.mu.topics[id]
		for p := range t.keys {
			if !slices.Contains(periods, p) {
				delete(t.keys, p)
			}
		}
		for _, p := range periods {
			ks := t.keys[p]
			if ks == nil {
				ks = &keyState{key: RendezvousKey(t.secret, p)}
				t.keys[p] = ks
			}
			due := ks.lastOK.IsZero() || now.Sub(ks.lastOK) >= d.cfg.Reprovide || ks.gen != gen
			if due && !realNow.Before(ks.retryAt) {
				if ready {
					jobs = append(jobs, advertJob{topic: id, period: p, ks: ks, key: ks.key})
				} else {
					ks.lastErr = "waiting for DHT peers"
				}
			}
		}
	}
	d.mu.Unlock()

	if !ready && d.cfg.Mode != ModeClient {
		// A server alone in the DHT still answers queries for its keys
		// from its own provider store.
		var keys []cid.Cid
		d.mu.Lock()
		for _, id := range d.mu.order {
			for _, ks := range d.mu.topics[id].keys {
				keys = append(keys, ks.key)
			}
		}
		d.mu.Unlock()
		for _, k := range keys {
			pctx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
			if err := kad.Provide(pctx, k, false); err != nil && ctx.Err() == nil {
				d.log.Debug("Storing our own provider record failed", slog.Any("err", err))
			}
			cancel()
		}
	}

	d.runParallel(ctx, len(jobs), func(i int) {
		j := jobs[i]
		pctx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
		start := time.Now()
		err := kad.Provide(pctx, j.key, true)
		cancel()
		if ctx.Err() != nil {
			return
		}
		d.mu.Lock()
		defer d.mu.Unlock()
		if err != nil {
			j.ks.failures++
			j.ks.lastErr = err.Error()
			j.ks.retryAt = time.Now().Add(min(retryMin<<min(j.ks.failures-1, 10), retryMax))
			d.mu.counts.advertFails++
			d.log.Warn("Advertising a topic failed", slog.String("topic", j.topic),
				slog.Int64("period", j.period), slog.Int("failures", j.ks.failures), slog.Any("err", err))
			return
		}
		j.ks.failures = 0
		j.ks.lastErr = ""
		j.ks.retryAt = time.Time{}
		j.ks.lastOK = d.cfg.Now()
		j.ks.gen = gen
		d.mu.counts.advertised++
		d.log.Debug("Advertised a topic", slog.String("topic", j.topic), slog.Int64("period", j.period),
			slog.Duration("took", time.Since(start)))
	})

	// Sleep until the next key falls due or may be retried, the schedule
	// changes or maxWake. (Config.Now may be a test's clock: the first two
	// are measured on it, retries on the real one.)
	now, realNow = d.cfg.Now(), time.Now()
	wait := nextScheduleChange(now, d.cfg.Period, d.cfg.Overlap).Sub(now)
	d.mu.Lock()
	for _, t := range d.mu.topics {
		for _, ks := range t.keys {
			w := time.Duration(0)
			if !ks.lastOK.IsZero() && ks.gen == d.mu.addrGen {
				w = ks.lastOK.Add(d.cfg.Reprovide).Sub(now)
			}
			if !ks.retryAt.IsZero() {
				w = max(w, ks.retryAt.Sub(realNow))
			}
			if w > 0 {
				wait = min(wait, w)
			}
		}
	}
	d.mu.Unlock()
	return min(max(wait, 10*time.Millisecond), maxWake)
}

func latest(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// runParallel runs fn(0..n-1) on up to parallelCalls goroutines and waits.
func (d *Discovery) runParallel(ctx context.Context, n int, fn func(int)) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, parallelCalls)
	for i := range n {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return
		}
		wg.Go(func() {
			defer func() { <-sem }()
			fn(i)
		})
	}
	wg.Wait()
}

type lookupJob struct {
	topic *topicState
	keys  []cid.Cid
}

// lookupLoop looks up the topics' providers: every Lookup, for new topics
// and on Kick.
func (d *Discovery) lookupLoop(ctx context.Context, kad *dht.IpfsDHT) {
	ticker := time.NewTicker(d.cfg.Lookup)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
			d.mu.Lock()
			d.mu.all = true
			d.mu.Unlock()
		case <-d.wakeLookup:
		}
		d.lookupRound(ctx, kad)
	}
}

func (d *Discovery) lookupRound(ctx context.Context, kad *dht.IpfsDHT) {
	now := d.cfg.Now()
	periods := lookupPeriods(now, d.cfg.Period, d.cfg.Overlap)
	var jobs []lookupJob
	d.mu.Lock()
	for _, id := range d.mu.order {
		if !d.mu.all && !d.mu.pending[id] {
			continue
		}
		t := d.mu.topics[id]
		j := lookupJob{topic: t}
		for _, p := range periods {
			if ks := t.keys[p]; ks != nil {
				j.keys = append(j.keys, ks.key)
			} else {
				j.keys = append(j.keys, RendezvousKey(t.secret, p))
			}
		}
		jobs = append(jobs, j)
	}
	d.mu.all = false
	clear(d.mu.pending)
	d.mu.Unlock()
	if len(jobs) == 0 {
		return
	}
	if kad.RoutingTable().Size() == 0 {
		d.mu.Lock()
		for _, j := range jobs {
			j.topic.lookupErr = "waiting for DHT peers"
		}
		d.mu.Unlock()
		return // readyAll looks everything up when the table fills
	}
	d.runParallel(ctx, len(jobs), func(i int) { d.lookupTopic(ctx, kad, jobs[i]) })
	if ctx.Err() == nil {
		d.mu.Lock()
		d.mu.lastLook = time.Now()
		d.mu.Unlock()
	}
}

// lookupTopic finds the providers of one topic's keys and reports them.
func (d *Discovery) lookupTopic(ctx context.Context, kad *dht.IpfsDHT, j lookupJob) {
	start := time.Now()
	seen := map[peer.ID]bool{d.h.ID(): true}
	lookupErr := ""
	for _, key := range j.keys {
		lctx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
		for ai := range kad.FindProvidersAsync(lctx, key, 0) {
			if seen[ai.ID] {
				continue
			}
			seen[ai.ID] = true
			d.report(ai, j.topic.id, SourceDHT)
		}
		if ctx.Err() == nil && lctx.Err() != nil {
			lookupErr = fmt.Sprintf("lookup did not finish within %v", d.cfg.Timeout)
		}
		cancel()
		if ctx.Err() != nil {
			return
		}
	}
	n := len(seen) - 1
	d.mu.Lock()
	j.topic.lastLookup = time.Now()
	j.topic.lookupErr = lookupErr
	j.topic.providers = n
	d.mu.counts.lookups++
	d.mu.Unlock()
	d.log.Debug("Looked up a topic", slog.String("topic", j.topic.id), slog.Int("peers", n),
		slog.Duration("took", time.Since(start)))
}

// report adds a found peer's addresses to the peerstore and calls Found.
func (d *Discovery) report(ai peer.AddrInfo, topic string, src Source) {
	if ai.ID == d.h.ID() || ai.ID == "" {
		return
	}
	addrs := make([]ma.Multiaddr, 0, min(len(ai.Addrs), maxFoundAddrs))
	for _, a := range ai.Addrs {
		if len(addrs) == maxFoundAddrs {
			break
		}
		tpt, id := peer.SplitAddr(a)
		if len(tpt) == 0 || (id != "" && id != ai.ID) {
			continue // empty, or an address of some other peer
		}
		addrs = append(addrs, tpt)
	}
	if len(addrs) > 0 {
		d.h.Peerstore().AddAddrs(ai.ID, addrs, d.cfg.AddrTTL)
	} else {
		addrs = d.h.Peerstore().Addrs(ai.ID)
	}
	d.mu.Lock()
	_, old := d.mu.found[ai.ID]
	d.mu.found[ai.ID] = struct{}{}
	d.mu.Unlock()
	if !old {
		d.log.Info("Found a peer", slog.String("peer", ai.ID.String()), slog.String("topic", topic),
			slog.String("source", string(src)), slog.Int("addrs", len(addrs)))
	}
	if d.cfg.Found != nil {
		d.cfg.Found(Found{Peer: ai.ID, Addrs: addrs, Topic: topic, Source: src})
	}
}

// Status is a snapshot of discovery for the admin API.
type Status struct {
	Running            bool          `json:"running"`
	Mode               string        `json:"mode"`            // "client" or "server": what the DHT does now
	ConfiguredMode     string        `json:"configured_mode"` // "client", "server" or "auto"
	RoutingTableSize   int           `json:"routing_table_size"`
	BootstrapPeers     int           `json:"bootstrap_peers"`
	BootstrapConnected int           `json:"bootstrap_connected"`
	Topics             []TopicStatus `json:"topics"`
	LastLookup         time.Time     `json:"last_lookup,omitzero"`
	LAN                LANStatus     `json:"lan"`
	PeersFound         int           `json:"peers_found"` // distinct peers reported since start
	Advertisements     uint64        `json:"advertisements"`
	AdvertiseFailures  uint64        `json:"advertise_failures"`
	Lookups            uint64        `json:"lookups"`
	AddressChanges     uint64        `json:"address_changes"`
}

// TopicStatus is one topic's part of Status.
type TopicStatus struct {
	ID             string    `json:"id"`
	LastAdvertised time.Time `json:"last_advertised,omitzero"` // latest successful advertisement of a current key
	Periods        []int64   `json:"periods"`                  // periods advertised under now
	LastError      string    `json:"last_error,omitempty"`     // of advertising or looking up; cleared on success
	LastLookup     time.Time `json:"last_lookup,omitzero"`
	PeersFound     int       `json:"peers_found"` // by the last lookup
}

// LANStatus is the mDNS part of Status.
type LANStatus struct {
	Enabled bool   `json:"enabled"`
	Running bool   `json:"running"`
	Error   string `json:"error,omitempty"` // why mDNS could not start
}

// Status returns a snapshot of discovery's state.
func (d *Discovery) Status() Status {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := Status{
		Running:           d.mu.dht != nil,
		Mode:              ModeClient.String(),
		ConfiguredMode:    d.cfg.Mode.String(),
		BootstrapPeers:    len(d.bootstrap),
		LastLookup:        d.mu.lastLook,
		LAN:               d.mu.lan,
		PeersFound:        len(d.mu.found),
		Advertisements:    d.mu.counts.advertised,
		AdvertiseFailures: d.mu.counts.advertFails,
		Lookups:           d.mu.counts.lookups,
		AddressChanges:    d.mu.counts.addrChanges,
		Topics:            []TopicStatus{},
	}
	if d.mu.dht != nil {
		s.RoutingTableSize = d.mu.dht.RoutingTable().Size()
		if slices.Contains(d.h.Mux().Protocols(), dhtProtocol) {
			s.Mode = ModeServer.String()
		}
	}
	for _, ai := range d.bootstrap {
		if d.h.Network().Connectedness(ai.ID) == network.Connected {
			s.BootstrapConnected++
		}
	}
	for _, id := range d.mu.order {
		t := d.mu.topics[id]
		ts := TopicStatus{ID: id, LastLookup: t.lastLookup, PeersFound: t.providers, LastError: t.lookupErr, Periods: []int64{}}
		for p, ks := range t.keys {
			if !ks.lastOK.IsZero() {
				ts.Periods = append(ts.Periods, p)
				ts.LastAdvertised = latest(ts.LastAdvertised, ks.lastOK)
			}
			if ks.lastErr != "" {
				ts.LastError = ks.lastErr
			}
		}
		slices.Sort(ts.Periods)
		s.Topics = append(s.Topics, ts)
	}
	return s
}
