package wire

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits on what a peer may send. docs/protocol.md lists the same numbers;
// change both together.
const (
	MaxNameLen          = 4096    // bytes in a file name
	MaxNameComponentLen = 255     // bytes in one slash-separated component
	MaxFileSize         = 1 << 50 // bytes in one file
	MaxBlockSize        = 16 << 20
	// MaxSealedBlockSize bounds a twin's blocks: a sealed MaxBlockSize
	// block (24-byte nonce, 4-byte length, padding to 4 KiB, 16-byte tag).
	MaxSealedBlockSize = MaxBlockSize + 4096 + 40
	// MaxMetaSize bounds FileInfo.meta, the encrypted plaintext record.
	MaxMetaSize         = 16 << 20
	MinAverageBlockSize = 64 << 10 // smallest FileInfo.block_size (the chunker's average)
	MaxAverageBlockSize = 4 << 20  // largest FileInfo.block_size
	MaxSymlinkTargetLen = 4096
	MaxVersionCounters  = 4096
	// MaxCounterValue bounds a version counter, so bumping one (max+1) can
	// never wrap around.
	MaxCounterValue   = 1 << 62
	MaxIndexFiles     = 10000 // FileInfo records in one Index message
	MaxFolders        = 10000 // folders in one ClusterConfig
	MaxFolderIDLen    = 64
	MaxFolderLabelLen = 256
	MaxDeviceIDLen    = 64 // raw bytes of a FolderDevice.id
	MaxDeviceNameLen  = 64 // Hello.device_name, client_name and client_version
	MaxCloseReasonLen = 1024
	HashSize          = 32 // SHA-256
)

// ErrInvalid marks a message that decoded but breaks a rule of the protocol.
var ErrInvalid = errors.New("wire: invalid message")

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
}

// quote quotes s for an error message, cutting it short so that a hostile
// megabyte-long string does not end up in logs.
func quote(s string) string {
	const max = 64
	if len(s) <= max {
		return strconv.Quote(s)
	}
	return strconv.Quote(s[:max]) + "…"
}

// Validate checks a decoded message from a peer. The error wraps ErrInvalid.
func Validate(m *Message) error {
	switch p := m.GetPayload().(type) {
	case *Message_Hello:
		return ValidateHello(p.Hello)
	case *Message_ClusterConfig:
		return ValidateClusterConfig(p.ClusterConfig)
	case *Message_Index:
		return ValidateIndex(p.Index)
	case *Message_Request:
		return ValidateRequest(p.Request)
	case *Message_Response:
		return ValidateResponse(p.Response)
	case *Message_Close:
		return ValidateClose(p.Close)
	case *Message_InviteRedeem:
		return ValidateInviteRedeem(p.InviteRedeem)
	case *Message_InviteResult:
		return ValidateInviteResult(p.InviteResult)
	case *Message_Rekey:
		return ValidateRekey(p.Rekey)
	case *Message_Ping:
		if p.Ping == nil {
			return invalid("empty ping payload")
		}
		return nil
	case nil:
		return invalid("message without payload")
	default:
		return invalid("unknown payload %T", p)
	}
}

// ValidName checks a file name from a peer: a relative, slash-separated path
// in valid UTF-8, with no empty, "." or ".." components, no leading or
// trailing slash, no backslash and no control characters, at most
// MaxNameComponentLen bytes per component and MaxNameLen bytes in all.
// Anything it accepts stays inside the folder root when joined to it on any
// platform. Names reserved by one platform only (Windows "CON", "a:b") are
// valid on the wire; the filesystem layer of that platform refuses them.
func ValidName(name string) error {
	switch {
	case name == "":
		return invalid("empty name")
	case len(name) > MaxNameLen:
		return invalid("name %s is %d bytes, limit %d", quote(name), len(name), MaxNameLen)
	case !utf8.ValidString(name):
		return invalid("name %s is not valid UTF-8", quote(name))
	case name[0] == '/':
		return invalid("name %s is absolute", quote(name))
	case name[len(name)-1] == '/':
		return invalid("name %s ends with a slash", quote(name))
	}
	for comp := range strings.SplitSeq(name, "/") {
		switch {
		case comp == "":
			return invalid("name %s has an empty component", quote(name))
		case comp == "." || comp == "..":
			return invalid("name %s has a %q component", quote(name), comp)
		case len(comp) > MaxNameComponentLen:
			return invalid("name %s has a component of %d bytes, limit %d", quote(name), len(comp), MaxNameComponentLen)
		}
	}
	for _, r := range name {
		if r == '\\' {
			return invalid("name %s contains a backslash", quote(name))
		}
		if unicode.IsControl(r) {
			return invalid("name %s contains control character %U", quote(name), r)
		}
	}
	return nil
}

