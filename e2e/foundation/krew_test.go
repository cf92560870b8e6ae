//go:build e2e

package foundation

import (
	"archive/tar"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/meshmon/meshmon/e2e/framework"
)

// snapshot is what a host-platform snapshot of .goreleaser.yaml produced.
type snapshot struct {
	Archive, Manifest, Checksums string
	Version                      string // the krew manifest's spec.version
}

// snapshotRelease runs goreleaser (through hack/goreleaser.sh, as `make
// release` does) on .goreleaser.yaml restricted to this platform, into dist.
func snapshotRelease(t *testing.T, root, dist string) snapshot {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(root, ".goreleaser.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := yaml.Unmarshal(raw, &cfg); err != nil {
		t.Fatalf(".goreleaser.yaml: %v", err)
	}
	builds, _ := cfg["builds"].([]any)
	if len(builds) != 1 {
		t.Fatalf(".goreleaser.yaml has %d builds, want 1", len(builds))
	}
	b := builds[0].(map[string]any)
	b["goos"], b["goarch"] = []string{runtime.GOOS}, []string{runtime.GOARCH}
	cfg["dist"] = dist
	out, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfgPath := dist + ".goreleaser.yaml"
	if err := os.WriteFile(cfgPath, out, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(root, "hack", "goreleaser.sh"), "release", "--snapshot", "--clean", "--config", cfgPath)
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("goreleaser release --snapshot: %v\n%s", err, b)
	}

	var artifacts []struct {
		Name, Path, Type, Goos, Goarch string
	}
	raw, err = os.ReadFile(filepath.Join(dist, "artifacts.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &artifacts); err != nil {
		t.Fatalf("artifacts.json: %v", err)
	}
	var r snapshot
	for _, a := range artifacts {
		path := a.Path
		if !filepath.IsAbs(path) {
			path = filepath.Join(root, path)
		}
		switch a.Type {
		case "Archive":
			if a.Goos == runtime.GOOS && a.Goarch == runtime.GOARCH {
				r.Archive = path
			}
		case "Krew Plugin Manifest":
			r.Manifest = path
		case "Checksum":
			r.Checksums = path
		}
	}
	if r.Archive == "" || r.Manifest == "" || r.Checksums == "" {
		t.Fatalf("goreleaser made no archive, krew manifest or checksums for %s/%s:\n%s", runtime.GOOS, runtime.GOARCH, raw)
	}
	return r
}

type krewManifest struct {
	Metadata struct{ Name string } `json:"metadata"`
	Spec     struct {
		Version   string `json:"version"`
		Platforms []struct {
			Bin      string `json:"bin"`
			SHA256   string `json:"sha256"`
			Selector struct {
				MatchLabels map[string]string `json:"matchLabels"`
			} `json:"selector"`
		} `json:"platforms"`
	} `json:"spec"`
}

func sha256File(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// checkArchive reads the archive: one program, the completion helper and
// the licence, owned by root and dated at the commit.
func checkArchive(t *testing.T, path string, commit time.Time) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	var names []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
		if h.Uid != 0 || h.Gid != 0 || !h.ModTime.Equal(commit) {
			t.Errorf("%s: uid %d gid %d mtime %s, want root and the commit time %s", h.Name, h.Uid, h.Gid, h.ModTime, commit)
		}
	}
	slices.Sort(names)
	if want := []string{"LICENSE", "kubectl-meshmon", "kubectl_complete-meshmon"}; !slices.Equal(names, want) {
		t.Errorf("archive holds %v, want %v (the program once)", names, want)
	}
}

func repoRootDir(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return root
}

func toolDirs(t *testing.T, root string) map[string]string {
	t.Helper()
	out, err := exec.Command(filepath.Join(root, "hack", "paths.sh")).Output()
	if err != nil {
		t.Fatalf("hack/paths.sh: %v", err)
	}
	vars := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			vars[k] = v
		}
	}
	return vars
}

