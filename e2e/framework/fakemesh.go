//go:build e2e

package framework

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Names Linkerd gives the proxy sidecar and its metrics port.
const (
	proxyContainer = "linkerd-proxy"
	proxyAdminPort = "linkerd-admin"
)

// AuthzSample is one series of a proxy's inbound_http_authz_{allow,deny}_total:
// requests from a client to a policy Server, as linkerd2-proxy labels them.
type AuthzSample struct {
	// Server is the policy.linkerd.io Server (srv_name), Port its port.
	Server string
	Port   int
	// ClientID is the client's mesh identity; empty for a client without one.
	ClientID string
	// Authorization names the AuthorizationPolicy that allowed the requests;
	// unused for denials.
	Authorization string
	Requests      int
}

// FakeProxy plays one pod's linkerd2-proxy admin endpoint (/metrics).
type FakeProxy struct {
	Namespace, Pod, IP string
	Port               int

	mu      sync.Mutex
	started time.Time
	allow   []AuthzSample
	deny    []AuthzSample
	srv     *LoopServer
}

// SetAuthz replaces the authorization counters the proxy reports.
func (p *FakeProxy) SetAuthz(allow, deny []AuthzSample) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.allow, p.deny = slices.Clone(allow), slices.Clone(deny)
}

// Stop makes the proxy unreachable: its scrape target goes down.
func (p *FakeProxy) Stop() { p.srv.Stop() }

func (p *FakeProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/metrics" {
		http.NotFound(w, r)
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	up := time.Since(p.started).Seconds()
	target := fmt.Sprintf(`target_addr="%s:80",target_ip=%q,target_port="80"`, p.IP, p.IP)
	fmt.Fprintf(w, "# HELP process_start_time_seconds Time that the process started (in seconds since the UNIX epoch)\n# TYPE process_start_time_seconds gauge\nprocess_start_time_seconds %d\n", p.started.Unix())
	// One request per second, all successful: traffic for the dashboards.
	fmt.Fprintf(w, "# HELP request_total Total count of HTTP requests.\n# TYPE request_total counter\n")
	fmt.Fprintf(w, "request_total{direction=\"inbound\",authority=\"%s.%s.svc.cluster.local:80\",%s,tls=\"true\",client_id=\"default.%s.serviceaccount.identity.linkerd.cluster.local\"} %d\n",
		p.Pod, p.Namespace, target, p.Namespace, int(up))
	fmt.Fprintf(w, "# HELP response_total Total count of HTTP responses.\n# TYPE response_total counter\n")
	fmt.Fprintf(w, "response_total{direction=\"inbound\",%s,tls=\"true\",status_code=\"200\",classification=\"success\",grpc_status=\"\",error=\"\"} %d\n", target, int(up))
	authz := func(metric string, s AuthzSample, allow bool) {
		srv := fmt.Sprintf(`target_addr="%s:%d",target_ip=%q,target_port="%d",srv_group="policy.linkerd.io",srv_kind="server",srv_name=%q,srv_port="%d",route_group="",route_kind="default",route_name="default"`,
			p.IP, s.Port, p.IP, s.Port, s.Server, s.Port)
		if allow {
			srv += fmt.Sprintf(`,authz_group="policy.linkerd.io",authz_kind="authorizationpolicy",authz_name=%q`, s.Authorization)
		}
		tls := `tls="no_identity",no_tls_reason="no_tls_from_remote"`
		if s.ClientID != "" {
			tls = fmt.Sprintf(`tls="true",client_id=%q`, s.ClientID)
		}
		fmt.Fprintf(w, "%s{%s,%s} %d\n", metric, srv, tls, s.Requests)
	}
	fmt.Fprintf(w, "# HELP inbound_http_authz_allow_total The total number of inbound HTTP requests that were authorized\n# TYPE inbound_http_authz_allow_total counter\n")
	for _, s := range p.allow {
		authz("inbound_http_authz_allow_total", s, true)
	}
	fmt.Fprintf(w, "# HELP inbound_http_authz_deny_total The total number of inbound HTTP requests that could not be processed due to a proxy error.\n# TYPE inbound_http_authz_deny_total counter\n")
	for _, s := range p.deny {
		authz("inbound_http_authz_deny_total", s, false)
	}
}

// adminMetrics plays a control-plane component's admin port.
type adminMetrics struct{ started time.Time }

