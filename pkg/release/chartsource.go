package release

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"

	chart "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	rel "helm.sh/helm/v4/pkg/release/v1"
)

// SourceAnnotation is set on the metadata of the chart stored with each revision and records where
// that chart came from (an Origin as JSON). Helm keeps release labels as Secret labels, too
// short for a URL; the chart's metadata travels with every revision and shows in `helm get`.
const SourceAnnotation = "meshmon.io/chart-source"

// OriginKind is how an Origin is fetched again.
type OriginKind string

// The origins a chart can have.
const (
	OriginRepo  OriginKind = "repo"
	OriginOCI   OriginKind = "oci"
	OriginURL   OriginKind = "url"
	OriginLocal OriginKind = "local"
)

// Origin says where to get one exact chart again: a classic repository with name and
// version, an OCI reference and version, a package URL, or a local path. Digest is what the
// chart must hash to (ChartDigest), wherever it is loaded from.
type Origin struct {
	Kind    OriginKind `json:"kind"`
	Repo    string     `json:"repo,omitempty"`
	Ref     string     `json:"ref,omitempty"`
	URL     string     `json:"url,omitempty"`
	Path    string     `json:"path,omitempty"`
	Name    string     `json:"name"`
	Version string     `json:"version"`
	Digest  string     `json:"digest"`
}

// String names the origin for humans.
func (o Origin) String() string {
	switch o.Kind {
	case OriginRepo:
		return fmt.Sprintf("%s %s from repository %s", o.Name, o.Version, o.Repo)
	case OriginOCI:
		return o.Ref + ":" + o.Version
	case OriginURL:
		return o.URL
	case OriginLocal:
		return o.Path
	}
	return "an unrecorded source"
}

func (r resolved) origin(lc *LoadedChart) Origin {
	o := Origin{Name: lc.Name(), Version: lc.Version(), Digest: lc.Digest}
	switch r.kind {
	case chartLocal:
		o.Kind, o.Path = OriginLocal, lc.Origin
	case chartClassicRepo:
		o.Kind, o.Repo = OriginRepo, r.repo
	case chartOCI:
		o.Kind, o.Ref = OriginOCI, r.ociRef
	case chartURL:
		o.Kind, o.URL = OriginURL, r.url
	}
	return o
}

// chartSource is the ChartSource that fetches the origin again.
func (o Origin) chartSource(cacheDir string) ChartSource {
	s := ChartSource{Name: o.Name, Version: o.Version, CacheDir: cacheDir}
	switch o.Kind {
	case OriginRepo:
		s.Repo = o.Repo
	case OriginOCI:
		s.Chart = o.Ref
	case OriginURL:
		s.Chart = o.URL
	case OriginLocal:
		s.Chart, s.Version = o.Path, ""
	}
	return s
}

// RecordedOrigin reads where a revision's chart came from; ok is false for a revision
// made without the record (by an older meshmon, or by helm itself).
func RecordedOrigin(r *rel.Release) (Origin, bool, error) {
	if r == nil || r.Chart == nil || r.Chart.Metadata == nil {
		return Origin{}, false, nil
	}
	raw, ok := r.Chart.Metadata.Annotations[SourceAnnotation]
	if !ok {
		return Origin{}, false, nil
	}
	var o Origin
	if err := json.Unmarshal([]byte(raw), &o); err != nil || o.Digest == "" {
		return Origin{}, false, fmt.Errorf("revision %d of release %s has an unreadable chart annotation %s (%q): it was edited by hand; run install again to rewrite it", r.Version, r.Name, SourceAnnotation, raw)
	}
	return o, true, nil
}

// storedChart is the chart as it goes into release storage: the loaded chart with its
// source recorded in the metadata annotations. The loaded chart is left as it was.
func storedChart(lc *LoadedChart) (*chart.Chart, error) {
	if lc.Source.Kind == "" {
		return lc.Chart, nil
	}
	raw, err := json.Marshal(lc.Source)
	if err != nil {
		return nil, fmt.Errorf("encoding the chart source: %w", err)
	}
	c := *lc.Chart
	md := *lc.Chart.Metadata
	md.Annotations = maps.Clone(md.Annotations)
	if md.Annotations == nil {
		md.Annotations = map[string]string{}
	}
	md.Annotations[SourceAnnotation] = string(raw)
	c.Metadata = &md
	return &c, nil
}

