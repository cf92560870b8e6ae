package release

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	chart "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/loader"

	"github.com/meshmon/meshmon/pkg/defaults"
)

const (
	// VerifiedChartMajor is the chart major version meshmon's values were checked against.
	VerifiedChartMajor = 29
)

// ChartSource says where to get the prometheus chart.
type ChartSource struct {
	// Chart is a local chart directory, a packaged .tgz, or an oci:// reference; empty
	// means the chart named "prometheus" in Repo.
	Chart string
	// Repo is a classic chart repository URL (https://… serving index.yaml) or an OCI
	// registry namespace (oci://…); defaults to defaults.ChartRepo.
	Repo string
	// Version is an exact chart version. Empty means defaults.ChartVersion for remote charts
	// and whatever a local chart is.
	Version string
	// CacheDir holds downloaded charts; defaults to DefaultCacheDir().
	CacheDir string
	// Name is the chart's name in a repository or registry; empty means "prometheus".
	Name string
	// Flag is the command-line flag that names the chart, for the hints of errors
	// (--viz-chart for linkerd-viz); empty means --chart. Its version flag is Flag-version.
	Flag string
}

func (s ChartSource) flag() string {
	if s.Flag == "" {
		return "--chart"
	}
	return s.Flag
}

func (s ChartSource) name() string {
	if s.Name == "" {
		return chartName
	}
	return s.Name
}

// LoadedChart is a chart ready to install, with where it came from.
type LoadedChart struct {
	Chart *chart.Chart
	// Origin says where it was loaded from, for humans: a path, a URL or an OCI reference.
	Origin string
	// Cached is true when a remote chart came from the local cache without network.
	Cached bool
	// Digest identifies the chart's content (every file, subcharts included).
	Digest string
	// Warnings are reasons to double-check the chart, e.g. an untested major version.
	Warnings []string
	// Source is where to get this exact chart again, recorded on the release.
	Source Origin
	// CacheDir is the chart cache it is kept in once installed.
	CacheDir string
}

// Name is the loaded chart's name.
func (c *LoadedChart) Name() string { return c.Chart.Metadata.Name }

// Version is the loaded chart's version.
func (c *LoadedChart) Version() string { return c.Chart.Metadata.Version }

// DefaultCacheDir is where downloaded charts are kept: the user cache dir's meshmon/charts.
func DefaultCacheDir() (string, error) {
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("finding the user cache directory for downloaded charts: %w", err)
	}
	return filepath.Join(dir, "meshmon", "charts"), nil
}

// chartKind is how a ChartSource is fetched.
type chartKind int

const (
	chartLocal chartKind = iota
	chartClassicRepo
	chartOCI
	// chartURL is a packaged chart at an http(s) URL.
	chartURL
)

// resolved is a validated ChartSource.
type resolved struct {
	kind    chartKind
	path    string // local
	repo    string // classic repo URL
	ociRef  string // oci://host/path/name, without tag
	url     string // chartURL
	version string // exact version, "" only for local charts
}

// Validate checks the source without touching disk or network.
func (s ChartSource) Validate() error {
	_, err := s.resolve()
	return err
}

