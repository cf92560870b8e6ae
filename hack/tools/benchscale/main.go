// Command benchscale is the Go half of `make bench-scale` (hack/bench-scale.sh):
// it fills the local test cluster with meshed kwok pods, waits until the real
// Prometheus scrapes them, runs one meshmon command while counting what it
// cost, and prints the table. Run it inside the cluster's network namespace
// (hack/in-cluster.sh).
//
//	benchscale populate -n N             nodes, namespaces and N meshed pods
//	benchscale wait-targets -n N         until Prometheus scrapes N bench pods, all up
//	benchscale measure -out F -label L -n N -- CMD ARGS...
//	benchscale table -in F               medians as a markdown table
//
// measure records wall time, user and system CPU and peak RSS of the child
// (wait4's rusage), the Kubernetes API requests whose User-Agent starts with
// "meshmon/" (from the API server's audit log: apiserver_request_total has
// no user-agent label) and the requests and response bytes Prometheus served
// (its own prometheus_http_* metrics, /metrics excluded).
package main

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// The layout of the bench mesh: at most maxNamespaces namespaces of at most
// maxPerNamespace pods, podsPerNode pods on each kwok node (one /24 each).
const (
	maxNamespaces   = 200
	maxPerNamespace = 25
	podsPerNode     = 250
	benchLabel      = "meshmon.bench/pod"
	proxyImage      = "cr.l5d.io/linkerd/proxy:edge-26.8.3"
)

func main() {
	if len(os.Args) < 2 {
		fail(errors.New("usage: benchscale populate|wait-targets|measure|table [flags]"))
	}
	var err error
	switch os.Args[1] {
	case "populate":
		err = populate(os.Args[2:])
	case "wait-targets":
		err = waitTargets(os.Args[2:])
	case "measure":
		err = measure(os.Args[2:])
	case "table":
		err = table(os.Args[2:])
	default:
		err = fmt.Errorf("unknown subcommand %q (populate, wait-targets, measure, table)", os.Args[1])
	}
	if err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "benchscale:", err)
	os.Exit(1)
}

// layout returns how many namespaces and pods per namespace hold n pods.
func layout(n int) (namespaces, per int) {
	namespaces = min(maxNamespaces, max(1, n/2))
	return namespaces, max(1, n/namespaces)
}

func populate(args []string) error {
	fs := flag.NewFlagSet("populate", flag.ContinueOnError)
	kubeconfig := fs.String("kubeconfig", os.Getenv("KUBECONFIG"), "admin kubeconfig")
	n := fs.Int("n", 100, "meshed pods")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		return err
	}
	cfg.QPS, cfg.Burst = 1000, 2000
	cfg.UserAgent = "benchscale"
	kc, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	ctx := context.Background()
	nsCount, per := layout(*n)
	type podRef struct{ ns, name, node string }
	var pods []podRef
	nodes := map[int]bool{}
	for i := range nsCount {
		for j := range per {
			slot := i*maxPerNamespace + j
			nodes[slot/podsPerNode] = true
			pods = append(pods, podRef{fmt.Sprintf("bench-%03d", i), fmt.Sprintf("app-%02d", j), fmt.Sprintf("kwok-bench-%02d", slot/podsPerNode)})
		}
	}
	for k := range nodes {
		node := &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{
				Name:        fmt.Sprintf("kwok-bench-%02d", k),
				Annotations: map[string]string{"node.alpha.kubernetes.io/ttl": "0", "kwok.x-k8s.io/node": "fake"},
				Labels:      map[string]string{"kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64", "type": "kwok", "kubernetes.io/hostname": fmt.Sprintf("kwok-bench-%02d", k)},
			},
			Spec: corev1.NodeSpec{PodCIDR: fmt.Sprintf("10.244.%d.0/24", 100+k), PodCIDRs: []string{fmt.Sprintf("10.244.%d.0/24", 100+k)}},
		}
		if _, err := kc.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating node %s: %w", node.Name, err)
		}
	}
	for i := range nsCount {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("bench-%03d", i), Annotations: map[string]string{"linkerd.io/inject": "enabled"}}}
		if _, err := kc.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating namespace %s: %w", ns.Name, err)
		}
	}
	work := make(chan podRef)
	errs := make(chan error, len(pods))
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for p := range work {
				if _, err := kc.CoreV1().Pods(p.ns).Create(ctx, meshedPod(p.ns, p.name, p.node), metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
					errs <- fmt.Errorf("creating pod %s/%s: %w", p.ns, p.name, err)
				}
			}
		})
	}
	t0 := time.Now()
	for _, p := range pods {
		work <- p
	}
	close(work)
	wg.Wait()
	close(errs)
	if err := errors.Join(slices.Collect(chanSeq(errs))...); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "benchscale: %d pods in %d namespaces on %d nodes created in %s\n", len(pods), nsCount, len(nodes), time.Since(t0).Round(time.Millisecond))
	// Until every bench pod runs with an IP (kwok plays the kubelet).
	deadline := time.Now().Add(10 * time.Minute)
	for {
		l, err := kc.CoreV1().Pods(metav1.NamespaceAll).List(ctx, metav1.ListOptions{LabelSelector: benchLabel})
		if err != nil {
			return err
		}
		ready, ips := 0, map[string]bool{}
		for _, p := range l.Items {
			if p.Status.PodIP != "" && p.Status.Phase == corev1.PodRunning {
				ready++
				ips[p.Status.PodIP] = true
			}
		}
		if ready >= len(pods) {
			if len(ips) != ready {
				return fmt.Errorf("%d running bench pods share %d IPs: kwok gave some pods the same address", ready, len(ips))
			}
			fmt.Fprintf(os.Stderr, "benchscale: %d bench pods running with distinct IPs after %s\n", ready, time.Since(t0).Round(time.Millisecond))
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("only %d of %d bench pods run with an IP after 10 minutes", ready, len(pods))
		}
		time.Sleep(2 * time.Second)
	}
}

