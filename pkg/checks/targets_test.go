package checks

import (
	"fmt"
	"strings"
	"testing"

	"github.com/meshmon/meshmon/pkg/healthcheck"
	"github.com/meshmon/meshmon/pkg/scrape"
)

func TestTargets(t *testing.T) {
	t.Run("job scrapes nothing", func(t *testing.T) {
		f := newFixture(t)
		f.setTargets(func(ts []promTarget) []promTarget {
			var out []promTarget
			for _, t := range ts {
				if t.Job != scrape.JobLinkerdController {
					out = append(out, t)
				}
			}
			return out
		})
		f.prom.dropped[scrape.JobLinkerdController] = 7
		res := f.run(Options{})
		expect(t, res, "every Linkerd job has targets", healthcheck.StatusError, "linkerd-controller: all 7 discovered targets are dropped by its relabel rules")
		expect(t, res, "Linkerd targets are up", healthcheck.StatusSkipped)
		delete(f.prom.dropped, scrape.JobLinkerdController)
		expect(t, f.run(Options{}), "every Linkerd job has targets", healthcheck.StatusError, "linkerd-controller: no pod discovered", "list and watch pods")
	})
	t.Run("down, listed and capped", func(t *testing.T) {
		f := newFixtureWithPods(t, 8)
		f.setTargets(func(ts []promTarget) []promTarget {
			for i := range ts {
				if ts[i].Job == scrape.JobLinkerdProxy {
					ts[i].Health, ts[i].LastError = "down", fmt.Sprintf(`Get "http://%s/metrics": context deadline exceeded`, ts[i].Instance)
				}
			}
			return ts
		})
		res := f.run(Options{})
		expect(t, res, "Linkerd targets are up", healthcheck.StatusError,
			"9 of 10 Linkerd targets are down",
			"\n\t* linkerd-proxy emojivoto/web-0 (10.244.1.1:4191): Get \"http://10.244.1.1:4191/metrics\": context deadline exceeded",
			"\n\t* and 4 more")
		// Down targets are still targets: coverage is about discovery.
		expect(t, res, "every meshed pod is scraped", healthcheck.StatusSuccess)
	})
	t.Run("not scraped yet", func(t *testing.T) {
		f := newFixture(t)
		f.setTargets(func(ts []promTarget) []promTarget {
			ts[1].Health = "unknown"
			return ts
		})
		expect(t, f.run(Options{}), "Linkerd targets are up", healthcheck.StatusWarning, "1 of 5 Linkerd targets have not been scraped yet")
	})
	t.Run("coverage", func(t *testing.T) {
		f := newFixtureWithPods(t, 7)
		f.setTargets(func(ts []promTarget) []promTarget { return ts[:4] })
		expect(t, f.run(Options{}), "every meshed pod is scraped", healthcheck.StatusWarning,
			"6 of 8 meshed pods have no linkerd-proxy target", "\n\t* emojivoto/web-1\n", "\n\t* and 1 more")
	})
}

func TestFederation(t *testing.T) {
	t.Run("no samples", func(t *testing.T) {
		f := newFixture(t)
		f.prom.federate = ""
		expect(t, f.run(Options{}), "/federate serves the mesh metrics", healthcheck.StatusError, `/federate?match[]=process_start_time_seconds{job="linkerd-proxy"} returned no samples`)
	})
	t.Run("sources", func(t *testing.T) {
		f := newFixture(t)
		// No source: the check does not apply and is not shown.
		res := f.run(Options{})
		for _, c := range res.Categories {
			for _, r := range c.Checks {
				if r.Description == "federation sources are up" && r.Status != healthcheck.StatusSkipped {
					t.Errorf("federation sources check is %s without any source", r.Status)
				}
			}
		}
		f.prom.config += "- job_name: federate-west\n  metrics_path: /federate\n  params:\n    match[]: ['{job=\"linkerd-proxy\"}']\n  static_configs:\n  - targets: [west.example.com:9090]\n" +
			"- job_name: federate-bad\n  metrics_path: /federate\n  static_configs:\n  - targets: [east.example.com:9090]\n"
		f.setTargets(func(ts []promTarget) []promTarget {
			return append(ts, promTarget{Job: "federate-west", Instance: "west.example.com:9090", Health: "down", LastError: "server returned HTTP status 403 Forbidden"})
		})
		expect(t, f.run(Options{}), "federation sources are up", healthcheck.StatusError,
			"job federate-bad scrapes /federate without a match[] parameter", "job federate-west: west.example.com:9090 is down: server returned HTTP status 403 Forbidden")
		f.setTargets(func(ts []promTarget) []promTarget {
			return append(ts, promTarget{Job: "federate-west", Instance: "west.example.com:9090", Health: "up"})
		})
		f.prom.config = f.prom.config[:len(f.prom.config)-len("- job_name: federate-bad\n  metrics_path: /federate\n  static_configs:\n  - targets: [east.example.com:9090]\n")]
		expect(t, f.run(Options{}), "federation sources are up", healthcheck.StatusSuccess, "1 source: federate-west")
	})
	t.Run("cluster label", func(t *testing.T) {
		f := newFixture(t)
		f.prom.config = removeLines(f.prom.config, "external_labels:", "cluster: east")
		expect(t, f.run(Options{}), "the cluster external label is set", healthcheck.StatusWarning, `sets no external label "cluster"`, "--cluster-name")
	})
}

// removeLines drops the lines containing any of subs.
func removeLines(s string, subs ...string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		keep := true
		for _, sub := range subs {
			if strings.Contains(l, sub) {
				keep = false
			}
		}
		if keep {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
