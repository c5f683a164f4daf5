package ignore

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

type matchCase struct {
	path  string
	isDir bool
	want  bool
}

// f and d build cases for a file and a directory.
func f(path string, want bool) matchCase { return matchCase{path, false, want} }
func d(path string, want bool) matchCase { return matchCase{path, true, want} }

func TestSyntax(t *testing.T) {
	tests := []struct {
		name   string
		shared string
		local  string
		cases  []matchCase
	}{
		{"empty", "", "", []matchCase{f("a", false), d("a", false), f("a/b", false)}},
		{"blank lines and comments", "\n\n# a\n   \n#b\n", "", []matchCase{
			f("a", false), f("# a", false), f("#b", false), f("b", false)}},
		{"escaped hash", "\\#a\n", "", []matchCase{f("#a", true), f("a", false), f("x/#a", true)}},
		{"hash inside pattern", "a#b\n", "", []matchCase{f("a#b", true)}},
		{"space before hash is a pattern", " #a\n", "", []matchCase{f(" #a", true), f("#a", false)}},
		{"escaped bang", "\\!b\n", "", []matchCase{f("!b", true), f("b", false)}},
		{"trailing spaces dropped", "a  \n", "", []matchCase{f("a", true), f("a  ", false)}},
		{"escaped trailing space kept", "a\\ \n", "", []matchCase{f("a ", true), f("a", false)}},
		{"escaped space then spaces", "a\\  \n", "", []matchCase{f("a ", true), f("a  ", false)}},
		{"trailing tab kept", "a\t\n", "", []matchCase{f("a\t", true), f("a", false)}},
		{"leading spaces kept", "  a\n", "", []matchCase{f("  a", true), f("a", false)}},
		{"crlf", "a\r\nb\r\n", "", []matchCase{f("a", true), f("b", true), f("a\r", false)}},
		{"bom", "\xef\xbb\xbfa\n", "", []matchCase{f("a", true)}},
		{"no final newline", "a\nb", "", []matchCase{f("a", true), f("b", true)}},
		{"basename at any depth", "foo\n", "", []matchCase{
			f("foo", true), d("foo", true), f("x/foo", true), f("x/y/foo", true), f("foox", false), f("xfoo", false)}},
		{"star", "*.log\n", "", []matchCase{
			f("a.log", true), f("x/a.log", true), f(".log", true), f("a.log.txt", false), f("a.lo", false)}},
		{"star alone", "*\n", "", []matchCase{f("a", true), d("a", true), f("x/y", true)}},
		{"star middle", "a*b\n", "", []matchCase{f("ab", true), f("axxb", true), f("x/ab", true), f("ba", false)}},
		{"question", "a?\n", "", []matchCase{f("ab", true), f("a", false), f("abc", false), f("x/ab", true)}},
		{"class", "[ab]x\n", "", []matchCase{f("ax", true), f("bx", true), f("cx", false)}},
		{"class negated bang", "[!ab]x\n", "", []matchCase{f("ax", false), f("cx", true)}},
		{"class negated caret", "[^ab]x\n", "", []matchCase{f("ax", false), f("cx", true)}},
		{"class range", "[a-c]\n", "", []matchCase{f("a", true), f("b", true), f("c", true), f("d", false)}},
		{"class with bracket first", "[]a]\n", "", []matchCase{f("]", true), f("a", true), f("b", false)}},
		{"class with escape", "[\\]]\n", "", []matchCase{f("]", true), f("\\", false)}},
		{"class named", "[[:digit:]]*\n", "", []matchCase{f("1a", true), f("a1", false)}},
		{"class named upper", "[[:upper:]]\n", "", []matchCase{f("A", true), f("a", false)}},
		{"class dash at end", "[a-]\n", "", []matchCase{f("a", true), f("-", true), f("b", false)}},
		{"escaped star", "a\\*\n", "", []matchCase{f("a*", true), f("ab", false)}},
		{"escaped bracket", "\\[a]\n", "", []matchCase{f("[a]", true), f("a", false)}},
		{"case sensitive", "Foo\n", "", []matchCase{f("Foo", true), f("foo", false), f("FOO", false)}},
		{"dir only", "build/\n", "", []matchCase{
			d("build", true), f("build", false), d("x/build", true), f("x/build", false), f("build/a", true)}},
		{"leading slash anchors", "/foo\n", "", []matchCase{f("foo", true), f("x/foo", false)}},
		{"middle slash anchors", "a/b\n", "", []matchCase{f("a/b", true), f("x/a/b", false), f("a/b/c", true)}},
		{"middle slash with star", "a/*.c\n", "", []matchCase{f("a/x.c", true), f("a/b/x.c", false), f("x.c", false)}},
		{"star does not match slash", "a*b/c\n", "", []matchCase{f("axb/c", true), f("ax/yb/c", false)}},
		{"anchored dir only", "/build/\n", "", []matchCase{d("build", true), d("x/build", false), f("build", false)}},
		{"leading double star", "**/foo\n", "", []matchCase{f("foo", true), f("x/foo", true), f("x/y/foo", true), f("xfoo", false)}},
		{"leading double star path", "**/foo/bar\n", "", []matchCase{
			f("foo/bar", true), f("x/foo/bar", true), f("foo/x/bar", false)}},
		{"trailing double star", "abc/**\n", "", []matchCase{
			d("abc", false), f("abc", false), f("abc/x", true), f("abc/x/y", true), f("x/abc/y", false)}},
		{"middle double star", "a/**/b\n", "", []matchCase{
			f("a/b", true), f("a/x/b", true), f("a/x/y/b", true), f("a/xb", false), f("x/a/b", false)}},
		{"double star not next to slash", "a**b\n", "", []matchCase{f("ab", true), f("axxb", true), f("x/axb", true)}},
		{"git prefix quirk", "a**/b\n", "", []matchCase{f("ab", true), f("axx/b", true), f("x/ab", false)}},
		{"triple star", "***/x\n", "", []matchCase{f("x", true), f("a/x", true)}},
		{"negation", "*.log\n!keep.log\n", "", []matchCase{f("a.log", true), f("keep.log", false), f("x/keep.log", false)}},
		{"later rule wins", "!keep.log\n*.log\n", "", []matchCase{f("keep.log", true)}},
		{"negation cannot reinclude under ignored dir", "build/\n!build/keep\n", "", []matchCase{
			f("build/keep", true), f("build/x", true), d("build", true)}},
		{"negation reincludes under star", "build/*\n!build/keep\n", "", []matchCase{
			f("build/keep", false), f("build/x", true), d("build", false), f("build/keep/y", false)}},
		{"negated dir reincludes subtree", "/*\n!/src/\n", "", []matchCase{
			f("a", true), d("src", false), f("src/a", false), f("src", true)}},
		{"parent ignored by file pattern", "foo\n!foo/bar\n", "", []matchCase{f("foo/bar", true), d("foo", true)}},
		{"deep parent", "b\n", "", []matchCase{f("a/b/c/d", true), f("a/c/d", false)}},
		{"negated parent then file", "a\n!a\n", "", []matchCase{f("a/b", false), d("a", false)}},
		{"local appended", "*.log\n", "!keep.log\n", []matchCase{f("a.log", true), f("keep.log", false)}},
		{"local overrides negation", "!x\n", "x\n", []matchCase{f("x", true)}},
		{"shared without newline then local", "a", "b", []matchCase{f("a", true), f("b", true), f("ab", false)}},
		{"local only", "", "tmp/\n", []matchCase{d("tmp", true), f("tmp/a", true)}},
		{"bang alone skipped", "!\n", "", []matchCase{f("!", false), f("a", false)}},
		{"slash alone skipped", "/\n", "", []matchCase{f("a", false), d("a", false)}},
		{"unterminated class skipped", "a[b\nc\n", "", []matchCase{f("a[b", false), f("c", true)}},
		{"trailing backslash", "a\\\n", "", []matchCase{f("a\\", false), f("a", false)}},
		{"double trailing slash", "a//\n", "", []matchCase{d("a", false)}},
		{"double trailing slash after prefix and stars", "a**//\n", "", []matchCase{d("a", true), f("a", false), f("a/f", true)}},
		{"nul cuts line", "ab\x00cd\n", "", []matchCase{f("ab", true), f("ab\x00cd", false)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Parse([]byte(tt.shared), []byte(tt.local))
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range tt.cases {
				if got := m.Match(c.path, c.isDir); got != c.want {
					t.Errorf("Match(%q, dir=%v) = %v, want %v (shared %q, local %q)", c.path, c.isDir, got, c.want, tt.shared, tt.local)
				}
				if got := naiveMatch(m, c.path, c.isDir); got != c.want {
					t.Errorf("naiveMatch(%q, dir=%v) = %v, want %v", c.path, c.isDir, got, c.want)
				}
			}
		})
	}
}

