package extension

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// krewLayout makes what krew leaves behind: the program in a versioned
// store directory and a symlink to it in a bin directory on PATH.
func krewLayout(t *testing.T) (self Self, bin string) {
	t.Helper()
	root := t.TempDir()
	store := filepath.Join(root, "store", "meshmon", "v1.0.0")
	bin = filepath.Join(root, "bin")
	for _, d := range []string{store, bin} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	exe := filepath.Join(store, "kubectl-meshmon")
	if err := os.WriteFile(exe, []byte("#!/bin/sh\necho meshmon\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(bin, "kubectl-meshmon")
	if err := os.Symlink(exe, link); err != nil {
		t.Fatal(err)
	}
	self, err := FindSelf("kubectl-meshmon",
		func(string) (string, error) { return link, nil },
		func() (string, error) { return exe, nil })
	if err != nil {
		t.Fatal(err)
	}
	return self, bin
}

func TestFindSelfKeepsTheInvokedSymlink(t *testing.T) {
	self, bin := krewLayout(t)
	if want := filepath.Join(bin, "kubectl-meshmon"); self.Invoked != want {
		t.Errorf("Invoked = %s, want krew's symlink %s", self.Invoked, want)
	}
	if !strings.Contains(self.Resolved, filepath.Join("store", "meshmon")) {
		t.Errorf("Resolved = %s, want the file in krew's store", self.Resolved)
	}
}

func TestFindSelfIgnoresAnArgv0ThatIsNotTheProgram(t *testing.T) {
	self, _ := krewLayout(t)
	other := filepath.Join(t.TempDir(), "kubectl-meshmon")
	if err := os.WriteFile(other, []byte("another program"), 0o755); err != nil {
		t.Fatal(err)
	}
	got, err := FindSelf(other, nil, func() (string, error) { return self.Resolved, nil })
	if err != nil {
		t.Fatal(err)
	}
	if got.Invoked != self.Resolved {
		t.Errorf("Invoked = %s, want the running file %s", got.Invoked, self.Resolved)
	}
}

func TestLinkNextToTheProgramIsIdempotentAndUnlinkUndoesIt(t *testing.T) {
	self, bin := krewLayout(t)
	req := Request{Self: self, PathEnv: bin, GOOS: "linux"}
	res, err := Link(req)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(bin, "linkerd-meshmon")
	if !res.Changed || res.Path != path || res.Target != "kubectl-meshmon" || !res.OnPath {
		t.Errorf("first link = %+v, want a new sibling link %s -> kubectl-meshmon", res, path)
	}
	if target, err := os.Readlink(path); err != nil || target != "kubectl-meshmon" {
		t.Errorf("readlink %s = %q, %v", path, target, err)
	}
	if !sameFile(path, self.Resolved) {
		t.Errorf("%s does not lead to the program", path)
	}

	again, err := Link(req)
	if err != nil {
		t.Fatal(err)
	}
	if again.Changed || again.Target != "kubectl-meshmon" {
		t.Errorf("second link = %+v, want unchanged", again)
	}

	un, err := Unlink(req)
	if err != nil {
		t.Fatal(err)
	}
	if !un.Changed {
		t.Errorf("unlink = %+v, want a removal", un)
	}
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("after unlink: lstat = %v, want not exist", err)
	}
	if un, err := Unlink(req); err != nil || un.Changed {
		t.Errorf("second unlink = %+v, %v, want nothing to do", un, err)
	}
	if _, err := os.Stat(self.Resolved); err != nil {
		t.Errorf("unlink touched the program itself: %v", err)
	}
}

func TestLinkRefusesADefaultDirectoryOffPath(t *testing.T) {
	self, bin := krewLayout(t)
	_, err := Link(Request{Self: self, PathEnv: t.TempDir(), GOOS: "linux"})
	if !errors.Is(err, ErrNotOnPath) || !strings.Contains(err.Error(), "--dir") || !strings.Contains(err.Error(), bin) {
		t.Fatalf("err = %v, want ErrNotOnPath naming %s and suggesting --dir", err, bin)
	}
	if _, err := os.Lstat(filepath.Join(bin, "linkerd-meshmon")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused link left a file behind: %v", err)
	}
}

func TestLinkIntoAnExplicitDirPointsAtTheInvokedPath(t *testing.T) {
	self, _ := krewLayout(t)
	dir := t.TempDir()
	res, err := Link(Request{Self: self, Dir: dir, PathEnv: "/nonexistent", GOOS: "linux"})
	if err != nil {
		t.Fatal(err)
	}
	// Through krew's symlink, not into the versioned store: the link must
	// survive `krew upgrade`.
	if res.Target != self.Invoked || res.OnPath {
		t.Errorf("result = %+v, want target %s and OnPath false", res, self.Invoked)
	}
}

func TestLinkAndUnlinkLeaveForeignFilesAlone(t *testing.T) {
	self, bin := krewLayout(t)
	path := filepath.Join(bin, "linkerd-meshmon")
	if err := os.WriteFile(path, []byte("someone else's extension"), 0o755); err != nil {
		t.Fatal(err)
	}
	req := Request{Self: self, PathEnv: bin, GOOS: "linux"}
	if _, err := Link(req); !errors.Is(err, ErrNotOurs) {
		t.Errorf("link over a foreign file: err = %v, want ErrNotOurs", err)
	}
	if _, err := Unlink(req); !errors.Is(err, ErrNotOurs) {
		t.Errorf("unlink of a foreign file: err = %v, want ErrNotOurs", err)
	}
	if b, err := os.ReadFile(path); err != nil || string(b) != "someone else's extension" {
		t.Errorf("foreign file changed: %q, %v", b, err)
	}
}

func TestACopyOfTheProgramCountsAsOurs(t *testing.T) {
	self, bin := krewLayout(t)
	path := filepath.Join(bin, "linkerd-meshmon")
	if err := replaceWithCopy(self.Resolved, path); err != nil {
		t.Fatal(err)
	}
	req := Request{Self: self, PathEnv: bin, GOOS: "linux"}
	res, err := Link(req)
	if err != nil || res.Changed || !res.Copied {
		t.Errorf("link over our copy = %+v, %v, want unchanged copy", res, err)
	}
	if res, err := Unlink(req); err != nil || !res.Changed {
		t.Errorf("unlink of our copy = %+v, %v, want removed", res, err)
	}
}

// A link left by an older install (its store directory gone) is meshmon's:
// link replaces it and unlink removes it.
func TestStaleLinksAreReplacedAndRemoved(t *testing.T) {
	self, bin := krewLayout(t)
	path := filepath.Join(bin, "linkerd-meshmon")
	if err := os.Symlink("/gone/store/meshmon/v0.9.0/kubectl-meshmon", path); err != nil {
		t.Fatal(err)
	}
	req := Request{Self: self, PathEnv: bin, GOOS: "linux"}
	res, err := Link(req)
	if err != nil || !res.Changed {
		t.Fatalf("link over a stale link = %+v, %v", res, err)
	}
	if !sameFile(path, self.Resolved) {
		t.Error("stale link not replaced")
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/gone/kubectl-meshmon", path); err != nil {
		t.Fatal(err)
	}
	if res, err := Unlink(req); err != nil || !res.Changed {
		t.Errorf("unlink of a stale link = %+v, %v", res, err)
	}
}

func TestLinkReportsAnEarlierExtensionOnPath(t *testing.T) {
	self, bin := krewLayout(t)
	early := t.TempDir()
	if err := os.WriteFile(filepath.Join(early, "linkerd-meshmon"), []byte("old"), 0o755); err != nil {
		t.Fatal(err)
	}
	res, err := Link(Request{Self: self, PathEnv: early + string(os.PathListSeparator) + bin, GOOS: "linux"})
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(early, "linkerd-meshmon"); res.Shadowed != want {
		t.Errorf("Shadowed = %q, want %s", res.Shadowed, want)
	}
}

func TestName(t *testing.T) {
	if Name("windows") != "linkerd-meshmon.exe" || Name("darwin") != "linkerd-meshmon" {
		t.Errorf("Name = %s, %s", Name("windows"), Name("darwin"))
	}
}