func chanSeq[T any](c <-chan T) func(func(T) bool) {
	return func(yield func(T) bool) {
		for v := range c {
			if !yield(v) {
				return
			}
		}
	}
}

// meshedPod is what `linkerd inject` makes of a one-container pod, as far as
// meshmon and Prometheus' discovery look at it.
func meshedPod(ns, name, node string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: ns,
			Labels: map[string]string{
				"app": "app", benchLabel: "true",
				"linkerd.io/control-plane-ns":   "linkerd",
				"linkerd.io/proxy-deployment":   "app",
				"linkerd.io/workload-ns":        ns,
				"linkerd.io/proxy-version-hint": "edge-26.8.3",
			},
			Annotations: map[string]string{
				"linkerd.io/inject":                  "enabled",
				"linkerd.io/created-by":              "linkerd/proxy-injector edge-26.8.3",
				"linkerd.io/proxy-version":           "edge-26.8.3",
				"linkerd.io/trust-root-sha256":       "0000000000000000000000000000000000000000000000000000000000000000",
				"linkerd.io/identity-mode":           "default",
				"viz.linkerd.io/tap-enabled":         "true",
				"config.linkerd.io/proxy-admin-port": "4191",
			},
		},
		Spec: corev1.PodSpec{
			NodeName: node,
			Containers: []corev1.Container{
				{Name: "app", Image: "app"},
				{Name: "linkerd-proxy", Image: proxyImage, Ports: []corev1.ContainerPort{
					{Name: "linkerd-proxy", ContainerPort: 4143},
					{Name: "linkerd-admin", ContainerPort: 4191},
				}},
			},
		},
	}
}

type targetsAnswer struct {
	Data struct {
		ActiveTargets []struct {
			Labels map[string]string `json:"labels"`
			Health string            `json:"health"`
		} `json:"activeTargets"`
	} `json:"data"`
}

func waitTargets(args []string) error {
	fs := flag.NewFlagSet("wait-targets", flag.ContinueOnError)
	promURL := fs.String("prom", "http://127.0.0.1:19090", "Prometheus")
	n := fs.Int("n", 100, "bench pods")
	timeout := fs.Duration("timeout", 10*time.Minute, "how long to wait")
	if err := fs.Parse(args); err != nil {
		return err
	}
	t0 := time.Now()
	last := -1
	for {
		up, err := benchTargetsUp(*promURL)
		if err == nil && up >= *n {
			fmt.Fprintf(os.Stderr, "benchscale: Prometheus scrapes %d bench targets, all up, after %s\n", up, time.Since(t0).Round(time.Second))
			return nil
		}
		if err == nil && up != last {
			fmt.Fprintf(os.Stderr, "benchscale: %d of %d bench targets up\n", up, *n)
			last = up
		}
		if time.Since(t0) > *timeout {
			return fmt.Errorf("only %d of %d bench targets up after %s (%v)", up, *n, *timeout, err)
		}
		time.Sleep(3 * time.Second)
	}
}

func benchTargetsUp(promURL string) (int, error) {
	resp, err := httpGet(promURL + "/api/v1/targets?state=active")
	if err != nil {
		return 0, err
	}
	defer func() { _ = resp.Body.Close() }()
	var a targetsAnswer
	if err := json.NewDecoder(resp.Body).Decode(&a); err != nil {
		return 0, err
	}
	up := 0
	for _, t := range a.Data.ActiveTargets {
		if t.Health != "up" {
			continue
		}
		for _, v := range t.Labels {
			if strings.HasPrefix(v, "bench-") {
				up++
				break
			}
		}
	}
	return up, nil
}

