package kube

import (
	"context"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/version"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	typedappsv1 "k8s.io/client-go/kubernetes/typed/apps/v1"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
)

// SharedReads wraps kc so that the reads a run repeats most (the Deployments
// of a namespace, by name or label, which one list answers; Namespaces by name; the server version, one group version's resources) are
// asked once when several callers ask within ttl: concurrent callers wait for
// the one request, later ones within ttl get its answer (a copy; errors are
// not kept). A caller that retries after ttl (a check retried under --wait,
// at least a second later) sees the cluster anew.
func SharedReads(kc kubernetes.Interface, ttl time.Duration) kubernetes.Interface {
	return &sharedClient{Interface: kc, memo: &memo{ttl: ttl, entries: map[string]*memoEntry{}}}
}

type memo struct {
	ttl     time.Duration
	mu      sync.Mutex
	entries map[string]*memoEntry
}

type memoEntry struct {
	mu  sync.Mutex
	at  time.Time
	ok  bool
	val any
}

// do returns fetch's value for key, sharing one fetch within ttl.
func (m *memo) do(key string, fetch func() (any, error)) (any, error) {
	m.mu.Lock()
	e, ok := m.entries[key]
	if !ok {
		e = &memoEntry{}
		m.entries[key] = e
	}
	m.mu.Unlock()
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.ok && time.Since(e.at) < m.ttl {
		return e.val, nil
	}
	v, err := fetch()
	if err != nil {
		e.ok = false
		return nil, err
	}
	e.val, e.at, e.ok = v, time.Now(), true
	return v, nil
}

type sharedClient struct {
	kubernetes.Interface
	memo *memo
}

func (c *sharedClient) AppsV1() typedappsv1.AppsV1Interface {
	return sharedApps{AppsV1Interface: c.Interface.AppsV1(), memo: c.memo}
}

func (c *sharedClient) CoreV1() typedcorev1.CoreV1Interface {
	return sharedCore{CoreV1Interface: c.Interface.CoreV1(), memo: c.memo}
}

func (c *sharedClient) Discovery() discovery.DiscoveryInterfaces {
	return sharedDiscovery{DiscoveryInterfaces: c.Interface.Discovery(), memo: c.memo}
}

type sharedApps struct {
	typedappsv1.AppsV1Interface
	memo *memo
}

func (a sharedApps) Deployments(ns string) typedappsv1.DeploymentInterface {
	return sharedDeployments{DeploymentInterface: a.AppsV1Interface.Deployments(ns), ns: ns, memo: a.memo}
}

type sharedDeployments struct {
	typedappsv1.DeploymentInterface
	ns   string
	memo *memo
}

// list is the namespace's Deployments, listed once within ttl: a run reads
// a handful of Deployments of one namespace by name and by label.
func (d sharedDeployments) list(ctx context.Context) (*appsv1.DeploymentList, error) {
	v, err := d.memo.do("deployments\x00"+d.ns, func() (any, error) {
		return d.DeploymentInterface.List(ctx, metav1.ListOptions{})
	})
	if err != nil {
		return nil, err
	}
	return v.(*appsv1.DeploymentList), nil
}

func (d sharedDeployments) Get(ctx context.Context, name string, opts metav1.GetOptions) (*appsv1.Deployment, error) {
	if opts.ResourceVersion != "" || d.ns == "" {
		return d.DeploymentInterface.Get(ctx, name, opts)
	}
	list, err := d.list(ctx)
	if err != nil {
		// May get but not list: ask for the one object.
		return d.DeploymentInterface.Get(ctx, name, opts)
	}
	for i := range list.Items {
		if list.Items[i].Name == name {
			return list.Items[i].DeepCopy(), nil
		}
	}
	return nil, apierrors.NewNotFound(appsv1.Resource("deployments"), name)
}

func (d sharedDeployments) List(ctx context.Context, opts metav1.ListOptions) (*appsv1.DeploymentList, error) {
	sel, err := labels.Parse(opts.LabelSelector)
	if err != nil || opts.FieldSelector != "" || opts.ResourceVersion != "" || opts.Limit != 0 || opts.Continue != "" || d.ns == "" {
		return d.DeploymentInterface.List(ctx, opts)
	}
	list, err := d.list(ctx)
	if err != nil {
		return d.DeploymentInterface.List(ctx, opts)
	}
	out := &appsv1.DeploymentList{TypeMeta: list.TypeMeta, ListMeta: list.ListMeta}
	for i := range list.Items {
		if sel.Matches(labels.Set(list.Items[i].Labels)) {
			out.Items = append(out.Items, *list.Items[i].DeepCopy())
		}
	}
	return out, nil
}

type sharedCore struct {
	typedcorev1.CoreV1Interface
	memo *memo
}

