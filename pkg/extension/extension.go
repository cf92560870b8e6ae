// Package extension makes an installed kubectl-meshmon a Linkerd CLI
// extension too: `linkerd meshmon …` (and `linkerd check`) exec
// linkerd-meshmon from PATH, and the one program behaves as that extension
// when it is invoked under that name. So the extension is a link to
// kubectl-meshmon, or a copy where links cannot be made (Windows without
// the symlink privilege).
package extension

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	linkerdplugin "github.com/meshmon/meshmon/plugins/linkerd"
)

// Self is the running program: the path it was invoked as (kubectl execs a
// plugin by the path it found on PATH, e.g. krew's symlink in
// ~/.krew/bin) and the file that actually runs.
type Self struct {
	// Invoked is the program's absolute path as invoked, symlinks kept:
	// a link to it keeps working when krew upgrades the file behind it.
	Invoked string
	// Resolved is the running executable with every symlink resolved.
	Resolved string
}

// FindSelf works out Self from argv[0]; lookPath and executable are
// exec.LookPath and os.Executable outside tests. An argv[0] that does not
// lead to the running file (a shell alias, an exec with a made-up name) is
// ignored in favour of the executable itself.
func FindSelf(argv0 string, lookPath func(string) (string, error), executable func() (string, error)) (Self, error) {
	exe, err := executable()
	if err != nil {
		return Self{}, fmt.Errorf("finding the running executable: %w", err)
	}
	resolved, err := filepath.EvalSymlinks(exe)
	if err != nil {
		return Self{}, fmt.Errorf("resolving the running executable %s: %w", exe, err)
	}
	self := Self{Invoked: resolved, Resolved: resolved}
	if invoked, ok := invokedPath(argv0, lookPath); ok && sameFile(invoked, resolved) {
		self.Invoked = invoked
	}
	return self, nil
}

// invokedPath is the absolute path argv0 names, looked up on PATH when it is a bare
// name; false when it names nothing.
func invokedPath(argv0 string, lookPath func(string) (string, error)) (string, bool) {
	invoked := argv0
	if !strings.ContainsRune(argv0, filepath.Separator) && !strings.ContainsRune(argv0, '/') {
		p, err := lookPath(argv0)
		if err != nil {
			return "", false
		}
		invoked = p
	}
	abs, err := filepath.Abs(invoked)
	return abs, err == nil
}

// Name is the extension's file name on goos.
func Name(goos string) string {
	if goos == "windows" {
		return linkerdplugin.Binary + ".exe"
	}
	return linkerdplugin.Binary
}

// Request says where the extension goes.
type Request struct {
	Self Self
	// Dir is where to put linkerd-meshmon; empty means next to the program
	// as invoked, which must then be on PATH.
	Dir string
	// PathEnv is $PATH.
	PathEnv string
	// GOOS decides the file name and whether a symlink is attempted.
	GOOS string
}

// ErrNotOnPath means the default directory is not on PATH, so linkerd
// would not find the extension there.
var ErrNotOnPath = errors.New("not on PATH")

// ErrNotOurs means the target path holds a file meshmon did not make.
var ErrNotOurs = errors.New("not made by meshmon")

// Result says what link or unlink found and did.
type Result struct {
	// Path is the extension's path.
	Path string
	// Target is what a symlink points at ("" for a copy).
	Target string
	// Changed is false when there was nothing to do.
	Changed bool
	// Copied is true when a copy was made because a symlink could not be.
	Copied bool
	// OnPath reports whether the directory is on PATH (always true without
	// an explicit Dir).
	OnPath bool
	// Shadowed is another linkerd-meshmon earlier on PATH, which linkerd
	// would run instead.
	Shadowed string
}

func (r Request) plan() (dir string, onPath bool, err error) {
	dir = r.Dir
	if dir == "" {
		dir = filepath.Dir(r.Self.Invoked)
	}
	if dir, err = filepath.Abs(dir); err != nil {
		return "", false, fmt.Errorf("resolving %s: %w", r.Dir, err)
	}
	onPath = onPathList(dir, r.PathEnv)
	if r.Dir == "" && !onPath {
		return "", false, fmt.Errorf("%s, next to this program, is %w, so linkerd would not find %s there; pass --dir with a directory on your PATH (e.g. --dir ~/.local/bin)",
			dir, ErrNotOnPath, Name(r.GOOS))
	}
	return dir, onPath, nil
}

