package ignore

import "strings"

// This file implements git's glob dialect ("wildmatch") on byte strings:
// '*', '?', '[...]' (with '!' or '^' negation, ranges, backslash escapes and
// POSIX [:class:] names), backslash escapes, and '**' next to slashes. The
// behaviour, including the early-abort results that decide what a star may
// still try after a failure, follows git's wildmatch so that patterns match
// exactly what git matches, not just what its documentation describes.

// Results of one wildmatch step. wmAbortAll and wmAbortToStarStar let an
// enclosing star loop stop early: the first means no later start position
// can match either, the second that only a "**" may try further.
const (
	wmMatch int8 = iota
	wmNoMatch
	wmAbortAll
	wmAbortToStarStar
	wmOverBudget // internal: the plain recursion took too long, retry memoized
)

// wildBudget is how many recursive steps a plain (unmemoized) match may take
// before it is redone memoized. Ordinary patterns need a handful; only
// patterns with many stars against long paths get near it, and those can
// take exponential time unmemoized (as they do in git).
const wildBudget = 4096

// maxMemo bounds the memo tables (entries per table). The memoized match
// runs in time proportional to (number of stars) × (path length); beyond
// this bound, which takes thousands of stars against thousands of path
// bytes, the match runs unmemoized.
const maxMemo = 1 << 22

// isGlobSpecial reports whether c starts a glob construct (git's
// is_glob_special).
func isGlobSpecial(c byte) bool {
	return c == '*' || c == '?' || c == '[' || c == '\\'
}

// byteAt returns s[i], or 0 past the end (the C string terminator). Patterns
// never contain NUL bytes: lines are cut at the first one when parsed.
func byteAt(s string, i int) byte {
	if i < len(s) {
		return s[i]
	}
	return 0
}

// wildmatch reports whether text[ti:] matches pattern[pi:]. pathname selects
// git's WM_PATHNAME mode, in which wildcards other than "**" do not match '/'.
// The pattern is taken to start at pi, which matters for a leading "**".
func wildmatch(pattern string, pi int, text string, ti int, pathname bool) bool {
	if ti > len(text) || pi > len(pattern) {
		return false
	}
	w := wild{p: pattern, t: text, pathname: pathname, pstart: pi, budget: wildBudget}
	r := w.match(pi, ti)
	if r == wmOverBudget {
		w.budget = -1
		w.memoize()
		r = w.match(pi, ti)
	}
	return r == wmMatch
}

// wild is the state of one wildmatch call.
type wild struct {
	p, t     string
	pathname bool
	pstart   int
	budget   int // steps left before giving up on the plain recursion; <0 = unlimited

	// Memoized mode. match is only ever entered, and a star loop only ever
	// started, at a few pattern positions: the start and the positions
	// after each run of stars (and after "**/"). slot numbers them; the
	// tables hold result+1 (0 = not known yet) per slot and text position.
	slot      []int32
	matchMemo []int8
	loopMemo  []int8
}

// memoize switches w to memoized mode, if the tables are small enough.
func (w *wild) memoize() {
	slot := make([]int32, len(w.p)+1)
	for i := range slot {
		slot[i] = -1
	}
	n := int32(0)
	add := func(i int) {
		if slot[i] < 0 {
			slot[i] = n
			n++
		}
	}
	add(w.pstart)
	// Walk the pattern element by element, as step does.
	for i := w.pstart; i < len(w.p); i++ {
		switch w.p[i] {
		case '\\':
			i++
		case '[':
			end, _, ok := matchClass(w.p, i, 0)
			if !ok {
				i = len(w.p) // nothing after a broken class is reached
				break
			}
			i = end
		case '*':
			for i+1 < len(w.p) && w.p[i+1] == '*' {
				i++
			}
			add(i + 1)
			if i+1 < len(w.p) && w.p[i+1] == '/' {
				add(i + 2)
			}
		}
	}
	size := int(n) * (len(w.t) + 1)
	if size > maxMemo {
		return
	}
	w.slot = slot
	w.matchMemo = make([]int8, size)
	w.loopMemo = make([]int8, size)
}

// memoKey returns the table index for (pi, ti), or -1 if not memoized.
func (w *wild) memoKey(pi, ti int) int {
	if w.slot == nil {
		return -1
	}
	s := w.slot[pi]
	if s < 0 {
		return -1 // cannot happen; just compute
	}
	return int(s)*(len(w.t)+1) + ti
}