func (s ChartSource) resolve() (resolved, error) {
	if s.Version != "" {
		if !isExactVersion(s.Version) {
			return resolved{}, fmt.Errorf("chart version %q is not an exact version: give one like %s (meshmon installs exactly what it is told, never a range)", s.Version, defaults.ChartVersion)
		}
	}
	version := s.Version
	if version == "" {
		version = defaults.ChartVersion
	}
	switch {
	case strings.HasPrefix(s.Chart, "oci://"):
		if s.Repo != "" {
			return resolved{}, errors.New("--chart oci://… and --chart-repo both name the chart's origin; give only one")
		}
		ref, tag, err := splitOCITag(s.Chart, s.flag())
		if err != nil {
			return resolved{}, err
		}
		if tag != "" {
			if s.Version != "" && s.Version != tag {
				return resolved{}, fmt.Errorf("chart reference %s names version %s but %s-version is %s; give the version once", s.Chart, tag, s.flag(), s.Version)
			}
			version = tag
		}
		return resolved{kind: chartOCI, ociRef: ref, version: version}, nil
	case strings.HasPrefix(s.Chart, "http://") || strings.HasPrefix(s.Chart, "https://"):
		if s.Repo != "" {
			return resolved{}, errors.New("--chart with a URL and --chart-repo both name the chart's origin; give only one")
		}
		if !strings.HasSuffix(s.Chart, ".tgz") {
			// A URL that is not a package is a chart repository.
			return ChartSource{Repo: s.Chart, Version: s.Version, Name: s.Name, Flag: s.Flag}.resolve()
		}
		return resolved{kind: chartURL, url: s.Chart, version: s.Version}, nil
	case s.Chart != "":
		if s.Repo != "" {
			return resolved{}, errors.New("--chart with a local path and --chart-repo both name the chart's origin; give only one")
		}
		return resolved{kind: chartLocal, path: s.Chart, version: s.Version}, nil
	}
	repo := s.Repo
	if repo == "" {
		repo = defaults.ChartRepo
	}
	if strings.HasPrefix(repo, "oci://") {
		ref := strings.TrimSuffix(repo, "/") + "/" + s.name()
		if _, _, err := splitOCITag(ref, s.flag()); err != nil {
			return resolved{}, err
		}
		return resolved{kind: chartOCI, ociRef: ref, version: version}, nil
	}
	u, err := url.Parse(repo)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return resolved{}, fmt.Errorf("chart repository %q is not an http(s):// or oci:// URL (the default is %s)", repo, defaults.ChartRepo)
	}
	return resolved{kind: chartClassicRepo, repo: strings.TrimSuffix(repo, "/"), version: version}, nil
}

// exactVersion matches a semantic version (2.0.0), the form chart versions take.
var exactVersion = regexp.MustCompile(`^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$`)

func isExactVersion(v string) bool { return exactVersion.MatchString(v) }

func versionMajor(v string) (int, bool) {
	m := exactVersion.FindStringSubmatch(strings.TrimPrefix(v, "v"))
	if m == nil {
		return 0, false
	}
	n, err := strconv.Atoi(m[1])
	return n, err == nil
}

// splitOCITag splits oci://host/path/name:tag into the reference and the tag.
func splitOCITag(ref, flag string) (string, string, error) {
	rest := strings.TrimPrefix(ref, "oci://")
	host, path, ok := strings.Cut(rest, "/")
	if !ok || host == "" || path == "" || strings.Contains(path, "@") {
		return "", "", fmt.Errorf("OCI chart reference %q is invalid: write it like %s (a tag or %s-version picks the version; digests are not supported)", ref, defaults.OCIChart, flag)
	}
	name, tag, hasTag := strings.Cut(path, ":")
	if hasTag {
		if !isExactVersion(tag) {
			return "", "", fmt.Errorf("OCI chart reference %q has tag %q, which is not an exact chart version", ref, tag)
		}
	}
	return "oci://" + host + "/" + name, tag, nil
}

// LoadChart fetches (or finds in the cache) and loads the prometheus chart. Remote charts
// are downloaded once per repository, name and version; a cached copy is used without
// network.
func LoadChart(ctx context.Context, s ChartSource) (*LoadedChart, error) {
	lc, err := FetchChart(ctx, s)
	if err != nil {
		return nil, err
	}
	lc.warnUnverifiedMajor()
	return lc, nil
}

