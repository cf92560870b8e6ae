package release

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/kubernetes"

	"github.com/meshmon/meshmon/pkg/defaults"
	"github.com/meshmon/meshmon/pkg/kube"
	"github.com/meshmon/meshmon/pkg/linkerd"
)

// PreflightOptions say what the install is about to do.
type PreflightOptions struct {
	LinkerdNamespace string
	VizNamespace     string
	// StorageClass as given to the install: "" needs a default class, "-" none.
	StorageClass string
	// StorageSize and StatefulSet are the planned volume, checked against an existing one;
	// an empty size skips that check.
	StorageSize string
	StatefulSet bool
	// Manifest is the rendered chart; empty checks the chart's usual objects.
	Manifest string
	// Mapper resolves kinds outside meshmon's built-in table; may be nil.
	Mapper meta.RESTMapper
	// CheckTimeout bounds each check's reads of the cluster; defaults.PreflightCheckTimeout
	// when zero.
	CheckTimeout time.Duration
	// Repair means a release stuck pending will be repaired, so it is no failure.
	Repair bool
	// Extra are permissions later install steps need (e.g. patching linkerd-viz).
	Extra []kube.Access
	// Steps are the later install steps' own preconditions (e.g. linkerd-viz can be
	// rewired, the policy API is served), run after the release's.
	Steps []func(context.Context) PreflightResult
}

// PreflightResult is one preflight check: Err is nil when it passed.
type PreflightResult struct {
	Description string
	Err         error
	// Warning makes Err a warning: the install can go on, but the user should know.
	Warning bool
	// Note is extra information on a passing check.
	Note string
}

// OK tells whether the check passed (warnings pass).
func (r PreflightResult) OK() bool { return r.Err == nil || r.Warning }

// PreflightError collects every failed check.
type PreflightError struct {
	Failed []PreflightResult
}

func (e *PreflightError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "preflight found %d problem(s); nothing was changed in the cluster:", len(e.Failed))
	for _, r := range e.Failed {
		fmt.Fprintf(&b, "\n  × %s: %v", r.Description, r.Err)
	}
	return b.String()
}

// PreflightFailures returns a *PreflightError for the failed results, or nil.
func PreflightFailures(results []PreflightResult) error {
	var failed []PreflightResult
	for _, r := range results {
		if !r.OK() {
			failed = append(failed, r)
		}
	}
	if len(failed) == 0 {
		return nil
	}
	return &PreflightError{Failed: failed}
}

// Preflight checks, reading only, that the install can succeed: the cluster answers,
// Linkerd and linkerd-viz are there, the namespace and a storage class exist, the user
// may create everything the chart renders (and store the release), and the release is
// not stuck pending. Every result is returned, failed or not, so they can be reported
// together or rendered as checks.
func Preflight(ctx context.Context, t *Target, o PreflightOptions) []PreflightResult {
	d := o.CheckTimeout
	if d <= 0 {
		d = defaults.PreflightCheckTimeout
	}
	one := func(f func(context.Context) PreflightResult) []PreflightResult {
		return within(ctx, d, func(c context.Context) []PreflightResult { return []PreflightResult{f(c)} })
	}
	reach := PreflightResult{Description: "can reach the Kubernetes API"}
	if err := within(ctx, d, func(c context.Context) error {
		_, err := discovery.ToServerVersionInterfaceWithContext(t.Kube.Discovery()).ServerVersionWithContext(c)
		return err
	}); err != nil {
		reach.Err = kube.Unreachable(apiHost(t.Kube), "", err)
		// Everything else would fail the same way.
		return []PreflightResult{reach}
	}
	results := []PreflightResult{reach}
	results = append(results, one(func(c context.Context) PreflightResult { return checkLinkerd(c, t, o.LinkerdNamespace) })...)
	results = append(results, one(func(c context.Context) PreflightResult {
		return checkNamespace(c, t, o.VizNamespace, "linkerd-viz namespace "+o.VizNamespace+" exists",
			"linkerd-viz is not installed there; install it (linkerd viz install | kubectl apply -f -) or name its namespace with --viz-namespace")
	})...)
	if t.Namespace != o.VizNamespace {
		results = append(results, one(func(c context.Context) PreflightResult {
			return checkNamespace(c, t, t.Namespace, "namespace "+t.Namespace+" exists",
				"create it (kubectl create namespace "+t.Namespace+") or install into another one with -n")
		})...)
	}
	results = append(results, within(ctx, d, func(c context.Context) []PreflightResult {
		if r, ok := checkStorageClass(c, t, o.StorageClass); ok {
			return []PreflightResult{r}
		}
		return nil
	})...)
	if o.StorageSize != "" {
		results = append(results, within(ctx, d, func(c context.Context) []PreflightResult { return checkVolumes(c, t, o) })...)
	}
	results = append(results, checkPending(t, o.Repair))
	results = append(results, within(ctx, d, func(c context.Context) []PreflightResult { return checkAccess(c, t, o) })...)
	for _, step := range o.Steps {
		results = append(results, one(step)...)
	}
	return results
}

