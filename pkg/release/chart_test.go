package release

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"helm.sh/helm/v4/pkg/chart/v2/loader"
	chartutil "helm.sh/helm/v4/pkg/chart/v2/util"
	"helm.sh/helm/v4/pkg/registry"
	repo "helm.sh/helm/v4/pkg/repo/v1"
	"sigs.k8s.io/yaml"

	"github.com/meshmon/meshmon/pkg/defaults"
)

// packageFixture packages the fixture chart with Helm's packaging API, as `helm package`
// does, and returns the .tgz's path and bytes.
func packageFixture(t *testing.T, version string) (string, []byte) {
	t.Helper()
	ch, err := loader.Load(fixtureChartDir(t))
	if err != nil {
		t.Fatal(err)
	}
	if version != "" {
		ch.Metadata.Version = version
	}
	path, err := chartutil.Save(ch, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return path, data
}

func TestChartSourceResolve(t *testing.T) {
	for _, tc := range []struct {
		name    string
		src     ChartSource
		kind    chartKind
		ref     string
		version string
		err     string
	}{
		{name: "default", src: ChartSource{}, kind: chartClassicRepo, ref: defaults.ChartRepo, version: defaults.ChartVersion},
		{name: "repo with slash", src: ChartSource{Repo: "https://charts.example/x/", Version: "29.1.0"}, kind: chartClassicRepo, ref: "https://charts.example/x", version: "29.1.0"},
		{name: "oci default", src: ChartSource{Chart: defaults.OCIChart}, kind: chartOCI, ref: defaults.OCIChart, version: defaults.ChartVersion},
		{name: "oci tag", src: ChartSource{Chart: defaults.OCIChart + ":29.20.0"}, kind: chartOCI, ref: defaults.OCIChart, version: "29.20.0"},
		{name: "oci tag and same version", src: ChartSource{Chart: defaults.OCIChart + ":29.20.0", Version: "29.20.0"}, kind: chartOCI, ref: defaults.OCIChart, version: "29.20.0"},
		{name: "oci port", src: ChartSource{Chart: "oci://127.0.0.1:5000/charts/prometheus", Version: "1.2.3"}, kind: chartOCI, ref: "oci://127.0.0.1:5000/charts/prometheus", version: "1.2.3"},
		{name: "oci repo", src: ChartSource{Repo: "oci://ghcr.io/prometheus-community/charts/"}, kind: chartOCI, ref: defaults.OCIChart, version: defaults.ChartVersion},
		{name: "local", src: ChartSource{Chart: "./prometheus"}, kind: chartLocal, ref: "./prometheus"},
		{name: "oci tag mismatch", src: ChartSource{Chart: defaults.OCIChart + ":29.20.0", Version: "29.27.0"}, err: "give the version once"},
		{name: "oci digest", src: ChartSource{Chart: defaults.OCIChart + "@sha256:abc"}, err: "digests are not supported"},
		{name: "oci no path", src: ChartSource{Chart: "oci://ghcr.io"}, err: "is invalid"},
		{name: "oci bad tag", src: ChartSource{Chart: defaults.OCIChart + ":latest"}, err: "not an exact chart version"},
		{name: "range", src: ChartSource{Version: "29.x"}, err: "not an exact version"},
		{name: "v prefix", src: ChartSource{Version: "v29.27.0"}, err: "not an exact version"},
		{name: "two origins", src: ChartSource{Chart: "./x", Repo: defaults.ChartRepo}, err: "give only one"},
		{name: "bad repo", src: ChartSource{Repo: "ftp://charts"}, err: "not an http(s):// or oci:// URL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := tc.src.resolve()
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			ref := r.repo + r.ociRef + r.path
			if r.kind != tc.kind || ref != tc.ref || r.version != tc.version {
				t.Errorf("resolved %+v, want kind %d %s %s", r, tc.kind, tc.ref, tc.version)
			}
		})
	}
}

