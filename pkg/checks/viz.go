package checks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshmon/meshmon/pkg/healthcheck"
	"github.com/meshmon/meshmon/pkg/kube"
	"github.com/meshmon/meshmon/pkg/release"
	"github.com/meshmon/meshmon/pkg/viz"
)

// Facts of linkerd-viz the wiring checks read.
const (
	webName = "web"
	webPort = 8084
	// bundledPrometheusSelector selects viz's own Prometheus Deployment.
	bundledPrometheusSelector = "linkerd.io/extension=viz,component=prometheus"
	// dashboardHost is a Host the web server accepts by default; it answers
	// 400 to any other.
	dashboardHost = "localhost"
	// tpsQuery is what the dashboard's overview asks: deployments in all
	// namespaces, over the last minute.
	tpsQuery = "/api/tps-reports?resource_type=deployment&all_namespaces=true&window=1m"
	// maxDashboardBody bounds what is read from a dashboard answer.
	maxDashboardBody = 16 << 20
)

func (e *Env) metricsAPIDeployment(ctx context.Context) (*appsv1.Deployment, error) {
	return e.metricsAPI.get(ctx, func(ctx context.Context) (*appsv1.Deployment, error) {
		kc, err := e.kube(ctx)
		if err != nil {
			return nil, err
		}
		ns, err := e.vizNamespace(ctx)
		if err != nil {
			return nil, err
		}
		d, err := kc.AppsV1().Deployments(ns).Get(ctx, viz.MetricsAPIName, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			return nil, nil
		case err != nil:
			return nil, kube.ExplainAPIError("get", "deployments", ns, viz.MetricsAPIName, err)
		}
		return d, nil
	})
}

// Viz checks that linkerd-viz uses this Prometheus and that the dashboard
// shows its data.
func Viz(e *Env) healthcheck.Category {
	return healthcheck.Category{
		Name: CategoryViz,
		Checks: []healthcheck.Check{
			{
				Description: "metrics-api queries this Prometheus",
				HintAnchor:  "mm-viz-prometheus-url",
				Needs:       []string{idViz, idServer},
				Run:         e.checkMetricsAPIURL,
			},
			{
				Description: "linkerd-viz's own Prometheus is gone",
				HintAnchor:  "mm-viz-bundled-prometheus",
				Warning:     true,
				Needs:       []string{idViz},
				Run:         e.checkBundledPrometheus,
			},
			{
				Description: "viz namespace annotation names this Prometheus",
				HintAnchor:  "mm-viz-annotation",
				Warning:     true,
				Needs:       []string{idViz, idServer},
				Run:         e.checkVizAnnotation,
			},
			{
				Description: "Helm-installed viz runs the values meshmon set",
				HintAnchor:  "mm-viz-helm-values",
				Needs:       []string{idViz},
				Run:         e.checkVizHelmValues,
			},
			{
				ID:          idDashboard,
				Description: "dashboard answers",
				HintAnchor:  "mm-dashboard",
				Fatal:       true,
				Retryable:   true,
				Needs:       []string{idViz},
				Run:         fresh(e.checkDashboard, resetFunc(e.dropDashboard)),
			},
			{
				Description: "dashboard shows mesh traffic",
				HintAnchor:  "mm-dashboard-data",
				Needs:       []string{idDashboard},
				Run:         e.checkDashboardData,
			},
		},
	}
}

// serviceRef is a Service address taken apart.
type serviceRef struct {
	name, namespace, domain string
	port                    int
}

// parseServiceURL reads an in-cluster URL such as
// http://prometheus-server.linkerd-viz.svc.cluster.local:9090; defaultNS
// applies to a bare Service name.
func parseServiceURL(raw, defaultNS string) (serviceRef, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.Host == "" {
		return serviceRef{}, fmt.Errorf("%q is not an absolute URL", raw)
	}
	host := u.Hostname()
	port := 80
	if u.Scheme == "https" {
		port = 443
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil {
			return serviceRef{}, fmt.Errorf("%q has an invalid port", raw)
		}
		port = n
	}
	if net.ParseIP(host) != nil {
		return serviceRef{name: host, port: port}, nil
	}
	parts := strings.Split(host, ".")
	r := serviceRef{name: parts[0], namespace: defaultNS, port: port}
	if len(parts) > 1 {
		r.namespace = parts[1]
	}
	if len(parts) > 3 && parts[2] == "svc" {
		r.domain = strings.Join(parts[3:], ".")
	}
	return r, nil
}