func (c sharedCore) Namespaces() typedcorev1.NamespaceInterface {
	return sharedNamespaces{NamespaceInterface: c.CoreV1Interface.Namespaces(), memo: c.memo}
}

type sharedNamespaces struct {
	typedcorev1.NamespaceInterface
	memo *memo
}

func (n sharedNamespaces) Get(ctx context.Context, name string, opts metav1.GetOptions) (*corev1.Namespace, error) {
	if opts.ResourceVersion != "" {
		return n.NamespaceInterface.Get(ctx, name, opts)
	}
	v, err := n.memo.do("namespace\x00"+name, func() (any, error) {
		return n.NamespaceInterface.Get(ctx, name, opts)
	})
	if err != nil {
		return nil, err
	}
	return v.(*corev1.Namespace).DeepCopy(), nil
}

type sharedDiscovery struct {
	discovery.DiscoveryInterfaces
	memo *memo
}

func (d sharedDiscovery) ServerVersion() (*version.Info, error) {
	return d.ServerVersionWithContext(context.Background())
}

func (d sharedDiscovery) ServerVersionWithContext(ctx context.Context) (*version.Info, error) {
	v, err := d.memo.do("version", func() (any, error) { return d.DiscoveryInterfaces.ServerVersionWithContext(ctx) })
	if err != nil {
		return nil, err
	}
	info := *v.(*version.Info)
	return &info, nil
}

func (d sharedDiscovery) ServerResourcesForGroupVersion(gv string) (*metav1.APIResourceList, error) {
	return d.ServerResourcesForGroupVersionWithContext(context.Background(), gv)
}

func (d sharedDiscovery) ServerResourcesForGroupVersionWithContext(ctx context.Context, gv string) (*metav1.APIResourceList, error) {
	v, err := d.memo.do("resources\x00"+gv, func() (any, error) {
		return d.DiscoveryInterfaces.ServerResourcesForGroupVersionWithContext(ctx, gv)
	})
	if err != nil {
		return nil, err
	}
	return v.(*metav1.APIResourceList).DeepCopy(), nil
}

// SharedDynamicReads wraps dc like SharedReads: a Get of a namespaced object
// and an unfiltered List of its namespace are answered by one List of the
// namespace within ttl (the policy checks read Servers and
// AuthorizationPolicies of one namespace both ways).
func SharedDynamicReads(dc dynamic.Interface, ttl time.Duration) dynamic.Interface {
	return sharedDynamic{Interface: dc, memo: &memo{ttl: ttl, entries: map[string]*memoEntry{}}}
}

type sharedDynamic struct {
	dynamic.Interface
	memo *memo
}

func (d sharedDynamic) Resource(gvr schema.GroupVersionResource) dynamic.NamespaceableResourceInterface {
	return sharedResource{NamespaceableResourceInterface: d.Interface.Resource(gvr), gvr: gvr, memo: d.memo}
}

type sharedResource struct {
	dynamic.NamespaceableResourceInterface
	gvr  schema.GroupVersionResource
	memo *memo
}

func (r sharedResource) Namespace(ns string) dynamic.ResourceInterface {
	inner := r.NamespaceableResourceInterface.Namespace(ns)
	if ns == "" {
		return inner
	}
	return sharedNamespaced{ResourceInterface: inner, key: r.gvr.String() + "\x00" + ns, gr: r.gvr.GroupResource(), memo: r.memo}
}

type sharedNamespaced struct {
	dynamic.ResourceInterface
	key  string
	gr   schema.GroupResource
	memo *memo
}

func (r sharedNamespaced) list(ctx context.Context) (*unstructured.UnstructuredList, error) {
	v, err := r.memo.do(r.key, func() (any, error) {
		return r.ResourceInterface.List(ctx, metav1.ListOptions{})
	})
	if err != nil {
		return nil, err
	}
	return v.(*unstructured.UnstructuredList), nil
}

func (r sharedNamespaced) Get(ctx context.Context, name string, opts metav1.GetOptions, sub ...string) (*unstructured.Unstructured, error) {
	if opts.ResourceVersion != "" || len(sub) > 0 {
		return r.ResourceInterface.Get(ctx, name, opts, sub...)
	}
	list, err := r.list(ctx)
	if err != nil {
		// May get but not list: ask for the one object.
		return r.ResourceInterface.Get(ctx, name, opts)
	}
	for i := range list.Items {
		if list.Items[i].GetName() == name {
			return list.Items[i].DeepCopy(), nil
		}
	}
	return nil, apierrors.NewNotFound(r.gr, name)
}

func (r sharedNamespaced) List(ctx context.Context, opts metav1.ListOptions) (*unstructured.UnstructuredList, error) {
	if opts != (metav1.ListOptions{}) {
		return r.ResourceInterface.List(ctx, opts)
	}
	list, err := r.list(ctx)
	if err != nil {
		return nil, err
	}
	return list.DeepCopy(), nil
}
