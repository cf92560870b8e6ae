package release

import (
	"math/big"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/meshmon/meshmon/pkg/defaults"
)

// TestServerFullname compares with the names chart 29 rendered in reference-rendered.yaml
// and with the chart's naming rule for releases not containing "prometheus".
func TestServerFullname(t *testing.T) {
	rendered := fixtureDocs(t, "prometheus-chart", "reference-rendered.yaml")
	var saName, deployName string
	for _, d := range rendered {
		md, _ := d["metadata"].(map[string]any)
		switch d["kind"] {
		case "ServiceAccount":
			saName, _ = md["name"].(string)
		case "Deployment":
			deployName, _ = md["name"].(string)
		}
	}
	if got := ServerFullname(defaults.ReleaseName); got != saName || got != deployName {
		t.Errorf("ServerFullname(%q) = %q; chart rendered ServiceAccount %q, Deployment %q", defaults.ReleaseName, got, saName, deployName)
	}
	tests := map[string]string{
		"metrics":       "metrics-prometheus-server",
		"my-prometheus": "my-prometheus-server",
		// Truncated to 63 characters, then a dangling "-" dropped, as the chart does.
		strings.Repeat("a", 53):                 strings.Repeat("a", 53) + "-prometheu",
		strings.Repeat("b", 51):                 strings.Repeat("b", 51) + "-prometheus",
		strings.Repeat("c", 44) + "-prometheus": strings.Repeat("c", 44) + "-prometheus-server",
	}
	for release, want := range tests {
		got := ServerFullname(release)
		if got != want {
			t.Errorf("ServerFullname(%q) = %q, want %q", release, got, want)
		}
		if len(got) > 63 || strings.HasSuffix(got, "-") {
			t.Errorf("ServerFullname(%q) = %q is not a valid name", release, got)
		}
	}
	r, _, err := defaultOptions(t).Resolve()
	if err != nil {
		t.Fatal(err)
	}
	if r.ServiceAccountName != saName {
		t.Errorf("default ServiceAccountName = %q, chart default is %q", r.ServiceAccountName, saName)
	}
}

func TestClusterRoleNameUnique(t *testing.T) {
	resolve := func(ns, release string) string {
		o := defaultOptions(t)
		o.Namespace, o.ReleaseName = ns, release
		r, _, err := o.Resolve()
		if err != nil {
			t.Fatal(err)
		}
		return r.ClusterRoleNameOverride
	}
	names := map[string]bool{}
	for _, c := range [][2]string{
		{"linkerd-viz", "prometheus"},
		{"monitoring", "prometheus"},
		{"linkerd-viz", "metrics"},
		{strings.Repeat("n", 60), "prometheus"},
		{strings.Repeat("n", 60) + "x", "prometheus"},
	} {
		name := resolve(c[0], c[1])
		if len(name) > 63 || strings.HasSuffix(name, "-") {
			t.Errorf("cluster role name %q for %s/%s is not a valid name", name, c[0], c[1])
		}
		if names[name] {
			t.Errorf("cluster role name %q is shared by two releases", name)
		}
		names[name] = true
	}
	if got := ServerFullname("prometheus"); names[got] {
		t.Errorf("a default cluster role name equals the chart's own default %q", got)
	}
}

func TestRetentionSizeDefault(t *testing.T) {
	tests := map[string]string{
		"20Gi":  "18GB",
		"10Gi":  "9GB",
		"100Gi": "90GB",
		"8Gi":   "7372MB",
		"1Ti":   "921GB",
		"2Gi":   "1843MB",
		"20G":   "17166MB",
		"1Mi":   "921KB",
	}
	for size, want := range tests {
		got := retentionSizeFor(resource.MustParse(size))
		if got != want {
			t.Errorf("retention size for %s = %s, want %s", size, got, want)
		}
		bytes, err := parseRetentionSize(got)
		if err != nil {
			t.Fatalf("%s does not parse back: %v", got, err)
		}
		vol := quantityBytes(resource.MustParse(size))
		ratio, _ := new(big.Rat).SetFrac(bytes, vol).Float64()
		if ratio > 0.90 || ratio < 0.89 {
			t.Errorf("retention size %s is %.4f of the %s volume, want 89–90%%", got, ratio, size)
		}
	}
	r, _, err := defaultOptions(t).Resolve()
	if err != nil {
		t.Fatal(err)
	}
	if r.RetentionSize != "18GB" {
		t.Errorf("default retention size = %s, want 18GB (90%% of %s)", r.RetentionSize, defaults.StorageSize)
	}
}

