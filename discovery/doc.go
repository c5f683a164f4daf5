// Package discovery lets the devices that share a folder find each other.
//
// # DHT rendezvous
//
// Discovery runs a private Kademlia DHT (go-libp2p-kad-dht) on the agent's
// libp2p host under the protocol prefix /shoal (wire protocol
// /shoal/kad/1.0.0), so it never joins the public IPFS DHT. Only provider
// records are used (values are disabled). Laptops run it as clients;
// always-on anchors run it as servers, store the records and serve as
// bootstrap peers. The DHT is private only in that the host's connection
// gater admits enrolled devices alone; this package does not check peers.
//
// Each topic (a folder) is advertised under a rendezvous key, a CID derived
// with HMAC-SHA256 from the folder's lowest secret and the number of the
// current period (a day by default): see RendezvousKey. DHT nodes see
// neither folder IDs nor a key that stays the same from one period to the
// next. They do see which peer IDs provide each key, and so that certain
// devices share something during a period. Around each period boundary
// both periods' keys are used for a while so that peers whose clocks sit on
// either side still meet (the rollover rule, Config.Overlap).
//
// Keys are advertised again every Config.Reprovide, when a new period's key
// is needed and when the host's addresses change (records carry the
// addresses). Each topic's providers are looked up every Config.Lookup,
// when the topic is added and on Kick; every peer found is added to the
// host's peerstore and reported through Config.Found.
//
// # LAN discovery
//
// With Config.LAN, peers on the local networks are found with mDNS
// (service _shoal._udp). mDNS knows no topics: such peers are reported
// with an empty Topic. mDNS broadcasts this device's peer ID and addresses
// to everyone on the LAN, and anyone there can announce any peer ID with
// any addresses, so turn it off on untrusted networks and let the transport
// authenticate whoever is dialled.
package discovery
