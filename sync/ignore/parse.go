package ignore

import (
	"bytes"
	"fmt"
	"strings"
)

// kind says how a rule is tested; the literal kinds are fast paths for
// patterns without wildcards, chosen exactly where git takes them too.
type kind uint8

const (
	kindBaseLiteral kind = iota // basename == lit
	kindBaseSuffix              // basename ends with lit ("*literal")
	kindBaseGlob                // basename starts with lit and matches glob
	kindPathLiteral             // path == lit
	kindPathGlob                // path starts with lit and matches glob (WM_PATHNAME)
)

// rule is one compiled pattern line.
type rule struct {
	kind    kind
	negate  bool   // "!pattern": re-include
	dirOnly bool   // "pattern/": directories only
	lit     string // literal part, see kind
	glob    string // whole pattern for the glob kinds; matching starts at len(lit)
	// Quick rejection for the glob kinds: a text can only match if it
	// starts with prefix, ends with suffix and contains inner.
	prefix, suffix, inner string
	src                   string // file name, for messages
	line                  int    // line number in src, for messages
}

// matches reports whether the rule's pattern matches path, whose last
// element is base. It does not look at negate or dirOnly.
func (r *rule) matches(path, base string) bool {
	switch r.kind {
	case kindBaseLiteral:
		return base == r.lit
	case kindBaseSuffix:
		return strings.HasSuffix(base, r.lit)
	case kindBaseGlob:
		return r.mayMatch(base) && wildmatch(r.glob, len(r.lit), base, len(r.lit), false)
	case kindPathLiteral:
		return path == r.lit
	case kindPathGlob:
		return r.mayMatch(path) && wildmatch(r.glob, len(r.lit), path, len(r.lit), true)
	}
	return false
}

// mayMatch is the quick test for the glob kinds: false means the glob
// cannot match text.
func (r *rule) mayMatch(text string) bool {
	return strings.HasPrefix(text, r.prefix) && strings.HasSuffix(text, r.suffix) &&
		(r.inner == "" || strings.Contains(text, r.inner))
}

// setFilters derives the quick-rejection strings of a glob rule from the
// literal runs of its pattern (escapes resolved). Every element of a
// pattern is matched in order against consecutive text, so each run must
// occur in a matching text, the first one at its start if the pattern
// starts with it, and the last one at its end if the pattern ends with it.
// The one exception is a '/' right after "**", which "**/" may skip: it is
// left out of the run.
func (r *rule) setFilters() {
	// Matching starts after lit, so lit must be checked even when the
	// pattern turns out to be broken.
	r.prefix = r.lit
	g := r.glob
	type run struct {
		text  []byte
		first bool // begins the pattern
	}
	var runs []run
	var cur []byte
	curFirst, afterStars := true, false
	end := func() {
		if len(cur) > 0 {
			runs = append(runs, run{cur, curFirst})
		}
		cur, curFirst = nil, false
	}
	lastLiteral := false
	for i := 0; i < len(g); i++ {
		c := g[i]
		switch c {
		case '*':
			end()
			n := 0
			for ; i < len(g) && g[i] == '*'; i++ {
				n++
			}
			i--
			afterStars = n >= 2
			lastLiteral = false
			continue
		case '?':
			end()
		case '[':
			end()
			e, _, ok := matchClass(g, i, 0)
			if !ok {
				return // never matches anyway
			}
			i = e
		case '\\':
			if i+1 >= len(g) {
				return // never matches anyway
			}
			i++
			cur = append(cur, g[i])
			lastLiteral = true
			afterStars = false
			continue
		default:
			if !(afterStars && c == '/' && len(cur) == 0) {
				cur = append(cur, c)
			}
			lastLiteral = true
			afterStars = false
			continue
		}
		lastLiteral = false
		afterStars = false
	}
	var last []byte
	if lastLiteral {
		last = cur
	}
	end()
	for i, rn := range runs {
		switch {
		case rn.first:
			r.prefix = string(rn.text)
		case i == len(runs)-1 && last != nil:
		default:
			if len(rn.text) > len(r.inner) {
				r.inner = string(rn.text)
			}
		}
	}
	if last != nil {
		r.suffix = string(last)
	}
}

var utf8BOM = []byte{0xef, 0xbb, 0xbf}

// maxProblems caps the notes kept about skipped patterns.
const maxProblems = 100

// addProblem appends a note unless maxProblems are kept already; the last
// kept note then says that more were left out.
func addProblem(problems []string, note string) []string {
	switch {
	case len(problems) < maxProblems-1:
		return append(problems, note)
	case len(problems) == maxProblems-1:
		return append(problems, "more patterns are skipped; only the first ones are listed")
	}
	return problems
}

