package prom

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/common/model"
)

// Linkerd proxy authorization counters and their labels, as the proxy (linkerd2-proxy,
// linkerd/app/inbound/src/metrics/authz.rs) writes them. Both carry the server labels
// srv_group/srv_kind/srv_name/srv_port, the route labels route_group/route_kind/route_name,
// target_addr/target_ip/target_port and the TLS labels (tls plus client_id, no_tls_reason
// or sni); only the allow counter carries authz_group/authz_kind/authz_name.
// "namespace" and "pod" come from Linkerd's linkerd-proxy scrape job, not from the proxy.
const (
	metricAuthzAllow = "inbound_http_authz_allow_total"
	metricAuthzDeny  = "inbound_http_authz_deny_total"

	labelNamespace   = "namespace"
	labelSrvKind     = "srv_kind"
	labelSrvName     = "srv_name"
	labelAuthzKind   = "authz_kind"
	labelAuthzName   = "authz_name"
	labelTLS         = "tls"
	labelClientID    = "client_id"
	labelNoTLSReason = "no_tls_reason"
)

// AuthzQuery selects which proxies' authorization counters AuthzCounters reads.
type AuthzQuery struct {
	// Selector holds PromQL label matchers without braces, e.g.
	// `namespace="linkerd-viz", pod=~"prometheus-server-.*"`; empty reads every proxy.
	Selector string
	// Window, when positive, counts only the requests of that recent window (increase());
	// otherwise the counters' totals since each proxy started are read.
	Window time.Duration
	// At is the evaluation instant; zero means now.
	At time.Time
}

// ClientRequests counts HTTP requests from one client to one server.
type ClientRequests struct {
	ClientID      string // the client's mesh identity; empty when the connection was not mTLS
	TLS           string // the proxy's tls label: "true", "no_identity", "disabled" or "opaque"
	NoTLSReason   string // why there was no identity, e.g. "no_tls_from_remote"
	Authorization string // "<authz_kind>/<authz_name>" that allowed the requests; empty for denials
	Requests      float64
}

// Client names the client for humans: its identity, or why it had none.
func (r ClientRequests) Client() string {
	switch {
	case r.ClientID != "":
		return r.ClientID
	case r.NoTLSReason != "":
		return "unauthenticated (" + r.NoTLSReason + ")"
	case r.TLS != "" && r.TLS != "true":
		return "unauthenticated (tls=" + r.TLS + ")"
	}
	return "unauthenticated"
}

// ServerAuthz holds the allowed and denied requests of one Linkerd Server (or default policy).
type ServerAuthz struct {
	Namespace string // namespace of the proxies that reported the counters
	Kind      string // srv_kind: "server" for a Server resource, "default" for a default policy
	Name      string // srv_name
	Allowed   []ClientRequests
	Denied    []ClientRequests
}

// AllowedTotal sums the allowed requests over all clients.
func (s ServerAuthz) AllowedTotal() float64 { return sumRequests(s.Allowed) }

// DeniedTotal sums the denied requests over all clients.
func (s ServerAuthz) DeniedTotal() float64 { return sumRequests(s.Denied) }

// AllowedFor sums the requests allowed for the mesh identity clientID.
func (s ServerAuthz) AllowedFor(clientID string) float64 {
	var n float64
	for _, r := range s.Allowed {
		if r.ClientID == clientID {
			n += r.Requests
		}
	}
	return n
}

