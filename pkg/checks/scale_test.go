package checks

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	k8stesting "k8s.io/client-go/testing"

	"github.com/meshmon/meshmon/pkg/healthcheck"
)

// paginate makes the fake clientset page pod lists the way the API server
// does (limit and continue, over one snapshot taken by the first page), so
// request counts are realistic.
func paginate(f *fixture) {
	podsGVR := corev1.SchemeGroupVersion.WithResource("pods")
	var mu sync.Mutex
	snapshots := map[string][]corev1.Pod{}
	f.kube.PrependReactor("list", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		la := a.(k8stesting.ListActionImpl)
		opts := la.ListOptions
		key := la.GetNamespace() + "|" + opts.LabelSelector
		mu.Lock()
		defer mu.Unlock()
		if opts.Continue == "" {
			obj, err := f.kube.Tracker().List(podsGVR, corev1.SchemeGroupVersion.WithKind("Pod"), la.GetNamespace())
			if err != nil {
				return true, nil, err
			}
			sel, err := labels.Parse(opts.LabelSelector)
			if err != nil {
				return true, nil, err
			}
			var items []corev1.Pod
			for _, p := range obj.(*corev1.PodList).Items {
				if sel.Matches(labels.Set(p.Labels)) {
					items = append(items, p)
				}
			}
			slices.SortFunc(items, func(a, b corev1.Pod) int { return strings.Compare(a.Namespace+"/"+a.Name, b.Namespace+"/"+b.Name) })
			snapshots[key] = items
		}
		items := snapshots[key]
		start, _ := strconv.Atoi(opts.Continue)
		out := &corev1.PodList{}
		end := len(items)
		if opts.Limit > 0 && start+int(opts.Limit) < end {
			end = start + int(opts.Limit)
			out.Continue = strconv.Itoa(end)
		}
		out.Items = items[start:end]
		return true, out, nil
	})
}

// apiRequests runs the whole health suite on a cluster with n meshed app
// pods and counts the Kubernetes API requests and Prometheus requests.
func apiRequests(t testing.TB, n int) (kube, prom int, res healthcheck.Results) {
	f := newFixtureWithPods(t, n)
	paginate(f)
	f.kube.ClearActions()
	f.dyn.ClearActions()
	res = f.run(Options{})
	return len(f.kube.Actions()) + len(f.dyn.Actions()), int(f.prom.requests.Load()), res
}

// maxSuiteRequests is the scale target for the whole health suite
// (docs/performance.md, "check on a big cluster").
const maxSuiteRequests = 30

func TestRequestsDoNotGrowWithPods(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 5,000-pod fake cluster")
	}
	small, smallProm, _ := apiRequests(t, 10)
	big, bigProm, res := apiRequests(t, 5000)
	t.Logf("Kubernetes API requests for the whole health suite: %d with 10 meshed pods, %d with 5,000; Prometheus requests: %d and %d", small, big, smallProm, bigProm)
	if !res.Success() {
		for _, c := range res.Categories {
			for _, r := range c.Checks {
				if r.Status == healthcheck.StatusError {
					t.Errorf("%s: %v", r.Description, r.Err)
				}
			}
		}
	}
	expect(t, res, "every meshed pod is scraped", healthcheck.StatusSuccess, "5001 meshed pods, all scraped")
	// Pods are listed in one request and nothing is fetched per pod or per
	// target: the count is the same at any size.
	if big != small {
		t.Errorf("5,000 pods cost %d API requests, 10 pods %d; want the same count at any size", big, small)
	}
	if big > maxSuiteRequests {
		t.Errorf("%d API requests for the suite; want at most %d", big, maxSuiteRequests)
	}
	if bigProm != smallProm {
		t.Errorf("Prometheus requests grew with pods: %d -> %d", smallProm, bigProm)
	}
}

func BenchmarkHealthSuite5000Pods(b *testing.B) {
	f := newFixtureWithPods(b, 5000)
	paginate(f)
	b.ResetTimer()
	for b.Loop() {
		e := NewEnv(Options{}, f.deps())
		cats, err := Catalog(e)
		if err != nil {
			b.Fatal(err)
		}
		res, err := healthcheck.Run(context.Background(), cats, healthcheck.Options{Timeout: time.Minute})
		e.Close()
		if err != nil || !res.Success() {
			b.Fatalf("run failed: %v", err)
		}
	}
}
