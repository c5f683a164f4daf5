package admin

import (
	"bufio"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/shoalsync/shoal/admin/admintest"
)

// openAPIOperations returns "METHOD /path" for every operation under the
// top-level paths: key of openapi.yaml. The file is indented with two
// spaces per level, so a line scan is enough and needs no YAML parser.
func openAPIOperations(t *testing.T) []string {
	t.Helper()
	f, err := os.Open("openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var ops []string
	inPaths, path := false, ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.TrimSpace(line) == "" || strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		indent := len(line) - len(strings.TrimLeft(line, " "))
		key, _, _ := strings.Cut(strings.TrimSpace(line), ":")
		switch {
		case indent == 0:
			inPaths = key == "paths"
		case !inPaths:
		case indent == 2:
			path = key
		case indent == 4 && slices.Contains([]string{"get", "put", "post", "delete", "patch", "head", "options"}, key):
			ops = append(ops, strings.ToUpper(key)+" "+path)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return ops
}

func TestOpenAPICoversRoutes(t *testing.T) {
	s, err := NewServer(Options{Agent: admintest.New("a")})
	if err != nil {
		t.Fatal(err)
	}
	var routes []string
	for _, r := range s.routes() {
		routes = append(routes, r.pattern)
	}
	ops := openAPIOperations(t)
	if len(ops) == 0 {
		t.Fatal("no operations found in openapi.yaml")
	}
	for _, r := range routes {
		if !slices.Contains(ops, r) {
			t.Errorf("route %q is not described in openapi.yaml", r)
		}
	}
	for _, op := range ops {
		if !slices.Contains(routes, op) {
			t.Errorf("openapi.yaml describes %q, which the server does not serve", op)
		}
	}
}

// TestDocsCoverRoutes keeps docs/admin-api.md in step too.
func TestDocsCoverRoutes(t *testing.T) {
	b, err := os.ReadFile("../docs/admin-api.md")
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewServer(Options{Agent: admintest.New("a")})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range s.routes() {
		if !strings.Contains(string(b), "`"+r.pattern+"`") {
			t.Errorf("docs/admin-api.md does not document `%s`", r.pattern)
		}
	}
}
