package model

import (
	"time"

	"github.com/shoalsync/shoal/sync/config"
)

// Folder states.
const (
	StateIdle     = "idle"
	StateScanning = "scanning"
	StateSyncing  = "syncing"
	StateError    = "error"
	StateStopped  = "stopped"
)

// Status is what `shoal status` and GET /api/v1/status show.
type Status struct {
	DeviceID    string         `json:"deviceId"`
	ShortID     string         `json:"shortId"`
	Name        string         `json:"name"`
	Version     string         `json:"version"`
	StartedAt   time.Time      `json:"startedAt"`
	ListenAddrs []string       `json:"listenAddrs"`
	AdminAddr   string         `json:"adminAddr"`
	Devices     []DeviceStatus `json:"devices"`
	Folders     []FolderStatus `json:"folders"`
	Refused     []Refused      `json:"refused"`
	// Network is how the agent reaches others: reachability, anchors, DHT.
	Network *NetworkStatus `json:"network,omitempty"`
}

// DeviceStatus is a configured device and its connection.
type DeviceStatus struct {
	ID            string     `json:"id"`
	ShortID       string     `json:"shortId"`
	Name          string     `json:"name"`
	Addrs         []string   `json:"addrs"` // configured static addresses
	Connected     bool       `json:"connected"`
	Address       string     `json:"address,omitempty"`   // remote address in use
	Transport     string     `json:"transport,omitempty"` // "quic" or "tcp"
	Path          string     `json:"path,omitempty"`      // how it is connected: lan, direct or relayed
	Since         *time.Time `json:"since,omitempty"`
	ClientVersion string     `json:"clientVersion,omitempty"`
	BytesIn       int64      `json:"bytesIn"`  // received on the current session
	BytesOut      int64      `json:"bytesOut"` // sent on the current session
}

// FolderStatus is a configured folder and its sync state.
type FolderStatus struct {
	ID                  string      `json:"id"`
	Label               string      `json:"label"`
	Path                string      `json:"path"`
	Devices             []string    `json:"devices"`
	State               string      `json:"state"`
	Error               string      `json:"error,omitempty"`
	LocalFiles          int64       `json:"localFiles"`
	LocalBytes          int64       `json:"localBytes"`
	GlobalFiles         int64       `json:"globalFiles"`
	GlobalBytes         int64       `json:"globalBytes"`
	NeedFiles           int64       `json:"needFiles"`
	NeedBytes           int64       `json:"needBytes"`
	FileErrors          []FileError `json:"fileErrors,omitempty"`
	LastScan            *time.Time  `json:"lastScan,omitempty"`
	PulledBytes         int64       `json:"pulledBytes"`         // block bytes fetched from peers since start
	ReusedBytes         int64       `json:"reusedBytes"`         // block bytes reused from local files since start
	HashedBytes         int64       `json:"hashedBytes"`         // bytes the scanner hashed since start
	RecordsSent         int64       `json:"recordsSent"`         // index records sent to devices since start
	RecordsReceived     int64       `json:"recordsReceived"`     // index records received since start
	FullResendsReceived int64       `json:"fullResendsReceived"` // indexes received from scratch (replace_all) since start
	IndexesRejected     int64       `json:"indexesRejected"`     // invalid index messages from devices since start

	Mode         string            `json:"mode"`         // send-receive, send-only or receive-only
	Versioning   config.Versioning `json:"versioning"`   // version archive policy in effect
	MaxConflicts int               `json:"maxConflicts"` // conflict copies kept per file; -1: no cap
	Conflicts    int64             `json:"conflicts"`    // conflict copies in the folder
	Differences  int64             `json:"differences"`  // paths that differ from the shared state (send-only, receive-only)
}

// FileError is a per-file problem of the last pull.
type FileError struct {
	Path  string `json:"path"`
	Error string `json:"error"`
	Kind  string `json:"kind"` // FileErrorFailed, FileErrorUnsupportedName, FileErrorCaseCollision or FileErrorIgnored
}

// Refused is a device that tried to connect and was refused.
type Refused struct {
	ID       string    `json:"id"`
	ShortID  string    `json:"shortId"`
	Address  string    `json:"address"`
	LastSeen time.Time `json:"lastSeen"`
	Attempts int       `json:"attempts"`
}

// AddFolderRequest is the input of AddFolder.
type AddFolderRequest struct {
	Path    string   `json:"path"`
	ID      string   `json:"id,omitempty"`    // generated when empty
	Label   string   `json:"label,omitempty"` // base name of the path when empty
	Devices []string `json:"devices,omitempty"`
}

// AddDeviceRequest is the input of AddDevice.
type AddDeviceRequest struct {
	ID    string   `json:"id"`
	Name  string   `json:"name,omitempty"`
	Addrs []string `json:"addrs,omitempty"`
}
