package model

import "time"

// InviteRequest is the input of CreateInvite.
type InviteRequest struct {
	// Access is "rw", "ro" or "encrypted"; default "rw" for a writer,
	// otherwise the level this device holds. It cannot exceed that level.
	Access string `json:"access,omitempty"`
	// ExpiresSeconds is how long the invite is valid; 0 means 7 days.
	ExpiresSeconds int64 `json:"expiresSeconds,omitempty"`
	// Uses is how many devices may join with it; 0 means no limit.
	Uses int `json:"uses,omitempty"`
	// Approve makes joining devices wait until a read-write member
	// approves them (Approve / Deny).
	Approve bool `json:"approve,omitempty"`
}

// Invite is an invite this device issued.
type Invite struct {
	ID       string    `json:"id"` // hex
	Folder   string    `json:"folder"`
	Label    string    `json:"label,omitempty"`
	Access   string    `json:"access"`
	Expires  time.Time `json:"expires"`
	Uses     int       `json:"uses"` // 0: no limit
	Used     int       `json:"used"` // devices that joined with it
	Approve  bool      `json:"approve"`
	Link     string    `json:"link,omitempty"`     // shoal://join/… (only when just created)
	ChatForm string    `json:"chatForm,omitempty"` // SHOAL-… (only when just created)
}

// JoinInviteRequest is the input of JoinInvite.
type JoinInviteRequest struct {
	Link string `json:"link"` // either form of an invite link
	Path string `json:"path"` // where the folder goes; created if missing
}

// Join states.
const (
	JoinConnecting = "connecting" // reaching the inviter
	JoinPending    = "pending"    // waiting for approval
	JoinJoined     = "joined"     // the folder is added
	JoinFailed     = "failed"     // refused; Error says why
)

// JoinStatus is the state of joining a folder by invite.
type JoinStatus struct {
	InviteID string    `json:"inviteId"` // hex
	Folder   string    `json:"folder"`
	Label    string    `json:"label,omitempty"`
	Access   string    `json:"access"`
	Path     string    `json:"path"`
	Inviter  string    `json:"inviter"` // full device ID
	State    string    `json:"state"`   // JoinConnecting, JoinPending, JoinJoined or JoinFailed
	Error    string    `json:"error,omitempty"`
	Since    time.Time `json:"since"`
}

// PendingDevice is a device waiting for approval to join a folder.
type PendingDevice struct {
	ID       string    `json:"id"` // full device ID
	ShortID  string    `json:"shortId"`
	Name     string    `json:"name,omitempty"` // as the device calls itself
	Folder   string    `json:"folder"`
	Label    string    `json:"label,omitempty"`
	Access   string    `json:"access"`
	InviteID string    `json:"inviteId"`
	Since    time.Time `json:"since"`
}

// DecideRequest is the input of Approve and Deny. Folder may be empty when
// the device waits for one folder only.
type DecideRequest struct {
	Folder string `json:"folder,omitempty"`
}
