package checks

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/meshmon/meshmon/pkg/healthcheck"
	"github.com/meshmon/meshmon/pkg/kube"
	"github.com/meshmon/meshmon/pkg/linkerd"
	"github.com/meshmon/meshmon/pkg/policy"
	"github.com/meshmon/meshmon/pkg/prom"
)

// policyState is what the policy checks share: the objects meshmon would
// build, how the cluster compares, and the Servers next to Prometheus.
type policyState struct {
	spec    policy.Spec
	status  policy.Status
	servers []unstructured.Unstructured
	// resources are the policy.linkerd.io resources the checks list, as pkg/policy resolves them.
	resources map[string]schema.GroupVersionResource
	// identity is the mesh identity Prometheus runs as.
	identity string
}

func (e *Env) policyState(ctx context.Context) (*policyState, error) {
	return e.policy.get(ctx, func(ctx context.Context) (*policyState, error) {
		// Prometheus may live outside the viz namespace (-n); its policy
		// objects live with it, metrics-api stays in viz.
		c, err := e.Clients(ctx)
		if err != nil {
			return nil, err
		}
		if c.Dynamic == nil {
			return nil, errors.New("no dynamic Kubernetes client configured")
		}
		s, err := e.Server(ctx)
		if err != nil {
			return nil, err
		}
		p, err := e.linkerdParams(ctx)
		if err != nil {
			return nil, err
		}
		port := int32(defaultListenPort)
		if w, err := e.serverWorkload(ctx); err == nil {
			if pc, ok := promContainer(w); ok {
				port = listenPort(pc)
			}
		}
		podLabels := s.SelectorLabels
		if len(podLabels) == 0 {
			podLabels = s.PodLabels
		}
		viz, err := e.vizNamespace(ctx)
		if err != nil {
			return nil, err
		}
		spec := policy.Spec{
			VizNamespace: viz, PrometheusNamespace: s.Namespace, LinkerdNamespace: p.LinkerdNamespace, TrustDomain: p.TrustDomain,
			ServerPodLabels: podLabels, Port: int(port), PrometheusServiceAccount: s.ServiceAccount,
		}
		objs, err := policy.Build(spec)
		if err != nil {
			return nil, err
		}
		pc := policy.Clients{Dynamic: c.Dynamic, Kube: c.Kube}
		st, err := policy.Show(ctx, pc, objs)
		if err != nil {
			return nil, err
		}
		resources, err := policy.Resources(ctx, pc, policy.KindServer, policy.KindAuthorizationPolicy)
		if err != nil {
			return nil, err
		}
		servers := resources[policy.KindServer]
		list, err := c.Dynamic.Resource(servers).Namespace(s.Namespace).List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, kube.ExplainAPIError("list", kube.ResourceName(servers), s.Namespace, "", err)
		}
		return &policyState{
			spec: spec, status: st, servers: list.Items, resources: resources,
			identity: linkerd.Identity(s.ServiceAccount, s.Namespace, p.LinkerdNamespace, p.TrustDomain),
		}, nil
	})
}

// Policy checks the mesh authorization around Prometheus, first as objects,
// then as the proxy saw it.
func Policy(e *Env) healthcheck.Category {
	return healthcheck.Category{
		Name: CategoryPolicy,
		Checks: []healthcheck.Check{
			{
				ID:          idPolicyAPI,
				Description: "Linkerd policy resources can be read",
				HintAnchor:  "mm-policy-api",
				Fatal:       true,
				Needs:       []string{idServer, idLinkerdConfig, idViz},
				Run: func(ctx context.Context) error {
					_, err := e.policyState(ctx)
					return err
				},
			},
			{
				Description: "authorization policy objects are present",
				HintAnchor:  "mm-policy-objects",
				Needs:       []string{idPolicyAPI},
				Run:         e.checkPolicyObjects,
			},
			{
				Description: "Server selects the Prometheus pods and port",
				HintAnchor:  "mm-policy-server",
				Needs:       []string{idPolicyAPI, idServerReady},
				Run:         e.checkPolicyServer,
			},
			{
				Description: "no other Server claims the Prometheus port",
				HintAnchor:  "mm-policy-overlap",
				Needs:       []string{idPolicyAPI, idServerReady},
				Run:         e.checkPolicyOverlap,
			},
			{
				Description: "authorized ServiceAccounts exist",
				HintAnchor:  "mm-policy-service-accounts",
				Needs:       []string{idPolicyAPI},
				Run:         e.checkPolicyServiceAccounts,
			},
			{
				Description: "MeshTLSAuthentication names Prometheus' identity",
				HintAnchor:  "mm-policy-identity",
				Needs:       []string{idPolicyAPI},
				Run:         e.checkPolicyIdentity,
			},
			{
				Description: "Prometheus' proxy authorizes metrics-api",
				HintAnchor:  "mm-authz-allowed",
				Needs:       []string{idPolicyAPI, idPromReady},
				Run:         e.checkAuthzAllowed,
			},
			{
				Description: "Prometheus' proxy denies no client",
				HintAnchor:  "mm-authz-denied",
				Warning:     true,
				Needs:       []string{idPolicyAPI, idPromReady},
				Run:         e.checkAuthzDenied,
			},
		},
	}
}

