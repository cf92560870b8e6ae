package sim

import (
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"
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
	modes   proxyModes
}

// SetAuthz replaces the authorization counters the proxy reports.
func (p *FakeProxy) SetAuthz(allow, deny []AuthzSample) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.allow, p.deny = slices.Clone(allow), slices.Clone(deny)
}

// Stop makes the proxy unreachable: its scrape target goes down.
func (p *FakeProxy) Stop() error { return p.srv.Stop() }

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
	fmt.Fprint(w, "# HELP request_total Total count of HTTP requests.\n# TYPE request_total counter\n")
	fmt.Fprintf(w, "request_total{direction=\"inbound\",authority=\"%s.%s.svc.cluster.local:80\",%s,tls=\"true\",client_id=\"default.%s.serviceaccount.identity.linkerd.cluster.local\"} %d\n",
		p.Pod, p.Namespace, target, p.Namespace, int(up))
	fmt.Fprint(w, "# HELP response_total Total count of HTTP responses.\n# TYPE response_total counter\n")
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
	fmt.Fprint(w, "# HELP inbound_http_authz_allow_total The total number of inbound HTTP requests that were authorized\n# TYPE inbound_http_authz_allow_total counter\n")
	for _, s := range p.allow {
		authz("inbound_http_authz_allow_total", s, true)
	}
	fmt.Fprint(w, "# HELP inbound_http_authz_deny_total The total number of inbound HTTP requests that could not be processed due to a proxy error.\n# TYPE inbound_http_authz_deny_total counter\n")
	for _, s := range p.deny {
		authz("inbound_http_authz_deny_total", s, false)
	}
	p.modes.write(w)
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
