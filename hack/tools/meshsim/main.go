// Command meshsim plays the data plane of the local test cluster, so that
// meshmon's checks pass against it as against a real mesh: a fake
// linkerd2-proxy on every meshed pod's IP, the control plane's admin ports,
// the release's Prometheus run for real (the prometheus.yml of its
// ConfigMap, the API server reached with its ServiceAccount's token), and a
// stand-in for the viz dashboard. Run it inside the cluster's network
// namespace (hack/in-cluster.sh); everything it binds is there.
//
// usage: meshsim up --kubeconfig FILE --state DIR [flags]
//
// It restarts Prometheus once on the same data after the first scrapes, so
// that persistence is proven, waits until every Linkerd target is scraped
// and the dashboard shows traffic, then writes DIR/ready, prints a "ready"
// line and keeps serving until SIGTERM or SIGINT, following pod churn.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"maps"
	"os"
	"os/signal"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/meshmon/meshmon/e2e/sim"
	"github.com/meshmon/meshmon/pkg/defaults"
	"github.com/meshmon/meshmon/pkg/linkerd"
	"github.com/meshmon/meshmon/pkg/policy"
	"github.com/meshmon/meshmon/pkg/prom"
	"github.com/meshmon/meshmon/pkg/release"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "meshsim:", err)
		os.Exit(1)
	}
}

// pollEvery is how often meshsim looks at Prometheus while it waits.
const pollEvery = time.Second

type options struct {
	kubeconfig, state                    string
	namespace, vizNamespace, releaseName string
	linkerdNamespace, promBin, dataDir   string
	readyTimeout, refresh, sync          time.Duration
	proxySeries                          int
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "up" {
		return errors.New("usage: meshsim up --kubeconfig FILE --state DIR [flags] (meshsim up -h lists them)")
	}
	var o options
	fs := flag.NewFlagSet("meshsim up", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.kubeconfig, "kubeconfig", "", "admin kubeconfig of the cluster (required)")
	fs.StringVar(&o.state, "state", "", "directory for the token, Prometheus' log and data, and the ready file (required)")
	fs.StringVar(&o.namespace, "namespace", "linkerd-viz", "namespace of the Prometheus release")
	fs.StringVar(&o.vizNamespace, "viz-namespace", "linkerd-viz", "namespace of linkerd-viz")
	fs.StringVar(&o.releaseName, "release-name", defaults.ReleaseName, "name of the Prometheus release")
	fs.StringVar(&o.linkerdNamespace, "linkerd-namespace", defaults.LinkerdNamespace, "namespace of the Linkerd control plane")
	fs.StringVar(&o.promBin, "prometheus-bin", "", "Prometheus v3 server with Kubernetes discovery (default: $"+"MESHMON_PROMETHEUS_BIN, then PATH)")
	fs.StringVar(&o.dataDir, "data-dir", "", "Prometheus' TSDB directory (default STATE/data)")
	fs.DurationVar(&o.readyTimeout, "ready-timeout", 3*time.Minute, "how long to wait for the first scrapes")
	fs.DurationVar(&o.refresh, "refresh", 2*time.Second, "how often to re-list pods to follow churn")
	fs.IntVar(&o.proxySeries, "proxy-series", 0, "additional series every meshed pod's fake proxy returns per scrape (make bench-scale gives each a realistic size)")
	fs.DurationVar(&o.sync, "sync", 2*time.Second, "how often to reload a changed ConfigMap and renew the token")
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if o.kubeconfig == "" || o.state == "" || fs.NArg() > 0 {
		return errors.New("usage: meshsim up --kubeconfig FILE --state DIR [flags]: --kubeconfig and --state are required, and nothing else")
	}
	if err := os.MkdirAll(o.state, 0o755); err != nil {
		return fmt.Errorf("creating the state directory: %w", err)
	}
	if o.dataDir == "" {
		o.dataDir = filepath.Join(o.state, "data")
	}
	logger := log.New(stderr, "meshsim: ", log.LstdFlags)
	return up(ctx, o, stdout, logger)
}