// digestDir holds one packaged chart per digest: the charts releases were made from, so a
// later value-only upgrade finds the same chart without network.
func digestDir(cacheDir string) string { return filepath.Join(cacheDir, "by-digest") }

// KeepChart stores lc in the chart cache under its digest, unless a verified copy is
// already there.
func KeepChart(lc *LoadedChart) error {
	dir := lc.CacheDir
	if dir == "" {
		var err error
		if dir, err = DefaultCacheDir(); err != nil {
			return err
		}
	}
	path := filepath.Join(digestDir(dir), lc.Digest+".tgz")
	if ch, err := loader.LoadFile(path); err == nil && ChartDigest(ch) == lc.Digest {
		return nil
	}
	data, err := archiveChart(lc.Chart)
	if err != nil {
		return err
	}
	if err := writeAtomic(path, data); err != nil {
		return fmt.Errorf("keeping a copy of chart %s %s in %s: %w (set XDG_CACHE_HOME to a writable directory)", lc.Name(), lc.Version(), filepath.Dir(path), err)
	}
	return nil
}

// archiveChart packages a loaded chart from the files it was loaded from (its Raw files
// include the subcharts under charts/), so that loading the package gives the same digest.
func archiveChart(ch *chart.Chart) ([]byte, error) {
	if len(ch.Raw) == 0 {
		return nil, fmt.Errorf("chart %s was not loaded from files and cannot be kept in the chart cache", ch.Name())
	}
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, f := range ch.Raw {
		hdr := &tar.Header{Name: ch.Name() + "/" + f.Name, Mode: 0o644, Size: int64(len(f.Data)), ModTime: f.ModTime, Typeflag: tar.TypeReg}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.Data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := gz.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// ErrCachedChartTampered means a chart cache entry does not hash to the digest it is
// filed under; it is never used.
var ErrCachedChartTampered = errors.New("the cached chart does not match its digest")

// cachedChart loads the chart filed under digest (a full digest, or the prefix the
// release label keeps) and verifies it hashes to it. A missing entry is os.ErrNotExist.
func cachedChart(cacheDir, digest string) (*chart.Chart, string, error) {
	if len(digest) < 16 || strings.ContainsAny(digest, `/\*?[`) {
		return nil, "", fmt.Errorf("chart digest %q is not one meshmon records", digest)
	}
	matches, err := filepath.Glob(filepath.Join(digestDir(cacheDir), digest+"*.tgz"))
	if err != nil {
		return nil, "", err
	}
	if len(matches) == 0 {
		return nil, "", fmt.Errorf("no chart with digest %s in %s: %w", short(digest), digestDir(cacheDir), os.ErrNotExist)
	}
	path := matches[0]
	ch, err := loader.LoadFile(path)
	if err != nil {
		return nil, path, fmt.Errorf("%w: %s cannot be loaded (%v)", ErrCachedChartTampered, path, err)
	}
	got := ChartDigest(ch)
	if filepath.Base(path) != got+".tgz" || !strings.HasPrefix(got, digest) {
		return nil, path, fmt.Errorf("%w: %s hashes to %s, not %s; it was not used (delete it)", ErrCachedChartTampered, path, short(got), short(digest))
	}
	return ch, path, nil
}

func short(digest string) string {
	if len(digest) > 12 {
		return digest[:12]
	}
	return digest
}

// ChartReuse says where an upgrade that keeps the release's chart may load it from.
type ChartReuse struct {
	// Chart supplies the chart (a directory, a packaged .tgz, an http(s) URL or an oci://
	// reference) when the cache and the recorded source cannot; it must be the very chart
	// the release runs.
	Chart string
	// CacheDir is the chart cache; defaults to DefaultCacheDir().
	CacheDir string
}

// DeployedChart loads the exact chart revision r runs: from o.Chart when given, else from
// the chart cache by digest, else from the source recorded on the release. Whatever it
// comes from must hash to the recorded digest and have the same version. Helm's stored
// copy is never used: release storage drops a chart's subcharts, so an upgrade from it
// fails, or silently deletes their objects.
func DeployedChart(ctx context.Context, r *rel.Release, o ChartReuse) (*LoadedChart, error) {
	if r.Chart == nil || r.Chart.Metadata == nil {
		return nil, fmt.Errorf("revision %d of release %s has no chart stored; run install to replace it", r.Version, r.Name)
	}
	name, version := r.Chart.Metadata.Name, r.Chart.Metadata.Version
	origin, recorded, err := RecordedOrigin(r)
	if err != nil {
		return nil, err
	}
	want := r.Labels[ChartDigestLabel]
	if recorded {
		want = origin.Digest
	}
	what := fmt.Sprintf("chart %s %s of release %s", name, version, r.Name)
	if want == "" {
		return nil, fmt.Errorf("revision %d of release %s records no chart digest (it was not made by meshmon): pass --chart with the chart it runs (%s %s), or run install", r.Version, r.Name, name, version)
	}
	cacheDir := o.CacheDir
	if cacheDir == "" {
		if cacheDir, err = DefaultCacheDir(); err != nil {
			return nil, err
		}
	}
	same := func(lc *LoadedChart) error {
		if lc.Version() != version || !strings.HasPrefix(lc.Digest, want) {
			return fmt.Errorf("chart %s is %s %s with digest %s, but release %s runs %s %s with digest %s: an upgrade that only changes values keeps the chart; give that exact chart, or change the chart with install",
				lc.Origin, lc.Name(), lc.Version(), short(lc.Digest), r.Name, name, version, short(want))
		}
		return nil
	}
	if o.Chart != "" {
		lc, err := FetchChart(ctx, ChartSource{Chart: o.Chart, Name: name, Version: version, CacheDir: cacheDir})
		if err != nil {
			return nil, fmt.Errorf("loading %s from --chart: %w", what, err)
		}
		if err := same(lc); err != nil {
			return nil, err
		}
		return lc, KeepChart(lc)
	}

	var reasons []string
	ch, path, err := cachedChart(cacheDir, want)
	if err == nil {
		lc := &LoadedChart{Chart: ch, Origin: path, Cached: true, Digest: ChartDigest(ch), CacheDir: cacheDir}
		if recorded {
			lc.Source = origin
		}
		if err := same(lc); err != nil {
			return nil, err
		}
		return lc, nil
	}
	reasons = append(reasons, err.Error())
	if recorded {
		lc, err := FetchChart(ctx, origin.chartSource(cacheDir))
		if err == nil {
			err = same(lc)
		}
		if err == nil {
			return lc, KeepChart(lc)
		}
		reasons = append(reasons, fmt.Sprintf("its recorded source %s: %v", origin, err))
	} else {
		reasons = append(reasons, "the release records no chart source (it was installed by an older meshmon)")
	}
	return nil, &ChartUnavailableError{Release: r.Name, Name: name, Version: version, Digest: want, Reasons: reasons}
}

// ChartUnavailableError means the chart a release runs could not be loaded from anywhere;
// nothing was changed.
type ChartUnavailableError struct {
	Release, Name, Version, Digest string
	Reasons                        []string
}

func (e *ChartUnavailableError) Error() string {
	return fmt.Sprintf("cannot load chart %s %s (digest %s) that release %s runs: %s. Nothing was changed: pass --chart with that exact chart (a chart directory, a packaged .tgz, an http(s) URL or an oci:// reference)",
		e.Name, e.Version, short(e.Digest), e.Release, strings.Join(e.Reasons, "; "))
}

// DescribeChart says where an upgrade gets its chart, for dry runs and progress lines.
func DescribeChart(lc *LoadedChart) string {
	s := fmt.Sprintf("chart %s %s (digest %s) from %s", lc.Name(), lc.Version(), short(lc.Digest), lc.Origin)
	if lc.Cached {
		s += " (cached)"
	}
	if lc.Source.Kind != "" && lc.Source.String() != lc.Origin {
		s += "; recorded source " + lc.Source.String()
	}
	return s
}