// Sample is one measured run.
type Sample struct {
	N        int     `json:"n"`
	Label    string  `json:"label"`
	Exit     int     `json:"exit"`
	WallS    float64 `json:"wall_s"`
	CPUS     float64 `json:"cpu_s"`
	RSSMiB   float64 `json:"rss_mib"`
	APIReqs  int     `json:"api_requests"`
	PromReqs int     `json:"prom_requests"`
	PromKB   float64 `json:"prom_kb"`
	// ByKind counts the API requests by verb and resource.
	ByKind map[string]int `json:"by_kind"`
}

func measure(args []string) error {
	fs := flag.NewFlagSet("measure", flag.ContinueOnError)
	out := fs.String("out", "", "JSON-lines file the sample is appended to")
	label := fs.String("label", "", "what is measured")
	n := fs.Int("n", 0, "bench pods")
	audit := fs.String("audit", "", "the API server's audit log")
	promURL := fs.String("prom", "http://127.0.0.1:19090", "Prometheus")
	ua := fs.String("user-agent", "meshmon/", "prefix of the User-Agent counted")
	logFile := fs.String("log", "", "where the command's output goes (default discarded)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 || *out == "" || *audit == "" {
		return errors.New("usage: measure -out FILE -audit FILE -label L -n N -- CMD [ARGS]")
	}
	off, err := fileSize(*audit)
	if err != nil {
		return err
	}
	promBefore, err := promStats(*promURL)
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(context.Background(), fs.Arg(0), fs.Args()[1:]...)
	sink := io.Discard
	if *logFile != "" {
		f, err := os.OpenFile(*logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return err
		}
		defer func() { _ = f.Close() }()
		fmt.Fprintf(f, "\n$ %s\n", strings.Join(fs.Args(), " "))
		sink = f
	}
	cmd.Stdout, cmd.Stderr = sink, sink
	t0 := time.Now()
	err = cmd.Run()
	wall := time.Since(t0)
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		return fmt.Errorf("running %s: %w", fs.Arg(0), err)
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	// The audit log backend writes an event when the response completes;
	// give the last one a moment to reach the file.
	time.Sleep(300 * time.Millisecond)
	reqs, byKind, err := countAudit(*audit, off, *ua)
	if err != nil {
		return err
	}
	promAfter, err := promStats(*promURL)
	if err != nil {
		return err
	}
	s := Sample{
		N: *n, Label: *label, Exit: cmd.ProcessState.ExitCode(), WallS: wall.Seconds(),
		CPUS:    time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds(),
		RSSMiB:  float64(ru.Maxrss) / 1024, // kilobytes on Linux
		APIReqs: reqs, ByKind: byKind,
		PromReqs: int(promAfter.requests - promBefore.requests),
		PromKB:   (promAfter.bytes - promBefore.bytes) / 1024,
	}
	b, _ := json.Marshal(s)
	f, err := os.OpenFile(*out, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer func() { _ = f.Close() }()
	_, err = f.Write(append(b, '\n'))
	fmt.Fprintf(os.Stderr, "benchscale: n=%d %s: exit %d, %.2fs wall, %.2fs CPU, %.0f MiB, %d API, %d Prometheus requests (%.0f KiB)\n",
		s.N, s.Label, s.Exit, s.WallS, s.CPUS, s.RSSMiB, s.APIReqs, s.PromReqs, s.PromKB)
	return err
}

func fileSize(p string) (int64, error) {
	st, err := os.Stat(p)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}

// auditEvent is one line of the audit log. A long-running request (a port-forward, a watch)
// has two events, ResponseStarted and ResponseComplete, with the same auditID: a request
// counts once.
type auditEvent struct {
	AuditID   string `json:"auditID"`
	UserAgent string `json:"userAgent"`
	Verb      string `json:"verb"`
	URI       string `json:"requestURI"`
	ObjectRef *struct {
		Resource    string `json:"resource"`
		Subresource string `json:"subresource"`
	} `json:"objectRef"`
}

func countAudit(path string, off int64, ua string) (int, map[string]int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, nil, fmt.Errorf("reading the audit log: %w", err)
	}
	defer func() { _ = f.Close() }()
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return 0, nil, err
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	n, by, seen := 0, map[string]int{}, map[string]bool{}
	for sc.Scan() {
		if !bytes.Contains(sc.Bytes(), []byte(`"userAgent":"`+ua)) {
			continue
		}
		var e auditEvent
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil || !strings.HasPrefix(e.UserAgent, ua) {
			continue
		}
		if e.AuditID != "" {
			if seen[e.AuditID] {
				continue
			}
			seen[e.AuditID] = true
		}
		n++
		what := e.URI
		if e.ObjectRef != nil && e.ObjectRef.Resource != "" {
			what = e.ObjectRef.Resource
			if e.ObjectRef.Subresource != "" {
				what += "/" + e.ObjectRef.Subresource
			}
		} else if i := strings.IndexByte(what, '?'); i >= 0 {
			what = what[:i]
		}
		by[e.Verb+" "+what]++
	}
	return n, by, sc.Err()
}

