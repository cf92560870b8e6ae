package checks

import (
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
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/meshmon/meshmon/pkg/healthcheck"
	"github.com/meshmon/meshmon/pkg/kube"
)

// prometheus-operator's API.
const operatorGroupVersion = "monitoring.coreos.com/v1"

var (
	serviceMonitorsGVR = schema.GroupVersionResource{Group: "monitoring.coreos.com", Version: "v1", Resource: "servicemonitors"}
	prometheusesGVR    = schema.GroupVersionResource{Group: "monitoring.coreos.com", Version: "v1", Resource: "prometheuses"}
)

// smEndpoint is one endpoint of a ServiceMonitor and the Services it selects.
type smEndpoint struct {
	monitor  string // namespace/name
	index    int
	port     string
	target   *intstr.IntOrString
	scheme   string
	path     string
	matchers []string
	honor    bool
	services []*corev1.Service
}

func (p smEndpoint) String() string {
	return fmt.Sprintf("ServiceMonitor %s endpoint %d", p.monitor, p.index)
}

type operatorState struct {
	served      bool
	monitors    []unstructured.Unstructured
	endpoints   []smEndpoint
	prometheus  []unstructured.Unstructured
	selectsNone []string
	// pods holds one pod per selected Service (by namespace/name), nil for
	// Services without selector or without pods.
	pods map[string]*corev1.Pod
}

func (e *Env) operatorState(ctx context.Context) (*operatorState, error) {
	return e.operator.get(ctx, func(ctx context.Context) (*operatorState, error) {
		c, err := e.Clients(ctx)
		if err != nil {
			return nil, err
		}
		_, err = discovery.ToDiscoveryInterfaceWithContext(c.Kube.Discovery()).ServerResourcesForGroupVersionWithContext(ctx, operatorGroupVersion)
		switch {
		case apierrors.IsNotFound(err):
			return &operatorState{}, nil
		case err != nil:
			return nil, fmt.Errorf("discovering %s: %w", operatorGroupVersion, err)
		}
		if c.Dynamic == nil {
			return nil, errors.New("no dynamic Kubernetes client configured")
		}
		st := &operatorState{served: true, pods: map[string]*corev1.Pod{}}
		sms, err := c.Dynamic.Resource(serviceMonitorsGVR).List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, kube.ExplainAPIError("list", "servicemonitors.monitoring.coreos.com", "", "", err)
		}
		st.monitors = sms.Items
		proms, err := c.Dynamic.Resource(prometheusesGVR).List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, kube.ExplainAPIError("list", "prometheuses.monitoring.coreos.com", "", "", err)
		}
		st.prometheus = proms.Items
		for i := range st.monitors {
			if err := e.resolveMonitor(ctx, c.Kube, st, &st.monitors[i]); err != nil {
				return nil, err
			}
		}
		return st, nil
	})
}