// within runs f with its own deadline d under ctx.
func within[T any](ctx context.Context, d time.Duration, f func(context.Context) T) T {
	c, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	return f(c)
}

func checkLinkerd(ctx context.Context, t *Target, ns string) PreflightResult {
	if ns == "" {
		ns = defaults.LinkerdNamespace
	}
	r := PreflightResult{Description: "Linkerd control plane is installed in namespace " + ns}
	f, err := linkerd.ReadConfig(ctx, t.Kube, ns)
	if err != nil {
		r.Err = err
	} else {
		r.Note = "trust domain " + f.TrustDomain + ", cluster domain " + f.ClusterDomain
	}
	return r
}

func checkNamespace(ctx context.Context, t *Target, ns, desc, fix string) PreflightResult {
	r := PreflightResult{Description: desc}
	_, err := t.Kube.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		r.Err = fmt.Errorf("namespace %s does not exist; %s", ns, fix)
	case apierrors.IsForbidden(err):
		r.Err = fmt.Errorf("you may not read namespace %s (%v); meshmon needs get on namespaces", ns, err)
	case err != nil:
		r.Err = fmt.Errorf("reading namespace %s: %w", ns, err)
	}
	return r
}

// checkStorageClass makes sure the PVC can get a class; "-" (no class) has nothing to
// check and returns ok false.
func checkStorageClass(ctx context.Context, t *Target, class string) (PreflightResult, bool) {
	if class == "-" {
		return PreflightResult{}, false
	}
	r := PreflightResult{Description: "storage class " + class + " exists"}
	if class == "" {
		r.Description = "a default storage class exists"
	}
	list, err := t.Kube.StorageV1().StorageClasses().List(ctx, metav1.ListOptions{})
	if err != nil {
		r.Err = kube.ExplainAPIError("list", "storageclasses", "", "", err)
		return r, true
	}
	var names []string
	for _, sc := range list.Items {
		names = append(names, sc.Name)
	}
	defaults := kube.DefaultStorageClasses(list.Items)
	available := "none exist"
	if len(names) > 0 {
		available = "available: " + strings.Join(names, ", ")
	}
	switch {
	case class == "" && len(defaults) == 0:
		r.Err = fmt.Errorf("the cluster has no default StorageClass, so the Prometheus volume would never be provisioned; name one with --storage-class (%s)", available)
	case class == "":
		r.Note = "default class " + strings.Join(defaults, ", ")
	case !slices.Contains(names, class):
		r.Err = fmt.Errorf("storage class %q does not exist, so the Prometheus volume would never be provisioned; pick one with --storage-class (%s) or omit it to use the default", class, available)
	}
	return r, true
}