// FetchChart loads the chart s names (s.Name, default prometheus) and checks its name
// and, when s has one, its version; it knows nothing of what the chart is for.
func FetchChart(ctx context.Context, s ChartSource) (*LoadedChart, error) {
	r, err := s.resolve()
	if err != nil {
		return nil, err
	}
	cacheDir := s.CacheDir
	if cacheDir == "" {
		if cacheDir, err = DefaultCacheDir(); err != nil {
			return nil, err
		}
	}
	name := s.name()
	var lc *LoadedChart
	switch r.kind {
	case chartLocal:
		lc, err = loadLocal(r.path, s.flag())
	case chartClassicRepo:
		lc, err = fetchCached(ctx, cacheDir, r.repo, name, r.version, func(ctx context.Context) ([]byte, error) {
			return downloadFromRepo(ctx, r.repo, name, r.version, s.flag())
		})
	case chartOCI:
		lc, err = fetchCached(ctx, cacheDir, r.ociRef, name, r.version, func(ctx context.Context) ([]byte, error) {
			return pullOCI(ctx, r.ociRef, r.version, s.flag())
		})
	case chartURL:
		lc, err = fetchCached(ctx, cacheDir, r.url, name, r.version, func(ctx context.Context) ([]byte, error) {
			data, err := httpGet(ctx, r.url)
			if err != nil {
				return nil, fmt.Errorf("downloading chart %s: %w", r.url, err)
			}
			return data, nil
		})
	}
	if err != nil {
		return nil, err
	}
	if err := lc.check(name, r.version); err != nil {
		return nil, err
	}
	lc.CacheDir = cacheDir
	lc.Source = r.origin(lc)
	return lc, nil
}

func loadLocal(path, flag string) (*LoadedChart, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("chart %s: %w; %s takes a chart directory, a packaged .tgz or an oci:// reference", path, err, flag)
	}
	ch, err := loader.Load(path)
	if err != nil {
		return nil, fmt.Errorf("loading chart %s: %w", path, err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		abs = path
	}
	return &LoadedChart{Chart: ch, Origin: abs, Digest: ChartDigest(ch)}, nil
}

// check makes sure the chart is the one asked for.
func (c *LoadedChart) check(name, wantVersion string) error {
	md := c.Chart.Metadata
	if md == nil || md.Name != name {
		got := ""
		if md != nil {
			got = md.Name
		}
		if name == chartName {
			return fmt.Errorf("chart %s is %q, not the prometheus-community %q chart meshmon configures", c.Origin, got, chartName)
		}
		return fmt.Errorf("chart %s is %q, not the %q chart", c.Origin, got, name)
	}
	if wantVersion != "" && md.Version != wantVersion {
		return fmt.Errorf("chart %s has version %s, not the requested %s", c.Origin, md.Version, wantVersion)
	}
	return nil
}

// warnUnverifiedMajor flags a prometheus chart outside the series meshmon's values were
// checked against.
func (c *LoadedChart) warnUnverifiedMajor() {
	md := c.Chart.Metadata
	if major, ok := versionMajor(md.Version); !ok || major != VerifiedChartMajor {
		c.Warnings = append(c.Warnings, fmt.Sprintf("chart %s %s is outside the %d.x series meshmon's values were verified with; check the result with '--dry-run' and 'check'", md.Name, md.Version, VerifiedChartMajor))
	}
}

// ChartDigest identifies a chart by the content of all its files, subcharts included,
// so that the same chart reloaded from a directory, a tgz or the cache compares equal.
func ChartDigest(ch *chart.Chart) string {
	h := sha256.New()
	var walk func(c *chart.Chart, prefix string)
	walk = func(c *chart.Chart, prefix string) {
		type file struct {
			name string
			data []byte
		}
		var files []file
		for _, f := range c.Raw {
			files = append(files, file{f.Name, f.Data})
		}
		if len(files) == 0 {
			// Charts built in memory have no raw files; their parts stand in.
			for _, f := range append(slices.Clone(c.Templates), c.Files...) {
				files = append(files, file{f.Name, f.Data})
			}
			if c.Metadata != nil {
				files = append(files, file{"Chart.yaml", []byte(c.Metadata.Name + "\x00" + c.Metadata.Version + "\x00" + c.Metadata.AppVersion)})
			}
		}
		slices.SortFunc(files, func(a, b file) int { return strings.Compare(a.name, b.name) })
		for _, f := range files {
			fmt.Fprintf(h, "%s/%s\x00%d\x00", prefix, f.name, len(f.data))
			h.Write(f.data)
		}
		deps := slices.Clone(c.Dependencies())
		slices.SortFunc(deps, func(a, b *chart.Chart) int { return strings.Compare(a.Name(), b.Name()) })
		for _, d := range deps {
			walk(d, prefix+"/charts/"+d.Name())
		}
	}
	walk(ch, "")
	return hex.EncodeToString(h.Sum(nil))
}
