package sim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"

	"github.com/meshmon/meshmon/pkg/prom/promtest"
)

// PrometheusAddr is where kwok sends every port-forward to a pod's port
// 9090: a Prometheus listening here plays any Prometheus pod.
const PrometheusAddr = "127.0.0.1:19090"

// tokenLifetime is what the TokenRequest asks for; Sync renews the token
// when half of it is gone.
const tokenLifetime = time.Hour

// PrometheusOptions describe the in-cluster Prometheus of a release that
// StartPrometheus runs for real.
type PrometheusOptions struct {
	// Kube is how the caller reaches the API server; Prometheus' discovery
	// uses its address and CA.
	Kube *rest.Config
	// Namespace and ConfigMap hold the release's prometheus.yml under
	// ConfigKey (default "prometheus.yml").
	Namespace, ConfigMap, ConfigKey string
	// ServiceAccount is the one the server pod runs as; its token lets
	// Prometheus discover pods with the release's own RBAC.
	ServiceAccount string
	// Args are extra flags, e.g. the retention flags of the server container.
	Args []string
	// DataDir keeps the TSDB; empty means Dir/data.
	DataDir string
	// Dir holds the token (and the CA when the kubeconfig embeds it); empty
	// means a temporary directory that Stop removes.
	Dir string
	// Binary is the prometheus executable; empty means promtest.Binary().
	Binary string
	// ListenAddress defaults to PrometheusAddr.
	ListenAddress string
	// Output, when set, receives Prometheus' log.
	Output io.Writer
	// Deployment, when set, is the server Deployment (in Namespace) whose
	// Secret volumes are mounted as the kubelet would: each mounted Secret's
	// keys become files under Dir/secrets, and paths inside the mounts in
	// prometheus.yml (remote_write credentials files, CAs) point at them.
	Deployment string
	// PodLog, when set, is a file that receives Prometheus' log in the CRI
	// log format, for kwok to serve as the server container's log
	// (pods/log); on Restart the old one becomes PreviousPodLog(PodLog).
	PodLog string
}

// Prometheus is the real Prometheus server playing a release's pod.
type Prometheus struct {
	*promtest.Server

	kc        kubernetes.Interface
	o         PrometheusOptions
	ownsDir   bool
	caFile    string
	tokenFile string
	renewAt   time.Time
	podLog    *podLog
	// config is the prometheus.yml Prometheus runs: the ConfigMap's,
	// rewritten for this machine.
	config string
}

// StartPrometheus runs the real Prometheus binary with the configuration
// the release rendered, changed only so that its Kubernetes discovery
// reaches the API server from outside a pod: the API server address, its
// CA, and a token of the release's ServiceAccount (TokenRequest API), which
// also proves the release's ClusterRole allows discovery. ctx bounds the
// start; the server runs until Stop.
func StartPrometheus(ctx context.Context, kc kubernetes.Interface, o PrometheusOptions) (*Prometheus, error) {
	if o.Kube == nil {
		return nil, errors.New("starting the release's Prometheus: no API server configuration (Kube)")
	}
	if o.ConfigKey == "" {
		o.ConfigKey = "prometheus.yml"
	}
	if o.ListenAddress == "" {
		o.ListenAddress = PrometheusAddr
	}
	p := &Prometheus{kc: kc, o: o}
	if o.Dir == "" {
		dir, err := os.MkdirTemp("", "meshmon-sim-prometheus-")
		if err != nil {
			return nil, fmt.Errorf("creating a directory for Prometheus' credentials: %w", err)
		}
		p.o.Dir, p.ownsDir = dir, true
	}
	if p.o.DataDir == "" {
		// Beside the token rather than promtest's own temporary directory,
		// which would not survive Restart.
		p.o.DataDir = filepath.Join(p.o.Dir, "data")
	}
	srv, err := p.start(ctx)
	if err != nil {
		p.removeDir()
		return nil, err
	}
	p.Server = srv
	return p, nil
}

