package wire

import (
	"errors"
	"fmt"
	"reflect"
	"sync"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// Decoding protobuf can allocate far more than the encoded size: an empty
// FileInfo is 2 bytes on the wire and about 250 bytes in memory, so a 32 MiB
// frame of them would take 4 GB. Decode therefore walks the encoded message
// first, without allocating, and estimates what proto.Unmarshal will
// allocate. Large legitimate messages come to 3–7 times their encoded size
// (block lists about 3.4, version counters about 7); small records cost more
// per byte, up to about 490 bytes for a 25-byte deletion, which the base
// covers for MaxIndexFiles of them.
const (
	budgetBase  = 8 << 20 // bytes every message may use regardless of size
	budgetRatio = 8       // plus this many bytes per encoded byte
)

// decodeBudget is the estimated decoded size allowed for a body of n bytes.
func decodeBudget(n int) int { return budgetBase + budgetRatio*n }

// perElement covers what a sub-message costs beyond its struct: the pointer
// in the parent's slice (with append growth), the oneof wrapper, and
// rounding up to the allocator's size class.
const perElement = 56

// structSizes maps each message of shoal.proto to the size of its generated
// Go struct.
var structSizes = sync.OnceValue(func() map[protoreflect.FullName]int {
	sizes := make(map[protoreflect.FullName]int)
	msgs := File_shoal_proto.Messages()
	for i := 0; i < msgs.Len(); i++ {
		name := msgs.Get(i).FullName()
		mt, err := protoregistry.GlobalTypes.FindMessageByName(name)
		if err != nil {
			panic(fmt.Sprintf("wire: message %s not registered: %v", name, err))
		}
		sizes[name] = int(reflect.TypeOf(mt.Zero().Interface()).Elem().Size())
	}
	return sizes
})

// checkDecodeCost returns an error wrapping ErrTooLarge if decoding body as a
// Message would allocate more than decodeBudget(len(body)), and one wrapping
// ErrMalformed if the walk finds invalid wire encoding.
func checkDecodeCost(body []byte) error {
	budget := decodeBudget(len(body))
	left := budget
	md := File_shoal_proto.Messages().ByName("Message")
	err := walkCost(body, md, structSizes(), &left)
	if errors.Is(err, errOverBudget) {
		return fmt.Errorf("%w: a %d-byte message would decode to more than %d bytes", ErrTooLarge, len(body), budget)
	}
	return err
}

var errOverBudget = errors.New("over budget")

func walkCost(b []byte, md protoreflect.MessageDescriptor, sizes map[protoreflect.FullName]int, left *int) error {
	spend := func(n int) error {
		*left -= n
		if *left < 0 {
			return errOverBudget
		}
		return nil
	}
	if err := spend(sizes[md.FullName()] + perElement); err != nil {
		return err
	}
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return fmt.Errorf("%w: %v", ErrMalformed, protowire.ParseError(n))
		}
		fd := md.Fields().ByNumber(num)
		vn := protowire.ConsumeFieldValue(num, typ, b[n:])
		if vn < 0 {
			return fmt.Errorf("%w: %v", ErrMalformed, protowire.ParseError(vn))
		}
		field := b[:n+vn]
		b = b[n+vn:]
		switch {
		case fd == nil:
			// Kept verbatim in the unknown fields, which grow by appending
			// (measured: about 5 bytes allocated per byte).
			if err := spend(6 * len(field)); err != nil {
				return err
			}
		case fd.Kind() == protoreflect.MessageKind && typ == protowire.BytesType:
			v, _ := protowire.ConsumeBytes(field[n:])
			if err := walkCost(v, fd.Message(), sizes, left); err != nil {
				return err
			}
		case fd.IsList():
			// Repeated scalars (none in shoal.proto today): up to 8 bytes per
			// encoded byte when packed, and append growth.
			if err := spend(16 * len(field)); err != nil {
				return err
			}
		default:
			// Strings and bytes are copied; scalars live in the struct.
			if err := spend(len(field)); err != nil {
				return err
			}
		}
	}
	return nil
}