// sameService reports whether raw addresses the server's Service, and if
// not, why.
func (e *Env) sameService(ctx context.Context, raw, defaultNS string, s *release.Server) (bool, string) {
	r, err := parseServiceURL(raw, defaultNS)
	if err != nil {
		return false, err.Error()
	}
	domain := ""
	if p, err := e.linkerdParams(ctx); err == nil {
		domain = p.ClusterDomain
	}
	switch {
	case r.name != s.Service.Name || r.namespace != s.Namespace:
		return false, fmt.Sprintf("it addresses Service %s/%s, not %s/%s", r.namespace, r.name, s.Namespace, s.Service.Name)
	case r.domain != "" && domain != "" && r.domain != domain:
		return false, fmt.Sprintf("it uses cluster domain %s, but the cluster's is %s", r.domain, domain)
	case r.port != int(s.Port):
		return false, fmt.Sprintf("it uses port %d, but the Service listens on %d", r.port, s.Port)
	}
	return true, ""
}

func (e *Env) checkMetricsAPIURL(ctx context.Context) error {
	s, err := e.Server(ctx)
	if err != nil {
		return err
	}
	d, err := e.metricsAPIDeployment(ctx)
	if err != nil {
		return err
	}
	ns, _ := e.vizNamespace(ctx)
	if d == nil {
		return fmt.Errorf("linkerd-viz has no %s Deployment in namespace %s, so nothing serves the dashboards and linkerd viz stat; reinstall linkerd-viz", viz.MetricsAPIName, ns)
	}
	var got string
	found := false
	for _, c := range d.Spec.Template.Spec.Containers {
		if c.Name != viz.MetricsAPIName {
			continue
		}
		for _, a := range append(append([]string{}, c.Command...), c.Args...) {
			for _, prefix := range []string{"-" + viz.PrometheusURLFlag + "=", "--" + viz.PrometheusURLFlag + "="} {
				if v, ok := strings.CutPrefix(a, prefix); ok {
					got, found = v, true
				}
			}
		}
	}
	if !found {
		return fmt.Errorf("%s has no -%s argument, so it does not query this Prometheus (%s); rewire it with meshmon viz configure", viz.MetricsAPIName, viz.PrometheusURLFlag, s.URL)
	}
	if ok, why := e.sameService(ctx, got, ns, s); !ok {
		return fmt.Errorf("%s queries %s, not this Prometheus (%s): %s; the dashboards and linkerd viz stat show another Prometheus or nothing: rewire it with meshmon viz configure", viz.MetricsAPIName, got, s.URL, why)
	}
	return nil
}

func (e *Env) checkBundledPrometheus(ctx context.Context) error {
	kc, err := e.kube(ctx)
	if err != nil {
		return err
	}
	ns, err := e.vizNamespace(ctx)
	if err != nil {
		return err
	}
	list, err := kc.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{LabelSelector: bundledPrometheusSelector})
	if err != nil {
		return kube.ExplainAPIError("list", "deployments", ns, "", err)
	}
	for _, d := range list.Items {
		if replicas(d.Spec.Replicas) > 0 {
			return fmt.Errorf("linkerd-viz's own Prometheus (Deployment %s/%s) still runs: it scrapes the whole mesh a second time and loses its data on every restart; meshmon viz configure removes it (for a Helm-installed viz: prometheus.enabled=false)", ns, d.Name)
		}
	}
	return nil
}

func (e *Env) checkVizAnnotation(ctx context.Context) error {
	s, err := e.Server(ctx)
	if err != nil {
		return err
	}
	ns, err := e.vizNamespaceObject(ctx)
	if err != nil {
		return err
	}
	v, ok := ns.Annotations[viz.AnnotationExternalPrometheus]
	if !ok || v == "" {
		return fmt.Errorf("namespace %s lacks the annotation %s, so linkerd viz check warns that viz runs without Prometheus; meshmon viz configure sets it (kubectl annotate ns %s %s=%s)",
			ns.Name, viz.AnnotationExternalPrometheus, ns.Name, viz.AnnotationExternalPrometheus, s.URL)
	}
	if ok, why := e.sameService(ctx, v, ns.Name, s); !ok {
		return fmt.Errorf("namespace %s has %s=%s, not this Prometheus (%s): %s; meshmon viz configure corrects it", ns.Name, viz.AnnotationExternalPrometheus, v, s.URL, why)
	}
	return nil
}

