package release

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/meshmon/meshmon/pkg/kube"
)

// Server is the running Prometheus server of a release, as the cluster
// has it: what viz points at and what policy protects.
type Server struct {
	Namespace string `json:"namespace"`
	Release   string `json:"release"`
	// Service is the server Service; Port its port (9090 unless overridden).
	Service *corev1.Service `json:"-"`
	Port    int32           `json:"port"`
	// URL is the in-cluster address, e.g.
	// http://prometheus-server.linkerd-viz.svc.cluster.local:9090.
	URL string `json:"url"`
	// WorkloadKind is Deployment or StatefulSet; WorkloadName its name.
	WorkloadKind string `json:"workloadKind"`
	WorkloadName string `json:"workloadName"`
	// PodLabels are the workload's pod template labels; SelectorLabels the
	// subset its selector uses (what a policy Server should select on).
	PodLabels      map[string]string `json:"podLabels"`
	SelectorLabels map[string]string `json:"selectorLabels"`
	ServiceAccount string            `json:"serviceAccount"`
	// Containers are the pod template's, for following the Service port to the pod.
	Containers []corev1.Container `json:"-"`
}

// ErrServerNotFound means no Prometheus server of that release exists.
var ErrServerNotFound = errors.New("prometheus server not found")

// ServerSelector selects the server objects of a release, with the labels
// the chart puts on all of them.
func ServerSelector(releaseName string) labels.Selector {
	return labels.SelectorFromSet(labels.Set{
		"app.kubernetes.io/component": serverComponent,
		"app.kubernetes.io/name":      chartName,
		"app.kubernetes.io/instance":  releaseName,
	})
}

// FindServer reads the release's server Service and workload. clusterDomain
// comes from linkerd-config (never assumed).
func FindServer(ctx context.Context, kc kubernetes.Interface, namespace, releaseName, clusterDomain string) (*Server, error) {
	sel := metav1.ListOptions{LabelSelector: ServerSelector(releaseName).String()}
	svcs, err := kc.CoreV1().Services(namespace).List(ctx, sel)
	if err != nil {
		return nil, fmt.Errorf("listing Services of release %s in %s: %w", releaseName, namespace, err)
	}
	s, err := newServer(namespace, releaseName, clusterDomain, svcs.Items)
	if err != nil {
		return nil, err
	}
	if err := s.readWorkload(ctx, kc, sel); err != nil {
		return nil, err
	}
	return s, nil
}

// FindServerAccess is what FindServer reads in namespace; why says what the caller
// reads it for.
func FindServerAccess(namespace, why string) []kube.Access {
	return []kube.Access{
		{Resource: "services", Namespace: namespace, Verbs: []string{"list"}, Kind: "Services", Why: why},
		{Group: "apps", Resource: "deployments", Namespace: namespace, Verbs: []string{"list"}, Kind: "Deployments", Why: why},
		{Group: "apps", Resource: "statefulsets", Namespace: namespace, Verbs: []string{"list"}, Kind: "StatefulSets", Why: why},
	}
}

// newServer picks the release's client-facing Service among svcs and
// derives the URL from it.
func newServer(namespace, releaseName, clusterDomain string, svcs []corev1.Service) (*Server, error) {
	// In StatefulSet mode the chart adds a headless Service with the same labels; clients
	// use the ClusterIP one.
	var routable []corev1.Service
	for _, svc := range svcs {
		if svc.Spec.ClusterIP != corev1.ClusterIPNone {
			routable = append(routable, svc)
		}
	}
	sel := ServerSelector(releaseName).String()
	if len(routable) == 0 {
		return nil, fmt.Errorf("%w: no Service labelled %s in namespace %s; is release %q installed there? (run install, or pass -n/--release-name)",
			ErrServerNotFound, sel, namespace, releaseName)
	}
	if len(routable) > 1 {
		return nil, fmt.Errorf("%d Services labelled %s in namespace %s; expected one", len(routable), sel, namespace)
	}
	svc := &routable[0]
	if len(svc.Spec.Ports) == 0 {
		return nil, fmt.Errorf("Service %s/%s has no ports", namespace, svc.Name)
	}
	port := svc.Spec.Ports[0]
	for _, p := range svc.Spec.Ports {
		if p.Name == "http" {
			port = p
		}
	}
	return &Server{
		Namespace: namespace, Release: releaseName, Service: svc, Port: port.Port,
		URL: fmt.Sprintf("http://%s.%s.svc.%s:%s", svc.Name, namespace, clusterDomain, strconv.Itoa(int(port.Port))),
	}, nil
}

