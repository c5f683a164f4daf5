package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"runtime"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// frame returns the framed encoding of m.
func frame(t testing.TB, m *Message) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Write(&buf, m); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// allocated returns the bytes allocated on the heap while running fn.
func allocated(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

type countingWriter struct {
	bytes.Buffer
	calls int
}

func (w *countingWriter) Write(p []byte) (int, error) {
	w.calls++
	return w.Buffer.Write(p)
}

func TestRoundTrip(t *testing.T) {
	samples := sampleMessages()
	names := sortedSamples()
	var w countingWriter
	for _, name := range names {
		if err := Write(&w, samples[name]); err != nil {
			t.Fatalf("writing %s: %v", name, err)
		}
	}
	if w.calls != len(names) {
		t.Errorf("%d Write calls for %d messages, want one each", w.calls, len(names))
	}
	r := NewReader(&w.Buffer, 0)
	for _, name := range names {
		m, err := r.Read()
		if err != nil {
			t.Fatalf("reading %s: %v", name, err)
		}
		if !proto.Equal(m, samples[name]) {
			t.Fatalf("%s: read %v, wrote %v", name, m, samples[name])
		}
		if err := Validate(m); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	if _, err := r.Read(); err != io.EOF {
		t.Fatalf("after the last frame: %v, want io.EOF", err)
	}
}

func TestReaderRejectsLengthPrefix(t *testing.T) {
	tests := []struct {
		name   string
		max    int
		prefix uint32
	}{
		{"huge", 0, 0xffffffff},
		{"justAboveMax", 0, MaxMessageSize + 1},
		{"aboveSmallMax", 1024, 1025},
		{"maxAboveLimitIsClamped", 1 << 30, MaxMessageSize + 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stream := binary.BigEndian.AppendUint32(nil, tt.prefix)
			var err error
			n := allocated(func() { _, err = NewReader(bytes.NewReader(stream), tt.max).Read() })
			if !errors.Is(err, ErrTooLarge) {
				t.Fatalf("Read = %v, want ErrTooLarge", err)
			}
			if n > 64<<10 {
				t.Fatalf("rejecting the frame allocated %d bytes", n)
			}
		})
	}
}

func TestReaderAcceptsLengthAtMax(t *testing.T) {
	body := mustMarshal(t, sampleMessages()["hello"])
	stream := append(binary.BigEndian.AppendUint32(nil, uint32(len(body))), body...)
	if _, err := NewReader(bytes.NewReader(stream), len(body)).Read(); err != nil {
		t.Fatalf("frame of exactly max bytes: %v", err)
	}
	if _, err := NewReader(bytes.NewReader(stream), len(body)-1).Read(); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("frame of max+1 bytes: %v, want ErrTooLarge", err)
	}
}

func TestReaderTruncated(t *testing.T) {
	full := frame(t, sampleMessages()["index"])
	for n := range len(full) {
		_, err := NewReader(bytes.NewReader(full[:n]), 0).Read()
		switch {
		case n == 0:
			if err != io.EOF {
				t.Fatalf("empty stream: %v, want io.EOF", err)
			}
		case !errors.Is(err, ErrMalformed):
			t.Fatalf("stream cut at %d of %d bytes: %v, want ErrMalformed", n, len(full), err)
		}
	}
}

func TestReaderPassesOnReadErrors(t *testing.T) {
	boom := errors.New("boom")
	r := NewReader(io.MultiReader(bytes.NewReader(frame(t, sampleMessages()["ping"])), iotestErrReader{boom}), 0)
	if _, err := r.Read(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Read(); !errors.Is(err, boom) {
		t.Fatalf("Read = %v, want the underlying error", err)
	}
}

type iotestErrReader struct{ err error }

func (r iotestErrReader) Read([]byte) (int, error) { return 0, r.err }

func TestDecodeMalformed(t *testing.T) {
	for name, body := range map[string][]byte{
		"empty":           nil,
		"noPayload":       {0x40, 0x01}, // only an unknown varint field 8
		"badTag":          {0xff},
		"truncatedLength": {0x1a, 0x05, 0x0a},
		"wrongWireType":   {0x18, 0x01},                        // field 3 (index) as a varint
		"badUTF8":         mustMarshal(t, &Close{Reason: "x"}), // patched below
	} {
		if name == "badUTF8" {
			body = append([]byte{0x32, byte(len(body))}, body...)
			body[len(body)-1] = 0xff
		}
		t.Run(name, func(t *testing.T) {
			if _, err := Decode(body); !errors.Is(err, ErrMalformed) {
				t.Fatalf("Decode = %v, want ErrMalformed", err)
			}
		})
	}
}

func TestWriteTooLarge(t *testing.T) {
	m := &Message{Payload: &Message_Response{Response: &Response{Data: make([]byte, MaxMessageSize)}}}
	var buf bytes.Buffer
	if err := Write(&buf, m); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Write = %v, want ErrTooLarge", err)
	}
	if buf.Len() != 0 {
		t.Fatalf("Write wrote %d bytes of a rejected message", buf.Len())
	}
}