// match returns the wildmatch result for p[pi:] against t[ti:]. The result
// depends only on (pi, ti) for a given wild: a nested call that begins with
// "**" always follows a '/' in the pattern (or is the start), so the
// "preceded by a slash" test gives the same answer as it would at top level.
func (w *wild) match(pi, ti int) int8 {
	key := w.memoKey(pi, ti)
	if key >= 0 {
		if v := w.matchMemo[key]; v != 0 {
			return v - 1
		}
	} else if w.budget >= 0 {
		if w.budget == 0 {
			return wmOverBudget
		}
		w.budget--
	}
	r := w.step(pi, ti)
	if key >= 0 {
		w.matchMemo[key] = r + 1
	}
	return r
}

func (w *wild) step(pi, ti int) int8 {
	p, t := w.p, w.t
	for ; pi < len(p); pi, ti = pi+1, ti+1 {
		pc := p[pi]
		if ti >= len(t) && pc != '*' {
			return wmAbortAll
		}
		switch pc {
		case '\\':
			// A backslash makes the next byte literal; a trailing one
			// never matches.
			pi++
			if pi >= len(p) || t[ti] != p[pi] {
				return wmNoMatch
			}
		default:
			if t[ti] != pc {
				return wmNoMatch
			}
		case '?':
			if w.pathname && t[ti] == '/' {
				return wmNoMatch
			}
		case '[':
			end, hit, ok := matchClass(p, pi, t[ti])
			if !ok {
				return wmAbortAll
			}
			if !hit || (w.pathname && t[ti] == '/') {
				return wmNoMatch
			}
			pi = end
		case '*':
			var matchSlash bool
			pi++
			if byteAt(p, pi) == '*' {
				prev := pi - 2
				for pi++; byteAt(p, pi) == '*'; pi++ {
				}
				switch {
				case !w.pathname:
					matchSlash = true
				case (prev < w.pstart || p[prev] == '/') &&
					(pi == len(p) || p[pi] == '/' || (p[pi] == '\\' && byteAt(p, pi+1) == '/')):
					// "**/" may match nothing at all: try the rest of
					// the pattern right here first.
					if byteAt(p, pi) == '/' {
						switch r := w.match(pi+1, ti); r {
						case wmMatch, wmOverBudget:
							return r
						}
					}
					matchSlash = true
				default:
					// Any other run of stars is a single star.
					matchSlash = false
				}
			} else {
				matchSlash = !w.pathname
			}
			if pi == len(p) {
				// A trailing "**" matches everything; a trailing '*' only
				// if no slash is left.
				if !matchSlash && strings.IndexByte(t[ti:], '/') >= 0 {
					return wmNoMatch
				}
				return wmMatch
			}
			if !matchSlash && p[pi] == '/' {
				// "*/" matches the rest of this path segment.
				k := strings.IndexByte(t[ti:], '/')
				if k < 0 {
					return wmNoMatch
				}
				ti += k
				continue // the loop steps over both slashes
			}
			return w.starLoop(pi, ti, matchSlash)
		}
	}
	if ti < len(t) {
		return wmNoMatch
	}
	return wmMatch
}

// starLoop tries the rest of the pattern, p[pi:], at each text position from
// ti on, after a star that may (matchSlash) or may not cross a '/'.
func (w *wild) starLoop(pi, ti int, matchSlash bool) int8 {
	p, t := w.p, w.t
	if w.slot != nil {
		return w.starLoopMemo(pi, ti, matchSlash)
	}
	for ti < len(t) {
		// Skip ahead to the next occurrence of a literal that follows the
		// star; a single star cannot cross a '/'.
		if c := p[pi]; !isGlobSpecial(c) {
			for ti < len(t) && (matchSlash || t[ti] != '/') && t[ti] != c {
				ti++
			}
			if ti >= len(t) || t[ti] != c {
				return wmNoMatch
			}
		}
		r := w.match(pi, ti)
		if r != wmNoMatch {
			if !matchSlash || r != wmAbortToStarStar {
				return r
			}
		} else if !matchSlash && t[ti] == '/' {
			return wmAbortToStarStar
		}
		ti++
	}
	return wmAbortAll
}

