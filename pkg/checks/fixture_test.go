package checks

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	chart "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/release/common"
	releasev1 "helm.sh/helm/v4/pkg/release/v1"
	"helm.sh/helm/v4/pkg/storage/driver"
	appsv1 "k8s.io/api/apps/v1"
	authv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/version"
	fakediscovery "k8s.io/client-go/discovery/fake"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	kubefake "k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"sigs.k8s.io/yaml"

	"github.com/meshmon/meshmon/pkg/defaults"
	"github.com/meshmon/meshmon/pkg/healthcheck"
	"github.com/meshmon/meshmon/pkg/kube"
	"github.com/meshmon/meshmon/pkg/linkerd"
	"github.com/meshmon/meshmon/pkg/policy"
	"github.com/meshmon/meshmon/pkg/release"
	"github.com/meshmon/meshmon/pkg/scrape"
	"github.com/meshmon/meshmon/pkg/viz"
)

// The cluster the fixture models: Linkerd in "linkerd", viz and meshmon's
// release "prometheus" in "linkerd-viz", a meshed app in "emojivoto".
const (
	vizNS       = "linkerd-viz"
	appNS       = "emojivoto"
	serverName  = "prometheus-server"
	serverPod   = "prometheus-server-7d9f8c6b5-x2x7q"
	serverIP    = "10.244.0.10"
	serverURL   = "http://prometheus-server.linkerd-viz.svc.cluster.local:9090"
	metricsAPI  = "metrics-api.linkerd-viz.serviceaccount.identity.linkerd.cluster.local"
	promID      = "prometheus-server.linkerd-viz.serviceaccount.identity.linkerd.cluster.local"
	vizVersion  = "edge-26.8.3"
	pvName      = "pv-data"
	storageName = "standard"
)

var (
	serversRes   = schema.GroupVersionResource{Group: policy.Group, Version: "v1beta3", Resource: "servers"}
	httpRoutes   = schema.GroupVersionResource{Group: policy.Group, Version: "v1beta3", Resource: "httproutes"}
	authzRes     = schema.GroupVersionResource{Group: policy.Group, Version: "v1alpha1", Resource: "authorizationpolicies"}
	mtlsRes      = schema.GroupVersionResource{Group: policy.Group, Version: "v1alpha1", Resource: "meshtlsauthentications"}
	netauthnRes  = schema.GroupVersionResource{Group: policy.Group, Version: "v1alpha1", Resource: "networkauthentications"}
	kindResource = map[string]schema.GroupVersionResource{
		policy.KindServer: serversRes, policy.KindHTTPRoute: httpRoutes, policy.KindAuthorizationPolicy: authzRes,
		policy.KindMeshTLSAuthentication: mtlsRes, policy.KindNetworkAuthentication: netauthnRes,
		"ServiceMonitor": serviceMonitorsGVR, "Prometheus": prometheusesGVR,
	}
)

func serverLabels() map[string]string {
	return map[string]string{"app.kubernetes.io/component": "server", "app.kubernetes.io/name": "prometheus", "app.kubernetes.io/instance": "prometheus"}
}

