package fsutil

import "testing"

func TestWindowsProblem(t *testing.T) {
	bad := []string{"CON", "con.txt", "dir/PRN", "aux.tar.gz", "NUL", "COM1", "lpt9.log", "CON .txt",
		"trailing.", "trailing ", "dir./x", "a:b", `a"b`, "a*b", "a?b", "a<b", "a>b", "a|b", "x/y\x01z"}
	for _, n := range bad {
		if WindowsProblem(n) == "" {
			t.Errorf("WindowsProblem(%q) = \"\", want a problem", n)
		}
	}
	good := []string{"CONSOLE", "con2", "COM10", "COM0", "a.b", "dir/file.txt", ".hidden", "…", "café"}
	for _, n := range good {
		if p := WindowsProblem(n); p != "" {
			t.Errorf("WindowsProblem(%q) = %q, want none", n, p)
		}
	}
}

func TestNormalization(t *testing.T) {
	nfd, nfc := "cafe\u0301", "caf\u00e9"
	if IsNFC(nfd) || !IsNFC(nfc) || NFC(nfd) != nfc {
		t.Fatal("NFC detection or conversion is wrong")
	}
	if FoldKey("README.md") != FoldKey("readme.MD") || FoldKey(nfd) != FoldKey("CAF\u00c9") {
		t.Fatal("FoldKey does not fold case and normalization")
	}
	if FoldKey("a") == FoldKey("b") {
		t.Fatal("FoldKey folds too much")
	}
}

func TestInternalNames(t *testing.T) {
	for _, n := range []string{".shoal", ".shoal/versions/x", "a/.shoal-tmp.f.1234abcd", LocalIgnoreFile} {
		if !Internal(n) {
			t.Errorf("Internal(%q) = false", n)
		}
	}
	for _, n := range []string{".shoalignore", "a/.shoalignore.local", "shoal", ".shoalx"} {
		if Internal(n) {
			t.Errorf("Internal(%q) = true", n)
		}
	}
}