func TestLoadLocalChart(t *testing.T) {
	dir := fixtureChartDir(t)
	lc, err := LoadChart(context.Background(), ChartSource{Chart: dir})
	if err != nil {
		t.Fatal(err)
	}
	if lc.Name() != "prometheus" || lc.Version() != "29.27.0" || lc.Cached || len(lc.Warnings) != 0 {
		t.Errorf("loaded %+v", lc)
	}
	again, _ := LoadChart(context.Background(), ChartSource{Chart: dir})
	if again.Digest != lc.Digest || len(lc.Digest) != 64 {
		t.Errorf("digest is not stable: %s vs %s", lc.Digest, again.Digest)
	}

	tgz, _ := packageFixture(t, "")
	fromTgz, err := LoadChart(context.Background(), ChartSource{Chart: tgz, Version: "29.27.0"})
	if err != nil {
		t.Fatal(err)
	}
	if fromTgz.Version() != "29.27.0" {
		t.Errorf("tgz version %s", fromTgz.Version())
	}

	if _, err := LoadChart(context.Background(), ChartSource{Chart: dir, Version: "29.1.0"}); err == nil || !strings.Contains(err.Error(), "not the requested 29.1.0") {
		t.Errorf("version mismatch: %v", err)
	}
	if _, err := LoadChart(context.Background(), ChartSource{Chart: filepath.Join(t.TempDir(), "nope")}); err == nil || !strings.Contains(err.Error(), "--chart takes") {
		t.Errorf("missing path: %v", err)
	}

	other, err := loader.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	other.Metadata.Name = "grafana"
	otherPath, err := chartutil.Save(other, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := LoadChart(context.Background(), ChartSource{Chart: otherPath}); err == nil || !strings.Contains(err.Error(), `not the prometheus-community "prometheus" chart`) {
		t.Errorf("another chart: %v", err)
	}

	old, _ := packageFixture(t, "25.0.0")
	lcOld, err := LoadChart(context.Background(), ChartSource{Chart: old})
	if err != nil {
		t.Fatal(err)
	}
	if len(lcOld.Warnings) != 1 || !strings.Contains(lcOld.Warnings[0], "outside the 29.x series") {
		t.Errorf("chart 25 warnings: %v", lcOld.Warnings)
	}
}

func TestChartDigestSeesContent(t *testing.T) {
	a, err := loader.Load(fixtureChartDir(t))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := loader.Load(fixtureChartDir(t))
	if ChartDigest(a) != ChartDigest(b) {
		t.Fatal("the same chart has two digests")
	}
	b.Raw[0].Data = append([]byte("# edited\n"), b.Raw[0].Data...)
	if ChartDigest(a) == ChartDigest(b) {
		t.Error("editing a file does not change the digest")
	}
}

// chartRepo serves a classic Helm repository (index.yaml plus a package) on 127.0.0.1
// and counts the requests it gets.
type chartRepo struct {
	*httptest.Server
	hits atomic.Int32
}

func newChartRepo(t *testing.T, tgz []byte, version, digest string) *chartRepo {
	t.Helper()
	ch, err := loader.LoadArchive(strings.NewReader(string(tgz)))
	if err != nil {
		t.Fatal(err)
	}
	idx := repo.NewIndexFile()
	file := "prometheus-" + version + ".tgz"
	// A relative URL, as `helm repo index` writes it.
	if err := idx.MustAdd(ch.Metadata, file, "", digest); err != nil {
		t.Fatal(err)
	}
	index, err := yaml.Marshal(idx)
	if err != nil {
		t.Fatal(err)
	}
	r := &chartRepo{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.hits.Add(1)
		switch req.URL.Path {
		case "/charts/index.yaml":
			_, _ = w.Write(index)
		case "/charts/" + file:
			_, _ = w.Write(tgz)
		default:
			http.NotFound(w, req)
		}
	}))
	t.Cleanup(r.Close)
	return r
}

func sha(data []byte) string {
	s := sha256.Sum256(data)
	return hex.EncodeToString(s[:])
}

func TestLoadChartFromRepositoryAndCache(t *testing.T) {
	_, tgz := packageFixture(t, "")
	srv := newChartRepo(t, tgz, "29.27.0", sha(tgz))
	cache := t.TempDir()
	src := ChartSource{Repo: srv.URL + "/charts", CacheDir: cache}

	lc, err := LoadChart(context.Background(), src)
	if err != nil {
		t.Fatal(err)
	}
	if lc.Cached || lc.Version() != defaults.ChartVersion || srv.hits.Load() != 2 {
		t.Fatalf("first load: cached %v, version %s, %d requests (want index + package)", lc.Cached, lc.Version(), srv.hits.Load())
	}
	cached := cachePath(cache, srv.URL+"/charts", chartName, defaults.ChartVersion)
	if data, err := os.ReadFile(cached); err != nil || sha(data) != sha(tgz) {
		t.Fatalf("the download was not cached at %s: %v", cached, err)
	}

	// The cached copy needs no network at all.
	srv.Close()
	again, err := LoadChart(context.Background(), src)
	if err != nil {
		t.Fatalf("loading from the cache with the repository down: %v", err)
	}
	if !again.Cached || again.Digest != lc.Digest {
		t.Errorf("second load: cached %v, digest %s vs %s", again.Cached, again.Digest, lc.Digest)
	}
}