func up(ctx context.Context, o options, stdout io.Writer, logger *log.Logger) error {
	kcfg, err := clientcmd.BuildConfigFromFlags("", o.kubeconfig)
	if err != nil {
		return fmt.Errorf("loading kubeconfig %s: %w", o.kubeconfig, err)
	}
	kc, err := kubernetes.NewForConfig(kcfg)
	if err != nil {
		return fmt.Errorf("Kubernetes client: %w", err)
	}
	ready := filepath.Join(o.state, "ready")
	_ = os.Remove(ready)
	start, cancel := context.WithTimeout(ctx, o.readyTimeout)
	defer cancel()

	params, err := linkerd.Discover(start, kc, o.linkerdNamespace, o.vizNamespace)
	if err != nil {
		return fmt.Errorf("reading the Linkerd install: %w", err)
	}
	server, err := findServer(start, kc, o, params.ClusterDomain, logger)
	if err != nil {
		return err
	}
	setup, err := serverSetup(start, kc, server)
	if err != nil {
		return err
	}

	// metrics-api queries Prometheus through Prometheus' proxy, which the
	// policy meshmon installed lets through.
	metricsAPI := linkerd.Identity("metrics-api", o.vizNamespace, params.LinkerdNamespace, params.TrustDomain)
	serverPods := release.ServerSelector(o.releaseName)
	mesh := sim.NewMesh(sim.MeshOptions{
		ControlNamespaces: []string{o.linkerdNamespace, o.vizNamespace},
		Authz: func(p *corev1.Pod) (allow, deny []sim.AuthzSample) {
			if p.Namespace != o.namespace || !serverPods.Matches(labels.Set(p.Labels)) {
				return nil, nil
			}
			return []sim.AuthzSample{{Server: policy.ServerName, Port: int(server.Port), ClientID: metricsAPI, Authorization: policy.AdminAuthorizationName, Requests: 17}}, nil
		},
		ExtraSeries: o.proxySeries,
	})
	defer func() {
		if err := mesh.Close(); err != nil {
			logger.Print(err)
		}
	}()
	if err := mesh.Refresh(start, kc); err != nil {
		// Pods that failed are tried again by Follow.
		logger.Print(err)
	}
	follow, stopFollow := context.WithCancel(ctx)
	followed := make(chan struct{})
	go func() {
		defer close(followed)
		mesh.Follow(follow, kc, o.refresh, func(err error) { logger.Print(err) })
	}()
	defer func() { stopFollow(); <-followed }()
	logger.Printf("serving %d fake proxies (%s)", len(mesh.Pods()), strings.Join(mesh.Pods(), ", "))

	promLog, err := os.OpenFile(filepath.Join(o.state, "prometheus.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("opening Prometheus' log: %w", err)
	}
	defer func() {
		if err := promLog.Close(); err != nil {
			logger.Printf("closing Prometheus' log: %v", err)
		}
	}()
	p, err := sim.StartPrometheus(start, kc, sim.PrometheusOptions{
		Kube: kcfg, Namespace: o.namespace, ConfigMap: setup.configMap, ConfigKey: setup.configKey,
		ServiceAccount: server.ServiceAccount, Args: setup.args, DataDir: o.dataDir, Dir: o.state,
		Binary: o.promBin, Output: promLog,
	})
	if err != nil {
		return err
	}
	defer p.Stop()
	if err := writePIDs(o.state, p.PID()); err != nil {
		return err
	}
	logger.Printf("Prometheus %s (pid %d) runs ConfigMap %s/%s with %s, data in %s",
		p.Addr, p.PID(), o.namespace, setup.configMap, strings.Join(setup.args, " "), p.DataDir)

	host := strings.TrimPrefix(server.URL, "http://")
	dash, err := sim.NewDashboard(kc, o.vizNamespace, host, p.URL)
	if err != nil {
		return err
	}
	dashSrv, err := sim.Serve(sim.DashboardAddr, dash)
	if err != nil {
		return err
	}
	defer func() {
		if err := dashSrv.Stop(); err != nil {
			logger.Print(err)
		}
	}()
	logger.Printf("dashboard stand-in at %s answers for %s", sim.DashboardAddr, host)

	pc, err := prom.New(p.URL)
	if err != nil {
		return err
	}
	if _, err := waitScraped(start, kc, pc, pollEvery, logger); err != nil {
		return err
	}
	// What the persistence check looks for: samples older than the running
	// process, on the same data directory.
	if err := p.Restart(start); err != nil {
		return fmt.Errorf("restarting Prometheus: %w", err)
	}
	if err := writePIDs(o.state, p.PID()); err != nil {
		return err
	}
	logger.Printf("Prometheus restarted on the same data (pid %d)", p.PID())
	meshed, err := waitScraped(start, kc, pc, pollEvery, logger)
	if err != nil {
		return err
	}
	if err := waitTraffic(start, dash, meshed, pollEvery); err != nil {
		return err
	}
	if err := os.WriteFile(ready, []byte(time.Now().UTC().Format(time.RFC3339)+"\n"), 0o644); err != nil {
		return fmt.Errorf("writing the ready file: %w", err)
	}
	defer func() {
		if err := os.Remove(ready); err != nil {
			logger.Printf("removing the ready file: %v", err)
		}
	}()
	fmt.Fprintf(stdout, "meshsim: ready: Prometheus at %s (restarted once on its data) scrapes %d meshed pods; dashboard at %s\n",
		p.Addr, len(meshed), sim.DashboardAddr)

	tick := time.NewTicker(o.sync)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			logger.Print("stopping")
			return nil
		case <-p.Done():
			_, err := p.Exited()
			return fmt.Errorf("Prometheus exited (%v); its log is in %s", err, promLog.Name())
		case <-tick.C:
			reloaded, err := p.Sync(ctx)
			switch {
			case err != nil && ctx.Err() == nil:
				logger.Print(err)
			case reloaded:
				logger.Printf("ConfigMap %s/%s changed: Prometheus reloaded it", o.namespace, setup.configMap)
			}
		}
	}
}