func merge(ms ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

// values are what meshmon installs the fixture release with.
func values(t testing.TB) map[string]any {
	t.Helper()
	p := linkerd.Defaults()
	v, _, err := release.Values(release.ValuesOptions{Scrape: p, ClusterName: "east"})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// promYAML renders prometheus.yml from the values the way the chart does:
// server.global plus serverFiles."prometheus.yml".
func promYAML(t testing.TB, v map[string]any) string {
	t.Helper()
	sf := v["serverFiles"].(map[string]any)["prometheus.yml"].(map[string]any)
	doc := map[string]any{"global": v["server"].(map[string]any)["global"], "scrape_configs": sf["scrape_configs"]}
	out, err := yaml.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// promTarget is one active target of the fake Prometheus.
type promTarget struct {
	Job, Instance, Namespace, Pod, Health, LastError string
}

// fakeProm answers the Prometheus HTTP API from fields tests change.
type fakeProm struct {
	mu          sync.Mutex
	readyStatus int
	reloadOK    bool
	startTime   time.Time
	config      string
	flags       map[string]string
	targets     []promTarget
	dropped     map[string]int
	allow       string // vector result JSON of the allow query
	deny        string
	oldest      []float64 // values of the persistence range query
	federate    string
	// health answers the queries of the prometheus-health category (see promhealth_test.go).
	health   *healthAnswers
	requests atomic.Int64
}

func newFakeProm(t testing.TB, v map[string]any) *fakeProm {
	return &fakeProm{
		readyStatus: http.StatusOK,
		reloadOK:    true,
		startTime:   time.Date(2026, 11, 22, 5, 0, 0, 0, time.UTC),
		config:      promYAML(t, v),
		flags:       map[string]string{"storage.tsdb.retention.time": "15d", "storage.tsdb.retention.size": "18GB"},
		dropped:     map[string]int{},
		allow:       `[{"metric":{"namespace":"linkerd-viz","srv_kind":"server","srv_name":"prometheus-server-admin","authz_kind":"authorizationpolicy","authz_name":"prometheus-server-admin","tls":"true","client_id":"` + metricsAPI + `"},"value":[1763787600,"42"]}]`,
		deny:        `[]`,
		oldest:      []float64{1763700000.5},
		federate:    "# TYPE process_start_time_seconds gauge\nprocess_start_time_seconds{job=\"linkerd-proxy\",namespace=\"emojivoto\",pod=\"web-0\",cluster=\"east\"} 1.7e9 1763787600000\n",
		health:      newHealthAnswers(),
	}
}

func (p *fakeProm) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.requests.Add(1)
	p.mu.Lock()
	defer p.mu.Unlock()
	_ = r.ParseForm()
	ok := func(data string) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"status":"success","data":%s}`, data)
	}
	switch r.URL.Path {
	case "/-/ready":
		w.WriteHeader(p.readyStatus)
		fmt.Fprint(w, "Prometheus Server is Ready.\n")
	case "/api/v1/status/buildinfo":
		ok(`{"version":"3.14.0","revision":"x","branch":"HEAD","buildUser":"","buildDate":"","goVersion":"go1.26"}`)
	case "/api/v1/status/runtimeinfo":
		ok(fmt.Sprintf(`{"startTime":%q,"reloadConfigSuccess":%t,"lastConfigTime":"2026-11-22T05:00:01Z","corruptionCount":0,"storageRetention":"15d or 18GiB"}`,
			p.startTime.Format(time.RFC3339Nano), p.reloadOK))
	case "/api/v1/status/config":
		b, _ := json.Marshal(map[string]string{"yaml": p.config})
		ok(string(b))
	case "/api/v1/status/flags":
		b, _ := json.Marshal(p.flags)
		ok(string(b))
	case "/api/v1/targets":
		ok(p.targetsJSON())
	case "/api/v1/query":
		q := r.Form.Get("query")
		switch {
		case strings.Contains(q, "inbound_http_authz_allow_total"):
			ok(`{"resultType":"vector","result":` + p.allow + `}`)
		case strings.Contains(q, "inbound_http_authz_deny_total"):
			ok(`{"resultType":"vector","result":` + p.deny + `}`)
		case p.health.answers(q) != "":
			ok(`{"resultType":"vector","result":` + p.health.answers(q) + `}`)
		default:
			ok(`{"resultType":"vector","result":[]}`)
		}
	case "/api/v1/query_range":
		var vals []string
		for i, v := range p.oldest {
			vals = append(vals, fmt.Sprintf(`[%d,"%v"]`, 1763700000+i*60, v))
		}
		res := "[]"
		if len(vals) > 0 {
			res = `[{"metric":{},"values":[` + strings.Join(vals, ",") + `]}]`
		}
		ok(`{"resultType":"matrix","result":` + res + `}`)
	case "/api/v1/status/tsdb":
		ok(p.health.tsdb)
	case "/api/v1/status/tsdb/blocks":
		ok(p.health.blocks)
	case "/federate":
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		fmt.Fprint(w, p.federate)
	default:
		http.NotFound(w, r)
	}
}

func (p *fakeProm) targetsJSON() string {
	type at struct {
		DiscoveredLabels   map[string]string `json:"discoveredLabels"`
		Labels             map[string]string `json:"labels"`
		ScrapePool         string            `json:"scrapePool"`
		ScrapeURL          string            `json:"scrapeUrl"`
		GlobalURL          string            `json:"globalUrl"`
		LastError          string            `json:"lastError"`
		LastScrape         string            `json:"lastScrape"`
		LastScrapeDuration float64           `json:"lastScrapeDuration"`
		Health             string            `json:"health"`
	}
	type dt struct {
		DiscoveredLabels map[string]string `json:"discoveredLabels"`
	}
	out := struct {
		Active  []at `json:"activeTargets"`
		Dropped []dt `json:"droppedTargets"`
	}{Active: []at{}, Dropped: []dt{}}
	for _, t := range p.targets {
		l := map[string]string{"job": t.Job, "instance": t.Instance}
		if t.Pod != "" {
			l["namespace"], l["pod"] = t.Namespace, t.Pod
		}
		out.Active = append(out.Active, at{
			DiscoveredLabels: map[string]string{}, Labels: l, ScrapePool: t.Job, ScrapeURL: "http://" + t.Instance + "/metrics",
			LastError: t.LastError, LastScrape: "2026-11-22T05:10:00Z", LastScrapeDuration: 0.01, Health: t.Health,
		})
	}
	for job, n := range p.dropped {
		for range n {
			out.Dropped = append(out.Dropped, dt{DiscoveredLabels: map[string]string{"job": job}})
		}
	}
	b, _ := json.Marshal(out)
	return string(b)
}

// fakeWeb stands in for linkerd-viz's web server.
type fakeWeb struct {
	mu        sync.Mutex
	rootCode  int
	tps       string
	tpsStatus int
}

func (d *fakeWeb) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if r.Host != "localhost" {
		http.Error(w, "It appears that you are trying to reach this service with a host of '"+r.Host+"'.", http.StatusBadRequest)
		return
	}
	switch r.URL.Path {
	case "/":
		w.WriteHeader(d.rootCode)
		fmt.Fprint(w, "<!doctype html><html><title>Linkerd</title></html>")
	case "/api/version":
		fmt.Fprintf(w, `{"version":%q,"goVersion":"go1.26"}`, vizVersion)
	case "/api/tps-reports":
		if r.URL.Query().Get("resource_type") != "deployment" {
			http.Error(w, "bad query", http.StatusBadRequest)
			return
		}
		w.WriteHeader(d.tpsStatus)
		fmt.Fprint(w, d.tps)
	default:
		http.NotFound(w, r)
	}
}

const tpsWithStats = `{"ok":{"statTables":[{"podGroup":{"rows":[` +
	`{"resource":{"namespace":"emojivoto","type":"deployment","name":"web"},"timeWindow":"1m","meshedPodCount":"1","runningPodCount":"1","stats":{"successCount":"60","failureCount":"0","latencyMsP50":"3"}},` +
	`{"resource":{"namespace":"emojivoto","type":"deployment","name":"voting"},"timeWindow":"1m","meshedPodCount":"1","runningPodCount":"1","stats":null}` +
	`]}}]}}`

// fixture is a healthy cluster, Prometheus and dashboard that tests break.
type fixture struct {
	t        testing.TB
	kube     *kubefake.Clientset
	dyn      *dynamicfake.FakeDynamicClient
	prom     *fakeProm
	web      *fakeWeb
	promSrv  *httptest.Server
	webSrv   *httptest.Server
	releases []*releasev1.Release
	values   map[string]any

	mu         sync.Mutex
	forwards   []kube.ForwardTarget
	forwardErr error
	denied     map[string]bool
	clientErr  error
	appPods    int
}

func newFixture(t testing.TB) *fixture {
	return newFixtureWithPods(t, 3)
}

func newFixtureWithPods(t testing.TB, appPods int) *fixture {
	t.Helper()
	f := &fixture{t: t, values: values(t), denied: map[string]bool{}, appPods: appPods}
	f.prom = newFakeProm(t, f.values)
	f.web = &fakeWeb{rootCode: http.StatusOK, tps: tpsWithStats, tpsStatus: http.StatusOK}
	f.promSrv = httptest.NewServer(f.prom)
	f.webSrv = httptest.NewServer(f.web)
	t.Cleanup(f.promSrv.Close)
	t.Cleanup(f.webSrv.Close)

	f.kube = kubefake.NewClientset(f.kubeObjects()...)
	f.kube.Discovery().(*fakediscovery.FakeDiscovery).FakedServerVersion = &version.Info{GitVersion: "v1.37.1", Major: "1", Minor: "37"}
	f.setDiscovery(false)
	f.kube.PrependReactor("create", "selfsubjectaccessreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		r := a.(k8stesting.CreateAction).GetObject().(*authv1.SelfSubjectAccessReview).DeepCopy()
		at := r.Spec.ResourceAttributes
		f.mu.Lock()
		r.Status.Allowed = !f.denied[at.Verb+" "+at.Resource+" "+at.Namespace]
		f.mu.Unlock()
		return true, r, nil
	})
	// A namespace's rules review grants everything unless something is denied
	// there; then it grants nothing, and the SelfSubjectAccessReviews decide.
	f.kube.PrependReactor("create", "selfsubjectrulesreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		r := a.(k8stesting.CreateAction).GetObject().(*authv1.SelfSubjectRulesReview).DeepCopy()
		f.mu.Lock()
		defer f.mu.Unlock()
		for d := range f.denied {
			if strings.HasSuffix(d, " "+r.Spec.Namespace) {
				r.Status.Incomplete = true
				return true, r, nil
			}
		}
		r.Status.ResourceRules = []authv1.ResourceRule{{Verbs: []string{"*"}, APIGroups: []string{"*"}, Resources: []string{"*"}}}
		return true, r, nil
	})
	listKinds := map[schema.GroupVersionResource]string{}
	for kind, gvr := range kindResource {
		listKinds[gvr] = kind + "List"
	}
	f.dyn = dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), listKinds)
	objs, err := policy.Build(f.policySpec())
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		o.SetCreationTimestamp(metav1.NewTime(time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)))
		f.putDyn(o)
	}
	f.releases = []*releasev1.Release{f.release(1, common.StatusDeployed, defaults.ReleaseName)}
	f.setTargets(nil)
	return f
}

func (f *fixture) policySpec() policy.Spec {
	return policy.Spec{
		VizNamespace: vizNS, PrometheusNamespace: vizNS, LinkerdNamespace: "linkerd", TrustDomain: "cluster.local",
		ServerPodLabels: serverLabels(), Port: 9090, PrometheusServiceAccount: serverName,
	}
}

func (f *fixture) setDiscovery(operator bool) {
	lists := []*metav1.APIResourceList{
		{GroupVersion: policy.Group + "/v1alpha1", APIResources: []metav1.APIResource{
			{Name: "authorizationpolicies", Kind: policy.KindAuthorizationPolicy, Namespaced: true},
			{Name: "meshtlsauthentications", Kind: policy.KindMeshTLSAuthentication, Namespaced: true},
			{Name: "networkauthentications", Kind: policy.KindNetworkAuthentication, Namespaced: true},
		}},
		{GroupVersion: policy.Group + "/v1beta3", APIResources: []metav1.APIResource{
			{Name: "servers", Kind: policy.KindServer, Namespaced: true},
			{Name: "httproutes", Kind: policy.KindHTTPRoute, Namespaced: true},
		}},
	}
	if operator {
		lists = append(lists, &metav1.APIResourceList{GroupVersion: operatorGroupVersion, APIResources: []metav1.APIResource{
			{Name: "servicemonitors", Kind: "ServiceMonitor", Namespaced: true},
			{Name: "prometheuses", Kind: "Prometheus", Namespaced: true},
		}})
	}
	f.kube.Discovery().(*fakediscovery.FakeDiscovery).Resources = lists
}

func (f *fixture) putDyn(o *unstructured.Unstructured) {
	f.t.Helper()
	gvr := kindResource[o.GetKind()]
	tr := f.dyn.Tracker()
	if _, err := tr.Get(gvr, o.GetNamespace(), o.GetName()); err == nil {
		if err := tr.Update(gvr, o, o.GetNamespace()); err != nil {
			f.t.Fatal(err)
		}
		return
	}
	if err := tr.Create(gvr, o, o.GetNamespace()); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) getDyn(kind, ns, name string) *unstructured.Unstructured {
	f.t.Helper()
	o, err := f.dyn.Tracker().Get(kindResource[kind], ns, name)
	if err != nil {
		f.t.Fatal(err)
	}
	return o.(*unstructured.Unstructured).DeepCopy()
}

func (f *fixture) deleteDyn(kind, ns, name string) {
	f.t.Helper()
	if err := f.dyn.Tracker().Delete(kindResource[kind], ns, name); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) release(rev int, st common.Status, name string) *releasev1.Release {
	manifest := "---\napiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: prometheus-server\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: prometheus-server\n"
	return &releasev1.Release{
		Name: name, Namespace: vizNS, Version: rev,
		Info: &releasev1.Info{Status: st, Description: "Install complete", LastDeployed: time.Date(2026, 11, 22, 4, 0, 0, 0, time.UTC)},
		Chart: &chart.Chart{
			Metadata: &chart.Metadata{Name: "prometheus", Version: defaults.ChartVersion, AppVersion: "v3.14.0"},
			Values: map[string]any{"server": map[string]any{
				"global":    map[string]any{"scrape_interval": "1m", "scrape_timeout": "10s", "evaluation_interval": "1m"},
				"retention": "15d", "retentionSize": "",
			}},
		},
		Config:   f.values,
		Manifest: manifest,
	}
}

func proxyContainerSpec() corev1.Container {
	return corev1.Container{Name: "linkerd-proxy", Ports: []corev1.ContainerPort{{Name: "linkerd-proxy", ContainerPort: 4143}, {Name: "linkerd-admin", ContainerPort: 4191}}}
}

func serverPodSpec() corev1.PodSpec {
	return corev1.PodSpec{
		ServiceAccountName: serverName,
		Containers: []corev1.Container{
			proxyContainerSpec(),
			{Name: serverName + "-configmap-reload", Ports: []corev1.ContainerPort{{Name: "metrics", ContainerPort: 8080}}},
			{
				Name:         serverName,
				Args:         []string{"--storage.tsdb.retention.time=15d", "--storage.tsdb.retention.size=18GB", "--config.file=/etc/config/prometheus.yml", "--storage.tsdb.path=/data", "--web.enable-lifecycle"},
				Ports:        []corev1.ContainerPort{{ContainerPort: 9090}},
				VolumeMounts: []corev1.VolumeMount{{Name: "config-volume", MountPath: "/etc/config"}, {Name: "storage-volume", MountPath: "/data"}},
			},
		},
		Volumes: []corev1.Volume{
			{Name: "config-volume", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: serverName}}}},
			{Name: "storage-volume", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: serverName}}},
		},
	}
}

func readyStatus(ip string, containers ...string) corev1.PodStatus {
	st := corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}
	for _, c := range containers {
		st.ContainerStatuses = append(st.ContainerStatuses, corev1.ContainerStatus{Name: c, Ready: true})
	}
	return st
}

func meshedPodLabels() map[string]string {
	return map[string]string{"linkerd.io/control-plane-ns": "linkerd"}
}

func appPod(i int) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("web-%d", i), Namespace: appNS, Labels: merge(meshedPodLabels(), map[string]string{"app": "web"})},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web"}, proxyContainerSpec()}},
		Status:     readyStatus(fmt.Sprintf("10.244.%d.%d", 1+i/250, 1+i%250), "web", "linkerd-proxy"),
	}
}

func (f *fixture) kubeObjects() []runtime.Object {
	one := int32(1)
	tmplLabels := merge(serverLabels(), meshedPodLabels())
	objs := []runtime.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "linkerd", Labels: map[string]string{"linkerd.io/is-control-plane": "true"}}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: vizNS, Labels: map[string]string{"linkerd.io/extension": "viz"},
			Annotations: map[string]string{viz.AnnotationExternalPrometheus: serverURL}}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: appNS}},
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: linkerd.ConfigMapName, Namespace: "linkerd"},
			Data: map[string]string{"values": "clusterDomain: cluster.local\nidentityTrustDomain: cluster.local\nproxyContainerName: linkerd-proxy\n"}},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: serverName, Namespace: vizNS, Labels: serverLabels()},
			Spec: corev1.ServiceSpec{Selector: serverLabels(), Ports: []corev1.ServicePort{{Name: "http", Port: 9090, TargetPort: intstr.FromInt32(9090)}}}},
		&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: serverName, Namespace: vizNS, Labels: serverLabels()},
			Spec: appsv1.DeploymentSpec{Replicas: &one, Selector: &metav1.LabelSelector{MatchLabels: serverLabels()},
				Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: tmplLabels}, Spec: serverPodSpec()}},
			Status: appsv1.DeploymentStatus{ReadyReplicas: 1}},
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: serverPod, Namespace: vizNS, Labels: tmplLabels}, Spec: serverPodSpec(),
			Status: readyStatus(serverIP, "linkerd-proxy", serverName+"-configmap-reload", serverName)},
		&corev1.PersistentVolumeClaim{
			ObjectMeta: metav1.ObjectMeta{Name: serverName, Namespace: vizNS, Labels: serverLabels(), Annotations: map[string]string{release.KeepAnnotation: "keep"}},
			Spec: corev1.PersistentVolumeClaimSpec{
				AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}, StorageClassName: ptr(storageName), VolumeName: pvName,
				Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("20Gi")}},
			},
			Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimBound, AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				Capacity: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("50Gi")}},
		},
		&corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: pvName}, Spec: corev1.PersistentVolumeSpec{PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain}},
		&storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: storageName, Annotations: map[string]string{kube.DefaultStorageClassAnnotation: "true"}}, Provisioner: "kubernetes.io/no-provisioner"},
		&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: viz.MetricsAPIName, Namespace: vizNS, Annotations: map[string]string{viz.AnnotationCreatedBy: "linkerd/cli " + vizVersion}},
			Spec: appsv1.DeploymentSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{
				{Name: viz.MetricsAPIName, Args: []string{"-controller-namespace=linkerd", "-prometheus-url=" + serverURL}}, proxyContainerSpec()}}}}},
		&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: webName, Namespace: vizNS},
			Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"component": "web", "linkerd.io/extension": "viz"}},
				Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{
					{Name: webName, Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8084}, {Name: "admin", ContainerPort: 9994}}}}}}}},
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: viz.MetricsAPIName, Namespace: vizNS}},
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: serverName, Namespace: vizNS}},
	}
	for i := range f.appPods {
		objs = append(objs, appPod(i))
	}
	return objs
}

func ptr[T any](v T) *T { return &v }

// setTargets makes every meshed pod an up target, plus the control plane;
// mutate changes them first.
func (f *fixture) setTargets(mutate func([]promTarget) []promTarget) {
	ts := []promTarget{
		{Job: scrape.JobLinkerdController, Instance: "10.244.0.2:9996", Health: "up"},
		{Job: scrape.JobLinkerdProxy, Instance: serverIP + ":4191", Namespace: vizNS, Pod: serverPod, Health: "up"},
		{Job: scrape.JobPrometheus, Instance: "localhost:9090", Health: "up"},
	}
	for i := range f.appPods {
		p := appPod(i)
		ts = append(ts, promTarget{Job: scrape.JobLinkerdProxy, Instance: p.Status.PodIP + ":4191", Namespace: appNS, Pod: p.Name, Health: "up"})
	}
	if mutate != nil {
		ts = mutate(ts)
	}
	f.prom.mu.Lock()
	f.prom.targets = ts
	f.prom.mu.Unlock()
}

func (f *fixture) update(obj runtime.Object) {
	f.t.Helper()
	gvr, ns := trackerResource(obj)
	if err := f.kube.Tracker().Update(gvr, obj, ns); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) delete(gvr schema.GroupVersionResource, ns, name string) {
	f.t.Helper()
	if err := f.kube.Tracker().Delete(gvr, ns, name); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) create(obj runtime.Object) {
	f.t.Helper()
	gvr, ns := trackerResource(obj)
	if err := f.kube.Tracker().Create(gvr, obj, ns); err != nil {
		f.t.Fatal(err)
	}
}

func trackerResource(obj runtime.Object) (schema.GroupVersionResource, string) {
	m := obj.(metav1.Object)
	switch obj.(type) {
	case *corev1.Pod:
		return corev1.SchemeGroupVersion.WithResource("pods"), m.GetNamespace()
	case *corev1.Service:
		return corev1.SchemeGroupVersion.WithResource("services"), m.GetNamespace()
	case *corev1.Namespace:
		return corev1.SchemeGroupVersion.WithResource("namespaces"), ""
	case *corev1.PersistentVolumeClaim:
		return corev1.SchemeGroupVersion.WithResource("persistentvolumeclaims"), m.GetNamespace()
	case *corev1.PersistentVolume:
		return corev1.SchemeGroupVersion.WithResource("persistentvolumes"), ""
	case *corev1.ServiceAccount:
		return corev1.SchemeGroupVersion.WithResource("serviceaccounts"), m.GetNamespace()
	case *corev1.ConfigMap:
		return corev1.SchemeGroupVersion.WithResource("configmaps"), m.GetNamespace()
	case *corev1.Endpoints:
		return corev1.SchemeGroupVersion.WithResource("endpoints"), m.GetNamespace()
	case *appsv1.Deployment:
		return appsv1.SchemeGroupVersion.WithResource("deployments"), m.GetNamespace()
	case *storagev1.StorageClass:
		return storagev1.SchemeGroupVersion.WithResource("storageclasses"), ""
	}
	panic(fmt.Sprintf("fixture: no resource for %T", obj))
}

func (f *fixture) deployment(ns, name string) *appsv1.Deployment {
	f.t.Helper()
	d, err := f.kube.AppsV1().Deployments(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	return d
}

func (f *fixture) pod(ns, name string) *corev1.Pod {
	f.t.Helper()
	p, err := f.kube.CoreV1().Pods(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	return p
}

func (f *fixture) pvc() *corev1.PersistentVolumeClaim {
	f.t.Helper()
	p, err := f.kube.CoreV1().PersistentVolumeClaims(vizNS).Get(context.Background(), serverName, metav1.GetOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	return p
}

// setServerPodSpec changes the workload template and the running pod alike.
func (f *fixture) setServerPodSpec(mutate func(*corev1.PodSpec)) {
	d := f.deployment(vizNS, serverName)
	mutate(&d.Spec.Template.Spec)
	f.update(d)
	p := f.pod(vizNS, serverPod)
	mutate(&p.Spec)
	f.update(p)
}

func (f *fixture) deps() Deps {
	return Deps{
		Clients: func() (*Clients, error) {
			if f.clientErr != nil {
				return nil, f.clientErr
			}
			return &Clients{Kube: f.kube, Dynamic: f.dyn, Host: "https://127.0.0.1:6443", Context: "test"}, nil
		},
		Releases: func(_ context.Context, ns, name string) ([]*releasev1.Release, error) {
			var out []*releasev1.Release
			for _, r := range f.releases {
				if r.Namespace == ns && r.Name == name {
					out = append(out, r)
				}
			}
			if len(out) == 0 {
				return nil, driver.ErrReleaseNotFound
			}
			return out, nil
		},
		PortForward: func(_ context.Context, _ *Clients, target kube.ForwardTarget) (*Tunnel, error) {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.forwards = append(f.forwards, target)
			if f.forwardErr != nil {
				return nil, f.forwardErr
			}
			srv := f.promSrv
			if target.Port == webPort {
				srv = f.webSrv
			}
			u, _ := url.Parse(srv.URL)
			return &Tunnel{Addr: u.Host, Pod: "pod-of-" + strconv.Itoa(target.Port), Stop: func() {}, LastError: func() error { return nil }}, nil
		},
	}
}

// run runs the suite the options select against the fixture.
func (f *fixture) run(opts Options) healthcheck.Results {
	f.t.Helper()
	e := NewEnv(opts, f.deps())
	defer e.Close()
	cats, err := Catalog(e)
	if err != nil {
		f.t.Fatal(err)
	}
	res, err := healthcheck.Run(context.Background(), cats, healthcheck.Options{HintBaseURL: HintBaseURL, Timeout: 10 * time.Second})
	if err != nil {
		f.t.Fatal(err)
	}
	return res
}

// result finds a check's result by description; missing means it was not
// part of the run.
func result(t testing.TB, res healthcheck.Results, description string) healthcheck.Result {
	t.Helper()
	for _, c := range res.Categories {
		for _, r := range c.Checks {
			if r.Description == description {
				return r
			}
		}
	}
	var all []string
	for _, c := range res.Categories {
		for _, r := range c.Checks {
			all = append(all, r.Description)
		}
	}
	slices.Sort(all)
	t.Fatalf("no check %q in the run; have:\n%s", description, strings.Join(all, "\n"))
	return healthcheck.Result{}
}

// expect asserts a check's status and that its error (or detail) contains
// every want.
func expect(t testing.TB, res healthcheck.Results, description string, status healthcheck.Status, want ...string) {
	t.Helper()
	r := result(t, res, description)
	text := r.Detail + r.SkipReason
	if r.Err != nil {
		text = r.Err.Error()
	}
	if r.Status != status {
		t.Errorf("%q: status %s, want %s (%s)", description, r.Status, status, text)
	}
	for _, w := range want {
		if !strings.Contains(text, w) {
			t.Errorf("%q: %q lacks %q", description, text, w)
		}
	}
}