// ValidFolderID checks a folder ID: 1 to MaxFolderIDLen characters from
// [A-Za-z0-9._-], and not "." or "..". The rule matches sync/config.
func ValidFolderID(id string) error {
	if id == "" || len(id) > MaxFolderIDLen || id == "." || id == ".." {
		return invalid("folder ID %s (want 1-%d letters, digits, '.', '_' or '-')", quote(id), MaxFolderIDLen)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return invalid("folder ID %s (want 1-%d letters, digits, '.', '_' or '-')", quote(id), MaxFolderIDLen)
		}
	}
	return nil
}

// validText checks a human-readable string shown in user interfaces: valid
// UTF-8, at most max bytes, no control characters.
func validText(what, s string, max int) error {
	if len(s) > max {
		return invalid("%s is %d bytes, limit %d", what, len(s), max)
	}
	if !utf8.ValidString(s) {
		return invalid("%s %s is not valid UTF-8", what, quote(s))
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return invalid("%s %s contains control character %U", what, quote(s), r)
		}
	}
	return nil
}

// ValidateHello checks a Hello. It does not check protocol_version: the
// session compares it and closes with a clear reason on a mismatch.
func ValidateHello(h *Hello) error {
	if h == nil {
		return invalid("missing hello")
	}
	if err := validText("device name", h.DeviceName, MaxDeviceNameLen); err != nil {
		return err
	}
	if err := validText("client name", h.ClientName, MaxDeviceNameLen); err != nil {
		return err
	}
	if len(h.Nonce) != NonceSize {
		return invalid("hello nonce of %d bytes, want %d", len(h.Nonce), NonceSize)
	}
	return validText("client version", h.ClientVersion, MaxDeviceNameLen)
}

// ValidateClusterConfig checks a ClusterConfig: at most MaxFolders folders
// with valid, distinct IDs, and per folder distinct device IDs of 1 to
// MaxDeviceIDLen bytes with non-negative sequences. Whether the devices are
// known is for the sync engine to decide.
func ValidateClusterConfig(c *ClusterConfig) error {
	if c == nil {
		return invalid("missing cluster config")
	}
	if len(c.Folders) > MaxFolders {
		return invalid("cluster config lists %d folders, limit %d", len(c.Folders), MaxFolders)
	}
	folders := make(map[string]bool, len(c.Folders))
	for i, f := range c.Folders {
		if f == nil {
			return invalid("folder %d is missing", i)
		}
		if err := ValidFolderID(f.Id); err != nil {
			return err
		}
		if folders[f.Id] {
			return invalid("folder %s listed twice", f.Id)
		}
		folders[f.Id] = true
		if err := validText("folder label", f.Label, MaxFolderLabelLen); err != nil {
			return fmt.Errorf("folder %s: %w", f.Id, err)
		}
		devices := make(map[string]bool, len(f.Devices))
		for j, d := range f.Devices {
			switch {
			case d == nil:
				return invalid("folder %s: device %d is missing", f.Id, j)
			case len(d.Id) == 0 || len(d.Id) > MaxDeviceIDLen:
				return invalid("folder %s: device ID of %d bytes (want 1-%d)", f.Id, len(d.Id), MaxDeviceIDLen)
			case devices[string(d.Id)]:
				return invalid("folder %s: device %x listed twice", f.Id, d.Id)
			case d.MaxSequence < 0:
				return invalid("folder %s: negative max sequence %d", f.Id, d.MaxSequence)
			}
			devices[string(d.Id)] = true
		}
		if len(f.Proofs) > 3 {
			return invalid("folder %s: %d proofs, at most 3", f.Id, len(f.Proofs))
		}
		var levels [4]bool
		for _, p := range f.Proofs {
			switch {
			case p == nil:
				return invalid("folder %s: proof is missing", f.Id)
			case p.Access < Access_ACCESS_ENCRYPTED || p.Access > Access_ACCESS_READ_WRITE:
				return invalid("folder %s: proof for unknown access level %d", f.Id, int32(p.Access))
			case levels[p.Access]:
				return invalid("folder %s: two proofs for %v", f.Id, p.Access)
			case len(p.Mac) != ProofSize:
				return invalid("folder %s: proof of %d bytes, want %d", f.Id, len(p.Mac), ProofSize)
			}
			levels[p.Access] = true
		}
	}
	return nil
}