func TestParseRetentionSize(t *testing.T) {
	for s, want := range map[string]int64{"512MB": 512 << 20, "1.5GB": 3 << 29} {
		got, err := parseRetentionSize(s)
		if err != nil || got.Int64() != want {
			t.Errorf("parseRetentionSize(%q) = %v, %v; want %d", s, got, err, want)
		}
	}
	for s, want := range map[string]string{"18G": "is invalid", "0GB": "larger than zero", "0.0001B": "larger than zero"} {
		if _, err := parseRetentionSize(s); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("parseRetentionSize(%q) = %v, want an error saying %q", s, err, want)
		}
	}
}

func TestResolveWarnings(t *testing.T) {
	o := defaultOptions(t)
	o.StorageSize = "20Gi"
	o.RetentionSize = "21GB"
	_, w, err := o.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	if len(w) != 1 || w[0].Path != "server.retentionSize" || !strings.Contains(w[0].Problem, "more than the 20Gi volume") {
		t.Errorf("warnings = %v, want one about the retention size exceeding the volume", w)
	}
	o.RetentionSize = "20GB"
	if _, w, _ := o.Resolve(); len(w) != 0 {
		t.Errorf("a retention size equal to the volume warned: %v", w)
	}
	o.RetentionSize = "0"
	r, w, err := o.Resolve()
	if err != nil || len(w) != 0 || r.RetentionSize != "" {
		t.Errorf("RetentionSize 0 resolved to %q, %v, %v; want size-based retention off", r.RetentionSize, w, err)
	}
}

func TestResolveTimeoutFollowsShortInterval(t *testing.T) {
	o := defaultOptions(t)
	o.ScrapeInterval = "5s"
	r, _, err := o.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	if r.ScrapeTimeout != "5s" {
		t.Errorf("timeout = %s for a 5s interval, want 5s", r.ScrapeTimeout)
	}
}

func TestResolveErrors(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*ValuesOptions)
		want   string
	}{
		{"storage size with lower-case unit", func(o *ValuesOptions) { o.StorageSize = "20gb" }, `storage size "20gb" is not a Kubernetes quantity`},
		{"negative storage size", func(o *ValuesOptions) { o.StorageSize = "-1Gi" }, `storage size "-1Gi" is too small`},
		{"zero storage size", func(o *ValuesOptions) { o.StorageSize = "0" }, `storage size "0" is too small`},
		{"retention in words", func(o *ValuesOptions) { o.Retention = "15 days" }, `retention "15 days" is not a Prometheus duration`},
		{"zero retention", func(o *ValuesOptions) { o.Retention = "0" }, `retention "0" must be longer than zero`},
		{"interval without unit", func(o *ValuesOptions) { o.ScrapeInterval = "10" }, `scrape interval "10" is not a Prometheus duration`},
		{"units out of order", func(o *ValuesOptions) { o.EvaluationInterval = "30s1m" }, `evaluation interval "30s1m"`},
		{"timeout over interval", func(o *ValuesOptions) { o.ScrapeInterval, o.ScrapeTimeout = "10s", "15s" }, "scrape timeout 15s is longer than the scrape interval 10s"},
		{"bad retention size", func(o *ValuesOptions) { o.RetentionSize = "18gb" }, `retention size "18gb" is invalid`},
		{"remote write not http", func(o *ValuesOptions) { o.RemoteWriteURLs = []string{"ftp://x/y"} }, `remote-write URL "ftp://x/y" is invalid`},
		{"remote write relative", func(o *ValuesOptions) { o.RemoteWriteURLs = []string{"mimir/api/v1/push"} }, `remote-write URL "mimir/api/v1/push" is invalid`},
		{"existing claim with StatefulSet", func(o *ValuesOptions) { o.ExistingClaim, o.StatefulSet = "data", true }, "existing claim cannot be used with a StatefulSet"},
		{"release name", func(o *ValuesOptions) { o.ReleaseName = "Prometheus" }, `release name "Prometheus" is invalid`},
		{"long release name", func(o *ValuesOptions) { o.ReleaseName = strings.Repeat("p", 54) }, "at most 53 characters"},
		{"storage class", func(o *ValuesOptions) { o.StorageClass = "Fast SSD" }, `storage class "Fast SSD" is invalid`},
		{"cluster role name", func(o *ValuesOptions) { o.ClusterRoleNameOverride = strings.Repeat("r", 64) }, "cluster role name"},
		{"scrape params", func(o *ValuesOptions) { o.Scrape.ProxyContainerName = "" }, "proxy container name is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := defaultOptions(t)
			tt.modify(&o)
			_, _, err := Values(o)
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
		})
	}
	o := defaultOptions(t)
	o.StorageSize, o.Retention = "20gb", "forever"
	_, _, err := Values(o)
	if err == nil || !strings.Contains(err.Error(), "storage size") || !strings.Contains(err.Error(), "retention") {
		t.Errorf("error %v does not report both problems", err)
	}
}