// repeatedField encodes n copies of an empty sub-message as field num,
// wrapped in the given chain of enclosing fields (innermost first).
func repeatedField(num protowire.Number, n int, wrap ...protowire.Number) []byte {
	var b []byte
	for range n {
		b = protowire.AppendTag(b, num, protowire.BytesType)
		b = protowire.AppendVarint(b, 0)
	}
	for _, w := range wrap {
		b = protowire.AppendBytes(protowire.AppendTag(nil, w, protowire.BytesType), b)
	}
	return b
}

func TestDecodeRejectsAmplification(t *testing.T) {
	tests := []struct {
		name string
		body []byte
	}{
		// 2 bytes on the wire, about 250 in memory each.
		{"emptyFiles", repeatedField(4, 1<<18, 3)},
		{"emptyBlocks", repeatedField(11, 1<<18, 4, 3)},
		{"emptyCounters", repeatedField(1, 1<<18, 8, 4, 3)},
		{"emptyFolders", repeatedField(1, 1<<18, 2)},
		{"emptyFolderDevices", repeatedField(3, 1<<18, 1, 2)},
	}
	// Warm up lazily built tables so that only the rejection is measured.
	if _, err := Decode(mustMarshal(t, sampleMessages()["index"])); err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			n := allocated(func() { _, err = Decode(tt.body) })
			if !errors.Is(err, ErrTooLarge) {
				t.Fatalf("Decode of %d bytes = %v, want ErrTooLarge", len(tt.body), err)
			}
			if n > 64<<10 {
				t.Fatalf("rejecting the message allocated %d bytes", n)
			}
		})
	}
}

// bigMessages returns large legitimate messages of the shapes that decode to
// the most memory per encoded byte.
func bigMessages() map[string]*Message {
	blocks := testFile("big.iso", 90_000<<10) // 720 blocks of 128 KiB
	for len(blocks.Blocks) < 30_000 {
		blocks.Blocks = append(blocks.Blocks, blocks.Blocks...)
	}
	blocks.Blocks = blocks.Blocks[:30_000]
	var off int64
	for i, b := range blocks.Blocks {
		nb := proto.Clone(b).(*BlockInfo)
		nb.Offset = off
		off += int64(nb.Size)
		blocks.Blocks[i] = nb
	}
	blocks.Size = off
	blocks.BlocksHash = BlocksHash(blocks.Blocks)

	var tiny []*FileInfo
	for i := range MaxIndexFiles {
		d := testDeleted("x")
		d.Version = &Vector{Counters: []*Counter{{Id: 0xfedc_ba98_7654_3210, Value: 1 << 20}}}
		d.ModifiedBy = uint64(i)
		tiny = append(tiny, d)
	}
	counters := testFile("x", 0)
	counters.Version = &Vector{}
	for i := range MaxVersionCounters {
		counters.Version.Counters = append(counters.Version.Counters, &Counter{Id: uint64(i + 1), Value: 1})
	}
	return map[string]*Message{
		"blocks":        {Payload: &Message_Index{Index: testIndex(blocks)}},
		"tinyRecords":   {Payload: &Message_Index{Index: testIndex(tiny...)}},
		"smallCounters": {Payload: &Message_Index{Index: testIndex(counters)}},
		"response":      {Payload: &Message_Response{Response: &Response{Data: make([]byte, MaxBlockSize)}}},
	}
}

func TestDecodeAcceptsBigMessages(t *testing.T) {
	for name, m := range bigMessages() {
		t.Run(name, func(t *testing.T) {
			if err := Validate(m); err != nil {
				t.Fatal(err)
			}
			body := mustMarshal(t, m)
			var got *Message
			var err error
			n := allocated(func() { got, err = Decode(body) })
			if err != nil {
				t.Fatalf("Decode of %d bytes: %v", len(body), err)
			}
			if !proto.Equal(got, m) {
				t.Fatal("decoded message differs")
			}
			// The estimate must track reality, or the budget means nothing.
			left := 1 << 40
			if err := walkCost(body, File_shoal_proto.Messages().ByName("Message"), structSizes(), &left); err != nil {
				t.Fatal(err)
			}
			est := 1<<40 - left
			t.Logf("%d bytes encoded, %d allocated (%.1fx), %d estimated, budget %d", len(body), n, float64(n)/float64(len(body)), est, decodeBudget(len(body)))
			if float64(est) < 0.8*float64(n) {
				t.Errorf("estimate %d is far below the %d bytes allocated", est, n)
			}
		})
	}
}