// naiveMatch is Match without the directory cache: every ancestor is
// decided afresh.
func naiveMatch(m *Matcher, rel string, isDir bool) bool {
	return naiveMatchWith(m, rel, isDir, (*rule).matches)
}

// naiveMatchMemo is naiveMatch with every glob matched in memoized mode.
func naiveMatchMemo(m *Matcher, rel string, isDir bool) bool {
	return naiveMatchWith(m, rel, isDir, ruleMatchesMemo)
}

func naiveMatchWith(m *Matcher, rel string, isDir bool, matches func(*rule, string, string) bool) bool {
	if m == nil || rel == "" {
		return false
	}
	decide := func(rules []rule, path string) bool {
		base := path[strings.LastIndexByte(path, '/')+1:]
		for i := len(rules) - 1; i >= 0; i-- {
			if matches(&rules[i], path, base) {
				return !rules[i].negate
			}
		}
		return false
	}
	for i := 0; i < len(rel); i++ {
		if rel[i] == '/' && decide(m.dirs.rules, rel[:i]) {
			return true
		}
	}
	if isDir {
		return decide(m.dirs.rules, rel)
	}
	return decide(m.files.rules, rel)
}

// ruleMatchesMemo is rule.matches with globs matched in memoized mode.
func ruleMatchesMemo(r *rule, path, base string) bool {
	text, pathname := base, false
	switch r.kind {
	case kindBaseGlob:
	case kindPathGlob:
		text, pathname = path, true
	default:
		return r.matches(path, base)
	}
	if !strings.HasPrefix(text, r.lit) {
		return false
	}
	w := wild{p: r.glob, t: text, pathname: pathname, pstart: len(r.lit), budget: -1}
	w.memoize()
	return w.match(len(r.lit), len(r.lit)) == wmMatch
}

