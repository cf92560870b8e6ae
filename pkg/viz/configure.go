package viz

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/meshmon/meshmon/pkg/change"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"

	"github.com/meshmon/meshmon/pkg/defaults"
)

const heartbeatContainer = "heartbeat"

// Options say what Configure points linkerd-viz at.
type Options struct {
	// Namespace is where linkerd-viz runs.
	Namespace string
	// LinkerdNamespace holds the heartbeat CronJob (default "linkerd").
	LinkerdNamespace string
	// PrometheusURL is what metrics-api (and the heartbeat) will query.
	PrometheusURL string
	// KeepBundled scales viz's own Prometheus to 0 instead of deleting it (CLI installs).
	KeepBundled bool
	// Heartbeat also points the control plane's heartbeat CronJob at PrometheusURL.
	Heartbeat bool
	// HelmTimeout bounds a Helm upgrade (default defaults.Timeout).
	HelmTimeout time.Duration
	// Chart says where the chart of a Helm-installed viz comes from.
	Chart ChartOptions
}

func (o Options) withDefaults() Options {
	if o.LinkerdNamespace == "" {
		o.LinkerdNamespace = defaults.LinkerdNamespace
	}
	if o.HelmTimeout == 0 {
		o.HelmTimeout = defaults.Timeout
	}
	return o
}

// Validate checks the options without contacting the cluster.
func (o Options) Validate() error {
	var errs []error
	for _, f := range [][2]string{{"viz namespace", o.Namespace}, {"Linkerd namespace", o.withDefaults().LinkerdNamespace}} {
		if e := validation.IsDNS1123Label(f[1]); len(e) > 0 {
			errs = append(errs, fmt.Errorf("invalid %s %q: %v", f[0], f[1], e))
		}
	}
	if err := ValidateURL(o.PrometheusURL); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// ValidateURL accepts an absolute http(s) URL with a host, as metrics-api needs.
func ValidateURL(s string) error {
	if s == "" {
		return errors.New("the Prometheus URL is empty")
	}
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("invalid Prometheus URL %q: %w", s, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("invalid Prometheus URL %q: want http(s)://host:port, e.g. http://prometheus-server.linkerd-viz.svc.cluster.local:9090", s)
	}
	return nil
}

// Plan returns what Configure would do, with every patch, writing nothing.
func Plan(ctx context.Context, c Clients, opts Options) (change.Changes, error) {
	steps, _, err := configureSteps(ctx, c, opts)
	if err != nil {
		return nil, err
	}
	return planned(steps), nil
}

// Configure points linkerd-viz at opts.PrometheusURL. A Helm-installed viz gets a new release
// revision (its own chart, its values reused, prometheusUrl set and prometheus.enabled=false);
// a CLI-installed one has metrics-api's -prometheus-url patched and the bundled Prometheus
// deleted (a copy kept in BackupConfigMap) or scaled to 0. The namespace annotation
// AnnotationExternalPrometheus is set in both cases. Before the first write, the previous state
// is recorded on the namespace (AnnotationRecord) for Restore. Running it again changes nothing.
// On a failed write the change.Changes so far are returned with the error. An interrupted
// (ctx cancelled) first configure puts back what it had changed, with Restore on a context of
// its own bounded by defaults.UndoTimeout, so linkerd-viz is left as it was; it then returns
// no changes and an error wrapping context.Canceled.
func Configure(ctx context.Context, c Clients, opts Options) (change.Changes, error) {
	steps, first, err := configureSteps(ctx, c, opts)
	if err != nil {
		return nil, err
	}
	done, err := execute(ctx, steps)
	if err == nil || ctx.Err() == nil || !first || !done.Changed() {
		// Not interrupted, or nothing written; or viz was configured before this run, whose
		// earlier state the record keeps: restore would undo more than this run did.
		return done, err
	}
	return undoConfigure(ctx, c, opts, done, err)
}

// undoConfigure restores linkerd-viz after an interrupted first configure.
func undoConfigure(ctx context.Context, c Clients, opts Options, done change.Changes, cause error) (change.Changes, error) {
	uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), defaults.UndoTimeout)
	defer cancel()
	opts = opts.withDefaults()
	if _, err := Restore(uctx, c, RestoreOptions{Namespace: opts.Namespace, HelmTimeout: opts.HelmTimeout, Chart: opts.Chart}); err != nil {
		return done, fmt.Errorf("interrupted while rewiring linkerd-viz, and putting back what was changed failed too (%v); "+
			"the changes listed were made: `viz restore` undoes them: %w", err, cause)
	}
	return nil, fmt.Errorf("interrupted while rewiring linkerd-viz; what was changed has been put back, linkerd-viz is as it was: %w", cause)
}