// lookPathIn finds name on pathEnv the way the Linkerd CLI finds an
// extension (exec.LookPath on linkerd-<name>).
func lookPathIn(name, pathEnv string) string {
	for _, dir := range filepath.SplitList(pathEnv) {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	return ""
}

// The release as krew users get it: goreleaser's snapshot for this
// platform, installed by the real krew from the manifest and archive
// (nothing is downloaded, and the index is never updated), run by the real
// kubectl, turned into a Linkerd extension with one command, and removed.
func TestKrewInstallsTheRelease(t *testing.T) {
	env := framework.Current(t)
	root := repoRootDir(t)
	tools := toolDirs(t, root)
	work := t.TempDir()

	rel := snapshotRelease(t, root, filepath.Join(work, "dist"))
	ct, err := exec.Command("git", "-C", root, "log", "-1", "--format=%ct").Output()
	if err != nil {
		t.Fatal(err)
	}
	secs, err := strconv.ParseInt(strings.TrimSpace(string(ct)), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	checkArchive(t, rel.Archive, time.Unix(secs, 0))

	sum := sha256File(t, rel.Archive)
	checksums, err := os.ReadFile(rel.Checksums)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(checksums), sum+"  "+filepath.Base(rel.Archive)) {
		t.Errorf("checksums file lacks %s for %s:\n%s", sum, filepath.Base(rel.Archive), checksums)
	}
	raw, err := os.ReadFile(rel.Manifest)
	if err != nil {
		t.Fatal(err)
	}
	var m krewManifest
	if err := yaml.Unmarshal(raw, &m); err != nil {
		t.Fatalf("krew manifest: %v\n%s", err, raw)
	}
	if len(m.Spec.Platforms) != 1 || m.Spec.Platforms[0].SHA256 != sum || m.Spec.Platforms[0].Bin != "kubectl-meshmon" {
		t.Errorf("krew manifest platforms do not describe the archive (sha256 %s, bin kubectl-meshmon):\n%s", sum, raw)
	}

	// Reproducible: the same commit gives the same archive.
	again := snapshotRelease(t, root, filepath.Join(work, "dist2"))
	if s := sha256File(t, again.Archive); s != sum {
		t.Errorf("a second snapshot of the same tree differs: %s, then %s", sum, s)
	}

	krewRoot := filepath.Join(work, "krew")
	// An initialised index, as every krew user has; it is not a clone of
	// anything, and a git that fails and records its calls stands in for
	// the real one, so any index update would show.
	if err := os.MkdirAll(filepath.Join(krewRoot, "index", "default", ".git"), 0o755); err != nil {
		t.Fatal(err)
	}
	shim := filepath.Join(work, "shim")
	gitCalls := filepath.Join(work, "git-calls")
	if err := os.MkdirAll(shim, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(shim, "git"), []byte("#!/bin/sh\necho \"$@\" >> "+gitCalls+"\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	krewBin := filepath.Join(krewRoot, "bin")
	system := "/usr/sbin:/usr/bin:/sbin:/bin"
	pathEnv := strings.Join([]string{shim, krewBin, env.K8sBin, system}, string(os.PathListSeparator))
	vars := []string{"PATH=" + pathEnv, "KREW_ROOT=" + krewRoot, "KREW_NO_UPGRADE_CHECK=1", "HOME=" + filepath.Join(work, "home")}
	krew := filepath.Join(tools["KREW_BIN"], "krew")
	kubectl := filepath.Join(env.K8sBin, "kubectl")
	must := func(r framework.Result, what string) framework.Result {
		t.Helper()
		if r.Code != 0 {
			t.Fatalf("%s: exit %d\nstdout:\n%s\nstderr:\n%s", what, r.Code, r.Stdout, r.Stderr)
		}
		return r
	}

	r := must(env.Exec(t, vars, krew, "install", "--manifest="+rel.Manifest, "--archive="+rel.Archive), "krew install")
	if !strings.Contains(r.Stdout+r.Stderr, "Installed plugin: meshmon") {
		t.Errorf("krew install did not report the plugin:\n%s%s", r.Stdout, r.Stderr)
	}
	if !strings.Contains(r.Stdout+r.Stderr, "kubectl meshmon extension link") {
		t.Errorf("krew install did not show the caveat naming the extension link:\n%s%s", r.Stdout, r.Stderr)
	}

	r = must(env.Exec(t, vars, kubectl, "meshmon", "version"), "kubectl meshmon version")
	if !strings.Contains(r.Stdout, "Client Version: "+m.Spec.Version) || !strings.Contains(r.Stdout, "Server Version: v1.37.1") {
		t.Errorf("kubectl meshmon version should show the release's %s and the server:\n%s", m.Spec.Version, r.Stdout)
	}
	r = must(env.Exec(t, vars, kubectl, "plugin", "list"), "kubectl plugin list")
	if !strings.Contains(r.Stdout, filepath.Join(krewBin, "kubectl-meshmon")) {
		t.Errorf("kubectl plugin list does not show krew's kubectl-meshmon:\n%s", r.Stdout)
	}
	if strings.Contains(strings.ToLower(r.Stdout+r.Stderr), "warning") {
		t.Errorf("kubectl plugin list printed a warning:\n%s%s", r.Stdout, r.Stderr)
	}

	// The Linkerd extension: one command, then linkerd's own lookup (the
	// linkerd CLI cannot be built here, so its lookup is emulated: the
	// first linkerd-meshmon on PATH, run with the arguments).
	ext := filepath.Join(krewBin, "linkerd-meshmon")
	noPath := append(slices.Clone(vars), "PATH="+strings.Join([]string{env.K8sBin, system}, string(os.PathListSeparator)))
	r = env.Exec(t, noPath, filepath.Join(krewBin, "kubectl-meshmon"), "extension", "link")
	if r.Code != 2 || !strings.Contains(r.Stderr, "not on PATH") || !strings.Contains(r.Stderr, "--dir") {
		t.Errorf("extension link with krew's bin off PATH: exit %d, stderr %q; want a usage error suggesting --dir", r.Code, r.Stderr)
	}
	if _, err := os.Lstat(ext); err == nil {
		t.Errorf("a refused link left %s behind", ext)
	}
	r = must(env.Exec(t, vars, kubectl, "meshmon", "extension", "link"), "kubectl meshmon extension link")
	if !strings.Contains(r.Stdout, "Linked "+ext+" -> kubectl-meshmon") {
		t.Errorf("extension link output:\n%s", r.Stdout)
	}
	if target, err := os.Readlink(ext); err != nil || target != "kubectl-meshmon" {
		t.Errorf("%s -> %q (%v), want a sibling link to krew's kubectl-meshmon", ext, target, err)
	}
	r = must(env.Exec(t, vars, kubectl, "meshmon", "extension", "link"), "extension link again")
	if !strings.Contains(r.Stdout, "nothing to do") {
		t.Errorf("a second extension link should change nothing:\n%s", r.Stdout)
	}
	found := lookPathIn("linkerd-meshmon", pathEnv)
	if found != ext {
		t.Fatalf("linkerd's lookup finds %q, want %s", found, ext)
	}
	r = must(env.Exec(t, vars, found, "_extension-metadata"), "linkerd-meshmon _extension-metadata")
	if strings.TrimSpace(r.Stdout) != `{"name":"linkerd-meshmon","checks":"always"}` {
		t.Errorf("through the link, _extension-metadata = %q (the program must act as the extension under that name)", r.Stdout)
	}
	r = must(env.Exec(t, vars, found, "version", "--as-group=[]", "--linkerd-namespace=linkerd", "--verbose=false"), "linkerd-meshmon version")
	if !strings.Contains(r.Stdout, "Client Version: "+m.Spec.Version) || !strings.Contains(r.Stdout, "Server Version: v1.37.1") {
		t.Errorf("linkerd meshmon version:\n%s%s", r.Stdout, r.Stderr)
	}
	r = must(env.Exec(t, vars, kubectl, "plugin", "list"), "kubectl plugin list after link")
	if strings.Contains(strings.ToLower(r.Stdout+r.Stderr), "warning") {
		t.Errorf("kubectl plugin list printed a warning after the link:\n%s%s", r.Stdout, r.Stderr)
	}
	r = must(env.Exec(t, vars, kubectl, "meshmon", "extension", "unlink"), "kubectl meshmon extension unlink")
	if !strings.Contains(r.Stdout, "Removed "+ext) || lookPathIn("linkerd-meshmon", pathEnv) != "" {
		t.Errorf("extension unlink left linkerd-meshmon on PATH:\n%s", r.Stdout)
	}

	must(env.Exec(t, vars, krew, "uninstall", "meshmon"), "krew uninstall meshmon")
	for _, gone := range []string{
		filepath.Join(krewBin, "kubectl-meshmon"),
		filepath.Join(krewRoot, "store", "meshmon"),
		filepath.Join(krewRoot, "receipts", "meshmon.yaml"),
	} {
		if _, err := os.Lstat(gone); err == nil {
			t.Errorf("krew uninstall left %s", gone)
		}
	}
	r = env.Exec(t, vars, kubectl, "plugin", "list")
	if strings.Contains(r.Stdout, "kubectl-meshmon") {
		t.Errorf("kubectl plugin list still shows meshmon after uninstall:\n%s", r.Stdout)
	}

	if calls, err := os.ReadFile(gitCalls); err == nil {
		t.Errorf("krew ran git (an index update) although it was given the manifest and archive: %s", calls)
	}
	if entries, _ := os.ReadDir(filepath.Join(krewRoot, "index", "default")); len(entries) != 1 {
		t.Errorf("krew changed its index: %v", entries)
	}
}
