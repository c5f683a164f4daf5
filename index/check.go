package index

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"

	"github.com/cockroachdb/pebble/v2"
)

// maxProblems bounds the report of Check.
const maxProblems = 10

// Check verifies the derived keys of the folder (change log, global
// entries, need list, chunk map) and its counters against its local and
// remote records. It returns nil when they agree, or an error wrapping
// ErrCorrupt describing the first differences. It reads the whole folder
// into memory, so it is meant for tests and an fsck command, not for the
// hot path.
func (f *Folder) Check() error {
	if err := f.begin(); err != nil {
		return err
	}
	defer f.s.release()
	v := f.s.newView(f, true)
	defer v.close()
	c := &checker{v: v, want: map[string][]byte{}}
	if err := c.run(); err != nil {
		return fmt.Errorf("checking folder %q: %w", f.id, err)
	}
	if len(c.problems) > 0 {
		return fmt.Errorf("checking folder %q: %w: %s", f.id, ErrCorrupt, strings.Join(c.problems, "; "))
	}
	return nil
}

type checker struct {
	v        *view
	want     map[string][]byte // every derived key and its expected value
	problems []string
}

func (c *checker) problem(format string, args ...any) {
	if len(c.problems) < maxProblems {
		c.problems = append(c.problems, fmt.Sprintf(format, args...))
	}
}

// scan visits every key of a key space of the folder.
func (c *checker) scan(p byte, fn func(k, v []byte) error) error {
	lower := folderKey(p, c.v.f.num, 0)
	it, err := c.v.src.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: prefixEnd(lower)})
	if err != nil {
		return err
	}
	defer it.Close()
	for it.First(); it.Valid(); it.Next() {
		v, err := it.ValueAndErr()
		if err != nil {
			return err
		}
		if err := fn(it.Key(), v); err != nil {
			return err
		}
	}
	return it.Error()
}

func (c *checker) run() error {
	num := c.v.f.num
	var want Counts
	var maxSeq int64
	recs := map[string][]cand{}
	err := c.scan(pLocal, func(k, v []byte) error {
		name := string(k[5:])
		lf, err := decodeLocal(name, v)
		if err != nil {
			return err
		}
		fi := lf.Info
		recs[name] = append(recs[name], cand{dev: localDev, fi: fi})
		want.addLocal(fi, 1)
		maxSeq = max(maxSeq, fi.Sequence)
		c.want[string(keySeq(num, fi.Sequence))] = []byte(name)
		for _, b := range fileBlocks(fi) {
			c.want[string(keyBlock(num, b.Hash, name))] = encodeBlock(b.Offset, b.Size)
		}
		return nil
	})
	if err != nil {
		return err
	}
	err = c.scan(pRemote, func(k, v []byte) error {
		if len(k) < 9 {
			return corrupt("remote record", "short key")
		}
		dev, name := binary.BigEndian.Uint32(k[5:]), string(k[9:])
		if _, ok := c.v.s.deviceID(dev); !ok || dev == localDev {
			c.problem("remote record %q of unknown device %d", name, dev)
		}
		fi, err := decodeRemote(name, v)
		if err != nil {
			return err
		}
		recs[name] = append(recs[name], cand{dev: dev, fi: fi})
		return nil
	})
	if err != nil {
		return err
	}
	for name, cands := range recs {
		g := resolve(cands)
		want.addGlobal(g, 1)
		c.want[string(keyGlobal(num, name))] = encodeGlobal(g)
		if g.needed {
			c.want[string(keyNeed(num, name))] = []byte{}
		}
	}
	for _, p := range []byte{pSeq, pGlobal, pNeed, pBlock} {
		err := c.scan(p, func(k, v []byte) error {
			w, ok := c.want[string(k)]
			switch {
			case !ok:
				c.problem("unexpected key %q", k)
			case !bytes.Equal(w, v):
				c.problem("key %q holds %x, want %x", k, v, w)
			}
			delete(c.want, string(k))
			return nil
		})
		if err != nil {
			return err
		}
	}
	missing := make([]string, 0, len(c.want))
	for k := range c.want {
		missing = append(missing, k)
	}
	slices.Sort(missing)
	for _, k := range missing {
		c.problem("missing key %q", k)
	}

	mv, closer, err := c.v.snap.Get(keyFolderMeta(num))
	if err != nil {
		return fmt.Errorf("reading folder meta: %w", err)
	}
	m, err := decodeMeta(mv)
	_ = closer.Close()
	if err != nil {
		return err
	}
	if m.counts != want {
		c.problem("counters %+v, want %+v", m.counts, want)
	}
	if m.seq < maxSeq {
		c.problem("sequence %d below record sequence %d", m.seq, maxSeq)
	}
	if m.indexID != c.v.f.indexID {
		c.problem("index ID %016x, handle has %016x", m.indexID, c.v.f.indexID)
	}
	return nil
}