// starLoopMemo is starLoop with its result remembered per start position.
// The loop started at ti either decides at ti or continues exactly as the
// loop started at ti+1 would (how it ends at the end of the text is decided
// by the last position), so every position walked shares the result.
func (w *wild) starLoopMemo(pi, ti int, matchSlash bool) int8 {
	p, t := w.p, w.t
	if ti >= len(t) {
		return wmAbortAll
	}
	first := ti
	var r int8
walk:
	for {
		if k := w.memoKey(pi, ti); k >= 0 && w.loopMemo[k] != 0 {
			r = w.loopMemo[k] - 1
			break
		}
		if c := p[pi]; !isGlobSpecial(c) && t[ti] != c {
			// Fast skip of the plain loop.
			if !matchSlash && t[ti] == '/' {
				r = wmNoMatch
				break
			}
			if ti++; ti == len(t) {
				r = wmNoMatch
				break
			}
			continue
		}
		switch m := w.match(pi, ti); {
		case m != wmNoMatch:
			if !matchSlash || m != wmAbortToStarStar {
				r = m
				break walk
			}
		case !matchSlash && t[ti] == '/':
			r = wmAbortToStarStar
			break walk
		}
		if ti++; ti == len(t) {
			r = wmAbortAll
			break
		}
	}
	for i := first; i <= ti && i < len(t); i++ {
		if k := w.memoKey(pi, i); k >= 0 {
			w.loopMemo[k] = r + 1
		}
	}
	return r
}

// matchClass parses the bracket expression at p[i] == '[' and tests byte c
// against it. It returns the index of the closing ']', whether c is in the
// class (negation applied), and ok=false for a malformed class (no closing
// bracket, a dangling backslash or an unknown [:name:]), which git treats as
// "can never match". Parsing does not depend on c.
func matchClass(p string, i int, c byte) (end int, hit, ok bool) {
	i++
	pc := byteAt(p, i)
	if pc == '^' {
		pc = '!'
	}
	negated := pc == '!'
	if negated {
		i++
		pc = byteAt(p, i)
	}
	var prev byte // 0 = no previous character that could start a range
	matched := false
	for {
		if i >= len(p) {
			return i, false, false
		}
		switch {
		case pc == '\\':
			i++
			if i >= len(p) {
				return i, false, false
			}
			pc = p[i]
			if c == pc {
				matched = true
			}
		case pc == '-' && prev != 0 && i+1 < len(p) && p[i+1] != ']':
			i++
			pc = p[i]
			if pc == '\\' {
				i++
				if i >= len(p) {
					return i, false, false
				}
				pc = p[i]
			}
			if c <= pc && c >= prev {
				matched = true
			}
			pc = 0 // a range cannot start another range
		case pc == '[' && byteAt(p, i+1) == ':':
			s := i + 2
			j := s
			for j < len(p) && p[j] != ']' {
				j++
			}
			if j >= len(p) {
				return j, false, false
			}
			if n := j - s - 1; n < 0 || p[j-1] != ':' {
				// Not "[:name:]": a plain '['; go on after it.
				if c == '[' {
					matched = true
				}
				pc = '['
				break
			}
			in, known := inNamedClass(p[s:j-1], c)
			if !known {
				return j, false, false
			}
			if in {
				matched = true
			}
			i = j
			pc = 0
		default:
			if c == pc {
				matched = true
			}
		}
		prev = pc
		i++
		pc = byteAt(p, i)
		if pc == ']' {
			return i, matched != negated, true
		}
	}
}

// inNamedClass tests c against a POSIX character class name using git's own
// ASCII-only character table (for example, "space" is tab, LF, CR and space
// only, and no byte >= 0x80 is in any class).
func inNamedClass(name string, c byte) (in, known bool) {
	alpha := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
	digit := c >= '0' && c <= '9'
	graph := c > ' ' && c < 0x7f
	switch name {
	case "alnum":
		return alpha || digit, true
	case "alpha":
		return alpha, true
	case "blank":
		return c == ' ' || c == '\t', true
	case "cntrl":
		return c < ' ' || c == 0x7f, true
	case "digit":
		return digit, true
	case "graph":
		return graph, true
	case "lower":
		return c >= 'a' && c <= 'z', true
	case "print":
		return c >= ' ' && c < 0x7f, true
	case "punct":
		return graph && !alpha && !digit, true
	case "space":
		return c == ' ' || c == '\t' || c == '\n' || c == '\r', true
	case "upper":
		return c >= 'A' && c <= 'Z', true
	case "xdigit":
		return digit || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F', true
	}
	return false, false
}