type promCounters struct{ requests, bytes float64 }

// promStats sums Prometheus' own HTTP counters over every handler but
// /metrics (its self-scrape).
func promStats(url string) (promCounters, error) {
	resp, err := httpGet(url + "/metrics")
	if err != nil {
		return promCounters{}, fmt.Errorf("reading Prometheus' own metrics: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	var c promCounters
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := sc.Text()
		var dst *float64
		switch {
		case strings.HasPrefix(line, "prometheus_http_requests_total{"):
			dst = &c.requests
		case strings.HasPrefix(line, "prometheus_http_response_size_bytes_sum{"):
			dst = &c.bytes
		default:
			continue
		}
		if strings.Contains(line, `handler="/metrics"`) {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err == nil {
			*dst += v
		}
	}
	return c, sc.Err()
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func table(args []string) error {
	fs := flag.NewFlagSet("table", flag.ContinueOnError)
	in := fs.String("in", "", "JSON-lines file of samples")
	breakdown := fs.String("breakdown", "check", "label whose API requests are broken down at the largest N")
	if err := fs.Parse(args); err != nil {
		return err
	}
	f, err := os.Open(*in)
	if err != nil {
		return err
	}
	defer func() { _ = f.Close() }()
	type key struct {
		n     int
		label string
	}
	groups := map[key][]Sample{}
	var order []key
	dec := json.NewDecoder(f)
	for {
		var s Sample
		if err := dec.Decode(&s); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return err
		}
		k := key{s.N, s.Label}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], s)
	}
	col := func(ss []Sample, f func(Sample) float64) (med, lo, hi float64) {
		var v []float64
		for _, s := range ss {
			v = append(v, f(s))
		}
		return median(v), slices.Min(v), slices.Max(v)
	}
	fmt.Println("| meshed pods | command | runs | exit | wall s (median, min–max) | CPU s | peak RSS MiB | API requests | Prometheus requests | Prometheus KiB |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|---|")
	maxN := 0
	for _, k := range order {
		ss := groups[k]
		maxN = max(maxN, k.n)
		exits := map[int]bool{}
		for _, s := range ss {
			exits[s.Exit] = true
		}
		var ex []string
		for e := range exits {
			ex = append(ex, strconv.Itoa(e))
		}
		slices.Sort(ex)
		w, wlo, whi := col(ss, func(s Sample) float64 { return s.WallS })
		c, _, _ := col(ss, func(s Sample) float64 { return s.CPUS })
		r, rlo, rhi := col(ss, func(s Sample) float64 { return s.RSSMiB })
		a, alo, ahi := col(ss, func(s Sample) float64 { return float64(s.APIReqs) })
		p, _, _ := col(ss, func(s Sample) float64 { return float64(s.PromReqs) })
		kb, _, _ := col(ss, func(s Sample) float64 { return s.PromKB })
		fmt.Printf("| %d | %s | %d | %s | %.2f (%.2f–%.2f) | %.2f | %.0f (%.0f–%.0f) | %.0f (%.0f–%.0f) | %.0f | %.0f |\n",
			k.n, k.label, len(ss), strings.Join(ex, ","), w, wlo, whi, c, r, rlo, rhi, a, alo, ahi, p, kb)
	}
	if ss := groups[key{maxN, *breakdown}]; len(ss) > 0 {
		by := ss[len(ss)-1].ByKind
		var ks []string
		for k := range by {
			ks = append(ks, k)
		}
		slices.SortFunc(ks, func(a, b string) int {
			if c := cmp.Compare(by[b], by[a]); c != 0 {
				return c
			}
			return strings.Compare(a, b)
		})
		var parts []string
		for _, k := range ks {
			parts = append(parts, fmt.Sprintf("%s ×%d", k, by[k]))
		}
		fmt.Printf("\nAPI requests of `%s` at %d pods (last run), by verb and resource: %s\n", *breakdown, maxN, strings.Join(parts, ", "))
	}
	return nil
}

// httpGet is a GET bound to no deadline but the caller's patience (the bench's own loops).
func httpGet(url string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, url, http.NoBody)
	if err != nil {
		return nil, err
	}
	return http.DefaultClient.Do(req)
}
