package release

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	rcommon "helm.sh/helm/v4/pkg/release/common"
	"sigs.k8s.io/yaml"

	"github.com/meshmon/meshmon/pkg/helmvalues"
	"github.com/meshmon/meshmon/pkg/prom/promtest"
	"github.com/meshmon/meshmon/pkg/scrape"
)

func source(t *testing.T, name, u string, match ...string) scrape.FederationSource {
	t.Helper()
	s := scrape.FederationSource{Name: name, URL: u, Match: match}
	if err := s.Normalize(); err != nil {
		t.Fatal(err)
	}
	return s
}

func jobList(t *testing.T, values map[string]any) []string {
	t.Helper()
	list, _ := helmvalues.Lookup(values, scrapeConfigsPath...)
	return jobNames(list)
}

func TestFederationValuesEdits(t *testing.T) {
	base, _, err := Values(defaultOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	before, _ := canonicalJSON(base)
	linkerd := strings.Join(jobList(t, base), ",")

	west := source(t, "west", "http://10.1.0.1:9090")
	v1, changed, err := WithFederationSource(base, west)
	if err != nil || !changed {
		t.Fatalf("add: changed=%v err=%v", changed, err)
	}
	if got := strings.Join(jobList(t, v1), ","); got != linkerd+",federate-west" {
		t.Errorf("jobs after add = %s", got)
	}
	if after, _ := canonicalJSON(base); after != before {
		t.Error("adding a source modified the values it was given")
	}

	if _, changed, _ := WithFederationSource(v1, west); changed {
		t.Error("adding the same source again is a change")
	}
	east := source(t, "east", "http://10.2.0.1:9090")
	v2, _, _ := WithFederationSource(v1, east)
	moved := source(t, "west", "http://10.1.0.2:9090")
	v3, changed, _ := WithFederationSource(v2, moved)
	if !changed {
		t.Fatal("a changed URL is no change")
	}
	if got := strings.Join(jobList(t, v3), ","); got != linkerd+",federate-west,federate-east" {
		t.Errorf("replacing a source moved it: %s", got)
	}
	got, odd := FederationSources(v3)
	if len(odd) != 0 || len(got) != 2 || got[0].URL != "http://10.1.0.2:9090/federate" || got[1].Name != "east" {
		t.Errorf("sources = %+v, odd %v", got, odd)
	}

	v4, found, err := WithoutFederationSource(v3, "west")
	if err != nil || !found {
		t.Fatalf("remove: found=%v err=%v", found, err)
	}
	if got := strings.Join(jobList(t, v4), ","); got != linkerd+",federate-east" {
		t.Errorf("jobs after remove = %s", got)
	}
	if _, found, _ := WithoutFederationSource(v4, "west"); found {
		t.Error("removed twice")
	}
	// A Linkerd job is not a federation source, whatever its name.
	if _, found, _ := WithoutFederationSource(v4, "linkerd-proxy"); found {
		t.Error("removed a Linkerd job")
	}

	overridden := helmvalues.Merge(base, map[string]any{"serverFiles": map[string]any{"prometheus.yml": map[string]any{"scrape_configs": nil}}})
	delete(overridden["serverFiles"].(map[string]any)["prometheus.yml"].(map[string]any), "scrape_configs")
	if _, _, err := WithFederationSource(overridden, west); err == nil || !strings.Contains(err.Error(), "no serverFiles.\"prometheus.yml\".scrape_configs list") {
		t.Errorf("values without scrape jobs: %v", err)
	}
}

func TestUpdateValuesManagesFederationAcrossInstalls(t *testing.T) {
	tg, k := memTarget(t)
	ctx := context.Background()
	o := UpdateOptions{ApplyOptions: ApplyOptions{Timeout: time.Minute, PollInterval: 10 * time.Millisecond}}
	west := source(t, "west", "http://10.1.0.1:9090")
	add := func(current map[string]any) (map[string]any, bool, error) {
		return WithFederationSource(current, west)
	}

	if _, err := UpdateValues(ctx, tg, add, o); !errors.Is(err, ErrNotInstalled) {
		t.Fatalf("no release: %v, want ErrNotInstalled", err)
	}
	mustApply(t, tg, testPlan(t, nil))
	res, err := UpdateValues(ctx, tg, add, o)
	if err != nil {
		t.Fatal(err)
	}
	if res.Action != ActionUpgrade || res.Revision != 2 {
		t.Fatalf("add: %s revision %d", res.Action, res.Revision)
	}
	h := history(t, tg)
	if got := jobList(t, h[1].Config); got[len(got)-1] != "federate-west" {
		t.Errorf("stored jobs %v", got)
	}
	if h[1].Labels[ChartDigestLabel] == "" || h[1].Labels[ChartDigestLabel] != h[0].Labels[ChartDigestLabel] {
		t.Errorf("chart digest label %q → %q: install would see a chart change", h[0].Labels[ChartDigestLabel], h[1].Labels[ChartDigestLabel])
	}
	if res, err := UpdateValues(ctx, tg, add, o); err != nil || res.Action != ActionNone || res.Revision != 2 {
		t.Errorf("adding again: %+v, %v", res, err)
	}

	// install with the same flags keeps the source: nothing to do. Without carrying it,
	// the same install would have dropped it.
	deployed, err := tg.DeployedValues()
	if err != nil {
		t.Fatal(err)
	}
	carried, err := NewPlan(ctx, PlanInput{Chart: loadFixtureChart(t), Values: defaultOptions(t), KubeVersion: "v1.37.1", CarryJobs: FederationJobs(deployed)})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(carried.Carried, ",") != "federate-west" {
		t.Errorf("carried %v", carried.Carried)
	}
	if !strings.Contains(carried.Manifest, "job_name: federate-west") {
		t.Error("the carried job is not in the rendered prometheus.yml")
	}
	if st, err := Inspect(tg, carried); err != nil || st.Action != ActionNone {
		t.Errorf("install after federate add: %+v %v, want up to date", st, err)
	}
	if st, _ := Inspect(tg, testPlan(t, nil)); st.Action != ActionUpgrade {
		t.Errorf("a plan without the source is %s; the comparison cannot tell", st.Action)
	}
	// A job of the same name in the user's values wins over the deployed one.
	user := map[string]any{"serverFiles": map[string]any{"prometheus.yml": map[string]any{"scrape_configs": []any{
		map[string]any{"job_name": "federate-west", "static_configs": []any{map[string]any{"targets": []any{"mine:9090"}}}},
	}}}}
	mine, err := NewPlan(ctx, PlanInput{Chart: loadFixtureChart(t), Values: defaultOptions(t), UserValues: user, KubeVersion: "v1.37.1", CarryJobs: FederationJobs(deployed)})
	if err != nil {
		t.Fatal(err)
	}
	if len(mine.Carried) != 0 || strings.Count(mine.Manifest, "federate-west") != 1 {
		t.Errorf("user's own job: carried %v", mine.Carried)
	}

	// A failed wait rolls the change back.
	k.script(waitOutcome{err: errors.New("context deadline exceeded")})
	east := source(t, "east", "http://10.2.0.1:9090")
	_, err = UpdateValues(ctx, tg, func(c map[string]any) (map[string]any, bool, error) { return WithFederationSource(c, east) }, UpdateOptions{ApplyOptions: ApplyOptions{Timeout: time.Second}})
	if err == nil || !strings.Contains(err.Error(), "rolled back") {
		t.Fatalf("failed upgrade: %v", err)
	}
	deployed, _ = tg.DeployedValues()
	if s, _ := FederationSources(deployed); len(s) != 1 || s[0].Name != "west" {
		t.Errorf("after the rollback: %+v", s)
	}

	remove := func(current map[string]any) (map[string]any, bool, error) {
		out, found, err := WithoutFederationSource(current, "west")
		if !found {
			return nil, false, errors.New("west not found")
		}
		return out, true, err
	}
	res, err = UpdateValues(ctx, tg, remove, o)
	if err != nil || res.Action != ActionUpgrade {
		t.Fatalf("remove: %+v %v", res, err)
	}
	deployed, _ = tg.DeployedValues()
	if s, _ := FederationSources(deployed); len(s) != 0 {
		t.Errorf("still there: %+v", s)
	}

	// A release stuck pending is not touched.
	stuck(t, tg, testPlan(t, nil), rcommon.StatusPendingUpgrade)
	var pe *PendingError
	if _, err := UpdateValues(ctx, tg, add, o); !errors.As(err, &pe) {
		t.Errorf("pending release: %v, want *PendingError", err)
	}
}

// TestFederationJobWithRealPrometheus runs two real Prometheus servers: "west" scrapes a
// proxy-like target and carries external label cluster=west; "east" federates it with
// the job meshmon generates. East must end up with west's series, labels kept.
func TestFederationJobWithRealPrometheus(t *testing.T) {
	promtest.RequireBinary(t)
	proxy := startMetricsServer(t, "request_total{direction=\"inbound\"} 7\nother_total 1\n")
	west := promtest.Start(t, promtest.Options{Config: fmt.Sprintf(`global:
  scrape_interval: 1s
  external_labels: {cluster: west}
scrape_configs:
- job_name: linkerd-proxy
  static_configs: [{targets: [%q]}]
`, proxy)})

	src := source(t, "west", west.URL, `{job="linkerd-proxy",__name__="request_total"}`)
	src.Interval = "1s"
	job, err := yaml.Marshal([]any{src.Job()})
	if err != nil {
		t.Fatal(err)
	}
	east := promtest.Start(t, promtest.Options{Config: "global:\n  scrape_interval: 1s\n  external_labels: {cluster: east}\nscrape_configs:\n" + string(job)})

	deadline := time.Now().Add(30 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		last = query(t, east.URL, `request_total`)
		if strings.Contains(last, `"cluster":"west"`) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, want := range []string{`"cluster":"west"`, `"job":"linkerd-proxy"`, `"direction":"inbound"`, `"7"`} {
		if !strings.Contains(last, want) {
			t.Errorf("east's request_total lacks %s (honor_labels must keep the remote's labels): %s", want, last)
		}
	}
	if got := query(t, east.URL, `other_total`); strings.Contains(got, `"other_total"`) {
		t.Errorf("a series the match[] does not select was federated: %s", got)
	}
	if got := query(t, east.URL, `up{job="federate-west"}`); !strings.Contains(got, `"1"`) {
		t.Errorf("east's federation job is not up: %s", got)
	}
}

func startMetricsServer(t *testing.T, body string) string {
	t.Helper()
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		fmt.Fprint(w, body)
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

func query(t *testing.T, base, expr string) string {
	t.Helper()
	resp, err := http.Get(base + "/api/v1/query?query=" + url.QueryEscape(expr))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body json.RawMessage
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	return string(body)
}

// Two writers of the release's values at once: one that finished a revision between the
// other's read and write makes the other plan again (both sources kept); one still in
// progress makes the other refuse with ErrConcurrentOperation, changing nothing.
func TestUpdateValuesConcurrentWriters(t *testing.T) {
	o := UpdateOptions{ApplyOptions: ApplyOptions{Timeout: time.Minute, PollInterval: 10 * time.Millisecond}}
	adder := func(s scrape.FederationSource) func(map[string]any) (map[string]any, bool, error) {
		return func(c map[string]any) (map[string]any, bool, error) { return WithFederationSource(c, s) }
	}
	west, east := source(t, "west", "http://10.1.0.1:9090"), source(t, "east", "http://10.2.0.1:9090")
	names := func(tg *Target) []string {
		deployed, err := tg.DeployedValues()
		if err != nil {
			t.Fatal(err)
		}
		srcs, _ := FederationSources(deployed)
		var out []string
		for _, s := range srcs {
			out = append(out, s.Name)
		}
		slices.Sort(out)
		return out
	}

	t.Run("a revision finished meanwhile", func(t *testing.T) {
		tg, _ := memTarget(t)
		mustApply(t, tg, testPlan(t, nil))
		calls := 0
		res, err := UpdateValues(context.Background(), tg, func(c map[string]any) (map[string]any, bool, error) {
			calls++
			if calls == 1 { // east's writer completes after west's read of revision 1
				if _, err := UpdateValues(context.Background(), tg, adder(east), o); err != nil {
					t.Fatalf("east: %v", err)
				}
			}
			return WithFederationSource(c, west)
		}, o)
		if err != nil {
			t.Fatal(err)
		}
		if calls != 2 || res.Revision != 3 {
			t.Errorf("west: %d plans, revision %d; want 2 plans, revision 3", calls, res.Revision)
		}
		if got := names(tg); !slices.Equal(got, []string{"east", "west"}) {
			t.Errorf("sources %v, want east and west: a change was lost", got)
		}
	})

	t.Run("an operation in progress", func(t *testing.T) {
		tg, _ := memTarget(t)
		p := testPlan(t, nil)
		mustApply(t, tg, p)
		_, err := UpdateValues(context.Background(), tg, func(c map[string]any) (map[string]any, bool, error) {
			stuck(t, tg, p, rcommon.StatusPendingUpgrade) // another upgrade starts after our read
			return WithFederationSource(c, west)
		}, o)
		if !errors.Is(err, ErrConcurrentOperation) || !strings.Contains(err.Error(), "retry") {
			t.Fatalf("err %v, want ErrConcurrentOperation saying retry", err)
		}
		h := history(t, tg)
		if len(h) != 2 || h[1].Info.Status != rcommon.StatusPendingUpgrade {
			t.Errorf("history changed: %d revisions, last %s", len(h), h[len(h)-1].Info.Status)
		}
	})
}