func (p *Prometheus) start(ctx context.Context) (*promtest.Server, error) {
	if err := p.writeCA(); err != nil {
		return nil, err
	}
	raw, err := p.readConfig(ctx)
	if err != nil {
		return nil, err
	}
	if err := p.renewToken(ctx); err != nil {
		return nil, err
	}
	cfg, err := p.render(ctx, raw)
	if err != nil {
		return nil, err
	}
	out := p.o.Output
	if p.o.PodLog != "" {
		if p.podLog, err = openPodLog(p.o.PodLog); err != nil {
			return nil, err
		}
		out = p.podLog
		if p.o.Output != nil {
			out = io.MultiWriter(p.o.Output, p.podLog)
		}
	}
	srv, err := promtest.Run(ctx, promtest.Options{
		Config: cfg, Binary: p.o.Binary, DataDir: p.o.DataDir, ListenAddress: p.o.ListenAddress, Args: p.o.Args, Output: out,
	})
	if err != nil {
		p.closePodLog()
		return nil, err
	}
	p.config = cfg
	return srv, nil
}

// render rewrites the release's prometheus.yml for this machine:
// discovery through the API server, the self-scrape to ListenAddress, and
// paths in the mounted Secrets (written anew) to their local copies.
func (p *Prometheus) render(ctx context.Context, raw string) (string, error) {
	mounts, err := p.materialiseSecrets(ctx)
	if err != nil {
		return "", err
	}
	cfg, err := RewriteConfig(raw, p.o.Kube.Host, p.caFile, p.tokenFile)
	if err == nil {
		cfg, err = PointSelfScrape(cfg, p.o.ListenAddress)
	}
	if err == nil {
		cfg, err = rewriteMountPaths(cfg, mounts)
	}
	if err != nil {
		return "", fmt.Errorf("ConfigMap %s/%s: %w", p.o.Namespace, p.o.ConfigMap, err)
	}
	return cfg, nil
}

func (p *Prometheus) closePodLog() {
	if p.podLog != nil {
		_ = p.podLog.Close()
		p.podLog = nil
	}
}

func (p *Prometheus) writeCA() error {
	tls := p.o.Kube.TLSClientConfig
	switch {
	case tls.CAFile != "":
		p.caFile = tls.CAFile
	case len(tls.CAData) > 0:
		p.caFile = filepath.Join(p.o.Dir, "ca.crt")
		if err := os.WriteFile(p.caFile, tls.CAData, 0o600); err != nil {
			return fmt.Errorf("writing the API server's CA for Prometheus: %w", err)
		}
	default:
		return fmt.Errorf("the kubeconfig names no CA for %s: Prometheus' discovery could not verify the API server", p.o.Kube.Host)
	}
	return nil
}

// renewToken asks for a token of the release's ServiceAccount and writes it
// where Prometheus reads it on every request to the API server.
func (p *Prometheus) renewToken(ctx context.Context) error {
	secs := int64(tokenLifetime / time.Second)
	tok, err := p.kc.CoreV1().ServiceAccounts(p.o.Namespace).CreateToken(ctx, p.o.ServiceAccount,
		&authnv1.TokenRequest{Spec: authnv1.TokenRequestSpec{ExpirationSeconds: &secs}}, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("requesting a token for ServiceAccount %s/%s: %w", p.o.Namespace, p.o.ServiceAccount, err)
	}
	p.tokenFile = filepath.Join(p.o.Dir, "token")
	// Written aside and renamed: Prometheus never reads half a token.
	tmp := p.tokenFile + ".new"
	if err := os.WriteFile(tmp, []byte(tok.Status.Token), 0o600); err != nil {
		return fmt.Errorf("writing the ServiceAccount token: %w", err)
	}
	if err := os.Rename(tmp, p.tokenFile); err != nil {
		return fmt.Errorf("writing the ServiceAccount token: %w", err)
	}
	p.renewAt = time.Now().Add(tokenLifetime / 2)
	return nil
}

func (p *Prometheus) readConfig(ctx context.Context) (string, error) {
	cm, err := p.kc.CoreV1().ConfigMaps(p.o.Namespace).Get(ctx, p.o.ConfigMap, metav1.GetOptions{})
	if err != nil {
		return "", fmt.Errorf("reading the release's configuration: %w", err)
	}
	raw, ok := cm.Data[p.o.ConfigKey]
	if !ok {
		return "", fmt.Errorf("ConfigMap %s/%s has no key %q", p.o.Namespace, p.o.ConfigMap, p.o.ConfigKey)
	}
	return raw, nil
}

