package viz

import (
	"context"
	"errors"
	"fmt"
	neturl "net/url"
	"slices"
	"strings"
	"time"

	"github.com/meshmon/meshmon/pkg/change"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/meshmon/meshmon/pkg/defaults"
)

// RestoreOptions say which linkerd-viz to restore.
type RestoreOptions struct {
	// Namespace is where linkerd-viz runs.
	Namespace string
	// HelmTimeout bounds a Helm upgrade (default defaults.Timeout).
	HelmTimeout time.Duration
	// Chart says where the chart of a Helm-installed viz comes from.
	Chart ChartOptions
	// Owner, when set, restores only a configuration that points linkerd-viz at that
	// Prometheus; any other is refused with ErrOtherPrometheus and nothing is written. An
	// uninstall of one release must not undo what another release's install set.
	Owner *Owner
}

// Owner names the Prometheus a configuration must point at for a restore to touch it.
type Owner struct {
	// Release is the owner's name in messages.
	Release string
	// Namespace and Service are its server Service. An empty Service (the release has none)
	// owns no configuration.
	Namespace, Service string
}

// ErrOtherPrometheus means linkerd-viz was configured for a Prometheus other than the
// restore's Owner.
var ErrOtherPrometheus = errors.New("linkerd-viz was configured for another Prometheus")

func (o Owner) String() string {
	if o.Service == "" {
		return fmt.Sprintf("release %s, which has no Prometheus Service in namespace %s", o.Release, o.Namespace)
	}
	return fmt.Sprintf("release %s's Prometheus (Service %s/%s)", o.Release, o.Namespace, o.Service)
}

// Owns says whether url, as configure recorded it, addresses the owner's Service: its host
// is <service>.<namespace>[.svc[.<cluster domain>]].
func (o Owner) Owns(url string) bool {
	u, err := neturl.Parse(url)
	if err != nil {
		return false
	}
	labels := strings.Split(u.Hostname(), ".")
	if o.Service == "" || len(labels) < 2 || labels[0] != o.Service || labels[1] != o.Namespace {
		return false
	}
	return len(labels) == 2 || labels[2] == "svc"
}

// PlanRestore returns what Restore would do, with every patch, writing nothing.
func PlanRestore(ctx context.Context, c Clients, opts RestoreOptions) (change.Changes, error) {
	steps, err := restoreSteps(ctx, c, opts)
	if err != nil {
		return nil, err
	}
	return planned(steps), nil
}

// Restore puts back what Configure changed, from the record on the namespace: metrics-api's
// flag, the bundled Prometheus (recreated from its copy, or scaled back), the Helm values, the
// heartbeat flag and the namespace annotation. A value changed by someone else since configure
// is left alone (change.Kept). The record is removed last, so an interrupted restore can be run
// again; without a record there is nothing to do and no error.
func Restore(ctx context.Context, c Clients, opts RestoreOptions) (change.Changes, error) {
	steps, err := restoreSteps(ctx, c, opts)
	if err != nil {
		return nil, err
	}
	return execute(ctx, steps)
}

