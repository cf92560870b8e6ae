package prom_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/meshmon/meshmon/pkg/prom"
)

// bigFederation renders n federated samples shaped like Linkerd proxy series: 50 metric names
// over n/50 pods, about 15 labels each.
func bigFederation(n int) []byte {
	var b strings.Builder
	const names = 50
	ts := time.Now().UnixMilli()
	for m := 0; m < names; m++ {
		fmt.Fprintf(&b, "# TYPE proxy_metric_%d untyped\n", m)
		for i := 0; i < n/names; i++ {
			fmt.Fprintf(&b, `proxy_metric_%d{authority="web.emojivoto.svc.cluster.local:80",client_id="web.emojivoto.serviceaccount.identity.linkerd.cluster.local",deployment="web",direction="inbound",instance="10.244.%d.%d:4191",job="linkerd-proxy",namespace="emojivoto",pod="web-%d",pod_template_hash="5f86686c4d",srv_kind="server",srv_name="web-http",target_addr="10.244.%d.%d:8080",tls="true",cluster="east"} %d %d`+"\n",
				m, i/250, i%250, i, i/250, i%250, i*m, ts)
		}
	}
	return []byte(b.String())
}

func BenchmarkParseFederate50k(b *testing.B) {
	body := bigFederation(50000)
	header := http.Header{"Content-Type": {"text/plain; version=0.0.4; charset=utf-8"}}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		res, err := prom.ParseFederate(body, header)
		if err != nil || res.Samples != 50000 || res.CommonLabels["cluster"] != "east" {
			b.Fatalf("%+v %v", res, err)
		}
	}
}

// bigTargets renders a /api/v1/targets answer with active targets spread over 3 jobs and
// dropped targets (what kubernetes_sd role=pod produces for every non-matching container port).
func bigTargets(tb testing.TB, active, dropped int) []byte {
	type at struct {
		DiscoveredLabels map[string]string `json:"discoveredLabels"`
		Labels           map[string]string `json:"labels"`
		ScrapePool       string            `json:"scrapePool"`
		ScrapeURL        string            `json:"scrapeUrl"`
		LastError        string            `json:"lastError"`
		LastScrape       time.Time         `json:"lastScrape"`
		Duration         float64           `json:"lastScrapeDuration"`
		Health           string            `json:"health"`
	}
	type dt struct {
		DiscoveredLabels map[string]string `json:"discoveredLabels"`
	}
	var res struct {
		Status string `json:"status"`
		Data   struct {
			Active  []at `json:"activeTargets"`
			Dropped []dt `json:"droppedTargets"`
		} `json:"data"`
	}
	res.Status = "success"
	jobs := []string{"linkerd-proxy", "linkerd-controller", "linkerd-multicluster-controller"}
	for i := 0; i < active; i++ {
		addr := fmt.Sprintf("10.244.%d.%d:4191", i/250, i%250)
		job := jobs[i%len(jobs)]
		health, lastErr := "up", ""
		if i%100 == 0 {
			health, lastErr = "down", "Get \"http://"+addr+"/metrics\": context deadline exceeded"
		}
		res.Data.Active = append(res.Data.Active, at{
			DiscoveredLabels: map[string]string{"__address__": addr, "__meta_kubernetes_namespace": "emojivoto", "__meta_kubernetes_pod_name": fmt.Sprintf("web-%d", i), "__meta_kubernetes_pod_container_name": "linkerd-proxy", "__meta_kubernetes_pod_container_port_name": "linkerd-admin", "job": job},
			Labels:           map[string]string{"instance": addr, "job": job, "namespace": "emojivoto", "pod": fmt.Sprintf("web-%d", i)},
			ScrapePool:       job, ScrapeURL: "http://" + addr + "/metrics", LastError: lastErr, LastScrape: time.Now(), Duration: 0.01, Health: health,
		})
	}
	for i := 0; i < dropped; i++ {
		res.Data.Dropped = append(res.Data.Dropped, dt{DiscoveredLabels: map[string]string{
			"__address__": fmt.Sprintf("10.244.%d.%d:8080", i/250, i%250), "__meta_kubernetes_namespace": "emojivoto",
			"__meta_kubernetes_pod_name": fmt.Sprintf("web-%d", i), "__meta_kubernetes_pod_container_name": "web", "__meta_kubernetes_pod_container_port_name": "http", "job": jobs[i%len(jobs)],
		}})
	}
	out, err := json.Marshal(res)
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

// BenchmarkTargets5kActive reads what check asks for on a mesh of 5,000
// targets: /api/v1/targets?state=active (Prometheus leaves the 20,000
// dropped targets out of that answer), decoded as it streams in.
func BenchmarkTargets5kActive(b *testing.B) {
	active, all := bigTargets(b, 5000, 0), bigTargets(b, 5000, 20000)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		body := all
		if r.URL.Query().Get("state") == "active" {
			body = active
		}
		_, _ = w.Write(body)
	}))
	b.Cleanup(srv.Close)
	c, err := prom.New(srv.URL)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(active)))
	b.ReportAllocs()
	for b.Loop() {
		ts, err := c.Targets(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		if j, _ := ts.Job("linkerd-proxy"); j.Up != 1650 || j.Down != 17 || len(j.Targets) != 1667 {
			b.Fatalf("linkerd-proxy = up %d down %d targets %d", j.Up, j.Down, len(j.Targets))
		}
	}
}