// findServer waits for the release's server Service and workload, which
// install may still be creating.
func findServer(ctx context.Context, kc kubernetes.Interface, o options, clusterDomain string, logger *log.Logger) (*release.Server, error) {
	for {
		s, err := release.FindServer(ctx, kc, o.namespace, o.releaseName, clusterDomain)
		if err == nil {
			return s, nil
		}
		if !errors.Is(err, release.ErrServerNotFound) {
			return nil, err
		}
		logger.Printf("waiting for release %s/%s: %v", o.namespace, o.releaseName, err)
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("no Prometheus release to play: %w (install it first: kubectl meshmon install)", err)
		case <-time.After(2 * time.Second):
		}
	}
}

// setup is what the server container runs with, as far as a Prometheus
// outside the pod can follow it.
type setup struct {
	configMap, configKey string
	// args are the retention flags.
	args []string
}

// serverSetup reads the server workload's pod template: the ConfigMap
// mounted where --config.file points, and the retention flags.
func serverSetup(ctx context.Context, kc kubernetes.Interface, s *release.Server) (setup, error) {
	var tmpl corev1.PodTemplateSpec
	switch s.WorkloadKind {
	case "Deployment":
		d, err := kc.AppsV1().Deployments(s.Namespace).Get(ctx, s.WorkloadName, metav1.GetOptions{})
		if err != nil {
			return setup{}, fmt.Errorf("reading Deployment %s/%s: %w", s.Namespace, s.WorkloadName, err)
		}
		tmpl = d.Spec.Template
	default:
		st, err := kc.AppsV1().StatefulSets(s.Namespace).Get(ctx, s.WorkloadName, metav1.GetOptions{})
		if err != nil {
			return setup{}, fmt.Errorf("reading StatefulSet %s/%s: %w", s.Namespace, s.WorkloadName, err)
		}
		tmpl = st.Spec.Template
	}
	return templateSetup(s.WorkloadKind+" "+s.Namespace+"/"+s.WorkloadName, tmpl)
}