// configureSteps plans Configure; first is true when linkerd-viz carries no record yet (no
// earlier configure).
func configureSteps(ctx context.Context, c Clients, opts Options) ([]step, bool, error) {
	opts = opts.withDefaults()
	if err := opts.Validate(); err != nil {
		return nil, false, err
	}
	st, err := detect(ctx, c, opts.Namespace)
	if err != nil {
		return nil, false, err
	}
	old, err := readRecord(st.ns)
	if err != nil {
		return nil, false, err
	}
	if old != nil && old.Method != st.install.Method {
		return nil, false, fmt.Errorf("linkerd-viz in %q was %s-installed when meshmon configured it and is %s-installed now; "+
			"remove annotation %s from the namespace (the recorded state no longer applies) and retry",
			opts.Namespace, old.Method, st.install.Method, AnnotationRecord)
	}
	rec := &record{Schema: recordSchema, Method: st.install.Method, URL: opts.PrometheusURL}
	prevAnn, annSet := st.ns.Annotations[AnnotationExternalPrometheus]
	rec.ExternalPrometheus = &previousString{Set: annSet, Value: prevAnn}

	var steps []step
	switch st.install.Method {
	case MethodCLI:
		s, part, err := argStep(c, st.metricsAPI.Namespace, "Deployment", st.metricsAPI.Name, &st.metricsAPI.Spec.Template.Spec,
			"/spec/template/spec", MetricsAPIName, opts.PrometheusURL)
		if err != nil {
			return nil, false, err
		}
		rec.MetricsAPI = part
		steps = append(steps, s)
		bs, part2, err := bundledSteps(ctx, c, st, old, opts.KeepBundled)
		if err != nil {
			return nil, false, err
		}
		rec.Bundled = part2
		steps = append(steps, bs...)
	case MethodHelm:
		s, part, err := helmConfigureStep(ctx, c, st.release, opts)
		if err != nil {
			return nil, false, err
		}
		rec.Helm = part
		steps = append(steps, s)
	}
	if opts.Heartbeat {
		s, part, err := heartbeatStep(ctx, c, opts.LinkerdNamespace, opts.PrometheusURL)
		if err != nil {
			return nil, false, err
		}
		rec.Heartbeat = part
		steps = append(steps, s)
	}
	as, err := annotationStep(c, st.ns, AnnotationExternalPrometheus, opts.PrometheusURL,
		"linkerd viz check compares it with metrics-api's -prometheus-url")
	if err != nil {
		return nil, false, err
	}
	steps = append(steps, as)

	full := rec.merged(old)
	if rec.Bundled != nil {
		// The treatment may change between runs (scaled, then deleted); the recorded replica
		// count stays the original one.
		full.Bundled = rec.Bundled
	}
	enc, err := full.encode()
	if err != nil {
		return nil, false, err
	}
	recordStep, err := annotationStep(c, st.ns, AnnotationRecord, enc, "the state before meshmon, for `viz restore`")
	if err != nil {
		return nil, false, err
	}
	// The record goes first: an interrupted configure leaves what restore needs.
	return append([]step{recordStep}, steps...), old == nil, nil
}