// ValidateIndex checks an Index: a valid folder ID, a non-zero index ID, at
// most MaxIndexFiles records, each valid, with sequences that are positive,
// strictly ascending and not above last_sequence.
func ValidateIndex(m *Index) error {
	if m == nil {
		return invalid("missing index")
	}
	if err := ValidFolderID(m.Folder); err != nil {
		return err
	}
	if m.IndexId == 0 {
		return invalid("index for folder %s has index ID 0", m.Folder)
	}
	if len(m.Files) > MaxIndexFiles {
		return invalid("index for folder %s has %d records, limit %d", m.Folder, len(m.Files), MaxIndexFiles)
	}
	if m.LastSequence < 0 {
		return invalid("index for folder %s has negative last sequence %d", m.Folder, m.LastSequence)
	}
	var prev int64
	for _, f := range m.Files {
		if err := ValidateFileInfo(f); err != nil {
			return fmt.Errorf("index for folder %s: %w", m.Folder, err)
		}
		if f.LocalFlags != 0 {
			return invalid("index for folder %s: %s carries local flags %#x, which are never sent", m.Folder, quote(f.Name), f.LocalFlags)
		}
		if f.Sequence <= prev {
			return invalid("index for folder %s: %s has sequence %d after %d (want strictly ascending, from 1)",
				m.Folder, quote(f.Name), f.Sequence, prev)
		}
		prev = f.Sequence
	}
	if prev > m.LastSequence {
		return invalid("index for folder %s: record sequence %d above last sequence %d", m.Folder, prev, m.LastSequence)
	}
	return nil
}

// ValidateRequest checks a block request: a valid folder ID, a HashSize
// hash, a size in (0, MaxSealedBlockSize], and, when present, a valid name hint and
// a non-negative offset hint.
func ValidateRequest(r *Request) error {
	if r == nil {
		return invalid("missing request")
	}
	if err := ValidFolderID(r.Folder); err != nil {
		return fmt.Errorf("request %d: %w", r.Id, err)
	}
	if len(r.Hash) != HashSize {
		return invalid("request %d: hash of %d bytes, want %d", r.Id, len(r.Hash), HashSize)
	}
	if r.Size <= 0 || r.Size > MaxSealedBlockSize {
		return invalid("request %d: size %d (want 1-%d)", r.Id, r.Size, MaxSealedBlockSize)
	}
	if r.Name != "" {
		if err := ValidName(r.Name); err != nil {
			return fmt.Errorf("request %d: %w", r.Id, err)
		}
	}
	if r.Offset < 0 || r.Offset > MaxFileSize {
		return invalid("request %d: offset %d (want 0-%d)", r.Id, r.Offset, int64(MaxFileSize))
	}
	return nil
}

// ValidateResponse checks a block response: with code NONE, 1 to
// MaxSealedBlockSize bytes of data; with any other code, no data. Codes this
// version does not know are accepted and mean ERROR_CODE_GENERIC. Whether the
// data matches the request (size and hash) is for the requester to check.
func ValidateResponse(r *Response) error {
	if r == nil {
		return invalid("missing response")
	}
	if r.Code == ErrorCode_ERROR_CODE_NONE {
		if len(r.Data) == 0 || len(r.Data) > MaxSealedBlockSize {
			return invalid("response %d: %d bytes of data (want 1-%d)", r.Id, len(r.Data), MaxSealedBlockSize)
		}
		return nil
	}
	if len(r.Data) != 0 {
		return invalid("response %d: error %v with %d bytes of data", r.Id, r.Code, len(r.Data))
	}
	return nil
}