func templateSetup(workload string, tmpl corev1.PodTemplateSpec) (setup, error) {
	for _, c := range tmpl.Spec.Containers {
		var cfgPath string
		var out setup
		for _, a := range c.Args {
			if v, ok := strings.CutPrefix(a, "--config.file="); ok {
				cfgPath = v
			}
			if strings.HasPrefix(a, "--storage.tsdb.retention.") {
				out.args = append(out.args, a)
			}
		}
		if cfgPath == "" {
			continue
		}
		dir := path.Dir(cfgPath)
		for _, m := range c.VolumeMounts {
			if path.Clean(m.MountPath) != dir {
				continue
			}
			for _, v := range tmpl.Spec.Volumes {
				if v.Name == m.Name && v.ConfigMap != nil {
					out.configMap, out.configKey = v.ConfigMap.Name, path.Base(cfgPath)
					return out, nil
				}
			}
		}
		return setup{}, fmt.Errorf("%s: container %s reads %s, but no ConfigMap volume is mounted at %s", workload, c.Name, cfgPath, dir)
	}
	return setup{}, fmt.Errorf("%s: no container runs Prometheus with --config.file", workload)
}

// writePIDs records the Prometheus process, so that hack/cluster-down.sh
// stops it even if meshsim could not.
func writePIDs(state string, pid int) error {
	f := filepath.Join(state, "pids")
	if err := os.WriteFile(f+".new", fmt.Appendf(nil, "prometheus %d\n", pid), 0o644); err != nil {
		return fmt.Errorf("recording Prometheus' pid: %w", err)
	}
	if err := os.Rename(f+".new", f); err != nil {
		return fmt.Errorf("recording Prometheus' pid: %w", err)
	}
	return nil
}

// waitScraped polls until Prometheus scrapes every meshed pod and Linkerd
// target, none down; it logs what it still waits for when that changes.
func waitScraped(ctx context.Context, kc kubernetes.Interface, pc *prom.Client, every time.Duration, logger *log.Logger) ([]corev1.Pod, error) {
	last := ""
	for {
		meshed, err := sim.Scraped(ctx, kc, pc, 0)
		if err == nil {
			logger.Printf("Prometheus scrapes all %d meshed pods and every Linkerd target", len(meshed))
			return meshed, nil
		}
		if msg := firstLine(err.Error()); msg != last {
			logger.Printf("waiting for scrapes: %s", msg)
			last = msg
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("Prometheus did not scrape every Linkerd target in time: %w", err)
		case <-time.After(every):
		}
	}
}

// waitTraffic polls until the dashboard shows traffic for every meshed
// Deployment: an increase over a minute needs two scrapes.
func waitTraffic(ctx context.Context, d *sim.Dashboard, meshed []corev1.Pod, every time.Duration) error {
	want := map[string]bool{}
	for _, p := range meshed {
		if dep := p.Labels["linkerd.io/proxy-deployment"]; dep != "" {
			want[p.Namespace+"/"+dep] = true
		}
	}
	for {
		rows, err := d.Traffic(ctx)
		missing := maps.Clone(want)
		if err == nil {
			for _, r := range rows {
				if r.Successes > 0 {
					delete(missing, r.Namespace+"/"+r.Deployment)
				}
			}
			if len(missing) == 0 {
				return nil
			}
			err = fmt.Errorf("no traffic yet for %d of %d Deployments", len(missing), len(want))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the dashboard shows no traffic: %w", err)
		case <-time.After(every):
		}
	}
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
