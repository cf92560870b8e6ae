package kubectl

import (
	"os"
	"slices"
	"testing"

	"sigs.k8s.io/yaml"
)

// goreleaser writes the archives and the krew manifest, and krew itself
// checks the manifest in the e2e test that installs it (e2e/foundation).
// What neither checks is krew-index's review conventions and the promises
// this package makes; they live in .goreleaser.yaml, so they are checked
// there.
type releaseConfig struct {
	Builds []struct {
		ID     string   `json:"id"`
		Main   string   `json:"main"`
		Binary string   `json:"binary"`
		Goos   []string `json:"goos"`
		Goarch []string `json:"goarch"`
	} `json:"builds"`
	Archives []struct {
		ID    string   `json:"id"`
		IDs   []string `json:"ids"`
		Files []struct {
			Src string `json:"src"`
		} `json:"files"`
	} `json:"archives"`
	Krews []struct {
		Name             string   `json:"name"`
		IDs              []string `json:"ids"`
		ShortDescription string   `json:"short_description"`
	} `json:"krews"`
}

func readReleaseConfig(t *testing.T) releaseConfig {
	t.Helper()
	raw, err := os.ReadFile("../../.goreleaser.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var c releaseConfig
	if err := yaml.Unmarshal(raw, &c); err != nil {
		t.Fatalf(".goreleaser.yaml: %v", err)
	}
	return c
}

func TestReleaseShipsThePluginOncePerArchiveForTheCommonPlatforms(t *testing.T) {
	c := readReleaseConfig(t)
	if len(c.Builds) != 1 {
		t.Fatalf("%d builds, want one: the program ships once and is linked as the Linkerd extension", len(c.Builds))
	}
	b := c.Builds[0]
	if b.Binary != Binary || b.Main != "./cmd/"+Binary {
		t.Errorf("build %s: binary %q from %q, want %s from ./cmd/%s (kubectl finds the plugin by that name)", b.ID, b.Binary, b.Main, Binary, Binary)
	}
	// krew-index expects the platforms its users have.
	for _, os := range []string{"linux", "darwin", "windows"} {
		if !slices.Contains(b.Goos, os) {
			t.Errorf("build %s lacks goos %s", b.ID, os)
		}
	}
	for _, arch := range []string{"amd64", "arm64"} {
		if !slices.Contains(b.Goarch, arch) {
			t.Errorf("build %s lacks goarch %s", b.ID, arch)
		}
	}
	if len(c.Archives) != 1 {
		t.Fatalf("%d archives, want one per platform from one archive config", len(c.Archives))
	}
	var files []string
	for _, f := range c.Archives[0].Files {
		files = append(files, f.Src)
	}
	// krew-index requires the licence in every archive; the completion
	// helper is what kubectl asks for `kubectl meshmon <TAB>`.
	for _, want := range []string{"LICENSE", "plugins/kubectl/" + CompletionHelper} {
		if !slices.Contains(files, want) {
			t.Errorf("archive files %v lack %s", files, want)
		}
	}
}

func TestKrewManifestFollowsKrewIndexConventions(t *testing.T) {
	c := readReleaseConfig(t)
	if len(c.Krews) != 1 {
		t.Fatalf("%d krew manifests, want 1", len(c.Krews))
	}
	k := c.Krews[0]
	if k.Name != "meshmon" {
		t.Errorf("krew plugin name %q, want meshmon (kubectl-meshmon)", k.Name)
	}
	if !slices.Equal(k.IDs, []string{c.Archives[0].ID}) {
		t.Errorf("krew manifest built from archives %v, want [%s]", k.IDs, c.Archives[0].ID)
	}
	// krew-index's review guideline; krew itself does not enforce it.
	if n := len([]rune(k.ShortDescription)); n == 0 || n > 50 {
		t.Errorf("short_description is %d characters, krew-index allows 1-50", n)
	}
}
