//go:build e2e

package health

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/meshmon/meshmon/e2e/framework"
	"github.com/meshmon/meshmon/e2e/sim"
	"github.com/meshmon/meshmon/pkg/release"
)

const (
	vizNS      = "linkerd-viz"
	serverName = "prometheus-server"
	category   = "prometheus-health"
)

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// checkResult is one check of `check -o json`.
type checkResult struct {
	Description string `json:"description"`
	Hint        string `json:"hint"`
	Error       string `json:"error"`
	Result      string `json:"result"`
}

// healthChecks runs the prometheus-health category and returns its checks
// by description.
// extra are more arguments, e.g. --prometheus-url.
func healthChecks(t *testing.T, env *framework.Env, extra ...string) map[string]checkResult {
	t.Helper()
	r := env.Meshmon(t, "kubectl", append([]string{"check", "--category", category, "-o", "json"}, extra...)...)
	var out struct {
		Categories []struct {
			CategoryName string        `json:"categoryName"`
			Checks       []checkResult `json:"checks"`
		} `json:"categories"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &out); err != nil {
		t.Fatalf("check -o json: %v\n%s\n%s", err, r.Stdout, r.Stderr)
	}
	got := map[string]checkResult{}
	for _, c := range out.Categories {
		if c.CategoryName != "meshmon-"+category {
			continue
		}
		for _, ch := range c.Checks {
			// A passing check's details follow its description, as in linkerd's JSON.
			name, _, _ := strings.Cut(ch.Description, "\n")
			got[name] = ch
		}
	}
	if len(got) == 0 {
		t.Fatalf("no %s category in the output:\n%s", category, r.Stdout)
	}
	return got
}

// waitFor polls the category until check has result and its error contains every want.
func waitFor(t *testing.T, env *framework.Env, extra []string, check, result string, want ...string) checkResult {
	t.Helper()
	var last checkResult
	framework.Eventually(t, 3*time.Minute, func() error {
		got := healthChecks(t, env, extra...)
		c, ok := got[check]
		if !ok {
			return fmt.Errorf("check %q not in the run", check)
		}
		last = c
		if c.Result != result {
			return fmt.Errorf("%q is %s, want %s (%s)", check, c.Result, result, c.Error)
		}
		for _, w := range want {
			if !strings.Contains(c.Error, w) {
				return fmt.Errorf("%q error %q lacks %q", check, c.Error, w)
			}
		}
		return nil
	})
	if result != "success" && !strings.Contains(last.Hint, "#mm-") {
		t.Errorf("%q: hint %q", check, last.Hint)
	}
	return last
}

// addRuleFile makes the release's prometheus.yml load rules from path, the
// way a user adds rules to serverFiles.
func addRuleFile(t *testing.T, kc kubernetes.Interface, path string) {
	t.Helper()
	cm, err := kc.CoreV1().ConfigMaps(vizNS).Get(ctxT(t), serverName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := yaml.Unmarshal([]byte(cm.Data["prometheus.yml"]), &cfg); err != nil {
		t.Fatal(err)
	}
	files, _ := cfg["rule_files"].([]any)
	cfg["rule_files"] = append(files, path)
	out, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cm.Data["prometheus.yml"] = string(out)
	if _, err := kc.CoreV1().ConfigMaps(vizNS).Update(ctxT(t), cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// TestPrometheusHealth walks one Prometheus through the failures the
// category must see, each provoked for real; the subtests run in order.
func TestPrometheusHealth(t *testing.T) {
	env := framework.Current(t)
	kc, _ := env.Clients(t)
	env.MustMeshmon(t, "kubectl", "install", "--chart", framework.TestChart(t, "prometheus"), "--cluster-name", "east", "--scrape-interval", "1s", "--skip-check")
	pod := framework.ServerPod(t, kc, vizNS, "prometheus").Name
	mesh := framework.StartFakeMesh(t, kc, "linkerd", vizNS)
	data := t.TempDir()
	rp := framework.ReleasePrometheus{Namespace: vizNS, ConfigMap: serverName, ServiceAccount: serverName, Args: framework.ServerRetentionArgs(t, kc, vizNS, serverName), DataDir: data}
	p := framework.StartReleasePrometheus(t, env, kc, rp)
	// Checks reach Prometheus through a port-forward to its pod until it is
	// restarted: kwok keeps forwarding to the stopped process, so from then
	// on they go to it directly, as --prometheus-url lets users do.
	var direct []string
	outer := t

	t.Run("healthy", func(t *testing.T) {
		waitFor(t, env, direct, "samples are being ingested", "success")
		got := healthChecks(t, env)
		for _, c := range got {
			if c.Result != "success" {
				t.Errorf("%s: %s %s", c.Description, c.Result, c.Error)
			}
		}
		for _, want := range []string{
			"last configuration reload succeeded", "Prometheus scrapes its own metrics", "TSDB compactions are not failing",
			"no samples with out-of-order timestamps are dropped", "the configured retention fits on disk", "Linkerd histograms are not most of the series",
		} {
			if _, ok := got[want]; !ok {
				t.Errorf("check %q did not run", want)
			}
		}
		if _, ok := got["rule evaluations are not failing"]; ok {
			t.Error("the rule checks ran although Prometheus has no rules")
		}
		// Right after the start, the first self-scrapes show an empty head.
		framework.Eventually(t, 2*time.Minute, func() error {
			r := env.MustMeshmon(t, "kubectl", "status", "-o", "json")
			var s release.Status
			if err := json.Unmarshal([]byte(r.Stdout), &s); err != nil {
				t.Fatal(err)
			}
			if s.Prometheus == nil || s.Prometheus.SamplesPerSecond <= 0 || s.Prometheus.HeadSeries <= 0 || s.Prometheus.DiskUsedBytes <= 0 {
				return fmt.Errorf("status prometheus = %+v (error %q)", s.Prometheus, s.PrometheusError)
			}
			if s.Prometheus.Forecast.Outcome != "fits" {
				t.Errorf("status forecast = %+v", s.Prometheus.Forecast)
			}
			return nil
		})
		table := env.MustMeshmon(t, "kubectl", "status").Stdout
		for _, want := range []string{"INGESTION", "HEAD SERIES", "DISK USED", "FORECAST       fits: at "} {
			if !strings.Contains(table, want) {
				t.Errorf("status table lacks %q:\n%s", want, table)
			}
		}
	})

	t.Run("a rule that fails to evaluate", func(t *testing.T) {
		rules := filepath.Join(t.TempDir(), "rules.yml")
		// Matching on no label at all is many-to-many once there are two up series.
		if err := os.WriteFile(rules, []byte("groups:\n- name: e2e-broken\n  interval: 1s\n  rules:\n  - record: e2e:up:sum\n    expr: up + on() up\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		addRuleFile(t, kc, rules)
		if reloaded, err := p.Sync(ctxT(t)); err != nil || !reloaded {
			t.Fatalf("reloading with the rule file: reloaded=%v, %v", reloaded, err)
		}
		waitFor(t, env, direct, "rule evaluations are not failing", "error", "PrometheusRuleFailures", `rule_group="`+rules+`;e2e-broken"`)
		// With rules, the missed-evaluation check runs, and passes.
		waitFor(t, env, direct, "no rule evaluations are missed", "success")
	})

	t.Run("samples with timestamps going backwards", func(t *testing.T) {
		mesh.Proxy(t, vizNS, pod).SetBackwardsTimestamps(true)
		waitFor(t, env, direct, "no samples with out-of-order timestamps are dropped", "warning", "PrometheusOutOfOrderTimestamps", "out-of-order")
		mesh.Proxy(t, vizNS, pod).SetBackwardsTimestamps(false)
	})

	t.Run("a retention that does not fit", func(t *testing.T) {
		// A century without a size limit: at the ingestion rate of a few
		// meshed pods, the 50Gi volume fills long before.
		mesh.Proxy(t, vizNS, pod).SetExtraSeries(2000)
		p.Stop()
		rp.Args = []string{"--storage.tsdb.retention.time=36500d"}
		// Started for the whole test: later subtests use it.
		p = framework.StartReleasePrometheus(outer, env, kc, rp)
		direct = []string{"--prometheus-url", p.URL}
		c := waitFor(t, env, direct, "the configured retention fits on disk", "error",
			"fills up before the retention period ends", "100y needs", "no retention size is set", "--storage-size")
		t.Logf("forecast: %s", c.Error)
	})

	t.Run("a configuration reload that fails", func(t *testing.T) {
		// Two jobs of one name: valid YAML that Prometheus rejects.
		bad := "scrape_configs:\n- job_name: twice\n  static_configs: [{targets: ['" + sim.PrometheusAddr + "']}]\n- job_name: twice\n  static_configs: [{targets: ['" + sim.PrometheusAddr + "']}]\n"
		if err := p.Reload(ctxT(t), bad); err == nil {
			t.Fatal("Prometheus accepted a configuration with a duplicated job")
		}
		waitFor(t, env, direct, "last configuration reload succeeded", "error", "rejected its latest configuration")
	})
}
