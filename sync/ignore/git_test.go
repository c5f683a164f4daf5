package ignore

import (
	"bytes"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var (
	flagCases = flag.Int("ignore.cases", 150, "number of random cases for TestAgainstGit")
	flagSeed  = flag.Uint64("ignore.seed", 0, "base seed for TestAgainstGit (0 = from the clock); case i uses seed+i")
)

// TestAgainstGit is a differential test against git 2.39's own
// implementation. Each case generates a random tree and random ignore files
// (covering every syntax feature, with names from a small alphabet so that
// patterns hit often), writes them into a scratch repository, and compares
// Matcher.Match for every file and directory with what git says.
//
// The oracle is "git check-ignore --no-index -v -n -z --stdin", run once per
// case for all paths. check-ignore applies git's parent-directory rule
// itself: its last_matching_pattern() first checks each leading directory
// of the path (prep_exclude) and, when one is excluded, reports that
// directory's pattern for the path, so a file under an ignored directory is
// reported ignored even if a later "!" pattern names it. With -v -n every
// path gets one record; a path is ignored when the record names a pattern
// and the pattern is not a negation ("!" prefix). As a second, independent
// oracle for files, "git ls-files -o -i --exclude-standard" lists the
// ignored files that git's directory walk finds (it descends into ignored
// directories and lists all files there); both must agree with Match. The
// local ignore file is tested by appending its lines to the .gitignore,
// since it is defined as if appended.
func TestAgainstGit(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	seed := *flagSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	cases := *flagCases
	t.Logf("TestAgainstGit: %d cases, seeds %d..%d (rerun with -ignore.seed=%d)", cases, seed, seed+uint64(cases)-1, seed)

	var (
		next     atomic.Int64
		failures atomic.Int64
		compared atomic.Int64
		ignored  atomic.Int64
		wg       sync.WaitGroup
	)
	workers := min(runtime.GOMAXPROCS(0), 4)
	for range workers {
		repo := t.TempDir()
		if out, err := gitCmd(repo, nil, "init", "-q", "--template="); err != nil {
			t.Fatalf("git init: %v\n%s", err, out)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(cases) || failures.Load() >= 5 {
					return
				}
				caseSeed := seed + uint64(i)
				n, ign, err := runGitCase(repo, caseSeed)
				compared.Add(int64(n))
				ignored.Add(int64(ign))
				if err != nil {
					failures.Add(1)
					t.Errorf("case seed %d (rerun with -run TestAgainstGit -ignore.cases=1 -ignore.seed=%d): %v", caseSeed, caseSeed, err)
				}
			}
		}()
	}
	wg.Wait()
	t.Logf("compared %d path answers (%d of them ignored) in %d cases", compared.Load(), ignored.Load(), min(next.Load(), int64(cases)))
}

// gitCmd runs git in dir with a clean environment: no user or system
// configuration (so no global excludes file), C locale.
func gitCmd(dir string, stdin []byte, args ...string) ([]byte, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	env := []string{"HOME=" + dir, "XDG_CONFIG_HOME=" + dir, "GIT_CONFIG_NOSYSTEM=1", "LC_ALL=C"}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GIT_") && !strings.HasPrefix(kv, "HOME=") && !strings.HasPrefix(kv, "XDG_") && !strings.HasPrefix(kv, "LC_") {
			env = append(env, kv)
		}
	}
	cmd.Env = env
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() == 1 && args[0] == "check-ignore" {
			err = nil // exit status 1: no path is ignored
		} else {
			return out, fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, stderr.String())
		}
	}
	return out, nil
}

type entry struct {
	path  string
	isDir bool
}