// TestMemoMatchesPlain compares the memoized glob matcher with the plain
// recursion on many random star-heavy patterns and paths.
func TestMemoMatchesPlain(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	pieces := []string{"*", "*", "**", "/", "/", "a", "b", "?", "[ab]", "[!a]", "**/", "/**/", "/**", "\\*", "\\a"}
	texts := []string{"a", "b", "/", "ab", "a/", "*"}
	segs := []string{"a", "b", "*", "a*", "*b", "?", "**", "[ab]"}
	for i := range 200000 {
		var p, s strings.Builder
		if i%2 == 0 {
			for n := rng.IntN(8); n >= 0; n-- {
				p.WriteString(pieces[rng.IntN(len(pieces))])
			}
			for n := rng.IntN(10); n >= 0; n-- {
				s.WriteString(texts[rng.IntN(len(texts))])
			}
		} else {
			// Path-shaped: segments joined by "/" or "/**/", which makes
			// star loops restart at the same places (the memo's job).
			if rng.IntN(2) == 0 {
				p.WriteString("**/")
			}
			for n := rng.IntN(5); n >= 0; n-- {
				p.WriteString(segs[rng.IntN(len(segs))])
				if n > 0 {
					p.WriteString([]string{"/", "/**/", "*/"}[rng.IntN(3)])
				}
			}
			for n := rng.IntN(12); n >= 0; n-- {
				s.WriteString([]string{"a", "b", "ab", "ba"}[rng.IntN(4)])
				if n > 0 {
					s.WriteString("/")
				}
			}
		}
		for _, pathname := range []bool{false, true} {
			plain := wild{p: p.String(), t: s.String(), pathname: pathname, budget: -1}
			memo := wild{p: p.String(), t: s.String(), pathname: pathname, budget: -1}
			memo.memoize()
			a, b := plain.match(0, 0), memo.match(0, 0)
			if (a == wmMatch) != (b == wmMatch) {
				t.Fatalf("wildmatch(%q, %q, pathname=%v): plain %d, memoized %d", p.String(), s.String(), pathname, a, b)
			}
		}
	}
}

func TestProblems(t *testing.T) {
	m, err := Parse([]byte("ok\na[b\n!\n[[:nope:]]\nx\\\n/\n"), []byte("c\n[\n"))
	if err != nil {
		t.Fatal(err)
	}
	probs := m.Problems()
	want := []string{".shoalignore:2:", ".shoalignore:3:", ".shoalignore:4:", ".shoalignore:5:", ".shoalignore:6:", ".shoalignore.local:2:"}
	if len(probs) != len(want) {
		t.Fatalf("Problems() = %q, want %d notes", probs, len(want))
	}
	for i, p := range probs {
		if !strings.HasPrefix(p, want[i]) {
			t.Errorf("problem %d = %q, want prefix %q", i, p, want[i])
		}
	}
	if !m.Match("ok", false) || !m.Match("c", false) {
		t.Error("valid patterns around bad ones must still apply")
	}
	// The returned slice is a copy.
	probs[0] = "changed"
	if m.Problems()[0] == "changed" {
		t.Error("Problems returned the internal slice")
	}
}

