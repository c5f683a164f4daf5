package ignore

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// benchRules is a realistic ignore file of 50 patterns.
const benchRules = `# OS and editor files
.DS_Store
Thumbs.db
desktop.ini
*.swp
*.swo
*~
.#*
\#*#
.idea/
.vscode/
*.sublime-workspace

# build output
build/
dist/
/out/
target/
bin/
obj/
*.o
*.a
*.so
*.dylib
*.exe
*.class
*.py[cod]
__pycache__/
*.egg-info/
.gradle/
coverage/
*.lcov

# dependencies
node_modules/
/vendor/
bower_components/
.venv/

# logs and temporaries
*.log
!important.log
logs/**
!logs/keep/
*.tmp
*.temp
.cache/
tmp/
*.bak
*.pid
npm-debug.log*
**/test-results/**
docs/_build/
/assets/**/*.psd
.env
.env.*
!.env.example
`

type benchPath struct {
	path  string
	isDir bool
}

// benchTree returns about n paths of a source-tree-like folder, in walk
// order (each directory before its contents).
func benchTree(n int) []benchPath {
	rng := rand.New(rand.NewPCG(1, 2))
	dirNames := []string{"src", "lib", "internal", "pkg", "cmd", "docs", "test", "assets", "img",
		"components", "utils", "api", "node_modules", "build", "vendor", "logs", "tmp", "core",
		"__pycache__", ".cache", "scripts", "models", "views", "static", "keep"}
	exts := []string{".go", ".go", ".go", ".js", ".ts", ".md", ".png", ".json", ".py", ".pyc",
		".log", ".tmp", ".o", ".c", ".h", ".txt", ".yaml", ".psd", ".swp", ""}
	var out []benchPath
	var fill func(prefix string, depth int)
	fill = func(prefix string, depth int) {
		files := 3 + rng.IntN(20)
		for i := 0; i < files && len(out) < n; i++ {
			name := fmt.Sprintf("file%d%s", rng.IntN(500), exts[rng.IntN(len(exts))])
			if rng.IntN(50) == 0 {
				name = []string{".DS_Store", "important.log", ".env", ".env.example", "README"}[rng.IntN(5)]
			}
			out = append(out, benchPath{prefix + name, false})
		}
		if depth >= 7 {
			return
		}
		dirs := rng.IntN(5)
		for i := 0; i < dirs && len(out) < n; i++ {
			dir := prefix + dirNames[rng.IntN(len(dirNames))] + fmt.Sprint(rng.IntN(3))
			out = append(out, benchPath{dir, true})
			fill(dir+"/", depth+1)
		}
	}
	for len(out) < n {
		fill(fmt.Sprintf("%s%d/", dirNames[rng.IntN(len(dirNames))], len(out)), 1)
	}
	return out[:n]
}

func benchMatch(b *testing.B, shuffle bool, match func(m *Matcher, p string, isDir bool) bool) {
	m, err := Parse([]byte(benchRules), nil)
	if err != nil {
		b.Fatal(err)
	}
	if n := len(m.dirs.rules); n != 50 {
		b.Fatalf("%d rules, want 50", n)
	}
	paths := benchTree(100_000)
	if shuffle {
		rand.New(rand.NewPCG(3, 4)).Shuffle(len(paths), func(i, j int) { paths[i], paths[j] = paths[j], paths[i] })
	}
	ignored, depth := 0, 0
	for _, p := range paths {
		if match(m, p.path, p.isDir) {
			ignored++
		}
		depth += strings.Count(p.path, "/") + 1
	}
	i := 0
	for b.Loop() {
		p := &paths[i]
		match(m, p.path, p.isDir)
		if i++; i == len(paths) {
			i = 0
		}
	}
	b.ReportMetric(float64(ignored)/float64(len(paths))*100, "%ignored")
	b.ReportMetric(float64(depth)/float64(len(paths)), "depth")
}

// uncachedMatch is Match without the directory cache (but with the rule
// index): every ancestor is decided afresh.
func uncachedMatch(m *Matcher, rel string, isDir bool) bool {
	for i := 0; i < len(rel); i++ {
		if rel[i] == '/' && m.dirs.decide(rel[:i], rel[strings.LastIndexByte(rel[:i], '/')+1:i]) {
			return true
		}
	}
	base := rel[strings.LastIndexByte(rel, '/')+1:]
	if isDir {
		return m.dirs.decide(rel, base)
	}
	return m.files.decide(rel, base)
}

// BenchmarkMatch asks about 100k paths of a realistic tree in walk order
// against 50 realistic patterns; ns/op is per path.
func BenchmarkMatch(b *testing.B) {
	b.Run("walk-order", func(b *testing.B) { benchMatch(b, false, (*Matcher).Match) })
	b.Run("random-order", func(b *testing.B) { benchMatch(b, true, (*Matcher).Match) })
	b.Run("uncached", func(b *testing.B) { benchMatch(b, false, uncachedMatch) })
	b.Run("uncached-random-order", func(b *testing.B) { benchMatch(b, true, uncachedMatch) })
	b.Run("linear-uncached", func(b *testing.B) { benchMatch(b, false, naiveMatch) })
}

func BenchmarkParse(b *testing.B) {
	data := []byte(benchRules)
	for b.Loop() {
		if _, err := Parse(data, nil); err != nil {
			b.Fatal(err)
		}
	}
}