func TestLoadChartFromRepositoryErrors(t *testing.T) {
	_, tgz := packageFixture(t, "")
	srv := newChartRepo(t, tgz, "29.27.0", sha(tgz))
	_, err := LoadChart(context.Background(), ChartSource{Repo: srv.URL + "/charts", Version: "29.1.0", CacheDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "has no prometheus chart version 29.1.0") || !strings.Contains(err.Error(), "--chart-version") {
		t.Errorf("missing version: %v", err)
	}

	bad := newChartRepo(t, tgz, "29.27.0", strings.Repeat("ab", 32))
	cache := t.TempDir()
	_, err = LoadChart(context.Background(), ChartSource{Repo: bad.URL + "/charts", CacheDir: cache})
	if err == nil || !strings.Contains(err.Error(), "corrupt") {
		t.Errorf("digest mismatch: %v", err)
	}
	if _, statErr := os.Stat(cachePath(cache, bad.URL+"/charts", chartName, defaults.ChartVersion)); statErr == nil {
		t.Error("a corrupt download was cached")
	}

	_, err = LoadChart(context.Background(), ChartSource{Repo: srv.URL + "/nothing", CacheDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "404") || !strings.Contains(err.Error(), "--chart") {
		t.Errorf("missing repository: %v", err)
	}
}

// ociRegistry is a read-only OCI distribution endpoint on 127.0.0.1 holding one chart,
// laid out the way `helm push` stores it: a manifest whose config is the chart's
// metadata and whose single layer is the package.
func ociRegistry(t *testing.T, repoPath, tag string, tgz []byte) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	ch, err := loader.LoadArchive(strings.NewReader(string(tgz)))
	if err != nil {
		t.Fatal(err)
	}
	config, err := json.Marshal(ch.Metadata)
	if err != nil {
		t.Fatal(err)
	}
	blobs := map[string][]byte{"sha256:" + sha(config): config, "sha256:" + sha(tgz): tgz}
	manifest, err := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.manifest.v1+json",
		"config":        map[string]any{"mediaType": registry.ConfigMediaType, "digest": "sha256:" + sha(config), "size": len(config)},
		"layers":        []any{map[string]any{"mediaType": registry.ChartLayerMediaType, "digest": "sha256:" + sha(tgz), "size": len(tgz)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	manifestDigest := "sha256:" + sha(manifest)
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		hits.Add(1)
		p := req.URL.Path
		switch {
		case p == "/v2/":
			w.WriteHeader(http.StatusOK)
		case p == "/v2/"+repoPath+"/manifests/"+tag || p == "/v2/"+repoPath+"/manifests/"+manifestDigest:
			w.Header().Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
			w.Header().Set("Docker-Content-Digest", manifestDigest)
			w.Header().Set("Content-Length", fmt.Sprint(len(manifest)))
			if req.Method != http.MethodHead {
				_, _ = w.Write(manifest)
			}
		case strings.HasPrefix(p, "/v2/"+repoPath+"/blobs/"):
			data, ok := blobs[strings.TrimPrefix(p, "/v2/"+repoPath+"/blobs/")]
			if !ok {
				http.NotFound(w, req)
				return
			}
			w.Header().Set("Content-Length", fmt.Sprint(len(data)))
			if req.Method != http.MethodHead {
				_, _ = w.Write(data)
			}
		default:
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}`)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

// TestLoadChartFromOCI pulls the chart with Helm's registry client from an in-process
// registry on loopback, then from the cache.
func TestLoadChartFromOCI(t *testing.T) {
	// No credentials from the developer's machine: Helm and Docker config live here.
	home := t.TempDir()
	t.Setenv("HELM_CONFIG_HOME", home)
	t.Setenv("DOCKER_CONFIG", home)
	_, tgz := packageFixture(t, "")
	srv, hits := ociRegistry(t, "charts/prometheus", "29.27.0", tgz)
	ref := "oci://" + strings.TrimPrefix(srv.URL, "http://") + "/charts/prometheus"
	cache := t.TempDir()

	lc, err := LoadChart(context.Background(), ChartSource{Chart: ref, CacheDir: cache})
	if err != nil {
		t.Fatal(err)
	}
	if lc.Cached || lc.Version() != "29.27.0" || hits.Load() == 0 {
		t.Fatalf("OCI load: cached %v, version %s, %d requests", lc.Cached, lc.Version(), hits.Load())
	}
	if _, err := LoadChart(context.Background(), ChartSource{Chart: ref, Version: "29.1.0", CacheDir: cache}); err == nil || !strings.Contains(err.Error(), "pulling chart") || !strings.Contains(err.Error(), "--chart-version") {
		t.Errorf("a tag the registry does not have: %v", err)
	}
	srv.Close()
	again, err := LoadChart(context.Background(), ChartSource{Chart: ref + ":29.27.0", CacheDir: cache})
	if err != nil {
		t.Fatalf("loading from the cache with the registry down: %v", err)
	}
	if !again.Cached || again.Digest != lc.Digest {
		t.Errorf("second load: cached %v", again.Cached)
	}
}