// annotationStep sets one annotation on the namespace with a merge patch.
func annotationStep(c Clients, ns *corev1.Namespace, key, value, why string) (step, error) {
	ch := change.Change{Kind: "Namespace", Name: ns.Name, Detail: fmt.Sprintf("annotation %s: %s", key, why)}
	if cur, ok := ns.Annotations[key]; ok && cur == value {
		ch.Action = change.Unchanged
		return step{change: ch}, nil
	}
	ch.Action = change.Configured
	return mergePatchStep(c, ns.Name, ch, map[string]any{key: value})
}

// mergePatchStep writes annotations (a nil value removes one) on a namespace.
func mergePatchStep(c Clients, namespace string, ch change.Change, annotations map[string]any) (step, error) {
	body, err := encodePatch(map[string]any{"metadata": map[string]any{"annotations": annotations}})
	if err != nil {
		return step{}, err
	}
	ch.Patch = string(body)
	return step{change: ch, run: func(ctx context.Context, _ *change.Change) error {
		_, err := c.Kube.CoreV1().Namespaces().Patch(ctx, namespace, types.MergePatchType, body, metav1.PatchOptions{FieldManager: fieldManager})
		if err != nil {
			return writeError("patch", "namespace", "", namespace, err)
		}
		return nil
	}}, nil
}

// argStep sets -prometheus-url on one container of a pod spec, keeping every other argument
// and its order. The JSON patch tests the container name and the old args, so a concurrent edit
// makes it fail rather than be overwritten.
func argStep(c Clients, namespace, kind, name string, pod *corev1.PodSpec, podPath, container, value string) (step, *previousArg, error) {
	i := slices.IndexFunc(pod.Containers, func(ct corev1.Container) bool { return ct.Name == container })
	if i < 0 {
		return step{}, nil, fmt.Errorf("%s %s/%s has no container %q; it is not the linkerd-viz or Linkerd component meshmon knows", kind, namespace, name, container)
	}
	args := pod.Containers[i].Args
	f := findFlag(args, PrometheusURLFlag)
	part := &previousArg{Kind: kind, Namespace: namespace, Name: name, Container: container, Tokens: f.tokens(args)}
	if part.Tokens == nil {
		part.Tokens = []string{}
	}
	ch := change.Change{Kind: kind, Namespace: namespace, Name: name, Detail: fmt.Sprintf("container %s: -%s=%s", container, PrometheusURLFlag, value)}
	if f.found && f.value == value {
		ch.Action = change.Unchanged
		return step{change: ch}, part, nil
	}
	ch.Action = change.Configured
	if f.found {
		ch.Detail += fmt.Sprintf(" (was %s)", f.value)
	}
	s, err := argsPatchStep(c, ch, podPath, i, container, args, setFlag(args, PrometheusURLFlag, value))
	return s, part, err
}

func argsPatchStep(c Clients, ch change.Change, podPath string, index int, container string, oldArgs, newArgs []string) (step, error) {
	base := fmt.Sprintf("%s/containers/%d", podPath, index)
	ops := []jsonOp{{Op: "test", Path: base + "/name", Value: container}}
	if oldArgs != nil {
		ops = append(ops, jsonOp{Op: "test", Path: base + "/args", Value: oldArgs})
	}
	ops = append(ops, jsonOp{Op: "add", Path: base + "/args", Value: newArgs})
	body, err := encodePatch(ops)
	if err != nil {
		return step{}, err
	}
	ch.Patch = string(body)
	ns, name, kind := ch.Namespace, ch.Name, ch.Kind
	return step{change: ch, run: func(ctx context.Context, _ *change.Change) error {
		var err error
		po := metav1.PatchOptions{FieldManager: fieldManager}
		if kind == "CronJob" {
			_, err = c.Kube.BatchV1().CronJobs(ns).Patch(ctx, name, types.JSONPatchType, body, po)
		} else {
			_, err = c.Kube.AppsV1().Deployments(ns).Patch(ctx, name, types.JSONPatchType, body, po)
		}
		if err != nil {
			return writeError("patch", kind, ns, name, err)
		}
		return nil
	}}, nil
}

