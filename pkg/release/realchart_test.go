package release

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/chart/common"
	kubefake "helm.sh/helm/v4/pkg/kube/fake"
	rel "helm.sh/helm/v4/pkg/release/v1"
	"helm.sh/helm/v4/pkg/storage"
	"helm.sh/helm/v4/pkg/storage/driver"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/meshmon/meshmon/pkg/defaults"
	"github.com/meshmon/meshmon/pkg/fixtures"
	"github.com/meshmon/meshmon/pkg/scrape"
)

// secretTarget is a Target whose releases are stored as Helm stores them in a cluster:
// encoded into Secrets. Helm's memory driver keeps the Go objects, subcharts and all, so it
// cannot show what release storage loses.
func secretTarget(t *testing.T) *Target {
	t.Helper()
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	kc := fake.NewClientset()
	cfg := action.NewConfiguration(action.ConfigurationSetLogger(slog.DiscardHandler))
	cfg.Releases = storage.Init(driver.NewSecrets(kc.CoreV1().Secrets("linkerd-viz")))
	cfg.KubeClient = &kubefake.PrintingKubeClient{Out: io.Discard, LogOutput: io.Discard}
	cfg.Capabilities = common.DefaultCapabilities
	return &Target{Kube: kc, Helm: cfg, Namespace: "linkerd-viz", Release: defaults.ReleaseName}
}