// Sync does what the pod's surroundings do for it: renews the ServiceAccount
// token before it expires and updates the mounted Secrets' files (the
// kubelet), and reloads Prometheus when the release's ConfigMap or the
// Secret mounts changed (the chart's config-reloader sidecar), which it
// reports.
func (p *Prometheus) Sync(ctx context.Context) (reloaded bool, err error) {
	if time.Now().After(p.renewAt) {
		if err := p.renewToken(ctx); err != nil {
			return false, err
		}
	}
	raw, err := p.readConfig(ctx)
	if err != nil {
		return false, err
	}
	cfg, err := p.render(ctx, raw)
	if err != nil || cfg == p.config {
		return false, err
	}
	if err := p.Reload(ctx, cfg); err != nil {
		return false, err
	}
	p.config = cfg
	return true, nil
}

// Restart stops the server and starts it again on the same data, with a
// fresh token and the ConfigMap as it is now.
func (p *Prometheus) Restart(ctx context.Context) error {
	p.Server.Stop()
	p.closePodLog()
	srv, err := p.start(ctx)
	if err != nil {
		return err
	}
	p.Server = srv
	return nil
}

// Stop ends Prometheus and removes the directory StartPrometheus created.
func (p *Prometheus) Stop() {
	p.Server.Stop()
	p.closePodLog()
	p.removeDir()
}

func (p *Prometheus) removeDir() {
	if p.ownsDir {
		_ = os.RemoveAll(p.o.Dir)
	}
}

// RewriteConfig points every kubernetes_sd_configs entry of a prometheus.yml
// at apiServer, trusting caFile and authenticating with the token in
// tokenFile; nothing else changes.
func RewriteConfig(promYAML, apiServer, caFile, tokenFile string) (string, error) {
	var cfg map[string]any
	if err := yaml.Unmarshal([]byte(promYAML), &cfg); err != nil {
		return "", fmt.Errorf("parsing prometheus.yml: %w", err)
	}
	jobs, _ := cfg["scrape_configs"].([]any)
	for _, j := range jobs {
		job, _ := j.(map[string]any)
		sds, _ := job["kubernetes_sd_configs"].([]any)
		for _, s := range sds {
			sd, ok := s.(map[string]any)
			if !ok {
				continue
			}
			sd["api_server"] = apiServer
			sd["tls_config"] = map[string]any{"ca_file": caFile}
			sd["authorization"] = map[string]any{"credentials_file": tokenFile}
		}
	}
	out, err := yaml.Marshal(cfg)
	if err != nil {
		return "", fmt.Errorf("writing prometheus.yml: %w", err)
	}
	return string(out), nil
}

// selfTarget is where a Prometheus pod reaches itself in meshmon's
// configuration (the self-scrape job).
const selfTarget = "localhost:9090"

// PointSelfScrape points static targets at selfTarget to addr, where the
// Prometheus playing the pod listens: in the pod, localhost:9090 is
// Prometheus itself.
func PointSelfScrape(promYAML, addr string) (string, error) {
	var cfg map[string]any
	if err := yaml.Unmarshal([]byte(promYAML), &cfg); err != nil {
		return "", fmt.Errorf("parsing prometheus.yml: %w", err)
	}
	jobs, _ := cfg["scrape_configs"].([]any)
	for _, j := range jobs {
		job, _ := j.(map[string]any)
		statics, _ := job["static_configs"].([]any)
		for _, st := range statics {
			sc, _ := st.(map[string]any)
			targets, _ := sc["targets"].([]any)
			for i, tg := range targets {
				if tg == selfTarget {
					targets[i] = addr
				}
			}
		}
	}
	out, err := yaml.Marshal(cfg)
	if err != nil {
		return "", fmt.Errorf("writing prometheus.yml: %w", err)
	}
	return string(out), nil
}