// runGitCase runs one random case in repo and returns the number of answers
// compared and how many of them were "ignored".
func runGitCase(repo string, seed uint64) (n, ignored int, err error) {
	rng := rand.New(rand.NewPCG(seed, 0x5ed5ed))
	tree := genTree(rng)
	shared := genIgnoreFile(rng, true)
	var local []byte
	if rng.IntN(3) > 0 {
		local = genIgnoreFile(rng, false)
	}
	if err := writeTree(repo, tree); err != nil {
		return 0, 0, err
	}
	n, ignored, err = compareWithGit(repo, tree, shared, nil, shared)
	if err != nil || local == nil {
		return n, ignored, err
	}
	// The local file's lines come after the shared file's.
	combined := slices.Clone(shared)
	if len(combined) > 0 && combined[len(combined)-1] != '\n' {
		combined = append(combined, '\n')
	}
	combined = append(combined, local...)
	n2, ignored2, err := compareWithGit(repo, tree, shared, local, combined)
	return n + n2, ignored + ignored2, err
}

// compareWithGit writes gitignore as the repository's .gitignore and
// compares git's answers for every entry with those of Parse(shared, local).
// It returns the number of answers compared and how many were "ignored".
func compareWithGit(repo string, tree []entry, shared, local, gitignore []byte) (n, ignored int, err error) {
	if err := os.WriteFile(filepath.Join(repo, ".gitignore"), gitignore, 0o644); err != nil {
		return 0, 0, err
	}
	m, err := Parse(shared, local)
	if err != nil {
		return 0, 0, err
	}
	var in bytes.Buffer
	for _, e := range tree {
		in.WriteString(e.path)
		in.WriteByte(0)
	}
	out, err := gitCmd(repo, in.Bytes(), "check-ignore", "--no-index", "-v", "-n", "-z", "--stdin")
	if err != nil {
		return 0, 0, err
	}
	fields := bytes.Split(out, []byte{0})
	if len(fields) > 0 && len(fields[len(fields)-1]) == 0 {
		fields = fields[:len(fields)-1]
	}
	if len(fields) != 4*len(tree) {
		return 0, 0, fmt.Errorf("check-ignore gave %d fields for %d paths", len(fields), len(tree))
	}
	gitIgnored := make(map[string]bool, len(tree))
	gitWhy := make(map[string]string, len(tree))
	for i := 0; i < len(fields); i += 4 {
		src, line, pat, path := string(fields[i]), string(fields[i+1]), string(fields[i+2]), string(fields[i+3])
		gitIgnored[path] = src != "" && !strings.HasPrefix(pat, "!")
		if src != "" {
			gitWhy[path] = fmt.Sprintf("%s:%s:%q", src, line, pat)
		}
	}
	out, err = gitCmd(repo, nil, "ls-files", "-z", "-o", "-i", "--exclude-standard")
	if err != nil {
		return 0, 0, err
	}
	walkIgnored := map[string]bool{}
	for _, p := range bytes.Split(out, []byte{0}) {
		walkIgnored[string(p)] = true
	}

	var errs []string
	for _, e := range tree {
		want, ok := gitIgnored[e.path]
		if !ok {
			return n, ignored, fmt.Errorf("check-ignore did not answer for %q", e.path)
		}
		got := m.Match(e.path, e.isDir)
		n++
		if want {
			ignored++
		}
		if got != want {
			errs = append(errs, fmt.Sprintf("Match(%q, dir=%v) = %v, git check-ignore says %v (%s); ours: %s",
				e.path, e.isDir, got, want, gitWhy[e.path], explain(m, e.path, e.isDir)))
		}
		if memo := naiveMatchMemo(m, e.path, e.isDir); memo != want {
			errs = append(errs, fmt.Sprintf("memoized match of (%q, dir=%v) = %v, git check-ignore says %v (%s)",
				e.path, e.isDir, memo, want, gitWhy[e.path]))
		}
		if !e.isDir {
			n++
			if got {
				ignored++
			}
			if walk := walkIgnored[e.path]; walk != got {
				errs = append(errs, fmt.Sprintf("Match(%q, dir=false) = %v, git ls-files -o -i says %v; ours: %s",
					e.path, got, walk, explain(m, e.path, false)))
			}
		}
		if len(errs) >= 5 {
			break
		}
	}
	if len(errs) > 0 {
		return n, ignored, fmt.Errorf("%s\nshared %q\nlocal %q\npaths: %s", strings.Join(errs, "\n"), shared, local, treeString(tree))
	}
	return n, ignored, nil
}

