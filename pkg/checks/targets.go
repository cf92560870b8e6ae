package checks

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshmon/meshmon/pkg/healthcheck"
	"github.com/meshmon/meshmon/pkg/kube"
	"github.com/meshmon/meshmon/pkg/linkerd"
	"github.com/meshmon/meshmon/pkg/prom"
	"github.com/meshmon/meshmon/pkg/scrape"
)

func (e *Env) promTargets(ctx context.Context) (prom.TargetSummary, error) {
	return e.targets.get(ctx, func(ctx context.Context) (prom.TargetSummary, error) {
		pc, err := e.Prometheus(ctx)
		if err != nil {
			return prom.TargetSummary{}, err
		}
		ts, err := pc.Targets(ctx)
		return ts, e.promErr(err)
	})
}

func (e *Env) droppedTargets(ctx context.Context) (map[string]int, error) {
	pc, err := e.Prometheus(ctx)
	if err != nil {
		return nil, err
	}
	d, err := pc.DroppedTargets(ctx)
	return d, e.promErr(err)
}

// jobTargets returns the targets of a Linkerd job under its current or legacy name.
func jobTargets(ts prom.TargetSummary, job string) (prom.JobTargets, bool) {
	if j, ok := ts.Job(job); ok {
		return j, true
	}
	if job == scrape.JobLinkerdMulticluster {
		if j, ok := ts.Job(scrape.JobLinkerdServiceMirrorLegacy); ok {
			return j, true
		}
	}
	return prom.JobTargets{Job: job}, false
}

// Targets checks that Prometheus scrapes the whole mesh.
func Targets(e *Env) healthcheck.Category {
	return healthcheck.Category{
		Name: CategoryTargets,
		Checks: []healthcheck.Check{
			{
				ID:          "targets-present",
				Description: "every Linkerd job has targets",
				HintAnchor:  "mm-targets-present",
				Fatal:       true,
				Retryable:   true,
				Needs:       []string{idPromReady, idLinkerdConfig},
				Run:         fresh(e.checkTargetsPresent, &e.targets),
			},
			{
				Description: "Linkerd targets are up",
				HintAnchor:  "mm-targets-up",
				Retryable:   true,
				Needs:       []string{"targets-present"},
				Run:         fresh(e.checkTargetsUp, &e.targets),
			},
			{
				Description: "every meshed pod is scraped",
				HintAnchor:  "mm-proxy-coverage",
				Warning:     true,
				Retryable:   true,
				Needs:       []string{"targets-present"},
				Run:         fresh(e.checkCoverage, &e.targets),
			},
		},
	}
}

