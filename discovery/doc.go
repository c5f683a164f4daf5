// Package discovery will find devices' addresses: a private Kademlia DHT
// (go-libp2p-kad-dht under the /shoal protocol prefix), LAN discovery and
// static addresses. Until it lands (issue 5), devices reach each other
// through the static addresses given with `shoal device add --addr` and by
// dialling back over connections the other side opened.
package discovery

// The DHT is imported now so go.mod pins the version verified to build with
// go-libp2p v0.51.0 and quic-go v0.64.1, and every build proves they still
// do. (The module proxy cannot list kad-dht versions: name them exactly.)
import _ "github.com/libp2p/go-libp2p-kad-dht"