// explain names the rule that decided a path, for failure messages.
func explain(m *Matcher, rel string, isDir bool) string {
	for i := 0; i < len(rel); i++ {
		if rel[i] == '/' {
			if r := lastMatch(m.dirs.rules, rel[:i]); r != nil && !r.negate {
				return fmt.Sprintf("parent %q ignored by %s:%d", rel[:i], r.src, r.line)
			}
		}
	}
	rules := m.files.rules
	if isDir {
		rules = m.dirs.rules
	}
	if r := lastMatch(rules, rel); r != nil {
		return fmt.Sprintf("%s:%d (negate=%v)", r.src, r.line, r.negate)
	}
	return "no rule"
}

func lastMatch(rules []rule, rel string) *rule {
	base := rel[strings.LastIndexByte(rel, '/')+1:]
	for i := len(rules) - 1; i >= 0; i-- {
		if rules[i].matches(rel, base) {
			return &rules[i]
		}
	}
	return nil
}

func treeString(tree []entry) string {
	var b strings.Builder
	for _, e := range tree {
		fmt.Fprintf(&b, "%q", e.path)
		if e.isDir {
			b.WriteString("/")
		}
		b.WriteString(" ")
	}
	return b.String()
}

// writeTree empties repo (except .git) and creates the tree in it.
func writeTree(repo string, tree []entry) error {
	des, err := os.ReadDir(repo)
	if err != nil {
		return err
	}
	for _, de := range des {
		if de.Name() != ".git" {
			if err := os.RemoveAll(filepath.Join(repo, de.Name())); err != nil {
				return err
			}
		}
	}
	for _, e := range tree {
		p := filepath.Join(repo, filepath.FromSlash(e.path))
		if e.isDir {
			err = os.Mkdir(p, 0o755)
		} else {
			err = os.WriteFile(p, nil, 0o644)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// treeNames are the file and directory names of generated trees: few, so
// that patterns hit often, with characters that need escaping in patterns.
var treeNames = []string{
	"a", "b", "ab", "ba", "a.txt", "b.log", ".hidden", "foo", "build", "A",
	"#a", "!b", "a b", "a ", "[a]", "a*", "x\\y", "a?", "c1", "c\r", "a\t",
}

// genTree returns a random tree of files and directories, parents before
// children, at most 4 levels deep.
func genTree(rng *rand.Rand) []entry {
	var tree []entry
	var fill func(prefix string, depth int)
	fill = func(prefix string, depth int) {
		n := 1 + rng.IntN(5)
		if depth == 1 {
			n += 3
		}
		used := map[string]bool{}
		for range n {
			name := treeNames[rng.IntN(len(treeNames))]
			if used[name] {
				continue
			}
			used[name] = true
			p := prefix + name
			if depth < 4 && rng.IntN(2) == 0 {
				tree = append(tree, entry{p, true})
				fill(p+"/", depth+1)
			} else {
				tree = append(tree, entry{p, false})
			}
		}
	}
	fill("", 1)
	return tree
}

// Pattern pieces. Literal names are the tree's names, escaped where needed;
// the globs cover '*', '?', classes of every form (including broken ones).
var (
	litSegs = []string{
		"a", "b", "ab", "ba", "a.txt", "b.log", ".hidden", "foo", "build", "A",
		"\\#a", "#a", "\\!b", "a b", "a\\ ", "\\[a]", "a\\*", "x\\\\y", "a\\?", "c1", "zz", "c\r", "a\t",
	}
	globSegs = []string{
		"*", "?", "a*", "*a", "*.txt", "*.log", "b?", "?b", ".*", "*.*", "*b*",
		"[ab]", "[!a]", "[^a]*", "[a-c]", "[a-c]*", "[[:alpha:]]*", "[[:digit:]]", "[[:upper:]]",
		"[[:space:]]*", "[[:punct:]]*", "[]a]", "[a-]", "[\\]]", "[[]*", "c[[:digit:]]",
		"[a]", "a[", "[[:nope:]]", "a\\", "[z-a]", "x\\y", "a**", "**a", "a**b", "***",
	}
)

func genSeg(rng *rand.Rand) string {
	if rng.IntN(2) == 0 {
		return litSegs[rng.IntN(len(litSegs))]
	}
	return globSegs[rng.IntN(len(globSegs))]
}

func genSegs(rng *rand.Rand, n int) string {
	segs := make([]string, n)
	for i := range segs {
		segs[i] = genSeg(rng)
	}
	return strings.Join(segs, "/")
}

// genPattern returns one pattern line covering the gitignore forms.
func genPattern(rng *rand.Rand) string {
	var p string
	switch rng.IntN(12) {
	case 0, 1, 2:
		p = genSeg(rng) // basename, any depth
	case 3:
		p = "/" + genSegs(rng, 1+rng.IntN(2)) // anchored with leading slash
	case 4:
		p = genSegs(rng, 2+rng.IntN(2)) // anchored by a middle slash
	case 5:
		p = "**/" + genSegs(rng, 1+rng.IntN(2))
	case 6:
		p = genSegs(rng, 1+rng.IntN(2)) + "/**"
	case 7:
		p = genSeg(rng) + "/**/" + genSeg(rng)
	case 8:
		p = []string{"**", "**/", "/**", "/*", "*/", "*/*", "**/*", "*/**", "a/**/**/b", "**/a/**", "a**/b", "a/**b", "a//b", "/", "//", "a//", "", "\\", "/a/", "a**/", "ab**/**/", "b*/", "a/**/"}[rng.IntN(23)]
	case 9:
		p = genSeg(rng) + "/*"
	case 10:
		p = "*/" + genSeg(rng)
	default:
		p = "/" + genSeg(rng) + "/**/" + genSeg(rng) + "/*"
	}
	if rng.IntN(4) == 0 {
		p += "/" // directories only
	}
	if rng.IntN(4) == 0 {
		p = "!" + p
	}
	switch rng.IntN(14) {
	case 0:
		p += " "
	case 1:
		p += "  "
	case 2:
		p += "\\ "
	case 3:
		p += "\\  "
	case 4:
		p += "\t"
	case 5:
		p += " \\ "
	case 6:
		p += "\\ \\ "
	case 7:
		p += " \\"
	case 8:
		p += "\t "
	case 9:
		p += "\x00" + genSeg(rng) // git cuts the line at a NUL
	}
	return p
}

// genIgnoreFile returns random ignore file contents: patterns mixed with
// comments and blank lines, LF or CRLF line ends, sometimes a byte order
// mark (first file only) and sometimes no final newline.
func genIgnoreFile(rng *rand.Rand, first bool) []byte {
	var b bytes.Buffer
	if first && rng.IntN(20) == 0 {
		b.WriteString("\xef\xbb\xbf")
	}
	eol := "\n"
	if rng.IntN(8) == 0 {
		eol = "\r\n"
	}
	n := 1 + rng.IntN(8)
	for i := range n {
		switch rng.IntN(14) {
		case 0:
			b.WriteString("# " + genSeg(rng))
		case 1:
			b.WriteString([]string{"", "  ", "\t", "#"}[rng.IntN(4)])
		default:
			b.WriteString(genPattern(rng))
		}
		if i < n-1 || rng.IntN(5) > 0 {
			b.WriteString(eol)
		}
	}
	return b.Bytes()
}