func (e *Env) checkTargetsPresent(ctx context.Context) error {
	ts, err := e.promTargets(ctx)
	if err != nil {
		return err
	}
	var problems, counts []string
	var dropped map[string]int
	for _, name := range scrape.LinkerdJobNames() {
		j, _ := jobTargets(ts, name)
		n := len(j.Targets)
		if n == 0 && name != scrape.JobLinkerdMulticluster && dropped == nil {
			// Only now are the dropped targets worth their bytes: they say
			// whether the job discovers pods its relabel rules then drop.
			if dropped, err = e.droppedTargets(ctx); err != nil {
				return err
			}
		}
		if j.Dropped == 0 {
			j.Dropped = dropped[name]
		}
		if n > 0 {
			counts = append(counts, fmt.Sprintf("%s: %d %s", name, n, plural(n, "target", "targets")))
			continue
		}
		switch {
		case name == scrape.JobLinkerdMulticluster:
			// Only Linkerd multicluster runs pods this job keeps.
			counts = append(counts, name+": none (only Linkerd multicluster has such targets)")
		case j.Dropped > 0:
			problems = append(problems, fmt.Sprintf("%s: all %d discovered targets are dropped by its relabel rules (a keep rule that matches nothing, such as an outdated port name or namespace)", name, j.Dropped))
		default:
			problems = append(problems, fmt.Sprintf("%s: no pod discovered (check the job's namespaces, and that Prometheus' ServiceAccount may list and watch pods)", name))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("Prometheus scrapes nothing for some Linkerd jobs, so their metrics are missing; run meshmon install to regenerate the jobs:%s", allBullets(problems))
	}
	return healthcheck.Detail("\t* " + strings.Join(counts, "\n\t* "))
}

func (e *Env) checkTargetsUp(ctx context.Context) error {
	ts, err := e.promTargets(ctx)
	if err != nil {
		return err
	}
	var down []prom.Target
	total, unknown := 0, 0
	for _, name := range scrape.LinkerdJobNames() {
		j, _ := jobTargets(ts, name)
		total += len(j.Targets)
		unknown += j.Unknown
		down = append(down, j.DownTargets()...)
	}
	if len(down) > 0 {
		slices.SortFunc(down, func(a, b prom.Target) int {
			return cmp.Or(strings.Compare(a.Job, b.Job), strings.Compare(a.Namespace, b.Namespace), strings.Compare(a.Pod, b.Pod), strings.Compare(a.Instance, b.Instance))
		})
		var lines []string
		for _, t := range down {
			who := t.Instance
			if t.Pod != "" {
				who = fmt.Sprintf("%s/%s (%s)", t.Namespace, t.Pod, t.Instance)
			}
			lines = append(lines, fmt.Sprintf("%s %s: %s", t.Job, who, orUnknownErr(t.LastError)))
		}
		return fmt.Errorf("%d of %d Linkerd targets are down, so their metrics are missing; the errors say why (a policy denying Prometheus' identity, a proxy that is not ready, a network policy):%s",
			len(down), total, bullets(lines))
	}
	if unknown > 0 {
		return healthcheck.Warn(fmt.Errorf("%d of %d Linkerd targets have not been scraped yet; check again after one scrape interval (or use --wait)", unknown, total))
	}
	return nil
}

func orUnknownErr(s string) string {
	if s == "" {
		return "no error recorded"
	}
	return s
}

// meshedPods lists the running meshed pods of this control plane in one
// request, with one label selector: the request count does not grow with the
// mesh (pages of 500 would cost one per 500 pods). The one answer is held
// whole while it is read; meshmon's typed client asks for protobuf, a
// fraction of JSON's size and decoding time, to keep that cheap.
func (e *Env) meshedPods(ctx context.Context) ([]string, error) {
	kc, err := e.kube(ctx)
	if err != nil {
		return nil, err
	}
	p, err := e.linkerdParams(ctx)
	if err != nil {
		return nil, err
	}
	opts := metav1.ListOptions{
		LabelSelector: linkerd.ControlPlaneNamespaceLabel + "=" + p.LinkerdNamespace,
		FieldSelector: "status.phase!=Succeeded,status.phase!=Failed",
	}
	list, err := kc.CoreV1().Pods(e.opts.DataPlaneNamespace).List(ctx, opts)
	if err != nil {
		return nil, kube.ExplainAPIError("list", "pods", e.opts.DataPlaneNamespace, "", err)
	}
	out := make([]string, 0, len(list.Items))
	for i := range list.Items {
		pod := &list.Items[i]
		if pod.DeletionTimestamp != nil || pod.Status.PodIP == "" ||
			pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
			continue
		}
		if _, ok := proxyContainer(pod, p.ProxyContainerName); ok {
			out = append(out, pod.Namespace+"/"+pod.Name)
		}
	}
	slices.Sort(out)
	return out, nil
}

func (e *Env) checkCoverage(ctx context.Context) error {
	pods, err := e.meshedPods(ctx)
	if err != nil {
		return err
	}
	ts, err := e.promTargets(ctx)
	if err != nil {
		return err
	}
	j, _ := ts.Job(scrape.JobLinkerdProxy)
	scraped := make(map[string]bool, len(j.Targets))
	for _, t := range j.Targets {
		scraped[t.Namespace+"/"+t.Pod] = true
	}
	where := ""
	if ns := e.opts.DataPlaneNamespace; ns != "" {
		where = " in namespace " + ns
	}
	var missing []string
	for _, p := range pods {
		if !scraped[p] {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%d of %d meshed pods have no %s target, so their traffic is missing from the dashboards; new pods appear within a scrape interval, otherwise check the job's relabel rules (container %s, port %s):%s",
			len(missing), len(pods), scrape.JobLinkerdProxy, e.proxyContainerName(ctx), linkerd.ProxyAdminPortName, bullets(missing))
	}
	return healthcheck.Detail(fmt.Sprintf("\t* %d meshed %s%s, all scraped", len(pods), plural(len(pods), "pod", "pods"), where))
}
