package wire

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// protocLine is the header line in which protoc-gen-go records the protoc
// version. It is the only output that depends on the protoc build.
var protocLine = regexp.MustCompile(`(?m)^// \tprotoc +v.*$`)

// TestGeneratedCodeIsCurrent regenerates shoal.pb.go the way gen.sh does and
// compares it with the committed file.
func TestGeneratedCodeIsCurrent(t *testing.T) {
	protoc, err := exec.LookPath("protoc")
	if err != nil {
		t.Skip("protoc is not on PATH, so shoal.pb.go cannot be checked against shoal.proto; " +
			"install it (Debian/Ubuntu: apt-get install protobuf-compiler) to run this test")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("the go command is not on PATH")
	}
	run := func(dir string, env []string, name string, args ...string) string {
		t.Helper()
		cmd := exec.CommandContext(t.Context(), name, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), env...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(string(out))
	}

	// Same steps as gen.sh: protoc-gen-go at the version go.mod requires,
	// installed into a private GOBIN, then protoc on a copy of the .proto.
	version := run(".", nil, goTool, "list", "-m", "-f", "{{.Version}}", "google.golang.org/protobuf")
	tmp := t.TempDir()
	gobin := filepath.Join(tmp, "bin")
	run(tmp, []string{"GOBIN=" + gobin}, goTool, "install", "google.golang.org/protobuf/cmd/protoc-gen-go@"+version)
	src, err := os.ReadFile("shoal.proto")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tmp, "shoal.proto"), src, 0o644); err != nil {
		t.Fatal(err)
	}
	run(tmp, nil, protoc, "--plugin=protoc-gen-go="+filepath.Join(gobin, "protoc-gen-go"),
		"--go_out=.", "--go_opt=paths=source_relative", "shoal.proto")

	got, err := os.ReadFile(filepath.Join(tmp, "shoal.pb.go"))
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("shoal.pb.go")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(got, want) {
		return
	}
	gotVer, wantVer := protocLine.Find(got), protocLine.Find(want)
	if !bytes.Equal(gotVer, wantVer) {
		// A different protoc build on this machine: compare the rest.
		t.Logf("local protoc differs from the one recorded in shoal.pb.go (%q vs %q); ignoring that line", gotVer, wantVer)
		got = protocLine.ReplaceAll(got, nil)
		want = protocLine.ReplaceAll(want, nil)
		if bytes.Equal(got, want) {
			return
		}
	}
	gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
	for i := 0; i < len(gl) || i < len(wl); i++ {
		var g, w string
		if i < len(gl) {
			g = gl[i]
		}
		if i < len(wl) {
			w = wl[i]
		}
		if g != w {
			t.Fatalf("shoal.pb.go is stale: run transport/wire/gen.sh and commit the result.\n"+
				"first difference at line %d:\n  generated: %q\n  committed: %q", i+1, g, w)
		}
	}
}