// resolveMonitor reads a ServiceMonitor's endpoints and finds the Services
// (and one pod of each) it selects: one list per namespace it watches.
func (e *Env) resolveMonitor(ctx context.Context, kc kubernetes.Interface, st *operatorState, sm *unstructured.Unstructured) error {
	name := sm.GetNamespace() + "/" + sm.GetName()
	var ls metav1.LabelSelector
	if raw, ok, _ := unstructured.NestedMap(sm.Object, "spec", "selector"); ok {
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(raw, &ls); err != nil {
			return fmt.Errorf("ServiceMonitor %s has an unreadable selector: %w", name, err)
		}
	}
	sel, err := metav1.LabelSelectorAsSelector(&ls)
	if err != nil {
		return fmt.Errorf("ServiceMonitor %s has an invalid selector: %w", name, err)
	}
	namespaces := []string{sm.GetNamespace()}
	if anyNS, _, _ := unstructured.NestedBool(sm.Object, "spec", "namespaceSelector", "any"); anyNS {
		namespaces = []string{metav1.NamespaceAll}
	} else if names, ok, _ := unstructured.NestedStringSlice(sm.Object, "spec", "namespaceSelector", "matchNames"); ok && len(names) > 0 {
		namespaces = names
	}
	var svcs []*corev1.Service
	for _, ns := range namespaces {
		list, err := kc.CoreV1().Services(ns).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
		if err != nil {
			return kube.ExplainAPIError("list", "services", ns, "", err)
		}
		for i := range list.Items {
			svcs = append(svcs, &list.Items[i])
		}
	}
	if len(svcs) == 0 {
		st.selectsNone = append(st.selectsNone, fmt.Sprintf("ServiceMonitor %s selects no Service (selector %s in %s)", name, sel, strings.Join(nsNames(namespaces), ", ")))
	}
	for _, svc := range svcs {
		key := svc.Namespace + "/" + svc.Name
		if _, done := st.pods[key]; done || len(svc.Spec.Selector) == 0 {
			continue
		}
		// One pod tells which ports the Service's pods declare.
		pods, err := kc.CoreV1().Pods(svc.Namespace).List(ctx, metav1.ListOptions{LabelSelector: labels.SelectorFromSet(svc.Spec.Selector).String(), Limit: 1})
		if err != nil {
			return kube.ExplainAPIError("list", "pods", svc.Namespace, "", err)
		}
		st.pods[key] = nil
		if len(pods.Items) > 0 {
			st.pods[key] = &pods.Items[0]
		}
	}
	eps, _, _ := unstructured.NestedSlice(sm.Object, "spec", "endpoints")
	for i, raw := range eps {
		m, _ := raw.(map[string]any)
		ep := smEndpoint{monitor: name, index: i, services: svcs, scheme: "http", path: "/metrics"}
		ep.port, _ = m["port"].(string)
		switch t := m["targetPort"].(type) {
		case string:
			v := intstr.FromString(t)
			ep.target = &v
		case int64:
			v := intstr.FromInt32(int32(t))
			ep.target = &v
		}
		if s, _ := m["scheme"].(string); s != "" {
			ep.scheme = strings.ToLower(s)
		}
		if p, _ := m["path"].(string); p != "" {
			ep.path = p
		}
		ep.honor, _ = m["honorLabels"].(bool)
		if params, ok := m["params"].(map[string]any); ok {
			if list, ok := params["match[]"].([]any); ok {
				for _, v := range list {
					if s, ok := v.(string); ok && s != "" {
						ep.matchers = append(ep.matchers, s)
					}
				}
			}
		}
		st.endpoints = append(st.endpoints, ep)
	}
	return nil
}

func nsNames(ns []string) []string {
	out := slices.Clone(ns)
	for i, n := range out {
		if n == metav1.NamespaceAll {
			out[i] = "all namespaces"
		}
	}
	return out
}

// PrometheusOperator checks prometheus-operator objects against the traps
// that make their targets silently disappear. It is skipped when the
// operator's CRDs are not installed.
func PrometheusOperator(e *Env) healthcheck.Category {
	return healthcheck.Category{
		Name: CategoryPrometheusOperator,
		Checks: []healthcheck.Check{
			{
				ID:          idOperatorCRDs,
				Description: "prometheus-operator CRDs are installed",
				HintAnchor:  "mm-operator-crds",
				Fatal:       true,
				Needs:       []string{idAPI},
				Run: func(ctx context.Context) error {
					st, err := e.operatorState(ctx)
					if err != nil {
						return err
					}
					if !st.served {
						return healthcheck.Skip("prometheus-operator is not installed")
					}
					return nil
				},
			},
			{
				Description: "ServiceMonitors name existing Service ports",
				HintAnchor:  "mm-servicemonitor-ports",
				Needs:       []string{idOperatorCRDs},
				Run:         e.checkMonitorPorts,
			},
			{
				Description: "Service target ports resolve to container ports",
				HintAnchor:  "mm-servicemonitor-target-ports",
				Needs:       []string{idOperatorCRDs},
				Run:         e.checkMonitorTargetPorts,
			},
			{
				Description: "ServiceMonitor schemes match their ports",
				HintAnchor:  "mm-servicemonitor-scheme",
				Needs:       []string{idOperatorCRDs},
				Run:         e.checkMonitorSchemes,
			},
			{
				Description: "Prometheus resources keep data on a volume",
				HintAnchor:  "mm-prometheus-storage",
				Needs:       []string{idOperatorCRDs},
				Run:         e.checkPrometheusStorage,
			},
			{
				Description: "federation ServiceMonitors ask /federate with match[]",
				HintAnchor:  "mm-federation-servicemonitors",
				Needs:       []string{idOperatorCRDs},
				Run:         e.checkFederationMonitors,
			},
			{
				Description: "selector-less Services have matching Endpoints",
				HintAnchor:  "mm-external-endpoints",
				Needs:       []string{idOperatorCRDs},
				Run:         e.checkExternalEndpoints,
			},
		},
	}
}