// checkVizHelmValues catches a Helm-installed viz that was upgraded again without the
// values meshmon set: its release record and its objects then disagree.
func (e *Env) checkVizHelmValues(ctx context.Context) error {
	kc, err := e.kube(ctx)
	if err != nil {
		return err
	}
	ns, err := e.vizNamespace(ctx)
	if err != nil {
		return err
	}
	drifts, _, err := viz.HelmDrift(ctx, viz.Clients{Kube: kc, Helm: e.deps.Helm}, ns)
	if err != nil || len(drifts) == 0 {
		return err
	}
	msgs := make([]string, 0, len(drifts))
	for _, d := range drifts {
		msgs = append(msgs, d.String())
	}
	return fmt.Errorf("linkerd-viz was changed since meshmon configured it (a helm upgrade without meshmon's values?): %s; run meshmon viz configure again, or add those values where you deploy viz", strings.Join(msgs, "; "))
}

// dashboardConn is the way to viz's web server.
type dashboardConn struct {
	base   string
	host   string
	tunnel *Tunnel
}

func (e *Env) dashboardConnection(ctx context.Context) (*dashboardConn, error) {
	return e.dashboard.get(ctx, func(ctx context.Context) (*dashboardConn, error) {
		if e.opts.DashboardURL != "" {
			u, err := url.Parse(e.opts.DashboardURL)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return nil, fmt.Errorf("--dashboard-url %q is not an http(s) URL", e.opts.DashboardURL)
			}
			return &dashboardConn{base: strings.TrimRight(u.String(), "/")}, nil
		}
		clients, err := e.Clients(ctx)
		if err != nil {
			return nil, err
		}
		ns, err := e.vizNamespace(ctx)
		if err != nil {
			return nil, err
		}
		d, err := clients.Kube.AppsV1().Deployments(ns).Get(ctx, webName, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			return nil, fmt.Errorf("linkerd-viz has no %s Deployment in namespace %s, so there is no dashboard; reinstall linkerd-viz (or pass --dashboard-url)", webName, ns)
		case err != nil:
			return nil, kube.ExplainAPIError("get", "deployments", ns, webName, err)
		}
		sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
		if err != nil {
			return nil, fmt.Errorf("Deployment %s/%s has an invalid selector: %w", ns, webName, err)
		}
		port := webPort
		for _, c := range d.Spec.Template.Spec.Containers {
			for _, p := range c.Ports {
				if c.Name == webName && p.Name == "http" {
					port = int(p.ContainerPort)
				}
			}
		}
		t, err := e.deps.PortForward(ctx, clients, kube.ForwardTarget{Namespace: ns, Selector: sel.String(), Port: port, What: "the linkerd-viz dashboard"})
		if err != nil {
			return nil, fmt.Errorf("%w (or pass --dashboard-url)", err)
		}
		e.track(t)
		return &dashboardConn{base: "http://" + t.Addr, host: dashboardHost, tunnel: t}, nil
	})
}

func (e *Env) dropDashboard() {
	if c, ok := e.dashboard.current(); ok && c.tunnel != nil {
		c.tunnel.Stop()
	}
	e.dashboard.reset()
}

// dashboardGet fetches path from the dashboard and returns the body of a
// 200 answer.
func (e *Env) dashboardGet(ctx context.Context, c *dashboardConn, path string) ([]byte, int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	if err != nil {
		return nil, 0, err
	}
	if c.host != "" {
		// The web server only answers Host names it is configured for.
		req.Host = c.host
	}
	resp, err := e.httpClient().Do(req)
	if err != nil {
		msg := err.Error()
		if c.tunnel != nil && c.tunnel.LastError != nil {
			if fe := c.tunnel.LastError(); fe != nil {
				msg += fmt.Sprintf(" (port-forward to pod %s: %v)", c.tunnel.Pod, fe)
			}
		}
		return nil, 0, fmt.Errorf("GET %s on the dashboard: %s", path, msg)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxDashboardBody))
	if err != nil {
		return nil, resp.StatusCode, fmt.Errorf("GET %s on the dashboard: reading the answer: %w", path, err)
	}
	return body, resp.StatusCode, nil
}

