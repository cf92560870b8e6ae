package sim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/meshmon/meshmon/pkg/prom"
)

// DashboardAddr is where kwok sends every port-forward to a pod's port 8084
// (linkerd-viz web's): a server listening here plays the dashboard.
const DashboardAddr = "127.0.0.1:18084"

// webHosts is the Host the real web server accepts by default (its
// -enforced-host flag); it answers 400 to anything else.
var webHosts = regexp.MustCompile(`^(localhost|127\.0\.0\.1|\[::1\])(:\d+)?$`)

// Dashboard stands in for linkerd-viz's web server and, behind it,
// metrics-api: it reads where metrics-api sends its queries (its
// -prometheus-url argument, as in the cluster) and answers the stat API
// from that Prometheus when it is the one being simulated, or with the
// error metrics-api would give when it is another.
type Dashboard struct {
	kc         kubernetes.Interface
	vizNS      string
	promHost   string
	promClient *prom.Client
}

// Traffic is one deployment's row in the dashboard's stat table.
type Traffic struct {
	Namespace, Deployment string
	// Successes is the number of successful requests in the last minute.
	Successes float64
}

// NewDashboard returns the stand-in for the dashboard of the viz install in
// vizNS. promHost is the in-cluster host:port of the Prometheus that
// promURL (a real Prometheus) plays. Serve it at DashboardAddr.
func NewDashboard(kc kubernetes.Interface, vizNS, promHost, promURL string) (*Dashboard, error) {
	pc, err := prom.New(promURL)
	if err != nil {
		return nil, fmt.Errorf("dashboard's Prometheus client for %s: %w", promURL, err)
	}
	return &Dashboard{kc: kc, vizNS: vizNS, promHost: promHost, promClient: pc}, nil
}

func (d *Dashboard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !webHosts.MatchString(r.Host) {
		http.Error(w, fmt.Sprintf("It appears that you are trying to reach this service with a host of '%s'.\nThis does not match /^(localhost|127\\.0\\.0\\.1|web\\.linkerd-viz\\.svc\\.cluster\\.local|web\\.linkerd-viz\\.svc|\\[::1\\])(:\\d+)?$/ and has been denied for security reasons.", r.Host), http.StatusBadRequest)
		return
	}
	switch r.URL.Path {
	case "/":
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, "<!DOCTYPE html><html><head><title>Linkerd</title></head><body><div id=\"main\"></div></body></html>")
	case "/api/version":
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"version":"edge-26.8.3","goVersion":"go1.26"}`)
	case "/api/tps-reports":
		d.tps(w, r)
	default:
		http.NotFound(w, r)
	}
}

func (d *Dashboard) tps(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	w.Header().Set("Content-Type", "application/json")
	fail := func(msg string) {
		w.WriteHeader(http.StatusInternalServerError)
		b, _ := json.Marshal(map[string]string{"error": msg})
		_, _ = w.Write(b)
	}
	target, err := d.metricsAPIPrometheus(ctx)
	if err != nil {
		fail(err.Error())
		return
	}
	if target.Host != d.promHost {
		fail(fmt.Sprintf("rpc error: code = Unknown desc = Query failed: \"sum(increase(response_total{direction=\\\"inbound\\\"}[1m]))\": Post \"%s/api/v1/query\": dial tcp %s: connect: connection refused", target, target.Host))
		return
	}
	traffic, err := d.Traffic(ctx)
	if err != nil {
		fail("rpc error: code = Unknown desc = Query failed: " + err.Error())
		return
	}
	type row struct {
		Resource map[string]string `json:"resource"`
		Window   string            `json:"timeWindow"`
		Stats    map[string]string `json:"stats"`
	}
	rows := []row{}
	for _, t := range traffic {
		rows = append(rows, row{
			Resource: map[string]string{"namespace": t.Namespace, "type": "deployment", "name": t.Deployment},
			Window:   "1m",
			Stats:    map[string]string{"successCount": fmt.Sprintf("%.0f", t.Successes), "failureCount": "0"},
		})
	}
	b, _ := json.Marshal(map[string]any{"ok": map[string]any{"statTables": []any{map[string]any{"podGroup": map[string]any{"rows": rows}}}}})
	_, _ = w.Write(b)
}

// Traffic is what the dashboard's stat table shows: each meshed
// deployment's successful inbound requests over the last minute, as
// Prometheus has them.
func (d *Dashboard) Traffic(ctx context.Context) ([]Traffic, error) {
	vec, _, err := d.promClient.QueryVector(ctx, `sum by (namespace, deployment) (increase(response_total{direction="inbound", classification="success"}[1m]))`, time.Time{})
	if err != nil {
		return nil, err
	}
	var out []Traffic
	for _, s := range vec {
		dep := string(s.Metric["deployment"])
		if dep == "" {
			continue
		}
		out = append(out, Traffic{Namespace: string(s.Metric["namespace"]), Deployment: dep, Successes: float64(s.Value)})
	}
	return out, nil
}

// metricsAPIPrometheus reads metrics-api's -prometheus-url from its Deployment.
func (d *Dashboard) metricsAPIPrometheus(ctx context.Context) (*url.URL, error) {
	dep, err := d.kc.AppsV1().Deployments(d.vizNS).Get(ctx, "metrics-api", metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("metrics-api unavailable: %v", err)
	}
	for _, c := range dep.Spec.Template.Spec.Containers {
		for _, a := range c.Args {
			if v, ok := strings.CutPrefix(a, "-prometheus-url="); ok {
				return url.Parse(v)
			}
		}
	}
	return nil, errors.New("rpc error: code = Unknown desc = Prometheus client not initialized")
}