// bundledSteps remove viz's own Prometheus (after copying it into BackupConfigMap) or scale it
// to 0.
func bundledSteps(ctx context.Context, c Clients, st *state, old *record, keep bool) ([]step, *bundledRecord, error) {
	ns := st.install.Namespace
	ch := change.Change{Kind: "Deployment", Namespace: ns, Name: BundledPrometheus}
	var oldPart *bundledRecord
	if old != nil {
		oldPart = old.Bundled
	}
	d := st.bundled
	if d == nil {
		switch {
		case oldPart != nil && oldPart.Mode == bundledDeleted && keep:
			ch.Action, ch.Detail = change.Unchanged, "deleted by an earlier configure (a copy is in ConfigMap "+BackupConfigMap+"); run `viz restore` first to keep it scaled to 0 instead"
		case oldPart != nil && oldPart.Mode == bundledDeleted:
			ch.Action, ch.Detail = change.Unchanged, "deleted by an earlier configure; a copy is in ConfigMap "+BackupConfigMap
		default:
			ch.Action, ch.Detail = change.Absent, "viz's bundled Prometheus is not installed"
		}
		return []step{{change: ch}}, oldPart, nil
	}
	part := &bundledRecord{Replicas: replicas(d)}
	if oldPart != nil {
		part.Replicas = oldPart.Replicas
	}

	if keep {
		part.Mode = bundledScaled
		if replicas(d) == 0 {
			ch.Action, ch.Detail = change.Unchanged, "viz's bundled Prometheus is scaled to 0"
			return []step{{change: ch}}, part, nil
		}
		ch.Action, ch.Detail = change.Scaled, fmt.Sprintf("replicas %d -> 0 (--keep-bundled)", replicas(d))
		s, err := replicasStep(c, ch, d, 0)
		return []step{s}, part, err
	}

	part.Mode = bundledDeleted
	var steps []step
	_, err := c.Kube.CoreV1().ConfigMaps(ns).Get(ctx, BackupConfigMap, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		cm, err := backupConfigMap(d, &part.Replicas)
		if err != nil {
			return nil, nil, err
		}
		body, err := yaml.Marshal(cm)
		if err != nil {
			return nil, nil, fmt.Errorf("rendering ConfigMap %s: %w", BackupConfigMap, err)
		}
		steps = append(steps, step{
			change: change.Change{Kind: "ConfigMap", Namespace: ns, Name: BackupConfigMap, Action: change.Created,
				Detail: "copy of Deployment " + BundledPrometheus + " for `viz restore`", Patch: string(body)},
			run: func(ctx context.Context, _ *change.Change) error {
				_, err := c.Kube.CoreV1().ConfigMaps(ns).Create(ctx, cm, metav1.CreateOptions{FieldManager: fieldManager})
				if err != nil {
					return writeError("create", "ConfigMap", ns, BackupConfigMap, err)
				}
				return nil
			},
		})
	case err != nil:
		return nil, nil, fmt.Errorf("reading ConfigMap %s/%s: %w", ns, BackupConfigMap, err)
	}
	ch.Action, ch.Detail = change.Deleted, "viz's bundled Prometheus; a copy is in ConfigMap "+BackupConfigMap
	uid, rv := d.UID, d.ResourceVersion
	ch.Patch = fmt.Sprintf("DELETE apps/v1 Deployment %s/%s (preconditions: uid %s, resourceVersion %s)", ns, d.Name, uid, rv)
	steps = append(steps, step{change: ch, run: func(ctx context.Context, _ *change.Change) error {
		// The preconditions stop a delete of a Deployment changed since it was copied.
		err := c.Kube.AppsV1().Deployments(ns).Delete(ctx, BundledPrometheus, metav1.DeleteOptions{
			Preconditions: &metav1.Preconditions{UID: &uid, ResourceVersion: &rv},
		})
		if err != nil && !apierrors.IsNotFound(err) {
			return writeError("delete", "Deployment", ns, BundledPrometheus, err)
		}
		return nil
	}})
	return steps, part, nil
}

