package sim_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	appsv1 "k8s.io/api/apps/v1"
	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"
	k8stesting "k8s.io/client-go/testing"
	"sigs.k8s.io/yaml"

	"github.com/meshmon/meshmon/e2e/sim"
	"github.com/meshmon/meshmon/pkg/prom"
	"github.com/meshmon/meshmon/pkg/prom/promtest"
)

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func get(t *testing.T, url string) (int, string, error) {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}

func refused(err error) bool { return errors.Is(err, syscall.ECONNREFUSED) }

func TestRewriteConfig(t *testing.T) {
	in := `global:
  scrape_interval: 10s
  external_labels: {cluster: east}
scrape_configs:
- job_name: linkerd-proxy
  kubernetes_sd_configs:
  - role: pod
  - role: pod
    namespaces: {names: [linkerd]}
  relabel_configs:
  - {action: keep, source_labels: [__meta_kubernetes_pod_container_port_name], regex: linkerd-admin}
- job_name: self
  static_configs:
  - targets: [localhost:9090]
`
	out, err := sim.RewriteConfig(in, "https://127.0.0.1:16443", "/pki/ca.crt", "/run/token")
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Global        map[string]any `json:"global"`
		ScrapeConfigs []struct {
			JobName        string           `json:"job_name"`
			SDs            []map[string]any `json:"kubernetes_sd_configs"`
			Static         []map[string]any `json:"static_configs"`
			RelabelConfigs []map[string]any `json:"relabel_configs"`
		} `json:"scrape_configs"`
	}
	if err := yaml.Unmarshal([]byte(out), &cfg); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if len(cfg.ScrapeConfigs) != 2 || len(cfg.ScrapeConfigs[0].SDs) != 2 || len(cfg.ScrapeConfigs[0].RelabelConfigs) != 1 {
		t.Fatalf("jobs changed:\n%s", out)
	}
	for i, sd := range cfg.ScrapeConfigs[0].SDs {
		if sd["role"] != "pod" || sd["api_server"] != "https://127.0.0.1:16443" ||
			fmt.Sprint(sd["tls_config"]) != "map[ca_file:/pki/ca.crt]" || fmt.Sprint(sd["authorization"]) != "map[credentials_file:/run/token]" {
			t.Errorf("sd %d = %v", i, sd)
		}
	}
	if fmt.Sprint(cfg.ScrapeConfigs[0].SDs[1]["namespaces"]) != "map[names:[linkerd]]" {
		t.Errorf("namespaces lost: %v", cfg.ScrapeConfigs[0].SDs[1])
	}
	if cfg.ScrapeConfigs[1].SDs != nil || len(cfg.ScrapeConfigs[1].Static) != 1 {
		t.Errorf("the static job changed: %+v", cfg.ScrapeConfigs[1])
	}
	if fmt.Sprint(cfg.Global["external_labels"]) != "map[cluster:east]" {
		t.Errorf("global changed: %v", cfg.Global)
	}
	if _, err := sim.RewriteConfig("scrape_configs: [", "", "", ""); err == nil {
		t.Error("a broken prometheus.yml was accepted")
	}
}

func TestAddPodIP(t *testing.T) {
	ctx := context.Background()
	if _, err := sim.AddPodIP(ctx, "10.244.0.300"); err == nil || !strings.Contains(err.Error(), "not an IP address") {
		t.Errorf("bad address: %v", err)
	}
	// Loopback addresses are always there: nothing to add, nothing to remove.
	if added, err := sim.AddPodIP(ctx, "127.0.0.9"); added || err != nil {
		t.Errorf("loopback: added=%v err=%v", added, err)
	}
}

func TestLoopServer(t *testing.T) {
	s, err := sim.Serve("127.0.0.1:0", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "hi") }))
	if err != nil {
		t.Fatal(err)
	}
	if code, body, err := get(t, "http://"+s.Addr+"/"); err != nil || code != 200 || body != "hi" {
		t.Fatalf("GET: %d %q %v", code, body, err)
	}
	if _, err := sim.Serve(s.Addr, http.NotFoundHandler()); err == nil || !strings.Contains(err.Error(), "listening on "+s.Addr) {
		t.Errorf("second server on a busy address: %v", err)
	}
	if err := s.Stop(); err != nil {
		t.Errorf("Stop: %v", err)
	}
	if err := s.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
	if _, _, err := get(t, "http://"+s.Addr+"/"); !refused(err) {
		t.Errorf("after Stop: %v, want connection refused", err)
	}
}

