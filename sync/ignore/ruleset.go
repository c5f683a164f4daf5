package ignore

import "strings"

// minIndexed is the number of literal rules from which a ruleSet looks them
// up in maps instead of testing them one by one.
const minIndexed = 4

// ruleSet is an ordered list of rules with lookup tables that find the last
// matching rule without testing every rule: rules that compare the basename
// or the path with a literal, or the basename's extension ("*.log"), are
// found by map lookups, and only the remaining rules are tested in turn.
type ruleSet struct {
	rules []rule
	base  map[string]int32 // kindBaseLiteral: literal -> last rule index
	ext   map[string]int32 // kindBaseSuffix of the form ".ext": ext -> last rule index
	path  map[string]int32 // kindPathLiteral: literal -> last rule index
	other []int32          // indexes of all other rules, ascending

	// Bit min(n, 63) is set if a key of that length is in the map: a
	// cheap test that skips most lookups.
	baseLens, extLens, pathLens uint64
}

func lenBit(s string) uint64 { return 1 << min(len(s), 63) }

// isExt reports whether a "*"+lit suffix rule is a plain extension: ".x"
// with no other dot, so that a basename ends with lit exactly when the
// part from its last dot on equals lit.
func isExt(lit string) bool {
	return len(lit) > 1 && lit[0] == '.' && strings.IndexByte(lit[1:], '.') < 0
}

func newRuleSet(rules []rule) ruleSet {
	s := ruleSet{rules: rules}
	literal := 0
	for _, r := range rules {
		if r.kind == kindBaseLiteral || r.kind == kindPathLiteral || r.kind == kindBaseSuffix && isExt(r.lit) {
			literal++
		}
	}
	index := literal >= minIndexed
	put := func(m *map[string]int32, lens *uint64, key string, i int) {
		if *m == nil {
			*m = make(map[string]int32)
		}
		(*m)[key] = int32(i) // later rules overwrite: the last one counts
		*lens |= lenBit(key)
	}
	for i, r := range rules {
		switch {
		case index && r.kind == kindBaseLiteral:
			put(&s.base, &s.baseLens, r.lit, i)
		case index && r.kind == kindPathLiteral:
			put(&s.path, &s.pathLens, r.lit, i)
		case index && r.kind == kindBaseSuffix && isExt(r.lit):
			put(&s.ext, &s.extLens, r.lit, i)
		default:
			s.other = append(s.other, int32(i))
		}
	}
	return s
}

// decide applies git's last-match-wins rule to one path, whose last element
// is base, without looking at its parents: it reports whether the last rule
// that matches is a non-negated one.
func (s *ruleSet) decide(path, base string) bool {
	best := int32(-1)
	if s.baseLens&lenBit(base) != 0 {
		if i, ok := s.base[base]; ok {
			best = i
		}
	}
	if s.extLens != 0 {
		if dot := strings.LastIndexByte(base, '.'); dot >= 0 && s.extLens&lenBit(base[dot:]) != 0 {
			if i, ok := s.ext[base[dot:]]; ok && i > best {
				best = i
			}
		}
	}
	if s.pathLens&lenBit(path) != 0 {
		if i, ok := s.path[path]; ok && i > best {
			best = i
		}
	}
	for j := len(s.other) - 1; j >= 0 && s.other[j] > best; j-- {
		if s.rules[s.other[j]].matches(path, base) {
			best = s.other[j]
			break
		}
	}
	return best >= 0 && !s.rules[best].negate
}
