//go:build e2e

package check

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	helmkube "helm.sh/helm/v4/pkg/kube"
	"helm.sh/helm/v4/pkg/storage/driver"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/meshmon/meshmon/e2e/framework"
	"github.com/meshmon/meshmon/pkg/helmclient"
	"github.com/meshmon/meshmon/pkg/kube"
	"github.com/meshmon/meshmon/pkg/linkerd"
	"github.com/meshmon/meshmon/pkg/prom"
	"github.com/meshmon/meshmon/pkg/release"
	"github.com/meshmon/meshmon/pkg/scrape"
)

const (
	vizNS      = "linkerd-viz"
	serverName = "prometheus-server"
	serverURL  = "http://prometheus-server.linkerd-viz.svc.cluster.local:9090"
	serverHost = "prometheus-server.linkerd-viz.svc.cluster.local:9090"
)

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// installRelease installs the fixture prometheus chart with the Helm SDK and
// meshmon's values but without waiting for it, as a plain `helm install`
// would: unlike meshmon's install, which rolls back a release that does not
// become ready, this leaves a release whose volume never binds in place.
func installRelease(t *testing.T, env *framework.Env, name, namespace string, vals map[string]any) {
	t.Helper()
	flags := kube.NewConfigFlags()
	flags.KubeConfig = &env.Kubeconfig
	cfg, err := helmclient.New(flags, namespace, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cfg.Releases.Last(name); err == nil {
		t.Fatalf("release %s/%s already exists", namespace, name)
	} else if !errors.Is(err, driver.ErrReleaseNotFound) {
		t.Fatalf("reading release %s/%s: %v", namespace, name, err)
	}
	ch, err := loader.Load(framework.TestChart(t, "prometheus"))
	if err != nil {
		t.Fatal(err)
	}
	in := action.NewInstall(cfg)
	in.WaitStrategy = helmkube.HookOnlyStrategy
	in.ReleaseName, in.Namespace, in.CreateNamespace = name, namespace, true
	if _, err := in.Run(ch, vals); err != nil {
		t.Fatalf("helm install %s -n %s: %v", name, namespace, err)
	}
}

// meshmonValues are the values install would use here, from the cluster's
// own Linkerd facts.
func meshmonValues(t *testing.T, kc kubernetes.Interface, o release.ValuesOptions) (map[string]any, linkerd.Facts) {
	t.Helper()
	p, err := linkerd.Discover(ctxT(t), kc, "linkerd", vizNS)
	if err != nil {
		t.Fatal(err)
	}
	o.Scrape = p
	vals, _, err := release.Values(o)
	if err != nil {
		t.Fatal(err)
	}
	return vals, p
}

func releaseSelector(name string) string {
	return release.ServerSelector(name).String()
}

// waitRolledOut waits until a Deployment runs only pods of its latest
// template, none of them terminating: their IPs are the ones to serve.
func waitRolledOut(t *testing.T, kc kubernetes.Interface, ns, name string) {
	t.Helper()
	framework.Eventually(t, 2*time.Minute, func() error {
		d, err := kc.AppsV1().Deployments(ns).Get(ctxT(t), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		want := int32(1)
		if d.Spec.Replicas != nil {
			want = *d.Spec.Replicas
		}
		st := d.Status
		if st.ObservedGeneration < d.Generation || st.UpdatedReplicas != want || st.ReadyReplicas != want || st.Replicas != want {
			return fmt.Errorf("deployment %s/%s: %d updated, %d ready, %d total of %d", ns, name, st.UpdatedReplicas, st.ReadyReplicas, st.Replicas, want)
		}
		sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
		if err != nil {
			return err
		}
		pods, err := kc.CoreV1().Pods(ns).List(ctxT(t), metav1.ListOptions{LabelSelector: sel.String()})
		if err != nil {
			return err
		}
		if int32(len(pods.Items)) != want {
			return fmt.Errorf("deployment %s/%s: %d pods, want %d", ns, name, len(pods.Items), want)
		}
		return nil
	})
}

// waitGone waits until no pod matches selector in ns.
func waitGone(t *testing.T, kc kubernetes.Interface, ns, selector string) {
	t.Helper()
	framework.Eventually(t, 2*time.Minute, func() error {
		pods, err := kc.CoreV1().Pods(ns).List(ctxT(t), metav1.ListOptions{LabelSelector: selector})
		if err != nil {
			return err
		}
		if len(pods.Items) > 0 {
			return fmt.Errorf("%d pods (%s) still in %s", len(pods.Items), selector, ns)
		}
		return nil
	})
}

// waitScraped waits until Prometheus scrapes exactly the meshed pods that
// exist now, at their current IPs (a replaced pod must have left
// discovery), has scraped every Linkerd target, and finds wantDown of them
// down. Pods that appeared meanwhile are brought to life in mesh.
func waitScraped(t *testing.T, kc kubernetes.Interface, mesh *framework.FakeMesh, promURL string, wantDown int) {
	t.Helper()
	pc, err := prom.New(promURL)
	if err != nil {
		t.Fatal(err)
	}
	framework.Eventually(t, 2*time.Minute, func() error {
		pods, err := kc.CoreV1().Pods("").List(ctxT(t), metav1.ListOptions{LabelSelector: "linkerd.io/control-plane-ns"})
		if err != nil {
			return err
		}
		mesh.Refresh(t, kc)
		var meshed []string
		for _, p := range pods.Items {
			if p.DeletionTimestamp == nil && p.Status.PodIP != "" {
				meshed = append(meshed, p.Namespace+"/"+p.Name+"@"+p.Status.PodIP)
			}
		}
		ts, err := pc.Targets(ctxT(t))
		if err != nil {
			return err
		}
		proxies, _ := ts.Job(scrape.JobLinkerdProxy)
		var scraped []string
		for _, tg := range proxies.Targets {
			host, _, _ := strings.Cut(tg.Instance, ":")
			scraped = append(scraped, tg.Namespace+"/"+tg.Pod+"@"+host)
		}
		slices.Sort(meshed)
		slices.Sort(scraped)
		if !slices.Equal(meshed, scraped) {
			return fmt.Errorf("linkerd-proxy targets %v, meshed pods %v", scraped, meshed)
		}
		total, down := 0, 0
		var why []string
		for _, job := range scrape.LinkerdJobNames() {
			j, _ := ts.Job(job)
			total += len(j.Targets)
			down += j.Down
			for _, d := range j.DownTargets() {
				why = append(why, fmt.Sprintf("%s %s/%s %s: %s", job, d.Namespace, d.Pod, d.Instance, d.LastError))
			}
			if j.Unknown > 0 {
				return fmt.Errorf("job %s: %d targets not scraped yet", job, j.Unknown)
			}
		}
		if down != wantDown {
			return fmt.Errorf("%d of %d Linkerd targets down, want %d:\n%s", down, total, wantDown, strings.Join(why, "\n"))
		}
		return nil
	})
}

// addMeshedPods runs n meshed pods (a Deployment in namespace "load") and
// waits until they have IPs.
func addMeshedPods(t *testing.T, kc kubernetes.Interface, n int32) {
	t.Helper()
	if _, err := kc.CoreV1().Namespaces().Create(ctxT(t), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "load"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	l := map[string]string{"app": "load", "linkerd.io/control-plane-ns": "linkerd", "linkerd.io/proxy-deployment": "load"}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "load", Namespace: "load"},
		Spec: appsv1.DeploymentSpec{
			Replicas: &n, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "load"}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: l}, Spec: corev1.PodSpec{Containers: []corev1.Container{
				{Name: "app", Image: "app"},
				{Name: "linkerd-proxy", Image: "cr.l5d.io/linkerd/proxy:edge-26.8.3", Ports: []corev1.ContainerPort{{Name: "linkerd-admin", ContainerPort: 4191}}},
			}}},
		},
	}
	if _, err := kc.AppsV1().Deployments("load").Create(ctxT(t), d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	framework.Eventually(t, 5*time.Minute, func() error {
		pods, err := kc.CoreV1().Pods("load").List(ctxT(t), metav1.ListOptions{})
		if err != nil {
			return err
		}
		withIP := 0
		for _, p := range pods.Items {
			if p.Status.PodIP != "" {
				withIP++
			}
		}
		if withIP < int(n) {
			return fmt.Errorf("%d of %d pods have an IP", withIP, n)
		}
		return nil
	})
	t.Logf("%d meshed pods running after %s", n, time.Since(t0).Round(time.Second))
}