// meshPod is a running pod at 127.0.0.1 (always up on the loopback) whose
// containers have the given ports.
func meshPod(ns, name string, uid string, containers ...corev1.Container) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID(uid), Labels: map[string]string{"app": name}},
		Spec:       corev1.PodSpec{Containers: containers},
		Status:     corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "127.0.0.1"},
	}
}

func proxy(port int) corev1.Container {
	return corev1.Container{Name: "linkerd-proxy", Ports: []corev1.ContainerPort{{Name: "linkerd-admin", ContainerPort: int32(port)}}}
}

func admin(port int) corev1.Container {
	return corev1.Container{Name: "destination", Ports: []corev1.ContainerPort{{Name: "dest-admin", ContainerPort: int32(port)}}}
}

func parseMetrics(t *testing.T, body string) map[string]*dto {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("not Prometheus text format: %v\n%s", err, body)
	}
	out := map[string]*dto{}
	for name, f := range fams {
		d := &dto{}
		for _, m := range f.Metric {
			l := map[string]string{}
			for _, lp := range m.Label {
				l[lp.GetName()] = lp.GetValue()
			}
			d.labels = append(d.labels, l)
		}
		out[name] = d
	}
	return out
}

type dto struct{ labels []map[string]string }

func TestMeshFollowsPods(t *testing.T) {
	ctx := context.Background()
	pA, pB, pC, pAdm, pOther := freePort(t), freePort(t), freePort(t), freePort(t), freePort(t)
	web := meshPod("emojivoto", "web-1", "u1", proxy(pA))
	dest := meshPod("linkerd", "destination-1", "u2", proxy(pB), admin(pAdm))
	// Admin ports outside the control namespaces are not Linkerd's to scrape.
	app := meshPod("emojivoto", "voting-1", "u3", admin(pOther))
	pending := meshPod("emojivoto", "pending-1", "u4", proxy(pC))
	pending.Status.Phase = corev1.PodPending
	kc := fake.NewClientset(web, dest, app, pending)

	m := sim.NewMesh(sim.MeshOptions{
		ControlNamespaces: []string{"linkerd"},
		Authz: func(p *corev1.Pod) ([]sim.AuthzSample, []sim.AuthzSample) {
			if p.Name != "web-1" {
				return nil, nil
			}
			return []sim.AuthzSample{{Server: "web", Port: 80, ClientID: "a.b.serviceaccount.identity.linkerd.cluster.local", Authorization: "web", Requests: 3}},
				[]sim.AuthzSample{{Server: "web", Port: 80, Requests: 2}}
		},
	})
	defer m.Close()
	if err := m.Refresh(ctx, kc); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(m.Pods(), " "); got != "emojivoto/web-1 linkerd/destination-1" {
		t.Errorf("proxies = %s", got)
	}

	code, body, err := get(t, fmt.Sprintf("http://127.0.0.1:%d/metrics", pA))
	if err != nil || code != 200 {
		t.Fatalf("web's proxy: %d %v", code, err)
	}
	fams := parseMetrics(t, body)
	for _, name := range []string{"process_start_time_seconds", "request_total", "response_total", "inbound_http_authz_allow_total", "inbound_http_authz_deny_total"} {
		if fams[name] == nil || len(fams[name].labels) != 1 {
			t.Errorf("%s: %+v", name, fams[name])
		}
	}
	if l := fams["inbound_http_authz_allow_total"].labels[0]; l["authz_name"] != "web" || l["client_id"] != "a.b.serviceaccount.identity.linkerd.cluster.local" || l["srv_name"] != "web" {
		t.Errorf("allow labels = %v", l)
	}
	if l := fams["inbound_http_authz_deny_total"].labels[0]; l["tls"] != "no_identity" || l["authz_name"] != "" {
		t.Errorf("deny labels = %v", l)
	}
	if l := fams["request_total"].labels[0]; l["authority"] != "web-1.emojivoto.svc.cluster.local:80" || l["direction"] != "inbound" {
		t.Errorf("request labels = %v", l)
	}
	if code, _, err := get(t, fmt.Sprintf("http://127.0.0.1:%d/other", pA)); err != nil || code != 404 {
		t.Errorf("other path: %d %v", code, err)
	}
	if code, body, err := get(t, fmt.Sprintf("http://127.0.0.1:%d/metrics", pAdm)); err != nil || code != 200 || !strings.Contains(body, "go_goroutines") {
		t.Errorf("destination's admin port: %d %v %q", code, err, body)
	}
	for what, port := range map[string]int{"admin port outside the control namespaces": pOther, "pending pod": pC} {
		if _, _, err := get(t, fmt.Sprintf("http://127.0.0.1:%d/metrics", port)); !refused(err) {
			t.Errorf("%s is served: %v", what, err)
		}
	}
	if _, err := m.Proxy("emojivoto", "voting-1"); err == nil || !strings.Contains(err.Error(), "have emojivoto/web-1, linkerd/destination-1") {
		t.Errorf("Proxy of a pod without proxy: %v", err)
	}
	if p, err := m.ProxyOf("linkerd", "destination-"); err != nil || p.Pod != "destination-1" || p.Port != pB {
		t.Errorf("ProxyOf = %+v, %v", p, err)
	}

	// A rollout: web-1 is replaced by web-2 (on another port here), and a
	// stopped proxy stays stopped.
	p, _ := m.Proxy("linkerd", "destination-1")
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := kc.CoreV1().Pods("emojivoto").Delete(ctx, "web-1", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	pD := freePort(t)
	if _, err := kc.CoreV1().Pods("emojivoto").Create(ctx, meshPod("emojivoto", "web-2", "u5", proxy(pD)), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	follow, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		m.Follow(follow, kc, 20*time.Millisecond, func(err error) { t.Errorf("Follow: %v", err) })
	}()
	deadline := time.Now().Add(10 * time.Second)
	for strings.Join(m.Pods(), " ") != "emojivoto/web-2 linkerd/destination-1" && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	stop()
	<-done
	if got := strings.Join(m.Pods(), " "); got != "emojivoto/web-2 linkerd/destination-1" {
		t.Fatalf("after the rollout: %s", got)
	}
	if _, _, err := get(t, fmt.Sprintf("http://127.0.0.1:%d/metrics", pA)); !refused(err) {
		t.Errorf("the deleted pod is still served: %v", err)
	}
	if code, _, err := get(t, fmt.Sprintf("http://127.0.0.1:%d/metrics", pD)); err != nil || code != 200 {
		t.Errorf("the new pod: %d %v", code, err)
	}
	if _, _, err := get(t, fmt.Sprintf("http://127.0.0.1:%d/metrics", pB)); !refused(err) {
		t.Errorf("a stopped proxy came back: %v", err)
	}

	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := get(t, fmt.Sprintf("http://127.0.0.1:%d/metrics", pD)); !refused(err) {
		t.Errorf("served after Close: %v", err)
	}
	if err := m.Refresh(ctx, kc); err == nil {
		t.Error("Refresh after Close succeeded")
	}
}

func TestMeshRetriesAPodItCouldNotServe(t *testing.T) {
	ctx := context.Background()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := busy.Addr().(*net.TCPAddr).Port
	kc := fake.NewClientset(meshPod("emojivoto", "web-1", "u1", proxy(port)))
	m := sim.NewMesh(sim.MeshOptions{})
	defer m.Close()
	if err := m.Refresh(ctx, kc); err == nil || !strings.Contains(err.Error(), "pod emojivoto/web-1") {
		t.Fatalf("busy port: %v", err)
	}
	busy.Close()
	if err := m.Refresh(ctx, kc); err != nil {
		t.Fatalf("the port is free now: %v", err)
	}
	if code, _, err := get(t, fmt.Sprintf("http://127.0.0.1:%d/metrics", port)); err != nil || code != 200 {
		t.Errorf("not served on the second try: %d %v", code, err)
	}
}

// promAPI answers a Prometheus HTTP API path with canned JSON data.
func promAPI(t *testing.T, answers map[string]string) string {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		data, ok := answers[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"status":"success","data":%s}`, data)
	}))
	t.Cleanup(s.Close)
	return s.URL
}

func metricsAPI(prometheusURL string) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: "linkerd-viz", Name: "metrics-api"},
		Spec: appsv1.DeploymentSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{
			{Name: "metrics-api", Args: []string{"-controller-namespace=linkerd", "-prometheus-url=" + prometheusURL}},
		}}}},
	}
}

func TestDashboard(t *testing.T) {
	promURL := promAPI(t, map[string]string{"/api/v1/query": `{"resultType":"vector","result":[
		{"metric":{"namespace":"linkerd-viz","deployment":"web"},"value":[1700000000,"57"]},
		{"metric":{"namespace":"linkerd-viz"},"value":[1700000000,"3"]}]}`})
	const host = "prometheus-server.linkerd-viz.svc.cluster.local:9090"
	kc := fake.NewClientset(metricsAPI("http://" + host))
	d, err := sim.NewDashboard(kc, "linkerd-viz", host, promURL)
	if err != nil {
		t.Fatal(err)
	}
	do := func(hostHeader, path string) (int, string) {
		r := httptest.NewRequest(http.MethodGet, "http://"+hostHeader+path, nil)
		w := httptest.NewRecorder()
		d.ServeHTTP(w, r)
		return w.Code, w.Body.String()
	}
	if code, body := do("web.example.com", "/"); code != 400 || !strings.Contains(body, "denied for security reasons") {
		t.Errorf("foreign host: %d %q", code, body)
	}
	if code, body := do("localhost:8084", "/api/version"); code != 200 || !strings.Contains(body, `"version":"edge-26.8.3"`) {
		t.Errorf("version: %d %q", code, body)
	}
	code, body := do("127.0.0.1:8084", "/api/tps-reports")
	var rep struct {
		OK struct {
			StatTables []struct {
				PodGroup struct {
					Rows []struct {
						Resource map[string]string `json:"resource"`
						Stats    map[string]string `json:"stats"`
					} `json:"rows"`
				} `json:"podGroup"`
			} `json:"statTables"`
		} `json:"ok"`
	}
	if err := json.Unmarshal([]byte(body), &rep); err != nil || code != 200 {
		t.Fatalf("tps: %d %v %q", code, err, body)
	}
	rows := rep.OK.StatTables[0].PodGroup.Rows
	if len(rows) != 1 || rows[0].Resource["name"] != "web" || rows[0].Stats["successCount"] != "57" {
		t.Errorf("rows = %+v", rows)
	}

	// metrics-api asks another Prometheus: the error metrics-api would give.
	if _, err := kc.AppsV1().Deployments("linkerd-viz").Update(context.Background(), metricsAPI("http://prometheus.linkerd-viz.svc.cluster.local:9090"), metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if code, body := do("127.0.0.1:8084", "/api/tps-reports"); code != 500 || !strings.Contains(body, "dial tcp prometheus.linkerd-viz.svc.cluster.local:9090: connect: connection refused") {
		t.Errorf("other Prometheus: %d %q", code, body)
	}
	if code, body := do("127.0.0.1:8084", "/nothing"); code != 404 {
		t.Errorf("unknown path: %d %q", code, body)
	}
}

func target(job, ns, pod, instance, health string) string {
	return fmt.Sprintf(`{"discoveredLabels":{},"labels":{"job":%q,"namespace":%q,"pod":%q,"instance":%q},"scrapePool":%q,"scrapeUrl":"http://%s/metrics","lastError":%q,"lastScrape":"2026-01-01T00:00:00Z","lastScrapeDuration":0.01,"health":%q}`,
		job, ns, pod, instance, job, instance, map[bool]string{true: "", false: "connection refused"}[health != "down"], health)
}

func TestScraped(t *testing.T) {
	pod := meshPod("emojivoto", "web-1", "u1")
	pod.Labels["linkerd.io/control-plane-ns"] = "linkerd"
	pod.Status.PodIP = "10.244.0.7"
	kc := fake.NewClientset(pod, meshPod("emojivoto", "unmeshed", "u2"))
	ctx := context.Background()
	check := func(targets ...string) ([]corev1.Pod, error) {
		url := promAPI(t, map[string]string{"/api/v1/targets": `{"activeTargets":[` + strings.Join(targets, ",") + `],"droppedTargets":[]}`})
		pc, err := prom.New(url)
		if err != nil {
			t.Fatal(err)
		}
		return sim.Scraped(ctx, kc, pc, 0)
	}
	ctl := target("linkerd-controller", "linkerd", "destination-1", "10.244.0.2:9996", "up")
	meshed, err := check(target("linkerd-proxy", "emojivoto", "web-1", "10.244.0.7:4191", "up"), ctl)
	if err != nil || len(meshed) != 1 || meshed[0].Name != "web-1" {
		t.Errorf("all scraped: %v %v", meshed, err)
	}
	for what, c := range map[string]struct {
		targets []string
		want    string
	}{
		"old IP":     {[]string{target("linkerd-proxy", "emojivoto", "web-1", "10.244.0.5:4191", "up"), ctl}, "linkerd-proxy: 1 of 1 meshed pods not scraped at their current IP, 1 targets of pods that are gone\nnot scraped: [emojivoto/web-1@10.244.0.7]\ngone: [emojivoto/web-1@10.244.0.5]"},
		"not yet":    {[]string{target("linkerd-proxy", "emojivoto", "web-1", "10.244.0.7:4191", "unknown"), ctl}, "job linkerd-proxy: 1 targets not scraped yet"},
		"controller": {[]string{target("linkerd-proxy", "emojivoto", "web-1", "10.244.0.7:4191", "up"), target("linkerd-controller", "linkerd", "destination-1", "10.244.0.2:9996", "down")}, "1 of 2 Linkerd targets down, want 0:\nlinkerd-controller linkerd/destination-1 10.244.0.2:9996: connection refused"},
	} {
		if _, err := check(c.targets...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", what, err, c.want)
		}
	}
}

// TestPrometheusSync runs the real Prometheus on a release's ConfigMap (a
// static job: the Debian build has no Kubernetes discovery) and plays the
// config reloader and the kubelet's token renewal.
func TestPrometheusSync(t *testing.T) {
	bin := promtest.RequireBinary(t)
	ctx := context.Background()
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "linkerd-viz", Name: "prometheus-server"},
		Data: map[string]string{"prometheus.yml": "scrape_configs:\n- job_name: first\n  static_configs: [{targets: ['127.0.0.1:1']}]\n"}}
	kc := fake.NewClientset(cm)
	tokens := 0
	kc.PrependReactor("create", "serviceaccounts", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.GetSubresource() != "token" {
			return false, nil, nil
		}
		tokens++
		tr := a.(k8stesting.CreateAction).GetObject().(*authnv1.TokenRequest).DeepCopy()
		if tr.Spec.ExpirationSeconds == nil || *tr.Spec.ExpirationSeconds != 3600 {
			t.Errorf("token request %+v", tr.Spec)
		}
		tr.Status.Token = "token-" + strconv.Itoa(tokens)
		return true, tr, nil
	})
	dir := t.TempDir()
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	p, err := sim.StartPrometheus(ctx, kc, sim.PrometheusOptions{
		Kube:      &rest.Config{Host: "https://127.0.0.1:16443", TLSClientConfig: rest.TLSClientConfig{CAData: []byte("CA")}},
		Namespace: "linkerd-viz", ConfigMap: "prometheus-server", ServiceAccount: "prometheus-server",
		Dir: dir, Binary: bin, ListenAddress: addr, Args: []string{"--storage.tsdb.retention.time=2h"},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop()
	if p.URL != "http://"+addr || p.DataDir != dir+"/data" {
		t.Errorf("URL %s, data %s", p.URL, p.DataDir)
	}
	if b, _ := os.ReadFile(dir + "/token"); string(b) != "token-1" {
		t.Errorf("token file = %q", b)
	}
	if b, _ := os.ReadFile(dir + "/ca.crt"); string(b) != "CA" {
		t.Errorf("CA file = %q", b)
	}
	config := func() string {
		_, body, err := get(t, p.URL+"/api/v1/status/config")
		if err != nil {
			t.Fatal(err)
		}
		return body
	}
	if !strings.Contains(config(), "job_name: first") {
		t.Fatalf("not the ConfigMap's config: %s", config())
	}
	if reloaded, err := p.Sync(ctx); reloaded || err != nil || tokens != 1 {
		t.Errorf("Sync without changes: reloaded=%v %v, %d tokens", reloaded, err, tokens)
	}
	cm.Data["prometheus.yml"] = strings.ReplaceAll(cm.Data["prometheus.yml"], "first", "second")
	if _, err := kc.CoreV1().ConfigMaps("linkerd-viz").Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if reloaded, err := p.Sync(ctx); !reloaded || err != nil {
		t.Fatalf("Sync after a change: reloaded=%v %v", reloaded, err)
	}
	if c := config(); !strings.Contains(c, "job_name: second") {
		t.Errorf("the changed ConfigMap was not reloaded: %s", c)
	}
	good := cm.Data["prometheus.yml"]
	cm.Data["prometheus.yml"] = "scrape_configs: [{job_name: ''}]\n"
	if _, err := kc.CoreV1().ConfigMaps("linkerd-viz").Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Sync(ctx); err == nil || !strings.Contains(err.Error(), "HTTP 500") {
		t.Errorf("a rejected config: %v", err)
	}
	cm.Data["prometheus.yml"] = good
	if _, err := kc.CoreV1().ConfigMaps("linkerd-viz").Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}

	first := p.PID()
	if err := p.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if p.PID() == first || p.DataDir != dir+"/data" || tokens != 2 {
		t.Errorf("restart: pid %d (was %d), data %s, %d tokens", p.PID(), first, p.DataDir, tokens)
	}
	if _, err := os.Stat(dir + "/data/wal"); err != nil {
		t.Errorf("no data after Restart: %v", err)
	}
}

func TestStartPrometheusErrors(t *testing.T) {
	ctx := context.Background()
	kc := fake.NewClientset()
	kube := &rest.Config{Host: "https://127.0.0.1:16443", TLSClientConfig: rest.TLSClientConfig{CAFile: "/pki/ca.crt"}}
	for what, c := range map[string]struct {
		o    sim.PrometheusOptions
		want string
	}{
		"no kube": {sim.PrometheusOptions{}, "no API server configuration"},
		"no CA":   {sim.PrometheusOptions{Kube: &rest.Config{Host: "https://x"}, Dir: t.TempDir()}, "names no CA for https://x"},
		"no ConfigMap": {sim.PrometheusOptions{Kube: kube, Namespace: "linkerd-viz", ConfigMap: "prometheus-server", ServiceAccount: "sa", Dir: t.TempDir()},
			"reading the release's configuration"},
	} {
		if _, err := sim.StartPrometheus(ctx, kc, c.o); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", what, err, c.want)
		}
	}
}

// TestPrometheusSecretMounts runs the real Prometheus on a release whose
// remote_write reads its bearer token from a mounted Secret: the token the
// receiver gets is the Secret's, also after the Secret changed, and the
// log lands in the CRI-format pod log.
func TestPrometheusSecretMounts(t *testing.T) {
	bin := promtest.RequireBinary(t)
	ctx := context.Background()
	auth := make(chan string, 100)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case auth <- r.Header.Get("Authorization"):
		default:
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer recv.Close()
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "linkerd-viz", Name: "prometheus-server"},
		Data: map[string]string{"prometheus.yml": "global: {scrape_interval: 1s}\n" +
			"scrape_configs:\n- job_name: prometheus\n  static_configs: [{targets: ['localhost:9090']}]\n" +
			"remote_write:\n- name: vm\n  url: " + recv.URL + "/api/v1/write\n" +
			"  authorization: {type: Bearer, credentials_file: /etc/meshmon/secrets/vm-token/token}\n" +
			"  queue_config: {batch_send_deadline: 1s, min_backoff: 100ms, max_backoff: 200ms}\n"}}
	optional := true
	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "linkerd-viz", Name: "prometheus-server"},
		Spec: appsv1.DeploymentSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
			Containers: []corev1.Container{
				{Name: "reloader", VolumeMounts: []corev1.VolumeMount{{Name: "other", MountPath: "/etc/other"}}},
				{Name: "prometheus-server", Ports: []corev1.ContainerPort{{ContainerPort: 9090}}, VolumeMounts: []corev1.VolumeMount{
					{Name: "config-volume", MountPath: "/etc/config"},
					{Name: "meshmon-secret-vm-token", MountPath: "/etc/meshmon/secrets/vm-token", ReadOnly: true},
					{Name: "missing", MountPath: "/etc/missing"},
				}},
			},
			Volumes: []corev1.Volume{
				{Name: "config-volume", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{}}},
				{Name: "meshmon-secret-vm-token", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "vm-token"}}},
				{Name: "other", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "other"}}},
				{Name: "missing", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "missing", Optional: &optional}}},
			},
		}}}}
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "linkerd-viz", Name: "vm-token"},
		Data: map[string][]byte{"token": []byte("first-token"), "old": []byte("x")}}
	kc := fake.NewClientset(cm, dep, secret)
	kc.PrependReactor("create", "serviceaccounts", func(a k8stesting.Action) (bool, runtime.Object, error) {
		tr := a.(k8stesting.CreateAction).GetObject().(*authnv1.TokenRequest).DeepCopy()
		tr.Status.Token = "sa-token"
		return true, tr, nil
	})
	dir := t.TempDir()
	podLog := dir + "/pod-logs/prometheus-server.log"
	if err := os.MkdirAll(dir+"/pod-logs", 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir+"/run", 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(podLog, []byte("an older container\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := sim.StartPrometheus(ctx, kc, sim.PrometheusOptions{
		Kube:      &rest.Config{Host: "https://127.0.0.1:16443", TLSClientConfig: rest.TLSClientConfig{CAData: []byte("CA")}},
		Namespace: "linkerd-viz", ConfigMap: "prometheus-server", ServiceAccount: "prometheus-server", Deployment: "prometheus-server",
		Dir: dir + "/run", Binary: bin, ListenAddress: addr, PodLog: podLog,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop()
	local := dir + "/run/secrets/meshmon-secret-vm-token/token"
	_, body, err := get(t, p.URL+"/api/v1/status/config")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(body, local) || strings.Contains(body, "/etc/meshmon/secrets") {
		t.Errorf("the credentials file was not pointed at the local copy %s:\n%s", local, body)
	}
	if fi, err := os.Stat(local); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("token file: %v %v", fi, err)
	}
	if _, err := os.Stat(dir + "/run/secrets/other"); err == nil {
		t.Error("a Secret of another container was written")
	}
	waitAuth := func(want string) {
		t.Helper()
		deadline := time.After(time.Minute)
		for {
			select {
			case got := <-auth:
				if got == want {
					return
				}
			case <-deadline:
				t.Fatalf("the receiver never got %q", want)
			}
		}
	}
	waitAuth("Bearer first-token")

	secret.Data = map[string][]byte{"token": []byte("second-token")}
	if _, err := kc.CoreV1().Secrets("linkerd-viz").Update(ctx, secret, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if reloaded, err := p.Sync(ctx); reloaded || err != nil {
		t.Errorf("Sync after a Secret change: reloaded=%v %v (the config did not change)", reloaded, err)
	}
	if _, err := os.Stat(dir + "/run/secrets/meshmon-secret-vm-token/old"); err == nil {
		t.Error("a key removed from the Secret is still there")
	}
	waitAuth("Bearer second-token")

	if b, _ := os.ReadFile(sim.PreviousPodLog(podLog)); string(b) != "an older container\n" {
		t.Errorf("previous container log = %q", b)
	}
	b, err := os.ReadFile(podLog)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) < 2 {
		t.Fatalf("pod log: %q", b)
	}
	for _, l := range lines {
		f := strings.SplitN(l, " ", 4)
		if _, err := time.Parse(time.RFC3339Nano, f[0]); err != nil || len(f) != 4 || f[1] != "stderr" || f[2] != "F" {
			t.Errorf("not a CRI log line: %q", l)
		}
	}
	if !strings.Contains(string(b), "Server is ready to receive web requests") {
		t.Errorf("the pod log lacks Prometheus' log:\n%s", b)
	}

	dep.Spec.Template.Spec.Volumes[1].Secret.SecretName = "gone"
	if _, err := kc.AppsV1().Deployments("linkerd-viz").Update(ctx, dep, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Sync(ctx); err == nil || !strings.Contains(err.Error(), "mounting Secret linkerd-viz/gone") {
		t.Errorf("a mounted Secret that does not exist: %v", err)
	}
}
