package prom_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/meshmon/meshmon/pkg/prom"
	"github.com/meshmon/meshmon/pkg/prom/promtest"
)

// Identities and servers the fake proxy reports; label names and value shapes follow
// linkerd2-proxy (linkerd/app/inbound/src/metrics/authz.rs, linkerd/app/core/src/metrics.rs,
// linkerd/app/core/src/transport/labels.rs).
const (
	metricsAPIID = "metrics-api.linkerd-viz.serviceaccount.identity.linkerd.cluster.local"
	grafanaID    = "grafana.grafana.serviceaccount.identity.linkerd.cluster.local"
	webID        = "web.linkerd-viz.serviceaccount.identity.linkerd.cluster.local"
	adminServer  = "prometheus-server-admin"
	proxyNS      = "linkerd-viz"
	proxyPod     = "prometheus-server-7d9f8c6b5-x2x7q"
)

const srvLabels = `target_addr="10.244.0.7:9090",target_ip="10.244.0.7",target_port="9090",srv_group="policy.linkerd.io",srv_kind="server",srv_name="prometheus-server-admin",srv_port="9090",route_group="",route_kind="default",route_name="default"`

// proxyMetrics is what a meshed Prometheus pod's linkerd-proxy could expose on :4191/metrics.
var proxyMetrics = `# HELP inbound_http_authz_allow_total The total number of inbound HTTP requests that were authorized
# TYPE inbound_http_authz_allow_total counter
inbound_http_authz_allow_total{` + srvLabels + `,authz_group="policy.linkerd.io",authz_kind="authorizationpolicy",authz_name="prometheus-server-admin",tls="true",client_id="` + metricsAPIID + `"} 42
inbound_http_authz_allow_total{` + srvLabels + `,authz_group="policy.linkerd.io",authz_kind="authorizationpolicy",authz_name="prometheus-server-grafana",tls="true",client_id="` + grafanaID + `"} 5
inbound_http_authz_allow_total{target_addr="10.244.0.7:4191",target_ip="10.244.0.7",target_port="4191",srv_group="",srv_kind="default",srv_name="all-unauthenticated",srv_port="4191",route_group="",route_kind="default",route_name="probe",authz_group="",authz_kind="default",authz_name="probe",tls="no_identity",no_tls_reason="no_tls_from_remote"} 10
# HELP inbound_http_authz_deny_total The total number of inbound HTTP requests that could not be processed due to a proxy error.
# TYPE inbound_http_authz_deny_total counter
inbound_http_authz_deny_total{` + srvLabels + `,tls="true",client_id="` + webID + `"} 3
inbound_http_authz_deny_total{` + srvLabels + `,tls="no_identity",no_tls_reason="no_tls_from_remote"} 2
# HELP request_total Total count of HTTP requests.
# TYPE request_total counter
request_total{direction="inbound",target_addr="10.244.0.7:9090",target_ip="10.244.0.7",target_port="9090",tls="true",client_id="` + metricsAPIID + `"} 44
# HELP response_latency_ms Elapsed times between a request's headers being received and its response stream completing
# TYPE response_latency_ms histogram
response_latency_ms_bucket{direction="inbound",le="1"} 10
response_latency_ms_bucket{direction="inbound",le="10"} 40
response_latency_ms_bucket{direction="inbound",le="+Inf"} 44
response_latency_ms_sum{direction="inbound"} 120
response_latency_ms_count{direction="inbound"} 44
`

// proxySampleLines counts the sample lines of proxyMetrics.
const proxySampleLines = 11

// remoteFederation is what another cluster's Prometheus could answer on /federate.
const remoteFederation = `# TYPE up untyped
up{cluster="west",instance="10.1.0.5:4191",job="linkerd-proxy",namespace="emojivoto",pod="web-1"} 1 %d
# TYPE request_total untyped
request_total{cluster="west",direction="inbound",instance="10.1.0.5:4191",job="linkerd-proxy",namespace="emojivoto",pod="web-1"} 12 %d
`

// startFakeProxy serves proxyMetrics on /metrics and a remote cluster's /federate, on loopback.
func startFakeProxy(t testing.TB) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		fmt.Fprint(w, proxyMetrics)
	})
	mux.HandleFunc("/federate", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		ms := time.Now().UnixMilli()
		fmt.Fprintf(w, remoteFederation, ms, ms)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// linkerdLikeConfig scrapes the fake proxy like Linkerd's linkerd-proxy job would label it,
// a closed port (one down target), a federation job and a job whose only target is dropped.
func linkerdLikeConfig(proxyAddr, deadAddr string) string {
	return fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
  external_labels:
    cluster: east
scrape_configs:
- job_name: linkerd-proxy
  static_configs:
  - targets: ['%[1]s']
    labels:
      namespace: %[3]s
      pod: %[4]s
- job_name: linkerd-controller
  static_configs:
  - targets: ['%[2]s']
    labels:
      namespace: linkerd
      pod: linkerd-destination-0
- job_name: federate-west
  honor_labels: true
  metrics_path: /federate
  params:
    'match[]':
    - '{job="linkerd-proxy"}'
  static_configs:
  - targets: ['%[1]s']
- job_name: dropped
  static_configs:
  - targets: ['%[2]s']
  relabel_configs:
  - source_labels: [__address__]
    action: drop
    regex: .*
`, proxyAddr, deadAddr, proxyNS, proxyPod)
}

// startLinkerdLike starts Prometheus on linkerdLikeConfig and waits until every target has
// been scraped at least once.
func startLinkerdLike(t testing.TB, opts promtest.Options) (*promtest.Server, *prom.Client) {
	t.Helper()
	proxy := startFakeProxy(t)
	if opts.Config == "" {
		opts.Config = linkerdLikeConfig(proxy.Listener.Addr().String(), closedAddr(t))
	}
	srv := promtest.Start(t, opts)
	c := newClient(t, srv.URL)
	waitScraped(t, c)
	return srv, c
}

func newClient(t testing.TB, url string) *prom.Client {
	t.Helper()
	c, err := prom.New(url, prom.WithTimeout(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// waitScraped waits until no active target is in "unknown" health and the proxy's
// samples are queryable.
func waitScraped(t testing.TB, c *prom.Client) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	last := ""
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		ts, err := c.Targets(ctx)
		var found bool
		if err == nil {
			_, found, err = c.ScalarQuery(ctx, "count(inbound_http_authz_allow_total)", time.Time{})
		}
		cancel()
		if err == nil && found && allScraped(ts) {
			return
		}
		last = fmt.Sprintf("targets=%+v found=%v err=%v", ts.Jobs, found, err)
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("targets not scraped in time: %s", last)
}

func allScraped(ts prom.TargetSummary) bool {
	if len(ts.Jobs) == 0 {
		return false
	}
	for _, j := range ts.Jobs {
		if j.Unknown > 0 {
			return false
		}
		for _, tg := range j.Targets {
			if tg.LastScrape.IsZero() {
				return false
			}
		}
	}
	return true
}