func TestProblemsCapped(t *testing.T) {
	m, err := Parse([]byte(strings.Repeat("[\n", 10000)), nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(m.Problems()); n != maxProblems {
		t.Errorf("%d problems kept, want %d", n, maxProblems)
	}
}

func TestNilAndEmpty(t *testing.T) {
	var m *Matcher
	if m.Match("a", false) || m.MatchDir("a") || !m.Empty() || m.Problems() != nil {
		t.Error("nil matcher must match nothing and be empty")
	}
	e, err := Parse(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if m.Hash() != e.Hash() {
		t.Error("nil and empty matchers should have the same hash")
	}
	for _, src := range []string{"", "# only a comment\n\n", "!a\n!b/\n", "[\n"} {
		m, err := Parse([]byte(src), nil)
		if err != nil {
			t.Fatal(err)
		}
		if !m.Empty() {
			t.Errorf("Parse(%q).Empty() = false", src)
		}
	}
	for _, src := range []string{"a", "!a\nb", "b/"} {
		m, _ := Parse([]byte(src), nil)
		if m.Empty() {
			t.Errorf("Parse(%q).Empty() = true", src)
		}
	}
}

func TestHash(t *testing.T) {
	h := func(shared, local string) [32]byte {
		m, err := Parse([]byte(shared), []byte(local))
		if err != nil {
			t.Fatal(err)
		}
		return m.Hash()
	}
	if h("a\n", "b\n") != h("a\n", "b\n") {
		t.Error("same contents, different hashes")
	}
	distinct := [][2]string{{"a\n", ""}, {"", "a\n"}, {"a\n", "b\n"}, {"a\nb\n", ""}, {"a", "\nb\n"}, {"a\n", "b"}}
	seen := map[[32]byte][2]string{}
	for _, c := range distinct {
		k := h(c[0], c[1])
		if prev, ok := seen[k]; ok {
			t.Errorf("%q and %q have the same hash", prev, c)
		}
		seen[k] = c
	}
}

func TestParseTooLarge(t *testing.T) {
	big := make([]byte, MaxFileSize+1)
	if _, err := Parse(big, nil); err == nil {
		t.Error("oversized shared file accepted")
	}
	if _, err := Parse(nil, big); err == nil {
		t.Error("oversized local file accepted")
	}
	if _, err := Parse(big[:MaxFileSize], nil); err != nil {
		t.Errorf("file of exactly MaxFileSize refused: %v", err)
	}
}

func TestLoad(t *testing.T) {
	root := t.TempDir()
	m, err := Load(root)
	if err != nil {
		t.Fatalf("Load without files: %v", err)
	}
	if !m.Empty() {
		t.Error("missing files should give an empty matcher")
	}
	write := func(name, content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(root, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(File, "*.log\n")
	write(LocalFile, "!keep.log\n")
	m, err = Load(root)
	if err != nil {
		t.Fatal(err)
	}
	if !m.Match("a.log", false) || m.Match("keep.log", false) {
		t.Error("rules from both files not applied")
	}
	want, _ := Parse([]byte("*.log\n"), []byte("!keep.log\n"))
	if m.Hash() != want.Hash() {
		t.Error("Load and Parse hashes differ")
	}

	// Only the local file.
	if err := os.Remove(filepath.Join(root, File)); err != nil {
		t.Fatal(err)
	}
	write(LocalFile, "x\n")
	if m, err = Load(root); err != nil || !m.Match("x", false) {
		t.Fatalf("local file alone: match=%v err=%v", m.Match("x", false), err)
	}

	// Symlinked ignore files are refused, dangling or not.
	target := filepath.Join(t.TempDir(), "target")
	if err := os.WriteFile(target, []byte("x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{File, LocalFile} {
		os.Remove(filepath.Join(root, File))
		os.Remove(filepath.Join(root, LocalFile))
		if err := os.Symlink(target, filepath.Join(root, name)); err != nil {
			t.Skipf("symlinks unavailable: %v", err)
		}
		if _, err := Load(root); err == nil || !strings.Contains(err.Error(), "symbolic link") {
			t.Errorf("symlinked %s: err = %v, want a symlink error", name, err)
		}
		os.Remove(filepath.Join(root, name))
		if err := os.Symlink(filepath.Join(root, "missing"), filepath.Join(root, name)); err != nil {
			t.Fatal(err)
		}
		if _, err := Load(root); err == nil {
			t.Errorf("dangling symlink %s accepted", name)
		}
		os.Remove(filepath.Join(root, name))
	}

	// A directory in place of the file.
	if err := os.Mkdir(filepath.Join(root, File), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(root); err == nil {
		t.Error("directory named .shoalignore accepted")
	}
	os.Remove(filepath.Join(root, File))

	// Too large.
	write(File, strings.Repeat("a\n", MaxFileSize/2+1))
	if _, err := Load(root); err == nil {
		t.Error("oversized file accepted")
	}
}

// TestConcurrentMatch exercises the directory cache from many goroutines
// (meaningful under -race) and checks every answer against naiveMatch.
func TestConcurrentMatch(t *testing.T) {
	m, err := Parse([]byte("build/\n*.o\n!keep.o\n/a/b\nx/**/y\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	names := []string{"a", "b", "build", "x", "y", "k.o", "keep.o"}
	for _, n1 := range names {
		for _, n2 := range names {
			for _, n3 := range names {
				paths = append(paths, n1+"/"+n2+"/"+n3)
			}
		}
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range paths {
				p := paths[(i*7+g*13)%len(paths)]
				isDir := (i+g)%3 == 0
				if got, want := m.Match(p, isDir), naiveMatch(m, p, isDir); got != want {
					t.Errorf("Match(%q, %v) = %v, naive %v", p, isDir, got, want)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// TestPathologicalPattern checks that a pattern with many "**" against a
// long path finishes quickly (memoized fallback) and agrees with the plain
// recursion on a size where that is still feasible.
func TestPathologicalPattern(t *testing.T) {
	pat := strings.Repeat("**/a/", 12) + "**/b"
	path := strings.TrimSuffix(strings.Repeat("a/", 60), "/")
	m, err := Parse([]byte(pat), nil)
	if err != nil {
		t.Fatal(err)
	}
	if m.Match(path, false) {
		t.Error("pattern ending in b matched a path without b")
	}
	if !m.Match(path+"/b", false) {
		t.Error("pattern did not match")
	}
	small := strings.Repeat("**/a/", 3) + "**/b"
	for n := 1; n < 9; n++ {
		text := strings.TrimSuffix(strings.Repeat("a/", n), "/") + "/b"
		w := wild{p: small, t: text, pathname: true, budget: -1}
		plain := w.match(0, 0) == wmMatch
		if got := wildmatch(small, 0, text, 0, true); got != plain {
			t.Errorf("memoized %v != plain %v for %q", got, plain, text)
		}
		w = wild{p: small, t: text, pathname: true, budget: -1}
		w.memoize()
		if memo := w.match(0, 0) == wmMatch; memo != plain {
			t.Errorf("memo %v != plain %v for %q", memo, plain, text)
		}
	}
}

// TestRuleSetIndex compares the indexed lookup of ruleSet.decide with a
// plain scan of the rules, on random rule lists heavy in literal and
// extension rules (the indexed kinds) mixed with globs and negations.
func TestRuleSetIndex(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 13))
	pool := []string{"a", "b", "a.log", "*.log", "*.txt", "*.tar.gz", "/a", "a/b", "/a/b.log", "x/*.log",
		"*a", "a*", "*.lo?", "b/", "*.log/", "a.log/", ".log", "*.", "*..log", "a.b"}
	names := []string{"a", "b", "a.log", "b.log", ".log", "a.txt", "x.tar.gz", "a.b", "log", "a..log", "a."}
	for range 2000 {
		var lines []string
		for n := rng.IntN(12); n >= 0; n-- {
			l := pool[rng.IntN(len(pool))]
			if rng.IntN(3) == 0 {
				l = "!" + l
			}
			lines = append(lines, l)
		}
		m, err := Parse([]byte(strings.Join(lines, "\n")), nil)
		if err != nil {
			t.Fatal(err)
		}
		for range 20 {
			var p []string
			for n := rng.IntN(3); n >= 0; n-- {
				p = append(p, []string{"a", "x", "b"}[rng.IntN(3)])
			}
			p = append(p, names[rng.IntN(len(names))])
			path := strings.Join(p, "/")
			isDir := rng.IntN(2) == 0
			if got, want := m.Match(path, isDir), naiveMatch(m, path, isDir); got != want {
				t.Fatalf("rules %q: Match(%q, %v) = %v, plain scan %v", lines, path, isDir, got, want)
			}
		}
	}
}