// PlannedServer is the server a rendered manifest would create: what a dry
// run shows linkerd-viz and the policy pointing at, before anything exists.
func PlannedServer(manifest, namespace, releaseName, clusterDomain string) (*Server, error) {
	docs, err := manifestDocs(manifest)
	if err != nil {
		return nil, err
	}
	sel := ServerSelector(releaseName)
	var svcs []corev1.Service
	var workload func(*Server)
	for _, doc := range docs {
		var head struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Labels map[string]string `json:"labels"`
			} `json:"metadata"`
		}
		if err := yaml.Unmarshal(doc, &head); err != nil {
			return nil, fmt.Errorf("parsing a rendered object: %w", err)
		}
		if !sel.Matches(labels.Set(head.Metadata.Labels)) {
			continue
		}
		switch head.Kind {
		case "Service":
			var svc corev1.Service
			if err := yaml.Unmarshal(doc, &svc); err != nil {
				return nil, fmt.Errorf("parsing the rendered Service: %w", err)
			}
			svcs = append(svcs, svc)
		case "Deployment":
			var d appsv1.Deployment
			if err := yaml.Unmarshal(doc, &d); err != nil {
				return nil, fmt.Errorf("parsing the rendered Deployment: %w", err)
			}
			workload = func(s *Server) { s.setWorkload("Deployment", d.Name, d.Spec.Selector, d.Spec.Template) }
		case "StatefulSet":
			var st appsv1.StatefulSet
			if err := yaml.Unmarshal(doc, &st); err != nil {
				return nil, fmt.Errorf("parsing the rendered StatefulSet: %w", err)
			}
			workload = func(s *Server) { s.setWorkload("StatefulSet", st.Name, st.Spec.Selector, st.Spec.Template) }
		}
	}
	s, err := newServer(namespace, releaseName, clusterDomain, svcs)
	if err != nil {
		return nil, fmt.Errorf("the rendered chart has no usable server Service: %w", err)
	}
	if workload == nil {
		return nil, fmt.Errorf("%w: the rendered chart has no Deployment or StatefulSet for release %s", ErrServerNotFound, releaseName)
	}
	workload(s)
	return s, nil
}

func (s *Server) readWorkload(ctx context.Context, kc kubernetes.Interface, sel metav1.ListOptions) error {
	deps, err := kc.AppsV1().Deployments(s.Namespace).List(ctx, sel)
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("listing Deployments of release %s: %w", s.Release, err)
	}
	if deps != nil && len(deps.Items) > 0 {
		d := deps.Items[0]
		s.setWorkload("Deployment", d.Name, d.Spec.Selector, d.Spec.Template)
		return nil
	}
	sts, err := kc.AppsV1().StatefulSets(s.Namespace).List(ctx, sel)
	if err != nil {
		return fmt.Errorf("listing StatefulSets of release %s: %w", s.Release, err)
	}
	if len(sts.Items) > 0 {
		st := sts.Items[0]
		s.setWorkload("StatefulSet", st.Name, st.Spec.Selector, st.Spec.Template)
		return nil
	}
	return fmt.Errorf("%w: release %s has a Service but no Deployment or StatefulSet in %s", ErrServerNotFound, s.Release, s.Namespace)
}

func (s *Server) setWorkload(kind, name string, selector *metav1.LabelSelector, tmpl corev1.PodTemplateSpec) {
	s.WorkloadKind, s.WorkloadName = kind, name
	s.PodLabels = tmpl.Labels
	if selector != nil {
		s.SelectorLabels = selector.MatchLabels
	}
	s.ServiceAccount = tmpl.Spec.ServiceAccountName
	s.Containers = tmpl.Spec.Containers
	if s.ServiceAccount == "" {
		s.ServiceAccount = "default"
	}
}

// PortChain is the route from the Service to the pod: the Service port, its targetPort,
// and the container port (and container) the traffic lands on.
type PortChain struct {
	ServicePort int32
	TargetPort  intstr.IntOrString
	// Container is empty when no container declares ContainerPort.
	Container     string
	ContainerPort int32
}

// ContainerPort follows the server's Service port to the pod port among containers (the
// workload's pod template), the way Kubernetes routes it: a named targetPort must be a
// declared container port; a number is used as is; none means the Service port. Policy
// Servers match pod ports, and a check proves the chain ends at Prometheus.
func (s *Server) ContainerPort(containers []corev1.Container) (PortChain, error) {
	var sp *corev1.ServicePort
	for i := range s.Service.Spec.Ports {
		if s.Service.Spec.Ports[i].Port == s.Port {
			sp = &s.Service.Spec.Ports[i]
			break
		}
	}
	if sp == nil {
		return PortChain{}, fmt.Errorf("Service %s/%s has no port %d", s.Namespace, s.Service.Name, s.Port)
	}
	r := PortChain{ServicePort: sp.Port, TargetPort: sp.TargetPort}
	if r.TargetPort.Type == intstr.Int && r.TargetPort.IntVal == 0 && r.TargetPort.StrVal == "" {
		r.TargetPort = intstr.FromInt32(sp.Port)
	}
	if r.TargetPort.Type == intstr.String {
		for _, c := range containers {
			for _, cp := range c.Ports {
				if cp.Name == r.TargetPort.StrVal {
					r.Container, r.ContainerPort = c.Name, cp.ContainerPort
				}
			}
		}
		if r.Container == "" {
			return r, fmt.Errorf("Service %s/%s port %d targets the port named %q, but no container of %s %s declares a port of that name, so the Service has no endpoints; set targetPort to %d or name Prometheus' container port %q",
				s.Namespace, s.Service.Name, sp.Port, r.TargetPort.StrVal, s.WorkloadKind, s.WorkloadName, ServicePort, r.TargetPort.StrVal)
		}
		return r, nil
	}
	r.ContainerPort = r.TargetPort.IntVal
	for _, c := range containers {
		for _, cp := range c.Ports {
			if cp.ContainerPort == r.ContainerPort {
				r.Container = c.Name
			}
		}
	}
	return r, nil
}