// realChartCopy copies the real packaged prometheus chart (four subcharts) into a
// directory the test may delete, so that "the source is gone" can be played.
func realChartCopy(t *testing.T) string {
	t.Helper()
	data := fixtures.Read(t, "charts", "prometheus-29.27.0.tgz")
	p := filepath.Join(t.TempDir(), "prometheus-29.27.0.tgz")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// installWithAlertmanager installs the real chart from path with its alertmanager subchart
// enabled, as `install --chart path --set alertmanager.enabled=true` does.
func installWithAlertmanager(t *testing.T, tg *Target, path string) *LoadedChart {
	t.Helper()
	lc, err := LoadChart(context.Background(), ChartSource{Chart: path})
	if err != nil {
		t.Fatal(err)
	}
	if len(lc.Chart.Dependencies()) != 4 {
		t.Fatalf("the real chart has %d subcharts loaded, want 4", len(lc.Chart.Dependencies()))
	}
	p, err := NewPlan(context.Background(), PlanInput{
		Chart: lc, Values: defaultOptions(t), KubeVersion: "v1.37.1",
		UserValues: map[string]any{"alertmanager": map[string]any{"enabled": true}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Apply(context.Background(), tg, p, ApplyOptions{Timeout: time.Minute}); err != nil {
		t.Fatal(err)
	}
	return lc
}

const alertmanagerObject = "name: prometheus-alertmanager\n"

func addWest(current map[string]any) (map[string]any, bool, error) {
	s := scrape.FederationSource{Name: "west", URL: "http://10.1.0.1:9090"}
	if err := s.Normalize(); err != nil {
		return nil, false, err
	}
	return WithFederationSource(current, s)
}

func lastStored(t *testing.T, tg *Target) *rel.Release {
	t.Helper()
	h := history(t, tg)
	return h[len(h)-1]
}

// The bug: Helm's stored chart has no subcharts, so upgrading with it fails on the real
// chart. UpdateValues loads the chart again and the subchart's objects stay.
func TestUpgradeFromReleaseStorageFailsOnRealChart(t *testing.T) {
	tg := secretTarget(t)
	installWithAlertmanager(t, tg, fixtures.Path(t, "charts", "prometheus-29.27.0.tgz"))
	stored := lastStored(t, tg)
	if !strings.Contains(stored.Manifest, alertmanagerObject) {
		t.Fatalf("the install did not render the alertmanager subchart:\n%.2000s", stored.Manifest)
	}
	if n := len(stored.Chart.Dependencies()); n != 0 {
		t.Fatalf("release storage kept %d subcharts; the premise of this test no longer holds", n)
	}

	up := action.NewUpgrade(tg.Helm)
	up.Namespace = tg.Namespace
	if _, err := up.RunWithContext(context.Background(), tg.Release, stored.Chart, stored.Config); err == nil || !strings.Contains(err.Error(), "alertmanager") {
		t.Fatalf("upgrade with the stored chart: %v, want a failure on the missing alertmanager subchart", err)
	}

	for i, update := range []func(map[string]any) (map[string]any, bool, error){
		addWest,
		func(c map[string]any) (map[string]any, bool, error) {
			out, found, err := WithoutFederationSource(c, "west")
			return out, found, err
		},
	} {
		res, err := UpdateValues(context.Background(), tg, update, UpdateOptions{ApplyOptions: ApplyOptions{Timeout: time.Minute}})
		if err != nil {
			t.Fatalf("update %d: %v", i, err)
		}
		if res.Action != ActionUpgrade {
			t.Fatalf("update %d: %s", i, res.Action)
		}
		r := lastStored(t, tg)
		if !strings.Contains(r.Manifest, alertmanagerObject) {
			t.Errorf("update %d dropped the alertmanager subchart's objects", i)
		}
		if r.Chart.Metadata.Version != "29.27.0" || r.Labels[ChartDigestLabel] != stored.Labels[ChartDigestLabel] {
			t.Errorf("update %d changed the chart: %s, digest %s → %s", i, r.Chart.Metadata.Version, stored.Labels[ChartDigestLabel], r.Labels[ChartDigestLabel])
		}
	}
}

func TestInstallRecordsChartSourceAndCachesTheChart(t *testing.T) {
	tg := secretTarget(t)
	path := realChartCopy(t)
	lc := installWithAlertmanager(t, tg, path)
	o, ok, err := RecordedOrigin(lastStored(t, tg))
	if err != nil || !ok {
		t.Fatalf("no recorded origin: %v", err)
	}
	want := Origin{Kind: OriginLocal, Path: path, Name: "prometheus", Version: "29.27.0", Digest: lc.Digest}
	if o != want {
		t.Errorf("origin %+v, want %+v", o, want)
	}
	ch, _, err := cachedChart(lc.CacheDir, lc.Digest)
	if err != nil {
		t.Fatal(err)
	}
	if ChartDigest(ch) != lc.Digest || len(ch.Dependencies()) != 4 {
		t.Errorf("the cached chart is not the installed one: digest %s, %d subcharts", ChartDigest(ch), len(ch.Dependencies()))
	}
}

// With the source gone, the cached copy serves; with the cache cleared too, the update
// fails before writing and names --chart, which then works.
func TestUpdateValuesSourceGone(t *testing.T) {
	tg := secretTarget(t)
	path := realChartCopy(t)
	lc := installWithAlertmanager(t, tg, path)
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	up, err := PlanUpdate(context.Background(), tg, addWest, ChartReuse{})
	if err != nil {
		t.Fatal(err)
	}
	if !up.Chart.Cached || up.Chart.Digest != lc.Digest {
		t.Errorf("source gone: chart from %s (cached %v), want the cache", up.Chart.Origin, up.Chart.Cached)
	}

	if err := os.RemoveAll(lc.CacheDir); err != nil {
		t.Fatal(err)
	}
	_, err = UpdateValues(context.Background(), tg, addWest, UpdateOptions{ApplyOptions: ApplyOptions{Timeout: time.Minute}})
	var cu *ChartUnavailableError
	if !errors.As(err, &cu) || !strings.Contains(err.Error(), "--chart") || !strings.Contains(err.Error(), path) {
		t.Fatalf("source and cache gone: %v, want a ChartUnavailableError naming the source and --chart", err)
	}
	if n := len(history(t, tg)); n != 1 {
		t.Errorf("%d revisions after the refused update, want 1", n)
	}

	// Another chart is refused: a value-only upgrade keeps the chart.
	_, err = UpdateValues(context.Background(), tg, addWest, UpdateOptions{Chart: ChartReuse{Chart: fixtureChartDir(t)}})
	if err == nil || !strings.Contains(err.Error(), "keeps the chart") {
		t.Errorf("--chart with another chart: %v", err)
	}
	res, err := UpdateValues(context.Background(), tg, addWest, UpdateOptions{
		ApplyOptions: ApplyOptions{Timeout: time.Minute},
		Chart:        ChartReuse{Chart: fixtures.Path(t, "charts", "prometheus-29.27.0.tgz")},
	})
	if err != nil || res.Revision != 2 {
		t.Fatalf("--chart with the release's chart: %+v, %v", res, err)
	}
	if !strings.Contains(lastStored(t, tg).Manifest, alertmanagerObject) {
		t.Error("the subchart's objects were dropped")
	}
}

// A cache entry is used only when it hashes to the digest it is filed under.
func TestCachedChartDigestVerified(t *testing.T) {
	tg := secretTarget(t)
	path := realChartCopy(t)
	lc := installWithAlertmanager(t, tg, path)
	entry := filepath.Join(digestDir(lc.CacheDir), lc.Digest+".tgz")
	// Another real chart put in its place: loadable, but not the installed one.
	if err := os.WriteFile(entry, fixtures.Read(t, "charts", "linkerd-viz-2026.8.3.tgz"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := cachedChart(lc.CacheDir, lc.Digest); !errors.Is(err, ErrCachedChartTampered) {
		t.Fatalf("tampered entry: %v, want ErrCachedChartTampered", err)
	}

	// The source is still there: it serves, and the cache entry is put right.
	up, err := PlanUpdate(context.Background(), tg, addWest, ChartReuse{})
	if err != nil {
		t.Fatal(err)
	}
	if up.Chart.Cached || up.Chart.Digest != lc.Digest {
		t.Errorf("tampered cache: chart from %s (cached %v), want the recorded source", up.Chart.Origin, up.Chart.Cached)
	}
	if _, _, err := cachedChart(lc.CacheDir, lc.Digest); err != nil {
		t.Errorf("the cache entry was not rewritten: %v", err)
	}

	// Tampered again and the source gone: refused, nothing written.
	if err := os.WriteFile(entry, fixtures.Read(t, "charts", "linkerd-viz-2026.8.3.tgz"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	_, err = UpdateValues(context.Background(), tg, addWest, UpdateOptions{ApplyOptions: ApplyOptions{Timeout: time.Minute}})
	if err == nil || !strings.Contains(err.Error(), ErrCachedChartTampered.Error()) {
		t.Fatalf("tampered cache, source gone: %v", err)
	}
	if n := len(history(t, tg)); n != 1 {
		t.Errorf("%d revisions after the refused update, want 1", n)
	}
}

// A release made before the source was recorded is upgraded by install once to record it.
func TestInstallRecordsMissingSource(t *testing.T) {
	tg, _ := memTarget(t)
	p := testPlan(t, nil)
	mustApply(t, tg, p)
	r := lastStored(t, tg)
	delete(r.Chart.Metadata.Annotations, SourceAnnotation)
	st, err := Inspect(tg, p)
	if err != nil {
		t.Fatal(err)
	}
	if st.Action != ActionUpgrade || st.Reason != "chart source not recorded yet" {
		t.Errorf("install over an unrecorded source: %s (%s)", st.Action, st.Reason)
	}
}