// ValidateClose checks a Close: a reason of valid UTF-8 of at most
// MaxCloseReasonLen bytes.
func ValidateClose(c *Close) error {
	if c == nil {
		return invalid("missing close")
	}
	if len(c.Reason) > MaxCloseReasonLen {
		return invalid("close reason is %d bytes, limit %d", len(c.Reason), MaxCloseReasonLen)
	}
	if !utf8.ValidString(c.Reason) {
		return invalid("close reason %s is not valid UTF-8", quote(c.Reason))
	}
	return nil
}

// MaxInviteLen bounds InviteRedeem.invite; MaxKeyLen bounds InviteResult.key.
const (
	MaxInviteLen = 4608
	MaxKeyLen    = 512
)

// ValidateInviteRedeem checks an InviteRedeem's size; the invite itself is
// decoded and checked by its issuer.
func ValidateInviteRedeem(r *InviteRedeem) error {
	if r == nil {
		return invalid("missing invite redeem")
	}
	if len(r.Invite) == 0 || len(r.Invite) > MaxInviteLen {
		return invalid("invite of %d bytes (want 1-%d)", len(r.Invite), MaxInviteLen)
	}
	return nil
}

// ValidateInviteResult checks an InviteResult.
func ValidateInviteResult(r *InviteResult) error {
	if r == nil {
		return invalid("missing invite result")
	}
	if len(r.InviteId) != 16 {
		return invalid("invite ID of %d bytes, want 16", len(r.InviteId))
	}
	if r.Status < InviteStatus_INVITE_STATUS_GRANTED || r.Status > InviteStatus_INVITE_STATUS_INVALID {
		return invalid("unknown invite status %d", int32(r.Status))
	}
	if err := validText("invite reason", r.Reason, MaxCloseReasonLen); err != nil {
		return err
	}
	if err := validText("folder label", r.Label, MaxFolderLabelLen); err != nil {
		return err
	}
	if err := validText("folder key", r.Key, MaxKeyLen); err != nil {
		return err
	}
	if r.Status == InviteStatus_INVITE_STATUS_GRANTED {
		if err := ValidFolderID(r.Folder); err != nil {
			return err
		}
		if r.Key == "" {
			return invalid("granted invite without a key")
		}
	} else if r.Key != "" {
		return invalid("invite result %v carries a key", r.Status)
	}
	return nil
}

// MaxRemovals bounds Rekey.removals; MaxRemovedDevices bounds one Removal.
const (
	MaxRemovals       = 1024
	MaxRemovedDevices = 16
)

// ValidateRekey checks a Rekey's shape; the engine checks the signatures.
func ValidateRekey(r *Rekey) error {
	if r == nil {
		return invalid("missing rekey")
	}
	if err := ValidFolderID(r.Folder); err != nil {
		return err
	}
	if len(r.Removals) == 0 || len(r.Removals) > MaxRemovals {
		return invalid("rekey with %d removals (want 1-%d)", len(r.Removals), MaxRemovals)
	}
	if r.Key == "" {
		return invalid("rekey without a key")
	}
	if err := validText("folder key", r.Key, MaxKeyLen); err != nil {
		return err
	}
	for i, rm := range r.Removals {
		switch {
		case rm == nil:
			return invalid("removal %d is missing", i)
		case rm.Epoch != uint32(i+1):
			return invalid("removal %d starts epoch %d, want %d", i, rm.Epoch, i+1)
		case len(rm.Devices) == 0 || len(rm.Devices) > MaxRemovedDevices:
			return invalid("removal %d lists %d devices (want 1-%d)", i, len(rm.Devices), MaxRemovedDevices)
		case len(rm.Writer) != 32:
			return invalid("removal %d: writer key of %d bytes", i, len(rm.Writer))
		case len(rm.Signature) != SignatureSize:
			return invalid("removal %d: signature of %d bytes", i, len(rm.Signature))
		}
		for _, d := range rm.Devices {
			if len(d) == 0 || len(d) > MaxDeviceIDLen {
				return invalid("removal %d: device ID of %d bytes", i, len(d))
			}
		}
	}
	return nil
}