// DeniedClients lists the distinct clients that were denied, sorted.
func (s ServerAuthz) DeniedClients() []string {
	var out []string
	for _, r := range s.Denied {
		out = append(out, r.Client())
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func sumRequests(rs []ClientRequests) float64 {
	var n float64
	for _, r := range rs {
		n += r.Requests
	}
	return n
}

// AuthzSummary is the authorization outcome per server, sorted by namespace and name.
type AuthzSummary struct {
	Servers []ServerAuthz
}

// Server returns the summary of the server name in namespace.
func (a AuthzSummary) Server(namespace, name string) (ServerAuthz, bool) {
	for _, s := range a.Servers {
		if s.Namespace == namespace && s.Name == name {
			return s, true
		}
	}
	return ServerAuthz{}, false
}

func authzExpr(metric string, by []string, q AuthzQuery) string {
	sel := metric + "{" + strings.TrimSpace(q.Selector) + "}"
	if q.Window > 0 {
		sel = fmt.Sprintf("increase(%s[%s])", sel, model.Duration(q.Window))
	}
	return fmt.Sprintf("sum by (%s) (%s)", strings.Join(by, ", "), sel)
}

// AuthzQueries returns the PromQL that AuthzCounters evaluates, allow first.
func AuthzQueries(q AuthzQuery) (allow, deny string) {
	allow = authzExpr(metricAuthzAllow, []string{labelNamespace, labelSrvKind, labelSrvName, labelAuthzKind, labelAuthzName, labelTLS, labelClientID, labelNoTLSReason}, q)
	deny = authzExpr(metricAuthzDeny, []string{labelNamespace, labelSrvKind, labelSrvName, labelTLS, labelClientID, labelNoTLSReason}, q)
	return allow, deny
}

// AuthzCounters reads Linkerd's inbound HTTP authorization counters and sums them per server
// and client identity, so a check can say which clients were allowed or denied. Requests
// that reach Prometheus through a port-forward bypass the proxy and are not counted.
func (c *Client) AuthzCounters(ctx context.Context, q AuthzQuery) (AuthzSummary, error) {
	allowQ, denyQ := AuthzQueries(q)
	allow, _, err := c.QueryVector(ctx, allowQ, q.At)
	if err != nil {
		return AuthzSummary{}, err
	}
	deny, _, err := c.QueryVector(ctx, denyQ, q.At)
	if err != nil {
		return AuthzSummary{}, err
	}
	return summarizeAuthz(allow, deny), nil
}

func summarizeAuthz(allow, deny model.Vector) AuthzSummary {
	type key struct{ ns, kind, name string }
	servers := map[key]*ServerAuthz{}
	server := func(m model.Metric) *ServerAuthz {
		k := key{string(m[labelNamespace]), string(m[labelSrvKind]), string(m[labelSrvName])}
		s, ok := servers[k]
		if !ok {
			s = &ServerAuthz{Namespace: k.ns, Kind: k.kind, Name: k.name}
			servers[k] = s
		}
		return s
	}
	requests := func(smp *model.Sample) ClientRequests {
		m := smp.Metric
		r := ClientRequests{
			ClientID:    string(m[labelClientID]),
			TLS:         string(m[labelTLS]),
			NoTLSReason: string(m[labelNoTLSReason]),
			Requests:    float64(smp.Value),
		}
		if name := m[labelAuthzName]; name != "" {
			r.Authorization = string(m[labelAuthzKind]) + "/" + string(name)
		}
		return r
	}
	// Zero means no requests in the window: not worth reporting.
	for _, smp := range allow {
		if smp.Value > 0 {
			s := server(smp.Metric)
			s.Allowed = append(s.Allowed, requests(smp))
		}
	}
	for _, smp := range deny {
		if smp.Value > 0 {
			s := server(smp.Metric)
			s.Denied = append(s.Denied, requests(smp))
		}
	}
	out := AuthzSummary{}
	for _, s := range servers {
		byClient := func(a, b ClientRequests) int {
			return cmp.Or(strings.Compare(a.Client(), b.Client()), strings.Compare(a.Authorization, b.Authorization))
		}
		slices.SortFunc(s.Allowed, byClient)
		slices.SortFunc(s.Denied, byClient)
		out.Servers = append(out.Servers, *s)
	}
	slices.SortFunc(out.Servers, func(a, b ServerAuthz) int {
		return cmp.Or(strings.Compare(a.Namespace, b.Namespace), strings.Compare(a.Name, b.Name), strings.Compare(a.Kind, b.Kind))
	})
	return out
}
