package sim

import (
	"context"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/meshmon/meshmon/pkg/prom"
	"github.com/meshmon/meshmon/pkg/scrape"
)

// Scraped tells whether Prometheus scrapes exactly the meshed pods that
// exist now, at their current IPs (a replaced pod must have left
// discovery), has scraped every Linkerd target, and finds wantDown of them
// down; the error says what is still missing. meshed are the pods it
// compared against.
func Scraped(ctx context.Context, kc kubernetes.Interface, pc *prom.Client, wantDown int) (meshed []corev1.Pod, err error) {
	pods, err := kc.CoreV1().Pods(metav1.NamespaceAll).List(ctx, metav1.ListOptions{LabelSelector: "linkerd.io/control-plane-ns"})
	if err != nil {
		return nil, fmt.Errorf("listing meshed pods: %w", err)
	}
	var want []string
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil && p.Status.PodIP != "" {
			meshed = append(meshed, p)
			want = append(want, p.Namespace+"/"+p.Name+"@"+p.Status.PodIP)
		}
	}
	ts, err := pc.Targets(ctx)
	if err != nil {
		return meshed, err
	}
	proxies, _ := ts.Job(scrape.JobLinkerdProxy)
	var got []string
	for _, tg := range proxies.Targets {
		host, _, _ := strings.Cut(tg.Instance, ":")
		got = append(got, tg.Namespace+"/"+tg.Pod+"@"+host)
	}
	if missing, gone := difference(want, got), difference(got, want); len(missing)+len(gone) > 0 {
		return meshed, fmt.Errorf("%s: %d of %d meshed pods not scraped at their current IP, %d targets of pods that are gone\nnot scraped: %v\ngone: %v",
			scrape.JobLinkerdProxy, len(missing), len(want), len(gone), missing, gone)
	}
	total, down := 0, 0
	var why []string
	for _, job := range scrape.LinkerdJobNames() {
		j, _ := ts.Job(job)
		if j.Unknown > 0 {
			return meshed, fmt.Errorf("job %s: %d targets not scraped yet", job, j.Unknown)
		}
		total += len(j.Targets)
		down += j.Down
		for _, d := range j.DownTargets() {
			why = append(why, fmt.Sprintf("%s %s/%s %s: %s", job, d.Namespace, d.Pod, d.Instance, d.LastError))
		}
	}
	if down != wantDown {
		return meshed, fmt.Errorf("%d of %d Linkerd targets down, want %d:\n%s", down, total, wantDown, strings.Join(why, "\n"))
	}
	return meshed, nil
}

// difference lists the elements of a that are not in b, sorted.
func difference(a, b []string) []string {
	var out []string
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	slices.Sort(out)
	return out
}