// servicePort finds a Service port by name.
func servicePort(svc *corev1.Service, name string) (*corev1.ServicePort, bool) {
	for i := range svc.Spec.Ports {
		if svc.Spec.Ports[i].Name == name {
			return &svc.Spec.Ports[i], true
		}
	}
	return nil, false
}

func portNames(svc *corev1.Service) string {
	var names []string
	for _, p := range svc.Spec.Ports {
		if p.Name == "" {
			names = append(names, fmt.Sprintf("%d (unnamed)", p.Port))
		} else {
			names = append(names, p.Name)
		}
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

func (e *Env) checkMonitorPorts(ctx context.Context) error {
	st, err := e.operatorState(ctx)
	if err != nil {
		return err
	}
	problems := slices.Clone(st.selectsNone)
	for _, ep := range st.endpoints {
		if ep.port == "" {
			if ep.target == nil {
				problems = append(problems, ep.String()+" names no port")
			}
			continue
		}
		for _, svc := range ep.services {
			if _, ok := servicePort(svc, ep.port); !ok {
				problems = append(problems, fmt.Sprintf("%s asks for port %q, but Service %s/%s has ports: %s", ep, ep.port, svc.Namespace, svc.Name, portNames(svc)))
			}
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("ServiceMonitors point at ports that do not exist, so the operator generates no target for them and their metrics silently go missing; make each endpoint's port the name of a Service port:%s", bullets(problems))
	}
	return nil
}

func (e *Env) checkMonitorTargetPorts(ctx context.Context) error {
	st, err := e.operatorState(ctx)
	if err != nil {
		return err
	}
	var problems []string
	seen := map[string]bool{}
	for _, ep := range st.endpoints {
		for _, svc := range ep.services {
			sp, ok := servicePort(svc, ep.port)
			if !ok || sp.TargetPort.Type != intstr.String {
				continue
			}
			key := svc.Namespace + "/" + svc.Name + "/" + sp.Name
			pod := st.pods[svc.Namespace+"/"+svc.Name]
			if seen[key] || pod == nil {
				continue
			}
			seen[key] = true
			if _, ok := portNumber(sp.TargetPort, pod); !ok {
				problems = append(problems, fmt.Sprintf("Service %s/%s port %s targets %q, which no container of pod %s declares", svc.Namespace, svc.Name, sp.Name, sp.TargetPort.StrVal, pod.Name))
			}
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("Service ports target container ports that do not exist, so the Services have no endpoints for them; name the container port like the targetPort (or use its number):%s", bullets(problems))
	}
	return nil
}

// portProtocol says what a port speaks, judged by its name and appProtocol:
// "https", "http" or "" when they do not tell.
func portProtocol(sp *corev1.ServicePort) string {
	hint := strings.ToLower(sp.Name)
	if sp.AppProtocol != nil {
		hint = strings.ToLower(*sp.AppProtocol)
	}
	switch {
	case hint == "https" || strings.HasPrefix(hint, "https-") || strings.HasSuffix(hint, "-https") || hint == "tls":
		return "https"
	case hint == "http" || strings.HasPrefix(hint, "http-") || strings.HasSuffix(hint, "-http") || hint == "kubernetes.io/h2c" || hint == "h2c":
		return "http"
	}
	return ""
}

func (e *Env) checkMonitorSchemes(ctx context.Context) error {
	st, err := e.operatorState(ctx)
	if err != nil {
		return err
	}
	var tlsOnPlain, plainOnTLS []string
	for _, ep := range st.endpoints {
		for _, svc := range ep.services {
			sp, ok := servicePort(svc, ep.port)
			if !ok {
				continue
			}
			switch proto := portProtocol(sp); {
			case ep.scheme == "https" && proto == "http":
				tlsOnPlain = append(tlsOnPlain, fmt.Sprintf("%s uses scheme https on Service %s/%s port %s, a plain-HTTP port", ep, svc.Namespace, svc.Name, sp.Name))
			case ep.scheme == "http" && proto == "https":
				plainOnTLS = append(plainOnTLS, fmt.Sprintf("%s uses scheme http on Service %s/%s port %s, a TLS port", ep, svc.Namespace, svc.Name, sp.Name))
			}
		}
	}
	if len(tlsOnPlain) > 0 {
		return fmt.Errorf("ServiceMonitors speak TLS to plain-HTTP ports, so every scrape fails with a TLS handshake error; set scheme: http (the port name, not the scheme, is what was renamed):%s", bullets(tlsOnPlain))
	}
	if len(plainOnTLS) > 0 {
		return healthcheck.Warn(fmt.Errorf("ServiceMonitors speak plain HTTP to ports named for TLS; if the port really serves TLS, set scheme: https with a tlsConfig:%s", bullets(plainOnTLS)))
	}
	return nil
}

func (e *Env) checkPrometheusStorage(ctx context.Context) error {
	st, err := e.operatorState(ctx)
	if err != nil {
		return err
	}
	var noVolume []string
	for _, p := range st.prometheus {
		if _, ok, _ := unstructured.NestedMap(p.Object, "spec", "storage", "volumeClaimTemplate"); !ok {
			noVolume = append(noVolume, p.GetNamespace()+"/"+p.GetName())
		}
	}
	if len(noVolume) > 0 {
		return fmt.Errorf("Prometheus resources without spec.storage.volumeClaimTemplate keep their data in an emptyDir and lose it whenever their pod restarts; add a volumeClaimTemplate:%s", bullets(noVolume))
	}
	return nil
}

func (e *Env) checkFederationMonitors(ctx context.Context) error {
	st, err := e.operatorState(ctx)
	if err != nil {
		return err
	}
	var problems []string
	for _, ep := range st.endpoints {
		fed := strings.TrimRight(ep.path, "/") == "/federate"
		switch {
		case fed && len(ep.matchers) == 0:
			problems = append(problems, ep.String()+" scrapes /federate without params.match[], which Prometheus answers with an error")
		case !fed && len(ep.matchers) > 0:
			problems = append(problems, fmt.Sprintf("%s passes match[] but scrapes %s, not /federate, so it collects the remote Prometheus' own metrics only", ep, ep.path))
		case fed && !ep.honor:
			problems = append(problems, ep.String()+" federates without honorLabels: true, so the federated job and instance labels are overwritten")
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("federation ServiceMonitors are misconfigured, so the other cluster's series are missing or mislabelled; a federation endpoint needs path: /federate, params: {match[]: [...]} and honorLabels: true:%s", bullets(problems))
	}
	return nil
}

// quietKube is a client that drops API warnings: reading core/v1
// Endpoints, deprecated since Kubernetes 1.33, would print one per request.
func (e *Env) quietKube(ctx context.Context) (kubernetes.Interface, error) {
	c, err := e.Clients(ctx)
	if err != nil {
		return nil, err
	}
	if c.Config == nil {
		return c.Kube, nil
	}
	cfg := rest.CopyConfig(c.Config)
	cfg.WarningHandler = rest.NoWarnings{}
	cfg.WarningHandlerWithContext = nil
	return kubernetes.NewForConfig(cfg)
}

func (e *Env) checkExternalEndpoints(ctx context.Context) error {
	st, err := e.operatorState(ctx)
	if err != nil {
		return err
	}
	kc, err := e.quietKube(ctx)
	if err != nil {
		return err
	}
	var problems []string
	seen := map[string]bool{}
	for _, ep := range st.endpoints {
		for _, svc := range ep.services {
			if len(svc.Spec.Selector) > 0 && svc.Spec.Type != corev1.ServiceTypeExternalName {
				continue
			}
			key := svc.Namespace + "/" + svc.Name + "/" + ep.port
			if seen[key] {
				continue
			}
			seen[key] = true
			eps, err := kc.CoreV1().Endpoints(svc.Namespace).Get(ctx, svc.Name, metav1.GetOptions{})
			switch {
			case apierrors.IsNotFound(err):
				problems = append(problems, fmt.Sprintf("Service %s/%s has no selector and no Endpoints named %s, so %s finds no target", svc.Namespace, svc.Name, svc.Name, ep))
				continue
			case err != nil:
				return kube.ExplainAPIError("get", "endpoints", svc.Namespace, svc.Name, err)
			}
			if ep.port == "" {
				continue
			}
			var names []string
			found := false
			for _, sub := range eps.Subsets {
				for _, p := range sub.Ports {
					names = append(names, p.Name)
					found = found || p.Name == ep.port
				}
			}
			if !found {
				problems = append(problems, fmt.Sprintf("Endpoints %s/%s name their ports %s, not %q as Service %s and %s do", svc.Namespace, svc.Name, orNoneList(names), ep.port, svc.Name, ep))
			}
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("Services without a selector only get targets from an Endpoints object of the same name whose port names match the Service's; fix the names:%s", bullets(problems))
	}
	return nil
}

func orNoneList(names []string) string {
	if len(names) == 0 {
		return "(none)"
	}
	return strings.Join(names, ", ")
}