func excerptBody(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

func (e *Env) checkDashboard(ctx context.Context) error {
	c, err := e.dashboardConnection(ctx)
	if err != nil {
		return err
	}
	body, code, err := e.dashboardGet(ctx, c, "/")
	if err != nil {
		return err
	}
	switch {
	case code == http.StatusBadRequest && c.host == "":
		return errors.New("the dashboard answered / with HTTP 400: the web server refuses the Host header of --dashboard-url (its -enforced-host setting accepts localhost and its Service name by default); use such a URL, e.g. one of `linkerd viz dashboard`")
	case code == http.StatusBadRequest:
		return fmt.Errorf("the dashboard answered / with HTTP 400: the web server refuses the Host header %q (its -enforced-host setting was changed); allow localhost there", c.host)
	case code != http.StatusOK:
		return fmt.Errorf("the dashboard answered / with HTTP %d: %q; see kubectl logs -n %s deploy/%s", code, excerptBody(body), e.vizNamespaceOr(ctx), webName)
	}
	body, code, err = e.dashboardGet(ctx, c, "/api/version")
	if err != nil {
		return err
	}
	if code != http.StatusOK {
		return fmt.Errorf("the dashboard answered /api/version with HTTP %d: %q", code, excerptBody(body))
	}
	var v struct {
		Version string `json:"version"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		return fmt.Errorf("the dashboard's /api/version is not JSON (%q): is this linkerd-viz's web server?", excerptBody(body))
	}
	if v.Version != "" {
		return healthcheck.Detail("\t* linkerd-viz " + v.Version)
	}
	return nil
}

// tpsReport is the part of /api/tps-reports the check reads.
type tpsReport struct {
	Ok *struct {
		StatTables []struct {
			PodGroup struct {
				Rows []struct {
					Resource struct {
						Namespace string `json:"namespace"`
						Type      string `json:"type"`
						Name      string `json:"name"`
					} `json:"resource"`
					Stats json.RawMessage `json:"stats"`
				} `json:"rows"`
			} `json:"podGroup"`
		} `json:"statTables"`
	} `json:"ok"`
	Error json.RawMessage `json:"error"`
}

// apiError digs the message out of the dashboard's error shapes:
// {"error":"msg"} and {"error":{"error":"msg"}}.
func apiError(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var o struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(raw, &o) == nil && o.Error != "" {
		return o.Error
	}
	return string(raw)
}

func (e *Env) checkDashboardData(ctx context.Context) error {
	c, err := e.dashboardConnection(ctx)
	if err != nil {
		return err
	}
	body, code, err := e.dashboardGet(ctx, c, tpsQuery)
	if err != nil {
		return err
	}
	var rep tpsReport
	jerr := json.Unmarshal(body, &rep)
	if len(rep.Error) > 0 && string(rep.Error) != "null" {
		return fmt.Errorf("the dashboard cannot show traffic: metrics-api failed: %s; check where metrics-api sends its queries (-prometheus-url) and that Prometheus' policy authorizes metrics-api", apiError(rep.Error))
	}
	if code != http.StatusOK {
		return fmt.Errorf("the dashboard answered %s with HTTP %d: %q", tpsQuery, code, excerptBody(body))
	}
	if jerr != nil || rep.Ok == nil {
		return fmt.Errorf("the dashboard's %s answer is not a stat summary (%q)", tpsQuery, excerptBody(body))
	}
	rows, withStats := 0, 0
	for _, t := range rep.Ok.StatTables {
		for _, r := range t.PodGroup.Rows {
			rows++
			if len(r.Stats) > 0 && string(r.Stats) != "null" {
				withStats++
			}
		}
	}
	if withStats == 0 {
		return healthcheck.Warn(errors.New(noTrafficMessage(rows)))
	}
	return healthcheck.Detail(fmt.Sprintf("\t* %d %s with traffic data", withStats, plural(withStats, "deployment", "deployments")))
}

func noTrafficMessage(rows int) string {
	if rows == 0 {
		return "the dashboard lists no deployment: metrics-api found no meshed workload"
	}
	return fmt.Sprintf("the dashboard lists %d %s but no traffic for any: either the mesh had no requests in the last minute, or metrics-api reads a Prometheus without proxy data (see the other viz checks)",
		rows, plural(rows, "deployment", "deployments"))
}