// parseFile appends the rules of one ignore file to rules, the way git reads
// a .gitignore: a UTF-8 byte order mark is skipped, lines end at LF with one
// CR before it dropped, empty lines and lines starting with '#' are skipped,
// a line ends at its first NUL byte, and unescaped trailing spaces are
// removed. Patterns that can never match are left out and reported.
func parseFile(data []byte, src string, rules []rule, problems []string) ([]rule, []string) {
	data = bytes.TrimPrefix(data, utf8BOM)
	for lineno := 1; len(data) > 0; lineno++ {
		var line []byte
		if nl := bytes.IndexByte(data, '\n'); nl >= 0 {
			line, data = data[:nl], data[nl+1:]
		} else {
			line, data = data, nil
		}
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		line = bytes.TrimSuffix(line, []byte{'\r'})
		if i := bytes.IndexByte(line, 0); i >= 0 {
			line = line[:i]
			problems = addProblem(problems, fmt.Sprintf("%s:%d: pattern cut at a NUL byte", src, lineno))
		}
		pat := trimTrailingSpaces(string(line))
		if pat == "" {
			continue // blank line
		}
		r, problem := compile(pat)
		if problem != "" {
			problems = addProblem(problems, fmt.Sprintf("%s:%d: pattern %q %s; it never matches and is skipped", src, lineno, pat, problem))
			continue
		}
		r.src, r.line = src, lineno
		rules = append(rules, r)
	}
	return rules, problems
}

// trimTrailingSpaces removes trailing spaces (not tabs) unless escaped with
// a backslash. A line ending in a lone backslash is left as it is.
func trimTrailingSpaces(s string) string {
	lastSpace := -1
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case ' ':
			if lastSpace < 0 {
				lastSpace = i
			}
		case '\\':
			i++
			if i >= len(s) {
				return s
			}
			lastSpace = -1
		default:
			lastSpace = -1
		}
	}
	if lastSpace >= 0 {
		return s[:lastSpace]
	}
	return s
}

// compile turns one non-blank pattern line into a rule. A non-empty problem
// means the pattern can never match anything (git keeps such patterns, but
// they have no effect), so the caller skips it; the rule is still complete.
func compile(pat string) (r rule, problem string) {
	p := pat
	if strings.HasPrefix(p, "!") {
		r.negate = true
		p = p[1:]
	}
	if strings.HasSuffix(p, "/") {
		r.dirOnly = true
		p = p[:len(p)-1]
	}
	// Length of the leading part without glob characters.
	simple := len(p)
	for i := 0; i < len(p); i++ {
		if isGlobSpecial(p[i]) {
			simple = i
			break
		}
	}
	if !strings.Contains(p, "/") {
		// No slash: matched against the last path element only, at any
		// depth.
		switch {
		case p == "":
			r.kind = kindBaseLiteral
			return r, "is empty"
		case simple == len(p):
			r.kind, r.lit = kindBaseLiteral, p
		case p[0] == '*' && noGlob(p[1:]):
			r.kind, r.lit = kindBaseSuffix, p[1:]
		default:
			r.kind, r.lit, r.glob = kindBaseGlob, p[:simple], p
			r.setFilters()
		}
		return r, globProblem(p)
	}
	// A slash at the start or in the middle: matched against the whole
	// path, anchored at the root. One leading slash only anchors.
	if p[0] == '/' {
		p = p[1:]
		simple--
	}
	if simple == len(p) {
		r.kind, r.lit = kindPathLiteral, p
	} else {
		r.kind, r.lit, r.glob = kindPathGlob, p[:simple], p
		r.setFilters()
	}
	if p == "" {
		return r, "is empty"
	}
	// A pattern ending in a slash ("a//" less its trailing slash) usually
	// cannot match either, since paths do not end in one, but git's split
	// of the literal prefix makes "a**//" match "a"; such patterns are
	// kept.
	return r, globProblem(p)
}

// noGlob reports whether s contains no glob characters.
func noGlob(s string) bool {
	for i := 0; i < len(s); i++ {
		if isGlobSpecial(s[i]) {
			return false
		}
	}
	return true
}

// globProblem returns why glob can never match, or "". Wildmatch has to walk
// every element of a pattern to report a match, and how it reads an element
// does not depend on the text, so a broken element anywhere makes the whole
// pattern dead.
func globProblem(g string) string {
	for i := 0; i < len(g); i++ {
		switch g[i] {
		case '\\':
			i++
			if i >= len(g) {
				return "ends with a lone backslash"
			}
		case '[':
			end, _, ok := matchClass(g, i, 0)
			if !ok {
				return "has an unterminated or invalid [...] class"
			}
			i = end
		}
	}
	return ""
}
