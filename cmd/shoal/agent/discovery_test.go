package agent

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shoalsync/shoal/crypto/invite"
	"github.com/shoalsync/shoal/internal/testutil"
	"github.com/shoalsync/shoal/sync/config"
	"github.com/shoalsync/shoal/sync/model"
)

// fastDiscovery makes discovery look up and advertise often, as tests
// cannot wait minutes.
func fastDiscovery(o *Options) {
	o.Discovery = DiscoveryTimers{Lookup: time.Second, Reprovide: 5 * time.Second}
}

// startAnchor starts an anchor agent and returns it with its address.
func startAnchor(t *testing.T) (*testAgent, string) {
	t.Helper()
	anc := startAgentWith(t, "anchor", func(o *Options) { o.Role = config.RoleAnchor; fastDiscovery(o) })
	return anc, anc.Addrs()[0]
}

// TestFindEachOtherThroughAnchor: two agents that know only a folder key
// and an anchor's address (no address of each other) find each other
// through the private DHT and sync.
func TestFindEachOtherThroughAnchor(t *testing.T) {
	_, anchorAddr := startAnchor(t)
	withAnchor := func(o *Options) { o.Anchors = []string{anchorAddr}; fastDiscovery(o) }
	a := startAgentWith(t, "alice", withAnchor)
	b := startAgentWith(t, "bob", withAnchor)
	a.write("hello.txt", "found you")
	keys := keyedFolder(t, a)
	joinByKey(t, b, keys.ReadWrite) // no --peer: discovery must find alice
	testutil.Eventually(t, 60*time.Second, func() error { return fileIs(b, "hello.txt", "found you") })
	b.write("reply.txt", "and back")
	testutil.Eventually(t, 30*time.Second, func() error { return fileIs(a, "reply.txt", "and back") })

	st, err := a.Model().Status(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if st.Network == nil || !st.Network.DHT.Enabled || st.Network.DHT.Topics != 1 || len(st.Network.Anchors) != 1 {
		t.Fatalf("network status %+v", st.Network)
	}
	testutil.Eventually(t, 10*time.Second, func() error {
		for _, d := range mustDevices(t, a) {
			if d.Connected && d.Path != "" {
				return nil
			}
		}
		return fmt.Errorf("no connected device with a path: %+v", mustDevices(t, a))
	})
}

// TestInviteCarriesAnchors: an invite names the inviter's anchors, and the
// device that joins with it keeps them as its own.
func TestInviteCarriesAnchors(t *testing.T) {
	_, anchorAddr := startAnchor(t)
	a := startAgentWith(t, "alice", func(o *Options) { o.Anchors = []string{anchorAddr}; fastDiscovery(o) })
	c := startAgent(t, "carol")
	keyedFolder(t, a)
	inv := makeInvite(t, a, model.InviteRequest{})
	decoded, err := invite.Decode(inv.Link)
	if err != nil {
		t.Fatal(err)
	}
	if len(decoded.Anchors) != 1 || !strings.HasSuffix(decoded.Anchors[0], "/p2p/"+strings.Split(anchorAddr, "/p2p/")[1]) {
		t.Fatalf("invite anchors %q, want the anchor %s", decoded.Anchors, anchorAddr)
	}
	if _, err := c.Model().JoinInvite(context.Background(), model.JoinInviteRequest{Link: inv.Link, Path: c.dir}); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(c.home)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cfg.Discovery.Anchors, decoded.Anchors) {
		t.Fatalf("joiner's anchors %q, want %q", cfg.Discovery.Anchors, decoded.Anchors)
	}
}