func (e *Env) checkPolicyObjects(ctx context.Context) error {
	ps, err := e.policyState(ctx)
	if err != nil {
		return err
	}
	var bad, foreign []string
	for _, o := range ps.status.Objects {
		name := fmt.Sprintf("%s %s/%s", o.Kind, o.Namespace, o.Name)
		switch o.State {
		case policy.StateMissing:
			bad = append(bad, name+" is missing")
		case policy.StateDrifted:
			// Extra identities in meshmon's MeshTLSAuthentication come from
			// install options this check cannot know; the identity check
			// judges what matters there.
			if o.Kind == policy.KindMeshTLSAuthentication {
				continue
			}
			bad = append(bad, name+" differs: "+strings.Join(o.Differences, "; "))
		case policy.StateUnmanaged:
			foreign = append(foreign, name+" exists but was not made by meshmon")
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("Prometheus' authorization is incomplete, so it is either unprotected or refuses metrics-api; run meshmon policy apply:%s", allBullets(bad))
	}
	if len(foreign) > 0 {
		return healthcheck.Warn(fmt.Errorf("objects with meshmon's names were made by someone else; meshmon leaves them alone, so make sure they do what meshmon's would (or delete them and run meshmon policy apply):%s", allBullets(foreign)))
	}
	return nil
}

// serverPodsAndContainer returns the live Prometheus pods and its container.
func (e *Env) serverPodsAndContainer(ctx context.Context) ([]corev1.Pod, *corev1.Container, error) {
	pods, err := e.ServerPods(ctx)
	if err != nil {
		return nil, nil, err
	}
	w, err := e.serverWorkload(ctx)
	if err != nil {
		return nil, nil, err
	}
	pc, ok := promContainer(w)
	if !ok {
		return nil, nil, fmt.Errorf("%s %s has no recognisable Prometheus container", w.Kind, w.Name)
	}
	var live []corev1.Pod
	for _, p := range pods {
		if p.DeletionTimestamp == nil {
			live = append(live, p)
		}
	}
	return live, pc, nil
}

// serverTarget is what a policy.linkerd.io Server selects.
type serverTarget struct {
	obj      *unstructured.Unstructured
	selector labels.Selector
	port     intstr.IntOrString
}

func readServer(obj *unstructured.Unstructured) (serverTarget, error) {
	t := serverTarget{obj: obj}
	raw, found, _ := unstructured.NestedMap(obj.Object, "spec", "podSelector")
	if !found {
		return t, fmt.Errorf("Server %s/%s has no podSelector (it selects external workloads), so it cannot protect a pod", obj.GetNamespace(), obj.GetName())
	}
	var ls metav1.LabelSelector
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(raw, &ls); err != nil {
		return t, fmt.Errorf("Server %s/%s has an unreadable podSelector: %w", obj.GetNamespace(), obj.GetName(), err)
	}
	sel, err := metav1.LabelSelectorAsSelector(&ls)
	if err != nil {
		return t, fmt.Errorf("Server %s/%s has an invalid podSelector: %w", obj.GetNamespace(), obj.GetName(), err)
	}
	t.selector = sel
	switch p := obj.Object["spec"].(map[string]any)["port"].(type) {
	case string:
		t.port = intstr.FromString(p)
	case int64:
		t.port = intstr.FromInt32(int32(p))
	case float64:
		t.port = intstr.FromInt32(int32(p))
	default:
		return t, fmt.Errorf("Server %s/%s has no port", obj.GetNamespace(), obj.GetName())
	}
	return t, nil
}

// portNumber resolves a Server port on a pod: a name must be a declared
// container port; a number is taken as is.
func portNumber(p intstr.IntOrString, pod *corev1.Pod) (int32, bool) {
	if p.Type == intstr.Int {
		return p.IntVal, true
	}
	for _, c := range append(slices.Clone(pod.Spec.Containers), pod.Spec.InitContainers...) {
		for _, cp := range c.Ports {
			if cp.Name == p.StrVal {
				return cp.ContainerPort, true
			}
		}
	}
	return 0, false
}

func (e *Env) checkPolicyServer(ctx context.Context) error {
	ps, err := e.policyState(ctx)
	if err != nil {
		return err
	}
	pods, pc, err := e.serverPodsAndContainer(ctx)
	if err != nil {
		return err
	}
	var mine *unstructured.Unstructured
	for i := range ps.servers {
		if ps.servers[i].GetName() == policy.ServerName {
			mine = &ps.servers[i]
		}
	}
	if mine == nil {
		return fmt.Errorf("Server %s/%s is missing; run meshmon policy apply", ps.spec.PrometheusNamespace, policy.ServerName)
	}
	t, err := readServer(mine)
	if err != nil {
		return err
	}
	listen := listenPort(pc)
	var problems []string
	for i := range pods {
		p := &pods[i]
		if !t.selector.Matches(labels.Set(p.Labels)) {
			problems = append(problems, fmt.Sprintf("its podSelector (%s) does not select pod %s", t.selector, p.Name))
			continue
		}
		n, ok := portNumber(t.port, p)
		switch {
		case !ok:
			problems = append(problems, fmt.Sprintf("port %q is not a port of pod %s", t.port.String(), p.Name))
		case n != listen:
			problems = append(problems, fmt.Sprintf("port %s is %d on pod %s, but Prometheus listens on %d", t.port.String(), n, p.Name, listen))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("Server %s/%s does not cover Prometheus, so its access policy protects nothing; run meshmon policy apply:%s", mine.GetNamespace(), mine.GetName(), bullets(problems))
	}
	return nil
}

func (e *Env) checkPolicyOverlap(ctx context.Context) error {
	ps, err := e.policyState(ctx)
	if err != nil {
		return err
	}
	pods, pc, err := e.serverPodsAndContainer(ctx)
	if err != nil {
		return err
	}
	listen := listenPort(pc)
	var claiming []*unstructured.Unstructured
	for i := range ps.servers {
		obj := &ps.servers[i]
		t, err := readServer(obj)
		if err != nil {
			continue
		}
		for j := range pods {
			p := &pods[j]
			if n, ok := portNumber(t.port, p); ok && n == listen && t.selector.Matches(labels.Set(p.Labels)) {
				claiming = append(claiming, obj)
				break
			}
		}
	}
	if len(claiming) < 2 {
		return nil
	}
	// Linkerd's policy controller applies the oldest Server (then the first
	// by name) to a port that several select.
	slices.SortFunc(claiming, func(a, b *unstructured.Unstructured) int {
		return cmp.Or(a.GetCreationTimestamp().Compare(b.GetCreationTimestamp().Time), strings.Compare(a.GetName(), b.GetName()))
	})
	winner := claiming[0]
	var others []string
	for _, o := range claiming[1:] {
		others = append(others, o.GetName())
	}
	if winner.GetName() == policy.ServerName {
		return healthcheck.Warn(fmt.Errorf("Server %s also %s port %d of the Prometheus pods; Linkerd applies only the oldest Server (%s), so %s no effect: delete %s",
			strings.Join(others, ", "), plural(len(others), "selects", "select"), listen, winner.GetName(), plural(len(others), "it has", "they have"), plural(len(others), "it", "them")))
	}
	return fmt.Errorf("Server %s (created %s) is older than %s and selects the same port %d of the Prometheus pods; Linkerd applies only the oldest, so meshmon's policy is not in effect: delete %s or change its podSelector",
		winner.GetName(), winner.GetCreationTimestamp().UTC().Format("2006-01-02 15:04:05 UTC"), policy.ServerName, listen, winner.GetName())
}

func (e *Env) checkPolicyServiceAccounts(ctx context.Context) error {
	c, err := e.Clients(ctx)
	if err != nil {
		return err
	}
	ps, err := e.policyState(ctx)
	if err != nil {
		return err
	}
	ns := ps.spec.PrometheusNamespace
	authorizations := ps.resources[policy.KindAuthorizationPolicy]
	list, err := c.Dynamic.Resource(authorizations).Namespace(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return kube.ExplainAPIError("list", kube.ResourceName(authorizations), ns, "", err)
	}
	type saRef struct{ ns, name, by string }
	var refs []saRef
	for _, ap := range list.Items {
		kind, _, _ := unstructured.NestedString(ap.Object, "spec", "targetRef", "kind")
		name, _, _ := unstructured.NestedString(ap.Object, "spec", "targetRef", "name")
		if kind != policy.KindServer || name != policy.ServerName {
			continue
		}
		authn, _, _ := unstructured.NestedSlice(ap.Object, "spec", "requiredAuthenticationRefs")
		for _, r := range authn {
			m, _ := r.(map[string]any)
			if k, _ := m["kind"].(string); k != "ServiceAccount" {
				continue
			}
			ref := saRef{ns: ap.GetNamespace(), by: ap.GetName()}
			ref.name, _ = m["name"].(string)
			if n, _ := m["namespace"].(string); n != "" {
				ref.ns = n
			}
			refs = append(refs, ref)
		}
	}
	var missing []string
	for _, r := range refs {
		_, err := c.Kube.CoreV1().ServiceAccounts(r.ns).Get(ctx, r.name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			missing = append(missing, fmt.Sprintf("ServiceAccount %s/%s (authorized by %s)", r.ns, r.name, r.by))
		case err != nil:
			return kube.ExplainAPIError("get", "serviceaccounts", r.ns, r.name, err)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("AuthorizationPolicies name ServiceAccounts that do not exist, so the clients they stand for are refused (a typo, or the client runs as another ServiceAccount); fix the names with meshmon policy apply --allow-client <namespace>/<serviceaccount>:%s", bullets(missing))
	}
	return nil
}

// identityMatches follows Linkerd: "*" matches everything, "*.suffix" any
// identity ending in ".suffix", anything else only itself.
func identityMatches(pattern, id string) bool {
	switch {
	case pattern == id || pattern == "*":
		return true
	case strings.HasPrefix(pattern, "*."):
		return strings.HasSuffix(id, pattern[1:])
	}
	return false
}

func (e *Env) checkPolicyIdentity(ctx context.Context) error {
	ps, err := e.policyState(ctx)
	if err != nil {
		return err
	}
	mt := ps.status.MeshTLSAuthentication
	if mt == nil || !mt.Exists {
		return fmt.Errorf("MeshTLSAuthentication %s/%s is missing, so proxies that deny unauthenticated clients refuse Prometheus' scrapes; run meshmon policy apply", ps.spec.PrometheusNamespace, policy.DefaultMTLSAuthenticationName)
	}
	for _, id := range mt.Identities {
		if identityMatches(id, ps.identity) {
			return nil
		}
	}
	return fmt.Errorf("MeshTLSAuthentication %s/%s does not name %s, the identity Prometheus runs with (its ServiceAccount %s and the trust domain %s), so proxies that deny unauthenticated clients refuse its scrapes; run meshmon policy apply. It names:%s",
		mt.Namespace, mt.Name, ps.identity, ps.spec.PrometheusServiceAccount, ps.spec.TrustDomain, bullets(mt.Identities))
}

// authzSummary reads the authorization counters of meshmon's Server.
func (e *Env) authzSummary(ctx context.Context) (prom.ServerAuthz, error) {
	return e.authz.get(ctx, func(ctx context.Context) (prom.ServerAuthz, error) {
		ps, err := e.policyState(ctx)
		if err != nil {
			return prom.ServerAuthz{}, err
		}
		pc, err := e.Prometheus(ctx)
		if err != nil {
			return prom.ServerAuthz{}, err
		}
		ns := ps.spec.PrometheusNamespace
		sum, err := pc.AuthzCounters(ctx, prom.AuthzQuery{Selector: fmt.Sprintf("namespace=%q, srv_name=%q", ns, policy.ServerName)})
		if err != nil {
			return prom.ServerAuthz{}, e.promErr(err)
		}
		s, _ := sum.Server(ns, policy.ServerName)
		return s, nil
	})
}

func metricsAPIIdentity(ps *policyState) string {
	return linkerd.Identity(policy.DefaultMetricsAPIServiceAccount, ps.spec.VizNamespace, ps.spec.LinkerdNamespace, ps.spec.TrustDomain)
}

func (e *Env) checkAuthzAllowed(ctx context.Context) error {
	ps, err := e.policyState(ctx)
	if err != nil {
		return err
	}
	s, err := e.authzSummary(ctx)
	if err != nil {
		return err
	}
	id := metricsAPIIdentity(ps)
	if s.AllowedFor(id) > 0 {
		return nil
	}
	var denied float64
	for _, d := range s.Denied {
		if d.ClientID == id {
			denied += d.Requests
		}
	}
	if denied > 0 {
		return fmt.Errorf("Prometheus' proxy denied %.0f requests from metrics-api (%s) and allowed none, so the dashboards are empty; the AuthorizationPolicy %s must name metrics-api's ServiceAccount: run meshmon policy apply",
			denied, id, policy.AdminAuthorizationName)
	}
	return healthcheck.Warn(fmt.Errorf("no request from metrics-api (%s) to Prometheus has been authorized since its proxy started: either nobody used the dashboards yet, or Prometheus' own proxy metrics are not scraped (see the targets checks); open the dashboard and check again", id))
}

func (e *Env) checkAuthzDenied(ctx context.Context) error {
	s, err := e.authzSummary(ctx)
	if err != nil {
		return err
	}
	denied := s.DeniedClients()
	if len(denied) == 0 {
		return nil
	}
	return fmt.Errorf("Prometheus' proxy denied requests from %d %s; authorize those that should reach Prometheus with meshmon policy apply --allow-client <namespace>/<serviceaccount> (from outside the mesh, such as federation: --allow-federate-from <CIDR>):%s",
		len(denied), plural(len(denied), "client", "clients"), bullets(denied))
}
