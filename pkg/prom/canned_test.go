package prom_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meshmon/meshmon/pkg/prom"
)

// The files replayed here were captured from the real Prometheus 2.42; see record_test.go.

// reply is one canned answer: a testdata file (or a literal body) with its status.
type reply struct {
	status int
	file   string
	body   string
	ctype  string
}

// replayServer answers requests from routes keyed by path, or by "path?query=<promql>" for
// queries, and remembers the requests it got.
type replayServer struct {
	t      *testing.T
	routes map[string]reply
	mu     sync.Mutex
	reqs   []*http.Request
}

func (rs *replayServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		rs.t.Errorf("parsing form of %s: %v", r.URL, err)
	}
	rs.mu.Lock()
	rs.reqs = append(rs.reqs, r)
	rs.mu.Unlock()
	key := r.URL.Path
	rp, ok := rs.routes[key]
	if q := r.Form.Get("query"); q != "" {
		if qrp, qok := rs.routes[key+"?query="+q]; qok {
			rp, ok = qrp, true
		}
	}
	if !ok {
		rs.t.Errorf("unexpected request %s %s (query %q)", r.Method, r.URL.Path, r.Form.Get("query"))
		http.NotFound(w, r)
		return
	}
	body := []byte(rp.body)
	if rp.file != "" {
		var err error
		if body, err = os.ReadFile(filepath.Join("testdata", rp.file)); err != nil {
			rs.t.Errorf("reading canned answer: %v", err)
		}
	}
	ct := rp.ctype
	if ct == "" {
		ct = "application/json"
		if strings.HasSuffix(rp.file, ".txt") {
			ct = "text/plain; charset=utf-8"
		}
	}
	w.Header().Set("Content-Type", ct)
	status := rp.status
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func (rs *replayServer) requests() []*http.Request {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return slices.Clone(rs.reqs)
}

func replay(t *testing.T, routes map[string]reply, opts ...prom.Option) (*prom.Client, *replayServer, string) {
	t.Helper()
	rs := &replayServer{t: t, routes: routes}
	srv := httptest.NewServer(rs)
	t.Cleanup(srv.Close)
	c, err := prom.New(srv.URL, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c, rs, srv.URL
}

// wantKind fails the test unless err is a *prom.Error of the given kind
// whose text mentions every substring.
func wantKind(t *testing.T, err error, kind prom.Kind, substrs ...string) {
	t.Helper()
	var pe *prom.Error
	if !errors.As(err, &pe) {
		t.Fatalf("error %v (%T) is not a *prom.Error", err, err)
	}
	if pe.Kind != kind {
		t.Fatalf("kind = %v, want %v (error: %v)", pe.Kind, kind, err)
	}
	for _, s := range substrs {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not mention %q", err, s)
		}
	}
}

// kindError is wantKind for tests that go on to inspect the error.
func kindError(t *testing.T, err error, kind prom.Kind, substrs ...string) *prom.Error {
	t.Helper()
	wantKind(t, err, kind, substrs...)
	var pe *prom.Error
	errors.As(err, &pe)
	return pe
}

func TestNewRejectsBadURLs(t *testing.T) {
	for _, u := range []string{"", "localhost:9090", "ftp://prom:9090", "http://", "http://[::1"} {
		if _, err := prom.New(u); err == nil {
			t.Errorf("New(%q) accepted", u)
		} else if !strings.Contains(err.Error(), "Prometheus URL") {
			t.Errorf("New(%q) error %q does not say what was wrong", u, err)
		}
	}
	c, err := prom.New(" http://127.0.0.1:9090/prom/ ")
	if err != nil {
		t.Fatal(err)
	}
	if c.URL() != "http://127.0.0.1:9090/prom" {
		t.Errorf("URL() = %q", c.URL())
	}
}