// checkVolumes compares the volume a previous install left with the planned one:
// Kubernetes never shrinks a claim, grows one only when its class allows expansion, and
// never changes a StatefulSet's claim template; switching modes starts a new volume.
func checkVolumes(ctx context.Context, t *Target, o PreflightOptions) []PreflightResult {
	vols, err := Volumes(ctx, t.Kube, t.Namespace, t.Release)
	if apierrors.IsForbidden(err) {
		err = fmt.Errorf("you may not list PersistentVolumeClaims in namespace %s (%v); meshmon needs list on persistentvolumeclaims there to find an earlier data volume", t.Namespace, err)
	}
	if err != nil {
		return []PreflightResult{{Description: "an earlier data volume, if any, fits the planned one", Err: err}}
	}
	want, err := resource.ParseQuantity(o.StorageSize)
	if err != nil {
		return []PreflightResult{{Description: "an earlier data volume, if any, fits the planned one", Err: fmt.Errorf("storage size %q: %w", o.StorageSize, err)}}
	}
	var results []PreflightResult
	for _, v := range vols {
		r := PreflightResult{Description: fmt.Sprintf("existing PVC %s can take the planned %s", v.Claim, want.String())}
		have, err := resource.ParseQuantity(v.Requested)
		switch {
		case v.StatefulSet != o.StatefulSet:
			r.Warning = true
			r.Err = fmt.Errorf("PVC %s was made for the %s mode, and this install uses the other one, so Prometheus starts on a new, empty volume; the old one is kept (delete it with kubectl delete pvc -n %s %s once you no longer need its data)",
				v.Claim, modeName(v.StatefulSet), t.Namespace, v.Claim)
		case err != nil:
			r.Err = fmt.Errorf("PVC %s requests %q, which is not a quantity: %w", v.Claim, v.Requested, err)
		case want.Cmp(have) < 0:
			r.Err = fmt.Errorf("PVC %s holds %s and Kubernetes never shrinks a claim; keep --storage-size %s, or start over with uninstall --delete-data", v.Claim, have.String(), have.String())
		case want.Cmp(have) > 0 && o.StatefulSet:
			r.Err = fmt.Errorf("PVC %s already holds %s and the StatefulSet takes it as it is (a claim template never resizes existing claims, and cannot itself be changed); keep --storage-size %s, resize the PVC by hand if its class allows expansion, or start over with uninstall --delete-data", v.Claim, have.String(), have.String())
		case want.Cmp(have) > 0:
			r.Err = checkExpansion(ctx, t, v, have)
		}
		results = append(results, r)
	}
	return results
}

func modeName(statefulSet bool) string {
	if statefulSet {
		return "StatefulSet"
	}
	return "Deployment"
}

func checkExpansion(ctx context.Context, t *Target, v Volume, have resource.Quantity) error {
	if v.StorageClass == "" {
		return fmt.Errorf("PVC %s holds %s and has no storage class that could expand it; keep --storage-size %s", v.Claim, have.String(), have.String())
	}
	sc, err := t.Kube.StorageV1().StorageClasses().Get(ctx, v.StorageClass, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("reading StorageClass %s of PVC %s to see whether it can grow: %w", v.StorageClass, v.Claim, err)
	}
	if sc.AllowVolumeExpansion == nil || !*sc.AllowVolumeExpansion {
		return fmt.Errorf("PVC %s holds %s and its storage class %s does not allow volume expansion; keep --storage-size %s, or start over on a bigger volume with uninstall --delete-data", v.Claim, have.String(), v.StorageClass, have.String())
	}
	return nil
}

func checkPending(t *Target, repair bool) PreflightResult {
	r := PreflightResult{Description: "release " + t.Release + " is not stuck in a pending state"}
	p, err := Pending(t)
	switch {
	case apierrors.IsForbidden(err):
		r.Err = fmt.Errorf("you may not list Secrets in namespace %s, where Helm keeps its release records (%v); meshmon needs list on secrets there", t.Namespace, err)
	case err != nil:
		r.Err = err
	case p != nil && repair:
		r.Note = fmt.Sprintf("stuck in %s at revision %d; --repair will %s", p.Status, p.Revision, p.Remedy())
	case p != nil:
		r.Err = p
	}
	return r
}

func checkAccess(ctx context.Context, t *Target, o PreflightOptions) []PreflightResult {
	ac := kube.NewAccessChecker(t.Kube)
	access, err := ChartAccess(ctx, o.Manifest, t.Namespace, o.Mapper)
	if err != nil {
		return []PreflightResult{{Description: "can create the chart's objects", Err: err}}
	}
	access = append(access, o.Extra...)
	roles, err := manifestClusterRoles(o.Manifest)
	if err != nil {
		return []PreflightResult{{Description: "can create the chart's objects", Err: err}}
	}
	results := make([]PreflightResult, len(access)+len(roles))
	var wg sync.WaitGroup
	for i, a := range access {
		wg.Go(func() {
			results[i] = PreflightResult{Description: a.Description(), Err: ac.Check(ctx, a)}
		})
	}
	for i, role := range roles {
		wg.Go(func() {
			results[len(access)+i] = PreflightResult{
				Description: "can grant ClusterRole " + role.Name + "'s permissions to Prometheus",
				Err:         ac.CheckGrant(ctx, role),
			}
		})
	}
	wg.Wait()
	return results
}

// apiHost is the API server's address as the client dials it ("" when the client has no
// REST client, as fakes do).
func apiHost(kc kubernetes.Interface) string {
	rc := kc.Discovery().RESTClient()
	if rc == nil {
		return ""
	}
	if u := rc.Get().URL(); u != nil {
		return u.Host
	}
	return ""
}