func restoreSteps(ctx context.Context, c Clients, opts RestoreOptions) ([]step, error) {
	if opts.HelmTimeout == 0 {
		opts.HelmTimeout = defaults.Timeout
	}
	ns, err := c.Kube.CoreV1().Namespaces().Get(ctx, opts.Namespace, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return nil, fmt.Errorf("%w: namespace %q does not exist; name the namespace linkerd-viz runs in with --viz-namespace", ErrNotInstalled, opts.Namespace)
	case err != nil:
		return nil, fmt.Errorf("reading namespace %s: %w", opts.Namespace, err)
	}
	rec, err := readRecord(ns)
	if err != nil {
		return nil, err
	}
	if rec == nil {
		return []step{{change: change.Change{Kind: "Namespace", Name: ns.Name, Action: change.Absent,
			Detail: fmt.Sprintf("no annotation %s: meshmon has not configured linkerd-viz here, nothing to restore", AnnotationRecord)}}}, nil
	}
	if opts.Owner != nil && !opts.Owner.Owns(rec.URL) {
		return nil, fmt.Errorf("%w: meshmon pointed linkerd-viz in %s at %s, not at %s", ErrOtherPrometheus, ns.Name, rec.URL, opts.Owner)
	}

	var steps []step
	if rec.MetricsAPI != nil {
		s, err := argRestoreStep(ctx, c, rec.MetricsAPI, rec.URL)
		if err != nil {
			return nil, err
		}
		steps = append(steps, s)
	}
	if rec.Bundled != nil {
		bs, err := bundledRestoreSteps(ctx, c, ns.Name, rec.Bundled)
		if err != nil {
			return nil, err
		}
		steps = append(steps, bs...)
	}
	if rec.Helm != nil {
		rel, err := lastRelease(c, rec.Helm.Namespace, rec.Helm.Release)
		if err != nil {
			return nil, fmt.Errorf("%w; meshmon configured viz through that release: reinstall viz, then remove annotation %s from namespace %s", err, AnnotationRecord, ns.Name)
		}
		s, err := helmRestoreStep(ctx, c, rec, rel, opts)
		if err != nil {
			return nil, err
		}
		steps = append(steps, s)
	}
	if rec.Heartbeat != nil {
		s, err := argRestoreStep(ctx, c, rec.Heartbeat, rec.URL)
		if err != nil {
			return nil, err
		}
		steps = append(steps, s)
	}

	// Last: the namespace annotation back, and the record gone.
	ann := map[string]any{AnnotationRecord: nil}
	ch := change.Change{Kind: "Namespace", Name: ns.Name, Action: change.Configured, Detail: "removed meshmon's record " + AnnotationRecord}
	if p := rec.ExternalPrometheus; p != nil {
		switch cur, ok := ns.Annotations[AnnotationExternalPrometheus]; {
		case ok && cur != rec.URL:
			ch.Detail += fmt.Sprintf("; kept %s=%s (changed since configure)", AnnotationExternalPrometheus, cur)
		case p.Set:
			ann[AnnotationExternalPrometheus] = p.Value
			ch.Detail += fmt.Sprintf("; %s back to %s", AnnotationExternalPrometheus, p.Value)
		default:
			ann[AnnotationExternalPrometheus] = nil
			ch.Detail += "; removed " + AnnotationExternalPrometheus
		}
	}
	s, err := mergePatchStep(c, ns.Name, ch, ann)
	if err != nil {
		return nil, err
	}
	return append(steps, s), nil
}

// argRestoreStep puts back the flag's original tokens while meshmon's value is in place.
func argRestoreStep(ctx context.Context, c Clients, p *previousArg, meshmonURL string) (step, error) {
	ch := change.Change{Kind: p.Kind, Namespace: p.Namespace, Name: p.Name}
	var pod *corev1.PodSpec
	var podPath string
	switch p.Kind {
	case "Deployment":
		d, err := c.Kube.AppsV1().Deployments(p.Namespace).Get(ctx, p.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			ch.Action, ch.Detail = change.Absent, "deleted since configure; nothing to restore"
			return step{change: ch}, nil
		}
		if err != nil {
			return step{}, fmt.Errorf("reading Deployment %s/%s: %w", p.Namespace, p.Name, err)
		}
		pod, podPath = &d.Spec.Template.Spec, "/spec/template/spec"
	case "CronJob":
		cj, err := c.Kube.BatchV1().CronJobs(p.Namespace).Get(ctx, p.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			ch.Action, ch.Detail = change.Absent, "deleted since configure; nothing to restore"
			return step{change: ch}, nil
		}
		if err != nil {
			return step{}, fmt.Errorf("reading CronJob %s/%s: %w", p.Namespace, p.Name, err)
		}
		pod, podPath = &cj.Spec.JobTemplate.Spec.Template.Spec, "/spec/jobTemplate/spec/template/spec"
	default:
		return step{}, fmt.Errorf("annotation %s names an unknown kind %q; it was edited by hand", AnnotationRecord, p.Kind)
	}
	i := slices.IndexFunc(pod.Containers, func(ct corev1.Container) bool { return ct.Name == p.Container })
	if i < 0 {
		ch.Action, ch.Detail = change.Kept, fmt.Sprintf("container %s is gone; left as is", p.Container)
		return step{change: ch}, nil
	}
	args := pod.Containers[i].Args
	f := findFlag(args, PrometheusURLFlag)
	if !f.found || f.value != meshmonURL {
		ch.Action, ch.Detail = change.Kept, fmt.Sprintf("container %s: -%s is %s now, not meshmon's; left as is", p.Container, PrometheusURLFlag, showFlag(f))
		return step{change: ch}, nil
	}
	restored := replaceTokens(args, f, p.Tokens)
	if slices.Equal(restored, args) {
		ch.Action, ch.Detail = change.Unchanged, fmt.Sprintf("container %s: -%s was already %s", p.Container, PrometheusURLFlag, meshmonURL)
		return step{change: ch}, nil
	}
	ch.Action = change.Configured
	ch.Detail = fmt.Sprintf("container %s: -%s back to %s", p.Container, PrometheusURLFlag, showTokens(p.Tokens))
	return argsPatchStep(c, ch, podPath, i, p.Container, args, restored)
}

