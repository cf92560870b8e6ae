package sim

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Names Linkerd gives the proxy sidecar and its metrics port.
const (
	proxyContainer = "linkerd-proxy"
	proxyAdminPort = "linkerd-admin"
)

// MeshOptions says which pods a Mesh serves beyond the proxies.
type MeshOptions struct {
	// ControlNamespaces are Linkerd's and viz's namespaces: their pods also
	// answer on their *-admin ports, as the control-plane components do.
	ControlNamespaces []string
	// Authz, when set, gives the authorization counters a new pod's proxy
	// starts with.
	Authz func(*corev1.Pod) (allow, deny []AuthzSample)
	// ExtraSeries, when positive, is the number of additional series every
	// new proxy returns per scrape (SetExtraSeries), to give each target a
	// realistic size (make bench-scale).
	ExtraSeries int
}

// Mesh brings a cluster's pods to life for Prometheus: every running pod's
// IP answers on its proxy's linkerd-admin port with proxy metrics, and
// control-plane pods answer on their *-admin ports.
type Mesh struct {
	opts MeshOptions

	// mu is held for a whole Refresh, so that an older pod list is never
	// applied over a newer one.
	mu      sync.Mutex
	closed  bool
	proxies map[string]*FakeProxy // by namespace/pod
	// served maps "UID/IP" of the pods brought to life to what plays them.
	served map[string]servedPod
	// ips are the addresses this mesh added to the loopback.
	ips map[string]bool
}

type servedPod struct {
	proxy   string // key in proxies, if the pod has a proxy
	servers []*LoopServer
}

// NewMesh returns a Mesh that serves nothing until Refresh.
func NewMesh(o MeshOptions) *Mesh {
	return &Mesh{opts: o, proxies: map[string]*FakeProxy{}, served: map[string]servedPod{}, ips: map[string]bool{}}
}

// Refresh serves the running pods kc lists (one list call) that appeared, or
// got another IP, since the last call, and stops serving the pods that are
// gone: a rollout replaces pods, and their IPs. A pod that could not be
// served is tried again on the next call.
func (m *Mesh) Refresh(ctx context.Context, kc kubernetes.Interface) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return errors.New("refreshing the fake mesh: it is closed")
	}
	pods, err := kc.CoreV1().Pods(metav1.NamespaceAll).List(ctx, metav1.ListOptions{FieldSelector: "status.phase=Running"})
	if err != nil {
		return fmt.Errorf("listing pods for the fake mesh: %w", err)
	}
	live := map[string]*corev1.Pod{}
	for i := range pods.Items {
		p := &pods.Items[i]
		if p.Status.PodIP == "" || p.DeletionTimestamp != nil || p.Status.Phase != corev1.PodRunning {
			continue
		}
		live[string(p.UID)+"/"+p.Status.PodIP] = p
	}
	// A pod that is gone frees its IP, which a new pod may get: stop serving
	// it first.
	for key, sp := range m.served {
		if live[key] != nil {
			continue
		}
		for _, s := range sp.servers {
			_ = s.Stop()
		}
		if sp.proxy != "" {
			delete(m.proxies, sp.proxy)
		}
		delete(m.served, key)
	}
	now := time.Now()
	var errs []error
	for key, p := range live {
		if _, done := m.served[key]; done {
			continue
		}
		sp, err := m.serve(ctx, p, now)
		if err != nil {
			errs = append(errs, fmt.Errorf("pod %s/%s: %w", p.Namespace, p.Name, err))
			continue
		}
		m.served[key] = sp
	}
	return errors.Join(errs...)
}

