package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"google.golang.org/protobuf/proto"
)

// ProtocolVersion is the version carried in Hello.
const ProtocolVersion = 1

// MaxMessageSize bounds one frame. The reader checks the length prefix
// against it before allocating anything.
const MaxMessageSize = 32 << 20

// ErrTooLarge marks a frame whose length prefix exceeds the limit, or whose
// decoded form would be disproportionately larger than its encoding.
var ErrTooLarge = errors.New("wire: message too large")

// ErrMalformed marks a frame that does not decode.
var ErrMalformed = errors.New("wire: malformed message")

// Write encodes m as one frame to w with a single Write call.
func Write(w io.Writer, m *Message) error {
	size := proto.Size(m)
	if size > MaxMessageSize {
		return fmt.Errorf("%w: %d bytes", ErrTooLarge, size)
	}
	buf := make([]byte, 4, 4+size)
	binary.BigEndian.PutUint32(buf, uint32(size))
	buf, err := proto.MarshalOptions{}.MarshalAppend(buf, m)
	if err != nil {
		return fmt.Errorf("encoding message: %w", err)
	}
	_, err = w.Write(buf)
	return err
}

// Reader decodes frames from a stream. Any error other than io.EOF leaves the
// stream at an unknown position: the caller ends the session.
type Reader struct {
	r   io.Reader
	max int
	hdr [4]byte
}

// NewReader returns a Reader that refuses frames larger than max bytes
// (MaxMessageSize if max <= 0 or larger).
func NewReader(r io.Reader, max int) *Reader {
	if max <= 0 || max > MaxMessageSize {
		max = MaxMessageSize
	}
	return &Reader{r: r, max: max}
}

// Read returns the next message. io.EOF means the stream ended cleanly
// between frames.
func (r *Reader) Read() (*Message, error) {
	if _, err := io.ReadFull(r.r, r.hdr[:]); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("%w: truncated header", ErrMalformed)
		}
		return nil, err
	}
	n := binary.BigEndian.Uint32(r.hdr[:])
	if n > uint32(r.max) {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, n, r.max)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r.r, body); err != nil {
		return nil, fmt.Errorf("%w: truncated body: %v", ErrMalformed, err)
	}
	return Decode(body)
}

// Decode decodes one frame body. Before decoding, it checks without
// allocating that the decoded message will take at most about 8 MiB plus 8
// times len(body) of memory (ErrTooLarge otherwise). It does not validate the
// message's contents: that is Validate's job.
func Decode(body []byte) (*Message, error) {
	if err := checkDecodeCost(body); err != nil {
		return nil, err
	}
	m := new(Message)
	if err := proto.Unmarshal(body, m); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if m.Payload == nil {
		return nil, fmt.Errorf("%w: empty message", ErrMalformed)
	}
	return m, nil
}
