package checks

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/meshmon/meshmon/pkg/healthcheck"
	"github.com/meshmon/meshmon/pkg/scrape"
)

func TestPrometheusReachable(t *testing.T) {
	t.Run("port-forward fails", func(t *testing.T) {
		f := newFixture(t)
		f.forwardErr = errors.New("port-forward to pod linkerd-viz/p port 9090 failed: error upgrading connection")
		res := f.run(Options{})
		expect(t, res, "can reach Prometheus", healthcheck.StatusError, "error upgrading connection", "or pass --prometheus-url")
		expect(t, res, "Prometheus is ready", healthcheck.StatusSkipped)
		expect(t, res, "Linkerd targets are up", healthcheck.StatusSkipped)
	})
	t.Run("URL given", func(t *testing.T) {
		f := newFixture(t)
		res := f.run(Options{PrometheusURL: f.promSrv.URL})
		expect(t, res, "Prometheus is ready", healthcheck.StatusSuccess, "Prometheus 3.14.0")
		for _, fw := range f.forwards {
			if fw.Port == 9090 {
				t.Errorf("a port-forward to Prometheus was opened although --prometheus-url was given: %+v", fw)
			}
		}
	})
	t.Run("nothing there", func(t *testing.T) {
		f := newFixture(t)
		res := f.run(Options{PrometheusURL: "http://127.0.0.1:1"})
		expect(t, res, "can reach Prometheus", healthcheck.StatusError, "cannot reach Prometheus at http://127.0.0.1:1")
	})
	t.Run("bad URL", func(t *testing.T) {
		f := newFixture(t)
		expect(t, f.run(Options{PrometheusURL: "prometheus:9090"}), "can reach Prometheus", healthcheck.StatusError, "--prometheus-url: invalid Prometheus URL")
	})
	t.Run("starting", func(t *testing.T) {
		f := newFixture(t)
		f.prom.readyStatus = http.StatusServiceUnavailable
		res := f.run(Options{})
		expect(t, res, "can reach Prometheus", healthcheck.StatusSuccess)
		expect(t, res, "Prometheus is ready", healthcheck.StatusError, "is not ready yet")
	})
}

func TestPrometheusConfig(t *testing.T) {
	t.Run("reload failed", func(t *testing.T) {
		f := newFixture(t)
		f.prom.reloadOK = false
		expect(t, f.run(Options{}), "last configuration reload succeeded", healthcheck.StatusError,
			"rejected its latest configuration and still runs the configuration loaded at 2026-11-22 05:00:01 UTC",
			"kubectl logs -n linkerd-viz deployment/prometheus-server -c prometheus-server")
	})
	t.Run("jobs missing", func(t *testing.T) {
		f := newFixture(t)
		f.prom.config = "global:\n  scrape_interval: 10s\nscrape_configs:\n- job_name: prometheus\n  static_configs:\n  - targets: [localhost:9090]\n"
		expect(t, f.run(Options{}), "Linkerd scrape jobs are configured", healthcheck.StatusError,
			"job linkerd-controller is missing", "job linkerd-multicluster-controller is missing", "job linkerd-proxy is missing", `serverFiles."prometheus.yml".scrape_configs`)
	})
	t.Run("legacy name and outdated regex", func(t *testing.T) {
		f := newFixture(t)
		cfg := strings.ReplaceAll(f.prom.config, "job_name: "+scrape.JobLinkerdMulticluster, "job_name: "+scrape.JobLinkerdServiceMirrorLegacy)
		cfg = strings.Replace(cfg, "regex: .*admin$", "regex: admin-http", 1)
		f.prom.config = cfg
		expect(t, f.run(Options{}), "Linkerd scrape jobs are configured", healthcheck.StatusError, `job linkerd-controller keeps only ports matching "admin-http"`)
		if strings.Contains(result(t, f.run(Options{}), "Linkerd scrape jobs are configured").Err.Error(), "multicluster") {
			t.Error("the legacy job name linkerd-service-mirror was not accepted")
		}
	})
	t.Run("controller namespaces", func(t *testing.T) {
		f := newFixture(t)
		f.prom.config = strings.Replace(f.prom.config, "- linkerd-viz\n", "- viz\n", 1)
		expect(t, f.run(Options{}), "Linkerd scrape jobs are configured", healthcheck.StatusError, "job linkerd-controller does not discover pods in namespace linkerd-viz")
	})
	t.Run("intervals", func(t *testing.T) {
		f := newFixture(t)
		f.prom.config = strings.Replace(f.prom.config, "scrape_interval: 10s", "scrape_interval: 1m", 1)
		expect(t, f.run(Options{}), "scrape intervals are as configured", healthcheck.StatusError, "scrape_interval: the release says 10s, Prometheus runs 1m")
	})
	t.Run("retention", func(t *testing.T) {
		f := newFixture(t)
		f.prom.flags["storage.tsdb.retention.time"] = "0s"
		f.prom.flags["storage.tsdb.retention.size"] = "0B"
		expect(t, f.run(Options{}), "retention is as configured", healthcheck.StatusError,
			"retention size: the release says 18GB, Prometheus runs none", "kubectl rollout restart deployment/prometheus-server -n linkerd-viz")
		if strings.Contains(result(t, f.run(Options{}), "retention is as configured").Err.Error(), "retention time") {
			t.Error("an unset retention time (0s) is Prometheus' default 15d, which the release asks for")
		}
	})
}