// replicasStep sets spec.replicas, testing the current value first.
func replicasStep(c Clients, ch change.Change, d *appsv1.Deployment, to int32) (step, error) {
	var ops []jsonOp
	if d.Spec.Replicas != nil {
		ops = append(ops, jsonOp{Op: "test", Path: "/spec/replicas", Value: *d.Spec.Replicas})
	}
	ops = append(ops, jsonOp{Op: "add", Path: "/spec/replicas", Value: to})
	body, err := encodePatch(ops)
	if err != nil {
		return step{}, err
	}
	ch.Patch = string(body)
	ns, name := d.Namespace, d.Name
	return step{change: ch, run: func(ctx context.Context, _ *change.Change) error {
		_, err := c.Kube.AppsV1().Deployments(ns).Patch(ctx, name, types.JSONPatchType, body, metav1.PatchOptions{FieldManager: fieldManager})
		if err != nil {
			return writeError("patch", "Deployment", ns, name, err)
		}
		return nil
	}}, nil
}

func heartbeatStep(ctx context.Context, c Clients, linkerdNS, value string) (step, *previousArg, error) {
	cj, err := c.Kube.BatchV1().CronJobs(linkerdNS).Get(ctx, DefaultHeartbeatName, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return step{change: change.Change{Kind: "CronJob", Namespace: linkerdNS, Name: DefaultHeartbeatName, Action: change.Absent,
			Detail: "the control plane runs no heartbeat (disabled at install)"}}, nil, nil
	case err != nil:
		return step{}, nil, fmt.Errorf("reading CronJob %s/%s: %w", linkerdNS, DefaultHeartbeatName, err)
	}
	s, part, err := argStep(c, linkerdNS, "CronJob", cj.Name, &cj.Spec.JobTemplate.Spec.Template.Spec,
		"/spec/jobTemplate/spec/template/spec", heartbeatContainerName(cj), value)
	if err == nil && cj.Labels[managedByLabel] == "Helm" && s.change.Action == change.Configured {
		s.change.Detail += "; the control plane is Helm-managed: also set prometheusUrl in its values, or its next upgrade reverts this"
	}
	return s, part, err
}

// heartbeatContainerName is "heartbeat", or the only container when it is named otherwise.
func heartbeatContainerName(cj *batchv1.CronJob) string {
	cs := cj.Spec.JobTemplate.Spec.Template.Spec.Containers
	if len(cs) == 1 {
		return cs[0].Name
	}
	return heartbeatContainer
}

// writeError explains a failed write; a denial names the verb and resource so the missing RBAC
// rule is obvious.
func writeError(verb, kind, namespace, name string, err error) error {
	where := name
	if namespace != "" {
		where = namespace + "/" + name
	}
	switch {
	case apierrors.IsForbidden(err):
		return fmt.Errorf("permission denied: cannot %s %s %s; ask a cluster admin for %q on that resource: %w", verb, kind, where, verb, err)
	case apierrors.IsConflict(err) || isTestFailed(err):
		return fmt.Errorf("%s %s %s: a concurrent change: another writer (a kubectl apply, an upgrade of viz) changed it after meshmon read it, "+
			"so meshmon wrote nothing over it; run the command again to apply meshmon's change on top of the new version: %w", verb, kind, where, err)
	}
	return fmt.Errorf("%s %s %s: %w", verb, kind, where, err)
}

// isTestFailed recognises a JSON patch that did not apply to the object as it is now: a failed
// "test" operation (or a path that no longer exists), which means another writer changed the
// object after meshmon read it. The API server answers that with a bare 422 (it drops json-patch's
// text: no message of its own, no causes, no resource named), unlike a validation failure, which
// names the object and its field errors; client-go's fake returns json-patch's error as it is.
func isTestFailed(err error) bool {
	var se apierrors.APIStatus
	if !errors.As(err, &se) {
		return strings.Contains(err.Error(), "testing value") || strings.Contains(err.Error(), "test failed")
	}
	st := se.Status()
	if strings.Contains(st.Message, "testing value") || strings.Contains(st.Message, "test failed") {
		return true
	}
	d := st.Details
	return st.Code == http.StatusUnprocessableEntity && (d == nil || (len(d.Causes) == 0 && d.Kind == "" && d.Name == ""))
}
