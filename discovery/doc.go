// Package discovery will find devices' addresses: a private Kademlia DHT
// (go-libp2p-kad-dht under the /shoal protocol prefix), LAN discovery and
// static addresses. Until it lands (issue 5), devices reach each other
// through the static addresses given with `shoal device add --addr` and by
// dialling back over connections the other side opened.
package discovery
