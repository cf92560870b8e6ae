package viz

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	releasev1 "helm.sh/helm/v4/pkg/release/v1"

	"github.com/meshmon/meshmon/pkg/defaults"
	"github.com/meshmon/meshmon/pkg/release"
)

// ChartOptions say where the linkerd-viz chart for an upgrade of a Helm-installed viz
// comes from. Helm's release storage keeps no subcharts, and every published linkerd-viz
// chart needs its `partials` library chart, so the stored chart cannot be upgraded with.
type ChartOptions struct {
	// Chart replaces Linkerd's repository (--viz-chart): a chart directory, a packaged
	// .tgz, an http(s) URL of a package or of a chart repository, or an oci:// reference.
	Chart string
	// Version allows a chart version other than the deployed one (--viz-chart-version).
	Version string
	// EdgeRepo and StableRepo are Linkerd's Helm repositories of each channel;
	// defaults.LinkerdEdgeRepo and defaults.LinkerdStableRepo when empty.
	EdgeRepo, StableRepo string
	// CacheDir is the chart cache; release.DefaultCacheDir() when empty.
	CacheDir string
}

// Validate checks the options without touching disk or network.
func (o ChartOptions) Validate() error {
	if err := (release.ChartSource{Chart: o.Chart, Version: o.Version, Name: ChartName, Flag: "--viz-chart"}).Validate(); err != nil {
		return fmt.Errorf("--viz-chart/--viz-chart-version: %w", err)
	}
	return nil
}

// ErrChartUnavailable is wrapped when the chart for the upgrade cannot be loaded; nothing
// has been written then.
var ErrChartUnavailable = errors.New("the linkerd-viz chart cannot be loaded")

// calendarVersion is an edge chart's version (2026.8.3 for edge-26.8.3).
var calendarVersion = regexp.MustCompile(`^20[0-9]{2}\.[0-9]+\.[0-9]+$`)

// edge tells an edge release from a stable one by the chart's appVersion or version.
func edge(appVersion, version string) bool {
	return strings.HasPrefix(appVersion, "edge-") || calendarVersion.MatchString(version)
}

// repoFor is Linkerd's Helm repository for the channel of the deployed chart.
func (o ChartOptions) repoFor(rel *releasev1.Release) string {
	md := rel.Chart.Metadata
	if edge(md.AppVersion, md.Version) {
		if o.EdgeRepo != "" {
			return o.EdgeRepo
		}
		return defaults.LinkerdEdgeRepo
	}
	if o.StableRepo != "" {
		return o.StableRepo
	}
	return defaults.LinkerdStableRepo
}

// wantVersion is the chart version the upgrade uses: the deployed one unless told.
func (o ChartOptions) wantVersion(rel *releasev1.Release) string {
	if o.Version != "" {
		return o.Version
	}
	return rel.Chart.Metadata.Version
}

// chartFor describes where the chart would come from, before loading it.
func (o ChartOptions) source(rel *releasev1.Release) release.ChartSource {
	s := release.ChartSource{Name: ChartName, Version: o.wantVersion(rel), CacheDir: o.CacheDir, Flag: "--viz-chart"}
	if o.Chart != "" {
		s.Chart = o.Chart
	} else {
		s.Repo = o.repoFor(rel)
	}
	return s
}

// loadChart loads the linkerd-viz chart for an upgrade of rel, refusing one whose version
// is not the deployed one (or --viz-chart-version). fix is the helm command that makes the
// same change by hand; it goes into the error when the chart cannot be loaded.
func loadChart(ctx context.Context, rel *releasev1.Release, o ChartOptions, fix string) (*release.LoadedChart, error) {
	deployed, want := rel.Chart.Metadata.Version, o.wantVersion(rel)
	s := o.source(rel)
	lc, err := release.FetchChart(ctx, s)
	if err == nil && lc.Version() != want {
		err = fmt.Errorf("chart %s is linkerd-viz %s, not %s", lc.Origin, lc.Version(), want)
	}
	if err == nil {
		return lc, nil
	}
	from := s.Chart
	if from == "" {
		from = "Linkerd's Helm repository " + s.Repo
	}
	hint := ""
	if o.Version == "" {
		hint = " (the deployed one; to upgrade viz to another version with the same change, add --viz-chart-version)"
	} else if want != deployed {
		hint = fmt.Sprintf(" (--viz-chart-version; %s is deployed)", deployed)
	}
	return nil, fmt.Errorf("%w for Helm release %s/%s from %s: %v.\n"+
		"Nothing was changed. Helm's release storage lacks the chart's subcharts (linkerd-viz needs its partials library chart), so the upgrade needs the chart itself: "+
		"pass --viz-chart with linkerd-viz %s%s as a chart directory, a packaged .tgz, an http(s) URL of it or of a chart repository, or an oci:// reference.\n"+
		"Or make the change where you deploy viz (GitOps):\n  %s",
		ErrChartUnavailable, rel.Namespace, rel.Name, from, err, want, hint, fix)
}

// helmUpgradeCommand is the helm CLI command that upgrades rel with the chart o names,
// its values reused and sets applied in order.
func helmUpgradeCommand(rel *releasev1.Release, o ChartOptions, sets [][2]string) string {
	chart := o.Chart
	if chart == "" {
		chart = ChartName + " --repo " + o.repoFor(rel)
	}
	b := fmt.Sprintf("helm upgrade %s %s --version %s --namespace %s --reuse-values", rel.Name, chart, o.wantVersion(rel), rel.Namespace)
	for _, kv := range sets {
		b += " --set " + shellQuote(kv[0]+"="+kv[1])
	}
	return b
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\n'\"\\$`!*?[]{}()<>|&;#~") {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// setValue is how --set writes a previous value back; null removes the key.
func setValue(p previousValue) string {
	if !p.Set || p.Value == nil {
		return "null"
	}
	return fmt.Sprint(p.Value)
}

// CheckChart loads the chart a Helm-installed viz would be upgraded with (to point it at
// prometheusURL), so that a chart that cannot be had stops an install in preflight, before
// its first write. A viz installed otherwise needs no chart.
func CheckChart(ctx context.Context, c Clients, in Install, o ChartOptions, prometheusURL string) error {
	if in.Method != MethodHelm || in.Release == nil {
		return nil
	}
	rel, err := lastRelease(c, in.Release.Namespace, in.Release.Name)
	if err != nil {
		return err
	}
	fix := helmUpgradeCommand(rel, o, [][2]string{{valuePrometheusURL, prometheusURL}, {valuePrometheus + "." + valueEnabled, "false"}})
	_, err = loadChart(ctx, rel, o, fix)
	return err
}