func (a adminMetrics) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/metrics" {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	fmt.Fprintf(w, "# TYPE process_start_time_seconds gauge\nprocess_start_time_seconds %d\n# TYPE go_goroutines gauge\ngo_goroutines 42\n", a.started.Unix())
}

// FakeMesh brings the test cluster's pods to life for Prometheus: every
// running pod's IP answers on its proxy's linkerd-admin port with proxy
// metrics, and control-plane pods answer on their *-admin ports.
type FakeMesh struct {
	proxies map[string]*FakeProxy
	// served maps "UID/IP" of the pods brought to life to their servers.
	served  map[string][]*LoopServer
	control []string
}

// StartFakeMesh serves every running pod that has an IP: proxies in all
// namespaces, admin ports in controlNamespaces (Linkerd's and viz's).
func StartFakeMesh(t testing.TB, kc kubernetes.Interface, controlNamespaces ...string) *FakeMesh {
	t.Helper()
	m := &FakeMesh{proxies: map[string]*FakeProxy{}, served: map[string][]*LoopServer{}, control: controlNamespaces}
	m.Refresh(t, kc)
	return m
}

// Refresh serves the pods that appeared, or got another IP, since the last
// call (a rollout replaces pods, and their IPs).
func (m *FakeMesh) Refresh(t testing.TB, kc kubernetes.Interface) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pods, err := kc.CoreV1().Pods(metav1.NamespaceAll).List(ctx, metav1.ListOptions{FieldSelector: "status.phase=Running"})
	if err != nil {
		t.Fatalf("listing pods: %v", err)
	}
	now := time.Now()
	live := map[string]bool{}
	for i := range pods.Items {
		p := &pods.Items[i]
		key := string(p.UID) + "/" + p.Status.PodIP
		if p.Status.PodIP == "" || p.DeletionTimestamp != nil {
			continue
		}
		live[key] = true
		if _, done := m.served[key]; done {
			continue
		}
		m.served[key] = nil
		// Linkerd can run the proxy as a native sidecar (an init container
		// that keeps running); Prometheus discovers the ports of both kinds.
		for _, c := range append(slices.Clone(p.Spec.InitContainers), p.Spec.Containers...) {
			for _, port := range c.Ports {
				addr := net.JoinHostPort(p.Status.PodIP, strconv.Itoa(int(port.ContainerPort)))
				switch {
				case c.Name == proxyContainer && port.Name == proxyAdminPort:
					AddPodIP(t, p.Status.PodIP)
					fp := &FakeProxy{Namespace: p.Namespace, Pod: p.Name, IP: p.Status.PodIP, Port: int(port.ContainerPort), started: now}
					fp.srv = Serve(t, addr, fp)
					m.proxies[p.Namespace+"/"+p.Name] = fp
					m.served[key] = append(m.served[key], fp.srv)
				case slices.Contains(m.control, p.Namespace) && strings.HasSuffix(port.Name, "admin") && port.Name != proxyAdminPort:
					AddPodIP(t, p.Status.PodIP)
					m.served[key] = append(m.served[key], Serve(t, addr, adminMetrics{started: now}))
				}
			}
		}
	}
	// A pod that is gone frees its IP, which a new pod may get.
	for key, srvs := range m.served {
		if !live[key] {
			for _, s := range srvs {
				s.Stop()
			}
			delete(m.served, key)
		}
	}
}

// Proxy returns the fake proxy of namespace/pod.
func (m *FakeMesh) Proxy(t testing.TB, namespace, pod string) *FakeProxy {
	t.Helper()
	p, ok := m.proxies[namespace+"/"+pod]
	if !ok {
		t.Fatalf("no fake proxy for pod %s/%s (have %s)", namespace, pod, strings.Join(m.Pods(), ", "))
	}
	return p
}

// ProxyOf returns the fake proxy of the first pod (by name) in namespace
// whose name starts with prefix.
func (m *FakeMesh) ProxyOf(t testing.TB, namespace, prefix string) *FakeProxy {
	t.Helper()
	for _, key := range m.Pods() {
		if strings.HasPrefix(key, namespace+"/"+prefix) {
			return m.proxies[key]
		}
	}
	t.Fatalf("no fake proxy for a pod %s/%s* (have %s)", namespace, prefix, strings.Join(m.Pods(), ", "))
	return nil
}

// Pods lists namespace/pod of every fake proxy, sorted.
func (m *FakeMesh) Pods() []string {
	out := make([]string, 0, len(m.proxies))
	for k := range m.proxies {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
