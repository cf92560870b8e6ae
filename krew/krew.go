// Package krew renders and validates meshmon's krew plugin manifest.
package krew

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"text/template"

	"sigs.k8s.io/yaml"
)

//go:embed meshmon.yaml
var manifestTemplate string

// Platforms krew users install meshmon on.
var Platforms = []Platform{
	{OS: "linux", Arch: "amd64"}, {OS: "linux", Arch: "arm64"},
	{OS: "darwin", Arch: "amd64"}, {OS: "darwin", Arch: "arm64"},
	{OS: "windows", Arch: "amd64"}, {OS: "windows", Arch: "arm64"},
}

// Platform is one release archive.
type Platform struct {
	OS, Arch string
	// SHA256 of the archive, filled in by the release script.
	SHA256 string
}

// Binary is the plugin executable's name inside the archive.
func (p Platform) Binary() string {
	if p.OS == "windows" {
		return "kubectl-meshmon.exe"
	}
	return "kubectl-meshmon"
}

// Archive is the release asset's file name for a version.
func (p Platform) Archive(version string) string {
	return fmt.Sprintf("meshmon_%s_%s_%s.tar.gz", version, p.OS, p.Arch)
}

// ArchiveFiles are the files every archive must contain.
func (p Platform) ArchiveFiles() []string {
	return []string{p.Binary(), "LICENSE"}
}

// Render fills the template for a version; platforms carry the checksums.
func Render(version string, platforms []Platform) ([]byte, error) {
	tmpl, err := template.New("meshmon.yaml").Parse(manifestTemplate)
	if err != nil {
		return nil, fmt.Errorf("parsing the krew manifest template: %w", err)
	}
	type view struct {
		OS, Arch, SHA256, Binary, Archive string
	}
	data := struct {
		Version   string
		Platforms []view
	}{Version: version}
	for _, p := range platforms {
		data.Platforms = append(data.Platforms, view{p.OS, p.Arch, p.SHA256, p.Binary(), p.Archive(version)})
	}
	var b bytes.Buffer
	if err := tmpl.Execute(&b, data); err != nil {
		return nil, fmt.Errorf("rendering the krew manifest: %w", err)
	}
	return b.Bytes(), nil
}

// Manifest is the part of krew's Plugin type that its validation reads.
type Manifest struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Spec struct {
		Version          string `json:"version"`
		ShortDescription string `json:"shortDescription"`
		Description      string `json:"description"`
		Homepage         string `json:"homepage"`
		Caveats          string `json:"caveats"`
		Platforms        []struct {
			Selector *struct {
				MatchLabels map[string]string `json:"matchLabels"`
			} `json:"selector"`
			URI    string `json:"uri"`
			SHA256 string `json:"sha256"`
			Bin    string `json:"bin"`
			Files  []struct {
				From string `json:"from"`
				To   string `json:"to"`
			} `json:"files"`
		} `json:"platforms"`
	} `json:"spec"`
}

var (
	safeName = regexp.MustCompile(`^[\w-]+$`)
	sha256Re = regexp.MustCompile(`^[a-f0-9]{64}$`)
	// krew parses versions as semver with a mandatory leading "v".
	semverRe = regexp.MustCompile(`^v(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$`)
)

// Validate applies krew's manifest rules plus krew-index's conventions
// (shortDescription at most 50 characters, the six common platforms, the
// LICENSE shipped in every archive).
func Validate(raw []byte) error {
	var m Manifest
	// Strict: a misspelt key would silently vanish in krew.
	if err := yaml.UnmarshalStrict(raw, &m); err != nil {
		return fmt.Errorf("decoding manifest: %w", err)
	}
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if m.APIVersion != "krew.googlecontainertools.github.com/v1alpha2" {
		add("apiVersion %q is not krew's v1alpha2", m.APIVersion)
	}
	if m.Kind != "Plugin" {
		add("kind %q, want Plugin", m.Kind)
	}
	if !safeName.MatchString(m.Metadata.Name) || m.Metadata.Name != strings.ToLower(m.Metadata.Name) {
		add("plugin name %q must be lowercase and match %s", m.Metadata.Name, safeName)
	}
	if !semverRe.MatchString(m.Spec.Version) {
		add("version %q is not semver with a leading v", m.Spec.Version)
	}
	sd := m.Spec.ShortDescription
	switch {
	case sd == "":
		add("shortDescription is empty")
	case strings.ContainsAny(sd, "\r\n"):
		add("shortDescription has a line break")
	case len([]rune(sd)) > 50:
		add("shortDescription is %d characters, krew-index allows 50", len([]rune(sd)))
	}
	if len(m.Spec.Platforms) == 0 {
		add("no platforms")
	}
	seen := map[string]bool{}
	for i, p := range m.Spec.Platforms {
		where := fmt.Sprintf("platform %d", i)
		if p.Selector == nil || len(p.Selector.MatchLabels) == 0 {
			add("%s: empty selector", where)
			continue
		}
		for k := range p.Selector.MatchLabels {
			if k != "os" && k != "arch" {
				add("%s: selector key %q not supported (only os, arch)", where, k)
			}
		}
		key := p.Selector.MatchLabels["os"] + "/" + p.Selector.MatchLabels["arch"]
		where = "platform " + key
		seen[key] = true
		if p.URI == "" {
			add("%s: uri not set", where)
		}
		if !sha256Re.MatchString(p.SHA256) {
			add("%s: sha256 %q must be 64 lowercase hex digits", where, p.SHA256)
		}
		wantBin := "kubectl-meshmon"
		if p.Selector.MatchLabels["os"] == "windows" {
			wantBin += ".exe"
		}
		if p.Bin != wantBin {
			add("%s: bin %q, want %q", where, p.Bin, wantBin)
		}
		if p.Files != nil && len(p.Files) == 0 {
			add("%s: files must be unset or non-empty", where)
		}
		hasLicense := false
		for _, f := range p.Files {
			if f.From == "" || f.To == "" {
				add("%s: files entries need from and to", where)
			}
			if f.From == "LICENSE" {
				hasLicense = true
			}
		}
		if !hasLicense {
			add("%s: LICENSE is not installed from the archive", where)
		}
	}
	for _, p := range Platforms {
		if !seen[p.OS+"/"+p.Arch] {
			add("platform %s/%s missing", p.OS, p.Arch)
		}
	}
	return errors.Join(errs...)
}