// serve starts the servers that play pod p; on failure none is left running.
func (m *Mesh) serve(ctx context.Context, p *corev1.Pod, now time.Time) (servedPod, error) {
	var sp servedPod
	var proxy *FakeProxy
	fail := func(err error) (servedPod, error) {
		for _, s := range sp.servers {
			_ = s.Stop()
		}
		return servedPod{}, err
	}
	// Linkerd can run the proxy as a native sidecar (an init container
	// that keeps running); Prometheus discovers the ports of both kinds.
	for _, c := range append(slices.Clone(p.Spec.InitContainers), p.Spec.Containers...) {
		for _, port := range c.Ports {
			addr := net.JoinHostPort(p.Status.PodIP, strconv.Itoa(int(port.ContainerPort)))
			isProxy := c.Name == proxyContainer && port.Name == proxyAdminPort
			isAdmin := slices.Contains(m.opts.ControlNamespaces, p.Namespace) && strings.HasSuffix(port.Name, "admin") && port.Name != proxyAdminPort
			if !isProxy && !isAdmin {
				continue
			}
			if err := m.addIP(ctx, p.Status.PodIP); err != nil {
				return fail(err)
			}
			if isProxy {
				proxy = &FakeProxy{Namespace: p.Namespace, Pod: p.Name, IP: p.Status.PodIP, Port: int(port.ContainerPort), started: now}
				if m.opts.Authz != nil {
					proxy.SetAuthz(m.opts.Authz(p))
				}
				if m.opts.ExtraSeries > 0 {
					proxy.SetExtraSeries(m.opts.ExtraSeries)
				}
				s, err := Serve(addr, proxy)
				if err != nil {
					return fail(err)
				}
				proxy.srv = s
				sp.servers = append(sp.servers, s)
				continue
			}
			s, err := Serve(addr, adminMetrics{started: now})
			if err != nil {
				return fail(err)
			}
			sp.servers = append(sp.servers, s)
		}
	}
	if proxy != nil {
		sp.proxy = p.Namespace + "/" + p.Name
		m.proxies[sp.proxy] = proxy
	}
	return sp, nil
}

func (m *Mesh) addIP(ctx context.Context, ip string) error {
	if m.ips[ip] {
		return nil
	}
	added, err := AddPodIP(ctx, ip)
	if err != nil {
		return err
	}
	if added {
		m.ips[ip] = true
	}
	return nil
}

// Follow calls Refresh every interval until ctx ends, so that the mesh
// follows pod churn; report gets each failed Refresh.
func (m *Mesh) Follow(ctx context.Context, kc kubernetes.Interface, every time.Duration, report func(error)) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := m.Refresh(ctx, kc); err != nil && ctx.Err() == nil {
			report(err)
		}
	}
}

// Proxy returns the fake proxy of namespace/pod.
func (m *Mesh) Proxy(namespace, pod string) (*FakeProxy, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.proxies[namespace+"/"+pod]
	if !ok {
		return nil, fmt.Errorf("no fake proxy for pod %s/%s (have %s)", namespace, pod, strings.Join(m.podsLocked(), ", "))
	}
	return p, nil
}

// ProxyOf returns the fake proxy of the first pod (by name) in namespace
// whose name starts with prefix.
func (m *Mesh) ProxyOf(namespace, prefix string) (*FakeProxy, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, key := range m.podsLocked() {
		if strings.HasPrefix(key, namespace+"/"+prefix) {
			return m.proxies[key], nil
		}
	}
	return nil, fmt.Errorf("no fake proxy for a pod %s/%s* (have %s)", namespace, prefix, strings.Join(m.podsLocked(), ", "))
}

// Pods lists namespace/pod of every fake proxy, sorted.
func (m *Mesh) Pods() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.podsLocked()
}

func (m *Mesh) podsLocked() []string {
	out := make([]string, 0, len(m.proxies))
	for k := range m.proxies {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// Close stops every server and takes the addresses the mesh added off the
// loopback.
func (m *Mesh) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil
	}
	m.closed = true
	var errs []error
	for _, sp := range m.served {
		for _, s := range sp.servers {
			errs = append(errs, s.Stop())
		}
	}
	m.served, m.proxies = map[string]servedPod{}, map[string]*FakeProxy{}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for ip := range m.ips {
		errs = append(errs, RemovePodIP(ctx, ip))
	}
	m.ips = map[string]bool{}
	return errors.Join(errs...)
}
