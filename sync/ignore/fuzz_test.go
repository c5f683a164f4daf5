package ignore

import (
	"bytes"
	"strings"
	"testing"
)

var fuzzPaths = []string{
	"a", "a/b", "a/b/c.txt", ".shoalignore", "build", "build/x/y.o", "x/y/z/w",
	"#a", "!b", "a b", "a\\b", "[a]", "a*", "A/B", "foo/bar/baz",
}

// FuzzParse feeds arbitrary bytes as both ignore files: parsing never fails
// for small input and never panics, and Match agrees with the uncached
// evaluation on a few paths.
func FuzzParse(f *testing.F) {
	f.Add([]byte("*.log\n!keep.log\nbuild/\n/a/**/b\n"), []byte("x\n"))
	f.Add([]byte("\xef\xbb\xbf# c\r\n\\#a\n\\!b  \na\\ \n[[:alpha:]]*\n"), []byte(nil))
	f.Add([]byte("a[\n[[:x:]]\n\\\n!\n/\na//\n"), []byte("**\n***/x\na**/b\n"))
	f.Add([]byte("a\x00b\nc"), []byte("\r\n\r"))
	f.Fuzz(func(t *testing.T, shared, local []byte) {
		m, err := Parse(shared, local)
		if err != nil {
			t.Fatalf("Parse: %v", err)
		}
		m2, _ := Parse(shared, local)
		if m.Hash() != m2.Hash() {
			t.Fatal("hash not deterministic")
		}
		_ = m.Problems()
		for _, p := range fuzzPaths {
			for _, isDir := range []bool{false, true} {
				got := m.Match(p, isDir)
				if want := naiveMatch(m, p, isDir); got != want {
					t.Fatalf("Match(%q, %v) = %v, uncached %v", p, isDir, got, want)
				}
				if got && m.Empty() {
					t.Fatalf("Empty matcher matched %q", p)
				}
			}
		}
		// The directory cache must not change answers when asked in
		// another order.
		for i := len(fuzzPaths) - 1; i >= 0; i-- {
			if m.MatchDir(fuzzPaths[i]) != naiveMatch(m, fuzzPaths[i], true) {
				t.Fatalf("MatchDir(%q) differs from uncached", fuzzPaths[i])
			}
		}
	})
}

// FuzzMatch matches arbitrary paths against arbitrary single patterns. It
// checks that nothing panics (even for paths that callers would have
// rejected), that cached and uncached answers agree, that a pattern
// reported as never matching indeed does not match, and that the memoized
// glob matcher agrees with the plain recursion.
func FuzzMatch(f *testing.F) {
	f.Add("*.log", "a/b.log", false)
	f.Add("a/**/b", "a/x/y/b", true)
	f.Add("a**/b", "ab", false)
	f.Add("[!a-c]?[[:digit:]]", "x/dy1", false)
	f.Add("a[", "a[", false)
	f.Add("**/", "", true)
	f.Add("/a//", "a//", true)
	f.Add("*/*/**", "/a//b/", false)
	f.Fuzz(checkMatch)
}

func checkMatch(t *testing.T, pattern, path string, isDir bool) {
	{
		m, err := Parse([]byte(pattern), nil)
		if err != nil {
			return // over MaxFileSize
		}
		got := m.Match(path, isDir)
		_ = m.MatchDir(path)
		valid := path != "" && !strings.HasPrefix(path, "/") && !strings.HasSuffix(path, "/") &&
			!strings.Contains(path, "//") && !strings.ContainsRune(path, 0)
		if valid && got != naiveMatch(m, path, isDir) {
			t.Fatalf("Match(%q, %v) = %v, uncached differs", path, isDir, got)
		}
		if !valid {
			return
		}
		base := path[strings.LastIndexByte(path, '/')+1:]
		for _, line := range strings.Split(pattern, "\n") {
			line = strings.TrimSuffix(line, "\r")
			if i := strings.IndexByte(line, 0); i >= 0 {
				line = line[:i]
			}
			line = trimTrailingSpaces(line)
			if line == "" || line[0] == '#' || bytes.HasPrefix([]byte(line), utf8BOM) {
				continue
			}
			r, problem := compile(line)
			matched := r.matches(path, base)
			if problem != "" && matched {
				t.Fatalf("pattern %q reported as never matching (%s) matches %q", line, problem, path)
			}
			// Compare the plain recursion with the memoized match on
			// sizes where the plain one cannot blow up.
			if (r.kind == kindBaseGlob || r.kind == kindPathGlob) && len(r.glob) <= 24 && len(path) <= 24 {
				text := base
				if r.kind == kindPathGlob {
					text = path
				}
				if !strings.HasPrefix(text, r.lit) {
					continue
				}
				pathname := r.kind == kindPathGlob
				start := len(r.lit)
				plain := wild{p: r.glob, t: text, pathname: pathname, pstart: start, budget: -1}
				memo := wild{p: r.glob, t: text, pathname: pathname, pstart: start, budget: -1}
				memo.memoize()
				if a, b := plain.match(start, start) == wmMatch, memo.match(start, start) == wmMatch; a != b || a != matched {
					t.Fatalf("glob %q on %q: plain %v, memoized %v, rule %v", r.glob, text, a, b, matched)
				}
			}
		}
	}
}