// Link creates the extension; when it is already there (a link to, or a
// copy of, this program) it changes nothing.
func Link(r Request) (Result, error) {
	dir, onPath, err := r.plan()
	if err != nil {
		return Result{}, err
	}
	path := filepath.Join(dir, Name(r.GOOS))
	res := Result{Path: path, OnPath: onPath, Target: r.Self.Invoked}
	if filepath.Dir(r.Self.Invoked) == dir {
		// A sibling link by name survives moving the directory.
		res.Target = filepath.Base(r.Self.Invoked)
	}
	switch st := r.Self.classify(path); st.kind {
	case current:
		res.Target, res.Copied = st.linkTarget, st.linkTarget == ""
		res.Shadowed = shadowing(Name(r.GOOS), path, r.PathEnv)
		return res, nil
	case foreign:
		return res, fmt.Errorf("%s exists and is %w (it is not a link to, or copy of, kubectl-meshmon); remove it yourself or choose another --dir", path, ErrNotOurs)
	}
	err = replaceWithSymlink(res.Target, path)
	if err != nil && r.GOOS == "windows" {
		// Symlinks need developer mode or a privilege there.
		if err = replaceWithCopy(r.Self.Resolved, path); err == nil {
			res.Target, res.Copied = "", true
		}
	}
	if err != nil {
		return res, fmt.Errorf("creating %s: %w", path, err)
	}
	res.Changed = true
	res.Shadowed = shadowing(Name(r.GOOS), path, r.PathEnv)
	return res, nil
}

// Unlink removes the extension if meshmon made it (a link to a
// kubectl-meshmon, or a copy of this program) and nothing else.
func Unlink(r Request) (Result, error) {
	dir := r.Dir
	if dir == "" {
		dir = filepath.Dir(r.Self.Invoked)
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return Result{}, fmt.Errorf("resolving %s: %w", r.Dir, err)
	}
	path := filepath.Join(dir, Name(r.GOOS))
	res := Result{Path: path, OnPath: onPathList(dir, r.PathEnv)}
	switch r.Self.classify(path).kind {
	case absent:
		return res, nil
	case foreign:
		return res, fmt.Errorf("%s is %w (it is not a link to, or copy of, kubectl-meshmon); left in place", path, ErrNotOurs)
	}
	if err := os.Remove(path); err != nil {
		return res, fmt.Errorf("removing %s: %w", path, err)
	}
	res.Changed = true
	return res, nil
}

type kind int

const (
	absent  kind = iota
	current      // a link to, or copy of, this very program
	stale        // a link meshmon made to another (or a vanished) kubectl-meshmon
	foreign      // anything else
)

type state struct {
	kind       kind
	linkTarget string
}

func (s Self) classify(path string) state {
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return state{kind: absent}
	}
	if err != nil {
		return state{kind: foreign}
	}
	if fi.Mode()&os.ModeSymlink != 0 {
		target, err := os.Readlink(path)
		if err != nil {
			return state{kind: foreign}
		}
		if sameFile(path, s.Resolved) {
			return state{kind: current, linkTarget: target}
		}
		base := strings.TrimSuffix(filepath.Base(target), ".exe")
		if base == "kubectl-meshmon" {
			return state{kind: stale}
		}
		return state{kind: foreign}
	}
	if !fi.Mode().IsRegular() {
		return state{kind: foreign}
	}
	if sameFile(path, s.Resolved) || sameContent(path, s.Resolved) {
		return state{kind: current}
	}
	return state{kind: foreign}
}

func sameFile(a, b string) bool {
	fa, err := os.Stat(a)
	if err != nil {
		return false
	}
	fb, err := os.Stat(b)
	return err == nil && os.SameFile(fa, fb)
}

func sameContent(a, b string) bool {
	ha, err := fileHash(a)
	if err != nil {
		return false
	}
	hb, err := fileHash(b)
	return err == nil && bytes.Equal(ha, hb)
}

func fileHash(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return nil, err
	}
	return h.Sum(nil), nil
}

// onPathList reports whether dir is one of the PATH entries (compared
// after resolving symlinks, so /usr/local/bin and a link to it match).
func onPathList(dir, pathEnv string) bool {
	want := canonical(dir)
	for _, p := range filepath.SplitList(pathEnv) {
		if p != "" && canonical(p) == want {
			return true
		}
	}
	return false
}

func canonical(dir string) string {
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	if r, err := filepath.EvalSymlinks(dir); err == nil {
		dir = r
	}
	return filepath.Clean(dir)
}

// replaceWithSymlink puts the link in place atomically: a half-made
// extension must never be what linkerd finds.
func replaceWithSymlink(target, path string) error {
	tmp := path + ".meshmon-tmp"
	_ = os.Remove(tmp)
	if err := os.Symlink(target, tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return nil
}

func replaceWithCopy(src, path string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer func() { _ = in.Close() }()
	tmp, err := os.CreateTemp(filepath.Dir(path), ".linkerd-meshmon-*")
	if err != nil {
		return err
	}
	defer func() { _ = os.Remove(tmp.Name()) }()
	if _, err := io.Copy(tmp, in); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o755); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// shadowing returns the file linkerd would run instead of path: the first
// name on PATH, when that is another file.
func shadowing(name, path, pathEnv string) string {
	for _, dir := range filepath.SplitList(pathEnv) {
		if dir == "" {
			continue
		}
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			if sameFile(p, path) {
				return ""
			}
			return p
		}
	}
	return ""
}