// normalize replaces what changes from run to run: pod name hashes, pod
// IPs, times and durations.
func normalize(s string) string {
	for _, r := range []struct{ re, with string }{
		{`\b(\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(\.\d+)?(Z| UTC))`, "<time>"},
		{`10\.244\.\d+\.\d+`, "<pod-ip>"},
		{`-[a-z0-9]{8,10}-[a-z0-9]{5}\b`, "-<hash>"},
		{`\b\d+(\.\d+)?(ms|µs|s)\b`, "<duration>"},
	} {
		s = regexp.MustCompile(r.re).ReplaceAllString(s, r.with)
	}
	return normalizeHealth(s)
}

// normalizeHealth keeps the prometheus-health category's checks and results but not its
// figures (ingestion rate, series counts, sizes, the top metrics), which change with every
// scrape; e2e/health asserts them.
func normalizeHealth(s string) string {
	const header = "meshmon-prometheus-health\n"
	i := strings.Index(s, header)
	if i < 0 {
		return s
	}
	end := strings.Index(s[i:], "\n\n")
	if end < 0 {
		end = len(s) - i
	}
	section := s[i : i+end]
	section = regexp.MustCompile(`(?m)^\t.*(\n\t.*)*`).ReplaceAllString(section, "\t<figures>")
	section = regexp.MustCompile(`\d+(\.\d+)?`).ReplaceAllString(section, "<n>")
	return s[:i] + section + s[i+end:]
}
