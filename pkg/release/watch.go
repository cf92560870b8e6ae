package release

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// DefaultPollInterval is how often progress polls the release's objects.
const DefaultPollInterval = time.Second

// watcher reports what the release's server still waits for. Helm's own waiter has no
// callbacks, so this lightweight poll runs beside it: one list per kind with the
// release's label selector, never one call per object.
type watcher struct {
	kc        kubernetes.Interface
	namespace string
	release   string
	report    func(string)

	mu   sync.Mutex
	last string
}

// run polls until ctx is done.
func (w *watcher) run(ctx context.Context, every time.Duration) {
	if every <= 0 {
		every = DefaultPollInterval
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		w.poll(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// lastStatus is the most recent description, for error messages after a failed wait.
func (w *watcher) lastStatus() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.last
}

func (w *watcher) poll(ctx context.Context) {
	s := describeWaiting(ctx, w.kc, w.namespace, w.release)
	if s == "" || ctx.Err() != nil {
		return
	}
	w.mu.Lock()
	w.last = s
	w.mu.Unlock()
	if w.report != nil {
		w.report(s)
	}
}

// describeWaiting lists what is not ready yet, e.g. "waiting for PVC prometheus-server
// to bind (Pending); waiting for Deployment prometheus-server: 0/1 ready". It returns
// "" when the objects cannot be read (progress is best-effort; Helm's wait decides).
func describeWaiting(ctx context.Context, kc kubernetes.Interface, namespace, release string) string {
	opts := metav1.ListOptions{LabelSelector: ServerSelector(release).String()}
	var waiting []string
	found := false

	pvcs, err := kc.CoreV1().PersistentVolumeClaims(namespace).List(ctx, opts)
	if err != nil {
		return ""
	}
	for _, pvc := range pvcs.Items {
		found = true
		if pvc.Status.Phase != corev1.ClaimBound {
			waiting = append(waiting, fmt.Sprintf("waiting for PVC %s to bind (%s)", pvc.Name, claimPhase(pvc)))
		}
	}
	deps, err := kc.AppsV1().Deployments(namespace).List(ctx, opts)
	if err != nil {
		return ""
	}
	for _, d := range deps.Items {
		found = true
		want := int32(1)
		if d.Spec.Replicas != nil {
			want = *d.Spec.Replicas
		}
		if s := rollout("Deployment", d.Name, d.Generation, d.Status.ObservedGeneration, want, d.Status.UpdatedReplicas, d.Status.ReadyReplicas, d.Status.Replicas); s != "" {
			waiting = append(waiting, s)
		}
	}
	sts, err := kc.AppsV1().StatefulSets(namespace).List(ctx, opts)
	if err != nil {
		return ""
	}
	for _, st := range sts.Items {
		found = true
		want := int32(1)
		if st.Spec.Replicas != nil {
			want = *st.Spec.Replicas
		}
		if s := rollout("StatefulSet", st.Name, st.Generation, st.Status.ObservedGeneration, want, st.Status.UpdatedReplicas, st.Status.ReadyReplicas, st.Status.Replicas); s != "" {
			waiting = append(waiting, s)
		}
	}
	switch {
	case !found:
		return "waiting for the server's objects to appear"
	case len(waiting) == 0:
		return "server ready; waiting for Helm to confirm every object"
	}
	return strings.Join(waiting, "; ")
}

// rollout describes a workload that has not finished rolling out, or returns "".
func rollout(kind, name string, generation, observed int64, want, updated, ready, current int32) string {
	switch {
	case observed < generation:
		return fmt.Sprintf("waiting for %s %s to pick up the change", kind, name)
	case ready < want:
		return fmt.Sprintf("waiting for %s %s: %d/%d ready", kind, name, ready, want)
	case updated < want:
		return fmt.Sprintf("waiting for %s %s to roll out the change: %d/%d pods updated", kind, name, updated, want)
	case current > want:
		return fmt.Sprintf("waiting for %s %s: %d old pod(s) terminating", kind, name, current-want)
	}
	return ""
}

// claimPhase names the phase and, since an unbound claim is nearly always a storage
// problem, the class it asks for.
func claimPhase(pvc corev1.PersistentVolumeClaim) string {
	phase := string(pvc.Status.Phase)
	if phase == "" {
		phase = string(corev1.ClaimPending)
	}
	if sc := pvc.Spec.StorageClassName; sc != nil && *sc != "" {
		return fmt.Sprintf("%s, storage class %s", phase, *sc)
	}
	return phase
}
