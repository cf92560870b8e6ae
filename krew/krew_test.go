package krew

import (
	"archive/tar"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

func fakeChecksums() []Platform {
	var ps []Platform
	for _, p := range Platforms {
		sum := sha256.Sum256([]byte(p.OS + p.Arch))
		p.SHA256 = hex.EncodeToString(sum[:])
		ps = append(ps, p)
	}
	return ps
}

func TestRenderedManifestPassesKrewRules(t *testing.T) {
	raw, err := Render("v1.2.3", fakeChecksums())
	if err != nil {
		t.Fatal(err)
	}
	if err := Validate(raw); err != nil {
		t.Fatalf("rendered manifest is invalid: %v\n%s", err, raw)
	}
	for _, want := range []string{
		"version: v1.2.3",
		"uri: https://github.com/meshmon/meshmon/releases/download/v1.2.3/meshmon_v1.2.3_windows_arm64.tar.gz",
		"bin: kubectl-meshmon.exe",
	} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("rendered manifest lacks %q", want)
		}
	}
}

// Each rule must actually be enforced: break the manifest one way at a
// time and expect the matching complaint.
func TestValidateRejects(t *testing.T) {
	good, err := Render("v1.2.3", fakeChecksums())
	if err != nil {
		t.Fatal(err)
	}
	firstSHA := fakeChecksums()[0].SHA256
	cases := []struct {
		name, old, new, want string
	}{
		{"version without v", "version: v1.2.3", "version: 1.2.3", "not semver"},
		{"uppercase sha", firstSHA, strings.ToUpper(firstSHA), "64 lowercase hex"},
		{"short sha", firstSHA, "abc", "64 lowercase hex"},
		{"long description", "shortDescription: Persistent, secured Prometheus for Linkerd", "shortDescription: Persistent, correctly wired, policy-protected Prometheus for Linkerd", "krew-index allows 50"},
		{"uppercase name", "name: meshmon", "name: MeshMon", "must be lowercase"},
		{"wrong bin", "bin: kubectl-meshmon\n", "bin: meshmon\n", "want \"kubectl-meshmon\""},
		{"no license", "- from: LICENSE", "- from: NOTICE", "LICENSE is not installed"},
		{"bad selector key", "os: linux", "platform: linux", "not supported"},
		{"unknown field", "homepage:", "homepag:", "unknown field"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			broken := strings.Replace(string(good), c.old, c.new, 1)
			if broken == string(good) {
				t.Fatalf("mutation %q did not apply", c.old)
			}
			err := Validate([]byte(broken))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Validate = %v, want an error containing %q", err, c.want)
			}
		})
	}
	missing := strings.Replace(string(good), "arch: arm64", "arch: amd64", 1)
	if err := Validate([]byte(missing)); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("a missing platform was not reported: %v", err)
	}
}

// The release script must produce an archive that holds what the manifest
// promises, with the checksum the manifest carries. Built for the host
// platform only: cross-building all six takes minutes.
func TestReleaseArchiveMatchesManifest(t *testing.T) {
	if testing.Short() {
		t.Skip("builds meshmon; skipped with -short")
	}
	out := t.TempDir()
	host := runtime.GOOS + "/" + runtime.GOARCH
	cmd := exec.Command("../hack/release.sh", "v0.0.1-test", "--platforms", host, "--out", out)
	cmd.Env = append(os.Environ(), "MESHMON_RELEASE_ALLOW_PARTIAL=1")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("hack/release.sh: %v\n%s", err, b)
	}
	p := Platform{OS: runtime.GOOS, Arch: runtime.GOARCH}
	archive := filepath.Join(out, p.Archive("v0.0.1-test"))
	data, err := os.ReadFile(archive)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	manifest, err := os.ReadFile(filepath.Join(out, "meshmon.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(manifest), "sha256: \""+hex.EncodeToString(sum[:])+"\"") {
		t.Errorf("manifest does not carry the archive's sha256 %x", sum)
	}
	names := tarNames(t, archive)
	for _, f := range p.ArchiveFiles() {
		if !slices.Contains(names, f) {
			t.Errorf("archive lacks %s; has %v", f, names)
		}
	}
}

func tarNames(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	var names []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return names
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
	}
}