func showFlag(f flagArg) string {
	if !f.found {
		return "absent"
	}
	return f.value
}

func showTokens(t []string) string {
	if len(t) == 0 {
		return "absent (removed)"
	}
	return fmt.Sprint(t)
}

// bundledRestoreSteps recreate the bundled Prometheus from its copy, or scale it back.
func bundledRestoreSteps(ctx context.Context, c Clients, ns string, b *bundledRecord) ([]step, error) {
	ch := change.Change{Kind: "Deployment", Namespace: ns, Name: BundledPrometheus}
	d, err := c.Kube.AppsV1().Deployments(ns).Get(ctx, BundledPrometheus, metav1.GetOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("reading Deployment %s/%s: %w", ns, BundledPrometheus, err)
	}
	exists := err == nil

	if b.Mode == bundledScaled {
		switch {
		case !exists:
			ch.Action, ch.Detail = change.Absent, "deleted since configure; nothing to scale"
			return []step{{change: ch}}, nil
		case replicas(d) != 0:
			ch.Action, ch.Detail = change.Kept, fmt.Sprintf("scaled to %d since configure; left as is", replicas(d))
			return []step{{change: ch}}, nil
		case b.Replicas == 0:
			ch.Action, ch.Detail = change.Unchanged, "was at 0 replicas before meshmon"
			return []step{{change: ch}}, nil
		}
		ch.Action, ch.Detail = change.Scaled, fmt.Sprintf("replicas 0 -> %d", b.Replicas)
		s, err := replicasStep(c, ch, d, b.Replicas)
		return []step{s}, err
	}

	cm, err := c.Kube.CoreV1().ConfigMaps(ns).Get(ctx, BackupConfigMap, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err) && exists:
		ch.Action, ch.Detail = change.Kept, "exists again (recreated by someone else); left as is"
		return []step{{change: ch}}, nil
	case apierrors.IsNotFound(err):
		return nil, fmt.Errorf("ConfigMap %s/%s, meshmon's copy of the bundled Prometheus Deployment, is missing, so it cannot be recreated; "+
			"reinstall viz (`linkerd viz install | kubectl apply -f -`), then remove annotation %s from namespace %s", ns, BackupConfigMap, AnnotationRecord, ns)
	case err != nil:
		return nil, fmt.Errorf("reading ConfigMap %s/%s: %w", ns, BackupConfigMap, err)
	}
	var steps []step
	if exists {
		ch.Action, ch.Detail = change.Kept, "exists again (recreated by someone else); left as is"
		steps = append(steps, step{change: ch})
	} else {
		dep, err := deploymentFromBackup(cm)
		if err != nil {
			return nil, err
		}
		body, err := yaml.Marshal(dep)
		if err != nil {
			return nil, fmt.Errorf("rendering Deployment %s: %w", BundledPrometheus, err)
		}
		ch.Action, ch.Detail, ch.Patch = change.Created, "viz's bundled Prometheus, from ConfigMap "+BackupConfigMap, string(body)
		steps = append(steps, step{change: ch, run: func(ctx context.Context, _ *change.Change) error {
			_, err := c.Kube.AppsV1().Deployments(ns).Create(ctx, dep, metav1.CreateOptions{FieldManager: fieldManager})
			if err != nil && !apierrors.IsAlreadyExists(err) {
				return writeError("create", "Deployment", ns, BundledPrometheus, err)
			}
			return nil
		}})
	}
	uid := cm.UID
	steps = append(steps, step{
		change: change.Change{Kind: "ConfigMap", Namespace: ns, Name: BackupConfigMap, Action: change.Deleted, Detail: "meshmon's copy, no longer needed",
			Patch: fmt.Sprintf("DELETE v1 ConfigMap %s/%s", ns, BackupConfigMap)},
		run: func(ctx context.Context, _ *change.Change) error {
			err := c.Kube.CoreV1().ConfigMaps(ns).Delete(ctx, BackupConfigMap, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
			if err != nil && !apierrors.IsNotFound(err) {
				return writeError("delete", "ConfigMap", ns, BackupConfigMap, err)
			}
			return nil
		},
	})
	return steps, nil
}
