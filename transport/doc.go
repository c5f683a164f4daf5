// Package transport connects this device to the devices it trusts and runs
// one sync session with each of them.
//
// It runs a libp2p host (QUIC first, TCP with yamux as a fallback, libp2p TLS
// on both) whose identity is the device key, so the libp2p peer ID is the
// DeviceID and the TLS handshake authenticates it. A connection gater admits
// only devices in the allowlist set with SetDevices; others are refused after
// the handshake, before any stream is opened, and listed by Refused.
//
// # Sessions
//
// A session is one libp2p stream with protocol ProtocolID carrying frames of
// package wire. There is one session per device pair, whoever dialled: the
// device whose raw ID bytes sort lower opens the stream as soon as a
// connection exists; the other side only accepts (a stream opened by the
// higher device is reset). If a new stream arrives while an old session with
// that device exists, the new one replaces the old, because the opener only
// opens a new stream when it has lost the old one.
//
// Both sides send Hello first and read the peer's Hello within 10 s. Then
// Handler.Connected is called, and the session serves until either side
// sends Close, the stream fails, or the peer breaks the protocol: a frame
// that is oversized or does not decode, a message that fails wire.Validate,
// a second Hello, a Request frame over 64 KiB. Then the session ends with a
// Close carrying the reason and Handler.Disconnected is called. Outgoing
// messages are validated too, so a bug of ours returns an error instead of
// getting us disconnected.
//
// # Concurrency
//
// Each session has these goroutines, all waited for before
// Handler.Disconnected:
//
//	reader      reads and validates frames; delivers Responses to waiting
//	            Requests by id; starts a worker for each Request; queues
//	            other messages. It starts before Handler.Connected, which
//	            runs on its own goroutine and may therefore call Request
//	dispatcher  calls Handler.Message in arrival order from a queue of 8,
//	            after Connected returned; a full queue blocks the reader
//	            (backpressure, nothing dropped)
//	workers     at most MaxRequestsInFlight Handler.Request calls at once
//	busy        answers ERROR_CODE_BUSY for Requests beyond that limit
//	closer      once the session ends: sends Close, closes the stream
//
// The reader never writes and never waits for a worker. Requests beyond
// MaxRequestsInFlight are answered BUSY instead of being queued, because a
// reader that waited for workers, which wait for flow control, which waits
// for the peer's reader, deadlocks two devices that pull from each other.
// Requesters should keep at most MaxRequestsInFlight (default 64) in flight
// per session and retry BUSY after a pause. A peer that has more than 1024
// BUSY answers outstanding is breaking the protocol and is disconnected.
//
// Writes are serialized by a one-slot semaphore; a context only bounds the
// wait for it, because a frame once started must be finished or the stream
// is unusable. A write that makes no progress (256 KiB) for 2 minutes ends the
// session.
//
// The host owns a dial loop per allowed device while Serve runs. It dials
// the device's static addresses and any the peerstore knows, with
// exponential backoff and jitter between ReconnectMin and ReconnectMax,
// reset when a session forms.
package transport