func TestReady(t *testing.T) {
	ctx := context.Background()
	c, _, _ := replay(t, map[string]reply{"/-/ready": {file: "ready.txt"}})
	if err := c.Ready(ctx); err != nil {
		t.Fatalf("Ready: %v", err)
	}

	c, _, u := replay(t, map[string]reply{"/-/ready": {status: 503, file: "ready_503.txt"}})
	pe := kindError(t, c.Ready(ctx), prom.KindNotReady, u, "GET /-/ready", "503", "Service Unavailable", "retry")
	if !pe.Retryable() || !prom.IsRetryable(pe) {
		t.Error("a 503 from /-/ready must be retryable")
	}

	c, _, u = replay(t, map[string]reply{"/-/ready": {status: 404, file: "notfound.txt"}})
	pe = kindError(t, c.Ready(ctx), prom.KindHTTP, u, "404", "404 page not found", "really a Prometheus")
	if pe.Retryable() {
		t.Error("a 404 must not be retryable")
	}
}

func TestUnreachable(t *testing.T) {
	addr := closedAddr(t)
	c, err := prom.New("http://" + addr)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	pe := kindError(t, c.Ready(ctx), prom.KindUnreachable, addr, "GET /-/ready", "connection refused", "port-forward")
	if !pe.Retryable() {
		t.Error("unreachable must be retryable")
	}
	_, err = c.Targets(ctx)
	wantKind(t, err, prom.KindUnreachable, addr, "GET /api/v1/targets", "port-forward")
	_, _, err = c.Query(ctx, "up", time.Time{})
	wantKind(t, err, prom.KindUnreachable, `query "up"`)
	_, err = c.Federate(ctx, []string{`{job="x"}`})
	wantKind(t, err, prom.KindUnreachable, "GET /federate")
	_, err = c.Persistence(ctx)
	wantKind(t, err, prom.KindUnreachable, "runtimeinfo")
}

func TestTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	c, err := prom.New(srv.URL, prom.WithTimeout(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Flags(context.Background())
	wantKind(t, err, prom.KindTimeout, srv.URL, "GET /api/v1/status/flags", "in time")
	wantKind(t, c.Ready(context.Background()), prom.KindTimeout, "GET /-/ready")
}

func TestHTTPErrorsKeepStatusAndBody(t *testing.T) {
	c, _, u := replay(t, map[string]reply{
		"/api/v1/targets":            {status: 500, body: "upstream exploded: too many open files", ctype: "text/plain"},
		"/api/v1/status/buildinfo":   {body: "<html><body>Linkerd dashboard</body></html>", ctype: "text/html"},
		"/api/v1/status/flags":       {status: 400, body: "bad request from a proxy", ctype: "text/plain"},
		"/api/v1/status/runtimeinfo": {status: 401, body: "unauthorized", ctype: "text/plain"},
	})
	ctx := context.Background()
	_, err := c.Targets(ctx)
	pe := kindError(t, err, prom.KindHTTP, u, "GET /api/v1/targets", "HTTP 500", "too many open files")
	if pe.Status != 500 || !pe.Retryable() {
		t.Errorf("status %d retryable %v, want 500 and retryable", pe.Status, pe.Retryable())
	}
	_, err = c.BuildInfo(ctx)
	wantKind(t, err, prom.KindBadResponse, u, "GET /api/v1/status/buildinfo")
	_, err = c.Flags(ctx)
	wantKind(t, err, prom.KindHTTP, "HTTP 400", "bad request from a proxy")
	_, _, err = c.ConfigReloadSuccessful(ctx)
	pe = kindError(t, err, prom.KindHTTP, "HTTP 401")
	if pe.Retryable() {
		t.Error("401 must not be retryable")
	}
}

func TestTargets(t *testing.T) {
	c, _, _ := replay(t, map[string]reply{"/api/v1/targets": {file: "targets.json"}})
	ts, err := c.Targets(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// Targets asks for the active targets only; dropped ones are counted apart.
	if got, want := ts.JobNames(), []string{"federate-west", "linkerd-controller", "linkerd-proxy"}; !slices.Equal(got, want) {
		t.Fatalf("JobNames = %v, want %v", got, want)
	}
	if d, err := c.DroppedTargets(context.Background()); err != nil || d["dropped"] != 1 {
		t.Fatalf("DroppedTargets = %v, %v; want dropped: 1", d, err)
	}
	proxy, ok := ts.Job("linkerd-proxy")
	if !ok || proxy.Up != 1 || proxy.Down != 0 || proxy.Unknown != 0 || len(proxy.Targets) != 1 {
		t.Fatalf("linkerd-proxy = %+v", proxy)
	}
	if tg := proxy.Targets[0]; tg.Namespace != proxyNS || tg.Pod != proxyPod || tg.Health != "up" || tg.LastScrape.IsZero() || tg.LastScrapeDuration <= 0 {
		t.Errorf("linkerd-proxy target = %+v", tg)
	}
	ctrl, _ := ts.Job("linkerd-controller")
	down := ctrl.DownTargets()
	if ctrl.Up != 0 || ctrl.Down != 1 || len(down) != 1 {
		t.Fatalf("linkerd-controller = %+v", ctrl)
	}
	if d := down[0]; !strings.Contains(d.LastError, "connection refused") || d.Namespace != "linkerd" || d.Pod != "linkerd-destination-0" || d.Instance == "" || d.ScrapeURL == "" {
		t.Errorf("down target = %+v", d)
	}
	if _, ok := ts.Job("dropped"); ok {
		t.Error("a job with only dropped targets is among the active ones")
	}
	if fed, _ := ts.Job("federate-west"); fed.Up != 1 || !strings.Contains(fed.Targets[0].ScrapeURL, "/federate?match%5B%5D=") {
		t.Errorf("federate-west = %+v", fed)
	}
}

func TestTargetsEmpty(t *testing.T) {
	c, _, _ := replay(t, map[string]reply{"/api/v1/targets": {file: "targets_empty.json"}})
	ts, err := c.Targets(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(ts.Jobs) != 0 {
		t.Errorf("Jobs = %v, want none", ts.Jobs)
	}
	if j, ok := ts.Job("linkerd-proxy"); ok || j.Job != "linkerd-proxy" || j.Up != 0 {
		t.Errorf("Job(linkerd-proxy) = %+v, %v", j, ok)
	}
}

func TestConfig(t *testing.T) {
	c, _, _ := replay(t, map[string]reply{"/api/v1/status/config": {file: "config.json"}})
	cfg, err := c.Config(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if g := cfg.Global; time.Duration(g.ScrapeInterval) != time.Second || time.Duration(g.EvaluationInterval) != time.Second || g.ExternalLabels["cluster"] != "east" {
		t.Errorf("global = %+v", g)
	}
	if len(cfg.ScrapeConfigs) != 4 || !strings.Contains(cfg.YAML, "job_name: linkerd-proxy") {
		t.Fatalf("%d scrape configs; YAML %q", len(cfg.ScrapeConfigs), cfg.YAML)
	}
	proxy, ok := cfg.Job("linkerd-proxy")
	if !ok || proxy.IsFederation() || proxy.MetricsPath != "/metrics" || proxy.Scheme != "http" || time.Duration(proxy.ScrapeTimeout) != time.Second {
		t.Fatalf("linkerd-proxy = %+v", proxy)
	}
	if st := proxy.StaticConfigs; len(st) != 1 || len(proxy.StaticTargets()) != 1 || st[0].Labels["namespace"] != proxyNS {
		t.Errorf("static configs = %+v", st)
	}
	fed, ok := cfg.Job("federate-west")
	if !ok || !fed.IsFederation() || !fed.HonorLabels || !slices.Equal(fed.FederationMatchers(), []string{`{job="linkerd-proxy"}`}) {
		t.Errorf("federate-west = %+v", fed)
	}
	dr, _ := cfg.Job("dropped")
	if len(dr.RelabelConfigs) != 1 {
		t.Fatalf("dropped relabel = %+v", dr.RelabelConfigs)
	}
	if rc := dr.RelabelConfigs[0]; rc.Action != "drop" || rc.Regex != ".*" || rc.Separator != ";" || !slices.Equal(rc.SourceLabels, []string{"__address__"}) {
		t.Errorf("relabel = %+v", rc)
	}
	if _, ok := cfg.Job("nope"); ok {
		t.Error("Job(nope) found")
	}
}

func TestConfigUnparsable(t *testing.T) {
	c, _, u := replay(t, map[string]reply{"/api/v1/status/config": {body: `{"status":"success","data":{"yaml":"scrape_configs: {not: [a list"}}`}})
	_, err := c.Config(context.Background())
	wantKind(t, err, prom.KindBadResponse, u, "GET /api/v1/status/config", "parsing Prometheus configuration")
}

func TestFlags(t *testing.T) {
	c, _, _ := replay(t, map[string]reply{"/api/v1/status/flags": {file: "flags.json"}})
	f, err := c.Flags(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if f["storage.tsdb.retention.time"] != "2h" || f["storage.tsdb.retention.size"] != "0B" || f["storage.tsdb.path"] == "" || f["web.enable-lifecycle"] != "true" {
		t.Errorf("flags = %v", f)
	}
}

func TestConfigReloadSuccessful(t *testing.T) {
	ctx := context.Background()
	c, _, _ := replay(t, map[string]reply{"/api/v1/status/runtimeinfo": {file: "runtimeinfo.json"}})
	ok, last, err := c.ConfigReloadSuccessful(ctx)
	if err != nil || !ok || last.IsZero() {
		t.Errorf("reload = %v, %v, %v; want true, a time, nil", ok, last, err)
	}
	c, _, _ = replay(t, map[string]reply{"/api/v1/status/runtimeinfo": {file: "runtimeinfo_reload_failed.json"}})
	ok, last, err = c.ConfigReloadSuccessful(ctx)
	if err != nil || ok || last.IsZero() {
		t.Errorf("failed reload = %v, %v, %v; want false, the last good load, nil", ok, last, err)
	}
	ri, err := c.RuntimeInfo(ctx)
	if err != nil || ri.StorageRetention != "15d" || ri.StartTime.IsZero() {
		t.Errorf("runtime info = %+v, %v", ri, err)
	}
}

func TestBuildInfo(t *testing.T) {
	c, _, _ := replay(t, map[string]reply{"/api/v1/status/buildinfo": {file: "buildinfo.json"}})
	b, err := c.BuildInfo(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if b.Version != "2.42.0+ds" || b.GoVersion == "" {
		t.Errorf("build info = %+v", b)
	}
}

func TestQuery(t *testing.T) {
	c, _, u := replay(t, map[string]reply{
		"/api/v1/query?query=sum by (job) (up)":  {file: "query_vector.json"},
		"/api/v1/query?query=scalar(count(up))":  {file: "query_scalar.json"},
		`/api/v1/query?query=up{job="nope"}`:     {file: "query_empty.json"},
		"/api/v1/query?query=sum(up":             {status: 400, file: "query_bad_data.json"},
		"/api/v1/query?query=sum(scrape_series)": {body: `{"status":"success","data":{"resultType":"string","result":[1,"x"]}}`},
		"/api/v1/query?query=up[1m]":             {body: `{"status":"success","data":{"resultType":"matrix","result":[]}}`},
	})
	ctx := context.Background()
	vec, _, err := c.QueryVector(ctx, "sum by (job) (up)", time.Time{})
	if err != nil || len(vec) != 3 {
		t.Fatalf("QueryVector = %v, %v", vec, err)
	}
	v, found, err := c.ScalarQuery(ctx, "sum by (job) (up)", time.Time{})
	if err != nil || !found || v != 2 {
		t.Errorf("ScalarQuery(vector) = %v, %v, %v; want 2 (first sample)", v, found, err)
	}
	v, found, err = c.ScalarQuery(ctx, "scalar(count(up))", time.Now())
	if err != nil || !found || v != 4 {
		t.Errorf("ScalarQuery(scalar) = %v, %v, %v; want 4", v, found, err)
	}
	v, found, err = c.ScalarQuery(ctx, `up{job="nope"}`, time.Time{})
	if err != nil || found || v != 0 {
		t.Errorf("ScalarQuery(no data) = %v, %v, %v; want not found", v, found, err)
	}
	_, _, err = c.Query(ctx, "sum(up", time.Time{})
	pe := kindError(t, err, prom.KindAPI, u, `query "sum(up"`, "bad_data", "parse error")
	if pe.APIType != "bad_data" || pe.Retryable() {
		t.Errorf("API error = %+v", pe)
	}
	_, _, err = c.ScalarQuery(ctx, "sum(scrape_series)", time.Time{})
	wantKind(t, err, prom.KindBadResponse, "string")
	_, _, err = c.QueryVector(ctx, "up[1m]", time.Time{})
	wantKind(t, err, prom.KindBadResponse, "matrix", "want a vector")
}

func TestAuthzCounters(t *testing.T) {
	allowQ, denyQ := prom.AuthzQueries(prom.AuthzQuery{})
	c, rs, _ := replay(t, map[string]reply{
		"/api/v1/query?query=" + allowQ: {file: "query_authz_allow.json"},
		"/api/v1/query?query=" + denyQ:  {file: "query_authz_deny.json"},
	})
	sum, err := c.AuthzCounters(context.Background(), prom.AuthzQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rs.requests()) != 2 {
		t.Errorf("%d requests, want 2", len(rs.requests()))
	}
	checkAuthzSummary(t, sum)
}

// checkAuthzSummary checks the summary of proxyMetrics, canned or scraped for real.
func checkAuthzSummary(t *testing.T, sum prom.AuthzSummary) {
	t.Helper()
	if len(sum.Servers) != 2 {
		t.Fatalf("servers = %+v, want 2", sum.Servers)
	}
	admin, ok := sum.Server(proxyNS, adminServer)
	if !ok {
		t.Fatalf("no %s server in %+v", adminServer, sum.Servers)
	}
	if admin.Kind != "server" || admin.AllowedFor(metricsAPIID) != 42 || admin.AllowedFor(grafanaID) != 5 || admin.AllowedTotal() != 47 || admin.DeniedTotal() != 5 {
		t.Errorf("admin = %+v", admin)
	}
	if got, want := admin.DeniedClients(), []string{"unauthenticated (no_tls_from_remote)", webID}; !slices.Equal(got, want) {
		t.Errorf("DeniedClients = %q, want %q", got, want)
	}
	var authz []string
	for _, r := range admin.Allowed {
		authz = append(authz, r.Client()+" via "+r.Authorization)
	}
	if want := []string{grafanaID + " via authorizationpolicy/prometheus-server-grafana", metricsAPIID + " via authorizationpolicy/prometheus-server-admin"}; !slices.Equal(authz, want) {
		t.Errorf("allowed = %q, want %q", authz, want)
	}
	for _, d := range admin.Denied {
		if d.Authorization != "" {
			t.Errorf("denial with an authorization: %+v", d)
		}
	}
	def, ok := sum.Server(proxyNS, "all-unauthenticated")
	if !ok || def.Kind != "default" || def.AllowedTotal() != 10 || len(def.Denied) != 0 || def.Allowed[0].TLS != "no_identity" {
		t.Errorf("default policy server = %+v", def)
	}
	if _, ok := sum.Server("other", adminServer); ok {
		t.Error("found a server in the wrong namespace")
	}
}

func TestAuthzQueries(t *testing.T) {
	allow, deny := prom.AuthzQueries(prom.AuthzQuery{Selector: ` namespace="linkerd-viz", pod=~"prometheus-server-.*" `, Window: 10 * time.Minute})
	wantAllow := `sum by (namespace, srv_kind, srv_name, authz_kind, authz_name, tls, client_id, no_tls_reason) (increase(inbound_http_authz_allow_total{namespace="linkerd-viz", pod=~"prometheus-server-.*"}[10m]))`
	wantDeny := `sum by (namespace, srv_kind, srv_name, tls, client_id, no_tls_reason) (increase(inbound_http_authz_deny_total{namespace="linkerd-viz", pod=~"prometheus-server-.*"}[10m]))`
	if allow != wantAllow || deny != wantDeny {
		t.Errorf("queries:\n%s\n%s\nwant:\n%s\n%s", allow, deny, wantAllow, wantDeny)
	}
}

func TestAuthzCountersSkipsIdleAndReportsErrors(t *testing.T) {
	q := prom.AuthzQuery{Window: 5 * time.Minute}
	allowQ, denyQ := prom.AuthzQueries(q)
	c, _, _ := replay(t, map[string]reply{
		"/api/v1/query?query=" + allowQ: {body: `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"namespace":"a","srv_kind":"server","srv_name":"s","client_id":"x"},"value":[1,"0"]}]}}`},
		"/api/v1/query?query=" + denyQ:  {status: 422, body: `{"status":"error","errorType":"execution","error":"query timed out"}`},
	})
	_, err := c.AuthzCounters(context.Background(), q)
	wantKind(t, err, prom.KindAPI, "inbound_http_authz_deny_total", "execution", "query timed out")

	c, _, _ = replay(t, map[string]reply{
		"/api/v1/query?query=" + allowQ: {body: `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"namespace":"a","srv_kind":"server","srv_name":"s","client_id":"x"},"value":[1,"0"]}]}}`},
		"/api/v1/query?query=" + denyQ:  {file: "query_empty.json"},
	})
	sum, err := c.AuthzCounters(context.Background(), q)
	if err != nil || len(sum.Servers) != 0 {
		t.Errorf("idle counters gave %+v, %v; want no servers", sum, err)
	}
}

func TestFederate(t *testing.T) {
	c, rs, _ := replay(t, map[string]reply{"/federate": {file: "federate.txt", ctype: "text/plain; version=0.0.4; charset=utf-8"}})
	matchers := []string{`{job="linkerd-proxy"}`, `{__name__=~"inbound_http_authz_.+", namespace!=""}`}
	res, err := c.Federate(context.Background(), matchers)
	if err != nil {
		t.Fatal(err)
	}
	// federate.txt: 16 lines from the direct scrape plus 2 federated from cluster "west",
	// under 11 metric names.
	if res.Samples != 18 || res.Families != 11 || res.Jobs["linkerd-proxy"] != 18 || len(res.Jobs) != 1 {
		t.Errorf("result = %+v", res)
	}
	if len(res.CommonLabels) != 1 || res.CommonLabels["job"] != "linkerd-proxy" {
		t.Errorf("CommonLabels = %v; cluster differs (east/west), only job is shared", res.CommonLabels)
	}
	reqs := rs.requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests", len(reqs))
	}
	if got := reqs[0].URL.Query()["match[]"]; !slices.Equal(got, matchers) {
		t.Errorf("match[] sent = %q, want %q", got, matchers)
	}
	if !strings.Contains(reqs[0].URL.RawQuery, "match%5B%5D=%7Bjob%3D%22linkerd-proxy%22%7D") {
		t.Errorf("query not URL-encoded: %s", reqs[0].URL.RawQuery)
	}
	if _, err := c.Federate(context.Background(), nil); err == nil || !strings.Contains(err.Error(), "match[]") {
		t.Errorf("Federate without matchers: %v", err)
	}
}

func TestFederateMalformed(t *testing.T) {
	canned, err := os.ReadFile(filepath.Join("testdata", "federate.txt"))
	if err != nil {
		t.Fatal(err)
	}
	truncated := string(canned[:len(canned)/2])
	truncated = truncated[:strings.LastIndex(truncated, "{")+3]
	for name, r := range map[string]reply{
		"cut mid-labels": {body: truncated + "\n", ctype: "text/plain; version=0.0.4"},
		"garbage value":  {body: "up{job=\"a\"} one\n", ctype: "text/plain; version=0.0.4"},
		"html":           {body: "<html>Linkerd</html>", ctype: "text/html; charset=utf-8"},
	} {
		t.Run(name, func(t *testing.T) {
			c, _, u := replay(t, map[string]reply{"/federate": r})
			_, err := c.Federate(context.Background(), []string{`{job="a"}`})
			wantKind(t, err, prom.KindBadResponse, u, "GET /federate")
		})
	}
}

func TestParseFederateCounts(t *testing.T) {
	body := `# TYPE lat histogram
lat_bucket{job="a",cluster="c",le="1"} 1
lat_bucket{job="a",cluster="c",le="+Inf"} 2
lat_sum{job="a",cluster="c"} 3
lat_count{job="a",cluster="c"} 2
# TYPE q summary
q{job="b",cluster="c",quantile="0.5"} 1
q_sum{job="b",cluster="c"} 1
q_count{job="b",cluster="c"} 1
# TYPE up untyped
up{cluster="c",instance="x"} 1 1700000000000
`
	res, err := prom.ParseFederate([]byte(body), http.Header{"Content-Type": {"text/plain; version=0.0.4"}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Samples != 8 || res.Families != 3 {
		t.Errorf("samples %d families %d, want 8 and 3", res.Samples, res.Families)
	}
	if res.Jobs["a"] != 4 || res.Jobs["b"] != 3 || res.Jobs[""] != 1 {
		t.Errorf("jobs = %v", res.Jobs)
	}
	if len(res.CommonLabels) != 1 || res.CommonLabels["cluster"] != "c" {
		t.Errorf("CommonLabels = %v, want only cluster=c", res.CommonLabels)
	}
	empty, err := prom.ParseFederate(nil, http.Header{})
	if err != nil || empty.Samples != 0 || len(empty.CommonLabels) != 0 {
		t.Errorf("empty body = %+v, %v", empty, err)
	}
}

func TestPersistence(t *testing.T) {
	ctx := context.Background()
	c, rs, _ := replay(t, map[string]reply{
		"/api/v1/status/runtimeinfo": {file: "runtimeinfo.json"},
		"/api/v1/query_range":        {file: "query_range_persistence.json"},
	})
	ev, err := c.Persistence(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ri struct {
		Data struct {
			StartTime time.Time `json:"startTime"`
		} `json:"data"`
	}
	raw, err := os.ReadFile(filepath.Join("testdata", "runtimeinfo.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &ri); err != nil {
		t.Fatal(err)
	}
	if want := ri.Data.StartTime; want.IsZero() || !ev.ProcessStart.Equal(want) {
		t.Errorf("ProcessStart = %v, want %v", ev.ProcessStart, want)
	}
	if !ev.Proven || ev.OldestSample.IsZero() || !ev.OldestSample.Before(ev.ProcessStart) || !strings.Contains(ev.Method, "runtimeinfo") || !strings.Contains(ev.Reason, "survived") {
		t.Errorf("evidence = %+v", ev)
	}
	checkProbeRange(t, rs, ev.ProcessStart, 2*time.Hour)

	c, _, _ = replay(t, map[string]reply{
		"/api/v1/status/runtimeinfo": {file: "runtimeinfo_fresh.json"},
		"/api/v1/query_range":        {file: "query_range_persistence_empty.json"},
	})
	ev, err = c.Persistence(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ev.Proven || !ev.OldestSample.IsZero() || ev.ProcessStart.IsZero() || !strings.Contains(ev.Reason, "first run") {
		t.Errorf("fresh evidence = %+v", ev)
	}
}

// checkProbeRange checks that the range query ended just before start and reached back over
// the retention window.
func checkProbeRange(t *testing.T, rs *replayServer, start time.Time, retention time.Duration) {
	t.Helper()
	var r *http.Request
	for _, req := range rs.requests() {
		if req.URL.Path == "/api/v1/query_range" {
			r = req
		}
	}
	if r == nil {
		t.Fatal("no range query sent")
	}
	sec := func(name string) time.Time {
		f, err := strconv.ParseFloat(r.Form.Get(name), 64)
		if err != nil {
			t.Fatalf("range %s=%q: %v", name, r.Form.Get(name), err)
		}
		return time.UnixMilli(int64(f * 1000))
	}
	from, end := sec("start"), sec("end")
	step, err := strconv.ParseFloat(r.Form.Get("step"), 64)
	if err != nil {
		t.Fatal(err)
	}
	if r.Form.Get("query") != "min(timestamp(up))" {
		t.Errorf("probe query = %q", r.Form.Get("query"))
	}
	if !end.Before(start) || start.Sub(end) > 2*time.Millisecond {
		t.Errorf("probe ends at %v, want just before %v", end, start)
	}
	if span := end.Sub(from); span < retention || span > retention+time.Duration(step*float64(time.Second)) {
		t.Errorf("probe spans %v, want the retention %v", span, retention)
	}
	if n := end.Sub(from).Seconds() / step; n > 260 || n != float64(int(n)) {
		t.Errorf("probe has %v steps, want a whole number ≤ 250ish so the last one is at the end", n)
	}
}

func TestPersistenceFallsBackToProcessStartMetric(t *testing.T) {
	const q = "process_start_time_seconds and on (job, instance) prometheus_build_info"
	c, rs, _ := replay(t, map[string]reply{
		"/api/v1/status/runtimeinfo": {file: "notfound.txt", status: 404},
		"/api/v1/query?query=" + q:   {body: `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"__name__":"process_start_time_seconds","job":"prometheus","instance":"localhost:9090"},"value":[1795327100,"1795327061.25"]}]}}`},
		"/api/v1/query_range":        {file: "query_range_persistence_empty.json"},
	})
	ev, err := c.Persistence(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if want := time.UnixMilli(1795327061250); !ev.ProcessStart.Equal(want) || !strings.Contains(ev.Method, "process_start_time_seconds") || ev.Proven {
		t.Errorf("evidence = %+v, want start %v from the metric", ev, want)
	}
	checkProbeRange(t, rs, ev.ProcessStart, 15*24*time.Hour)

	c, _, _ = replay(t, map[string]reply{
		"/api/v1/status/runtimeinfo": {file: "notfound.txt", status: 404},
		"/api/v1/query?query=" + q:   {file: "query_empty.json"},
	})
	if _, err := c.Persistence(context.Background()); err == nil || !strings.Contains(err.Error(), "scrape itself") {
		t.Errorf("no start time anywhere: %v", err)
	}
}

func TestWithHeader(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.URL.Path+" "+r.Header.Get("Authorization"))
		mu.Unlock()
		if r.URL.Path == "/-/ready" {
			return
		}
		w.Header().Set("Content-Type", "application/json")
		body, _ := os.ReadFile(filepath.Join("testdata", "flags.json"))
		_, _ = w.Write(body)
	}))
	t.Cleanup(srv.Close)
	c, err := prom.New(srv.URL, prom.WithHeader("Authorization", "Bearer s3cret"))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Ready(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Flags(context.Background()); err != nil {
		t.Fatal(err)
	}
	if want := []string{"/-/ready Bearer s3cret", "/api/v1/status/flags Bearer s3cret"}; !slices.Equal(seen, want) {
		t.Errorf("requests = %q, want %q", seen, want)
	}
}

func TestConcurrentUse(t *testing.T) {
	c, _, _ := replay(t, map[string]reply{
		"/api/v1/targets": {file: "targets.json"},
		"/federate":       {file: "federate.txt", ctype: "text/plain; version=0.0.4"},
		"/-/ready":        {file: "ready.txt"},
	})
	var wg sync.WaitGroup
	errs := make(chan error, 60)
	for range 20 {
		wg.Go(func() { _, err := c.Targets(context.Background()); errs <- err })
		wg.Go(func() {
			_, err := c.Federate(context.Background(), []string{`{job="x"}`})
			errs <- err
		})
		wg.Go(func() { errs <- c.Ready(context.Background()) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}
