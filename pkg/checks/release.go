package checks

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"helm.sh/helm/v4/pkg/release/common"
	releasev1 "helm.sh/helm/v4/pkg/release/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshmon/meshmon/pkg/defaults"
	"github.com/meshmon/meshmon/pkg/healthcheck"
	"github.com/meshmon/meshmon/pkg/kube"
	"github.com/meshmon/meshmon/pkg/prom"
	"github.com/meshmon/meshmon/pkg/release"
)

// defaultListenPort is where Prometheus serves when no --web.listen-address says otherwise.
const defaultListenPort = prom.DefaultListenPort

// workload is the server's Deployment or StatefulSet, as far as the checks need it.
type workload struct {
	Kind, Name    string
	Replicas      int32
	ReadyReplicas int32
	Template      corev1.PodTemplateSpec
	// ClaimTemplates are a StatefulSet's volumeClaimTemplates.
	ClaimTemplates []corev1.PersistentVolumeClaim
	// ClaimsDeletedWithSet: the StatefulSet deletes its PVCs with itself.
	ClaimsDeletedWithSet bool
}

func (e *Env) serverWorkload(ctx context.Context) (*workload, error) {
	return e.workload.get(ctx, func(ctx context.Context) (*workload, error) {
		s, err := e.Server(ctx)
		if err != nil {
			return nil, err
		}
		kc, err := e.kube(ctx)
		if err != nil {
			return nil, err
		}
		w := &workload{Kind: s.WorkloadKind, Name: s.WorkloadName}
		if s.WorkloadKind == "StatefulSet" {
			st, err := kc.AppsV1().StatefulSets(s.Namespace).Get(ctx, s.WorkloadName, metav1.GetOptions{})
			if err != nil {
				return nil, kube.ExplainAPIError("get", "statefulsets", s.Namespace, s.WorkloadName, err)
			}
			w.Replicas, w.ReadyReplicas, w.Template = replicas(st.Spec.Replicas), st.Status.ReadyReplicas, st.Spec.Template
			w.ClaimTemplates = st.Spec.VolumeClaimTemplates
			p := st.Spec.PersistentVolumeClaimRetentionPolicy
			w.ClaimsDeletedWithSet = p != nil && p.WhenDeleted == appsv1.DeletePersistentVolumeClaimRetentionPolicyType
			return w, nil
		}
		d, err := kc.AppsV1().Deployments(s.Namespace).Get(ctx, s.WorkloadName, metav1.GetOptions{})
		if err != nil {
			return nil, kube.ExplainAPIError("get", "deployments", s.Namespace, s.WorkloadName, err)
		}
		w.Replicas, w.ReadyReplicas, w.Template = replicas(d.Spec.Replicas), d.Status.ReadyReplicas, d.Spec.Template
		return w, nil
	})
}

func replicas(p *int32) int32 {
	if p == nil {
		return 1
	}
	return *p
}

// promContainer finds the Prometheus server container: the chart names it
// like the workload; a hand-made workload is recognised by its flags.
func promContainer(w *workload) (*corev1.Container, bool) {
	cs := w.Template.Spec.Containers
	for i := range cs {
		if cs[i].Name == w.Name {
			return &cs[i], true
		}
	}
	for i := range cs {
		for _, a := range append(slices.Clone(cs[i].Command), cs[i].Args...) {
			if strings.HasPrefix(a, "--config.file") || strings.HasPrefix(a, "--storage.tsdb.path") {
				return &cs[i], true
			}
		}
	}
	return nil, false
}

// flagValue returns the value of a --name=value (or --name value) flag.
func flagValue(c *corev1.Container, name string) (string, bool) {
	args := append(slices.Clone(c.Command), c.Args...)
	for i, a := range args {
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			return v, true
		}
		if a == "--"+name && i+1 < len(args) {
			return args[i+1], true
		}
	}
	return "", false
}

// listenPort is the port Prometheus serves on inside its pod.
func listenPort(c *corev1.Container) int32 {
	if v, ok := flagValue(c, "web.listen-address"); ok {
		if i := strings.LastIndex(v, ":"); i >= 0 {
			if p, err := strconv.Atoi(v[i+1:]); err == nil {
				return int32(p)
			}
		}
	}
	return defaultListenPort
}

// nsNeeds are the checks the release namespace depends on: it is the viz
// namespace unless -n names one.
func (e *Env) nsNeeds(ids ...string) []string {
	if e.opts.Namespace == "" {
		ids = append(ids, idViz)
	}
	return append(ids, idAPI)
}

// Release checks the Helm release and the server it runs.
func Release(e *Env) healthcheck.Category {
	return healthcheck.Category{
		Name: CategoryRelease,
		Checks: []healthcheck.Check{
			{
				ID:          idRelease,
				Description: "Prometheus Helm release is deployed",
				HintAnchor:  "mm-release-deployed",
				Fatal:       true,
				Retryable:   true,
				Needs:       e.nsNeeds(),
				Run:         fresh(e.checkReleaseDeployed, &e.releases),
			},
			{
				Description: "chart version is the one meshmon pins",
				HintAnchor:  "mm-chart-version",
				Warning:     true,
				Needs:       []string{idRelease},
				Run:         e.checkChartVersion,
			},
			{
				ID:          idServer,
				Description: "Prometheus server Service and workload exist",
				HintAnchor:  "mm-server-found",
				Fatal:       true,
				Needs:       e.nsNeeds(idLinkerdConfig),
				Run: func(ctx context.Context) error {
					s, err := e.Server(ctx)
					if err != nil {
						return err
					}
					return healthcheck.Detail("\t* " + s.URL)
				},
			},
			{
				ID:          idServerReady,
				Description: "Prometheus server is ready",
				HintAnchor:  "mm-server-ready",
				Fatal:       true,
				Retryable:   true,
				Needs:       []string{idServer},
				Run:         fresh(e.checkServerReady, &e.serverPods),
			},
			{
				Description: "Prometheus pod is meshed and its proxy is ready",
				HintAnchor:  "mm-server-meshed",
				Retryable:   true,
				Needs:       []string{idServerReady, idLinkerdConfig},
				Run:         fresh(e.checkServerMeshed, &e.serverPods),
			},
			{
				Description: "Service port resolves to the Prometheus container port",
				HintAnchor:  "mm-service-port",
				Needs:       []string{idServer},
				Run:         e.checkServicePort,
			},
		},
	}
}

func (e *Env) latestRelease(ctx context.Context) (*releasev1.Release, error) {
	revs, err := e.Releases(ctx)
	if err != nil {
		return nil, err
	}
	if len(revs) == 0 || revs[0] == nil {
		return nil, fmt.Errorf("Helm release %s has no revisions", e.opts.ReleaseName)
	}
	return revs[0], nil
}

func (e *Env) checkReleaseDeployed(ctx context.Context) error {
	rel, err := e.latestRelease(ctx)
	if err != nil {
		return err
	}
	if rel.Info == nil {
		return fmt.Errorf("Helm release %s/%s revision %d has no status information; the release record is damaged: run meshmon install again", rel.Namespace, rel.Name, rel.Version)
	}
	st := rel.Info.Status
	where := fmt.Sprintf("%s/%s", rel.Namespace, rel.Name)
	switch {
	case st == common.StatusDeployed:
		return healthcheck.Detail(fmt.Sprintf("\t* revision %d", rel.Version))
	case st.IsPending():
		since := ""
		if !rel.Info.LastDeployed.IsZero() {
			since = " since " + rel.Info.LastDeployed.UTC().Format("2006-01-02 15:04:05 UTC")
		}
		fix := fmt.Sprintf("roll back to the last good revision with `helm rollback %s %d -n %s`, then run meshmon install again", rel.Name, rel.Version-1, rel.Namespace)
		if rel.Version <= 1 {
			fix = fmt.Sprintf("remove it with `helm uninstall %s -n %s` (the data volume is kept) and run meshmon install again", rel.Name, rel.Namespace)
		}
		return fmt.Errorf("Helm release %s is stuck in %s%s (revision %d): an install or upgrade was interrupted, and Helm refuses further upgrades until that is resolved; %s", where, st, since, rel.Version, fix)
	case st == common.StatusFailed:
		desc := strings.TrimSpace(rel.Info.Description)
		if desc == "" {
			desc = "no reason recorded"
		}
		return fmt.Errorf("the last operation on Helm release %s failed (revision %d: %s); fix the cause and run meshmon install again", where, rel.Version, desc)
	}
	return fmt.Errorf("Helm release %s is %s (revision %d), not deployed; run meshmon install", where, st, rel.Version)
}

func (e *Env) checkChartVersion(ctx context.Context) error {
	rel, err := e.latestRelease(ctx)
	if err != nil {
		return err
	}
	if rel.Chart == nil || rel.Chart.Metadata == nil {
		return fmt.Errorf("Helm release %s/%s does not record its chart; run meshmon install again", rel.Namespace, rel.Name)
	}
	md := rel.Chart.Metadata
	if md.Name != "prometheus" {
		return fmt.Errorf("release %s/%s was made from chart %q, not the prometheus-community \"prometheus\" chart meshmon checks against; the other checks may misjudge it", rel.Namespace, rel.Name, md.Name)
	}
	if md.Version != defaults.ChartVersion {
		return fmt.Errorf("chart prometheus-%s is installed; meshmon pins %s and knows its behaviour: run meshmon install to move to it (or keep yours knowingly)", md.Version, defaults.ChartVersion)
	}
	return nil
}

func (e *Env) checkServerReady(ctx context.Context) error {
	s, err := e.Server(ctx)
	if err != nil {
		return err
	}
	pods, err := e.ServerPods(ctx)
	if err != nil {
		return err
	}
	var live []corev1.Pod
	for _, p := range pods {
		if p.DeletionTimestamp == nil {
			live = append(live, p)
		}
	}
	if len(live) == 0 {
		return fmt.Errorf("%s %s/%s has no pods; see why with kubectl describe %s %s -n %s (scaled to 0, or pods cannot be created)",
			s.WorkloadKind, s.Namespace, s.WorkloadName, strings.ToLower(s.WorkloadKind), s.WorkloadName, s.Namespace)
	}
	var notReady []string
	for i := range live {
		p := &live[i]
		if !kube.PodReady(p) {
			notReady = append(notReady, fmt.Sprintf("%s/%s (%s)", p.Namespace, p.Name, podProblem(p)))
		}
	}
	if len(notReady) > 0 {
		return fmt.Errorf("%d of %d Prometheus %s not ready; see kubectl describe pod -n %s:%s", len(notReady), len(live),
			plural(len(live), "pod is", "pods are"), s.Namespace, bullets(notReady))
	}
	return nil
}

// podProblem names the first reason a pod is not ready.
func podProblem(p *corev1.Pod) string {
	for _, cs := range append(slices.Clone(p.Status.InitContainerStatuses), p.Status.ContainerStatuses...) {
		if w := cs.State.Waiting; w != nil && w.Reason != "" {
			return fmt.Sprintf("container %s: %s", cs.Name, w.Reason)
		}
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status != corev1.ConditionTrue && c.Message != "" {
			return "not scheduled: " + c.Message
		}
	}
	return kube.PodState(p)
}

// proxyContainer finds the Linkerd proxy: a regular container or, on newer
// Linkerd, a native sidecar (an init container that keeps running).
func proxyContainer(p *corev1.Pod, name string) (status *corev1.ContainerStatus, found bool) {
	if slices.ContainsFunc(p.Spec.Containers, func(c corev1.Container) bool { return c.Name == name }) {
		for i := range p.Status.ContainerStatuses {
			if p.Status.ContainerStatuses[i].Name == name {
				return &p.Status.ContainerStatuses[i], true
			}
		}
		return nil, true
	}
	if slices.ContainsFunc(p.Spec.InitContainers, func(c corev1.Container) bool { return c.Name == name }) {
		for i := range p.Status.InitContainerStatuses {
			if p.Status.InitContainerStatuses[i].Name == name {
				return &p.Status.InitContainerStatuses[i], true
			}
		}
		return nil, true
	}
	return nil, false
}

func (e *Env) checkServerMeshed(ctx context.Context) error {
	p, err := e.linkerdParams(ctx)
	if err != nil {
		return err
	}
	s, err := e.Server(ctx)
	if err != nil {
		return err
	}
	pods, err := e.ServerPods(ctx)
	if err != nil {
		return err
	}
	var unmeshed, unready []string
	for i := range pods {
		pod := &pods[i]
		if pod.DeletionTimestamp != nil {
			continue
		}
		st, ok := proxyContainer(pod, p.ProxyContainerName)
		switch {
		case !ok:
			unmeshed = append(unmeshed, pod.Name)
		case st == nil || !st.Ready:
			unready = append(unready, pod.Name)
		}
	}
	if len(unmeshed) > 0 {
		return fmt.Errorf("Prometheus %s no %s container, so %s not meshed: mesh policy cannot protect Prometheus, it cannot scrape proxies that deny unauthenticated clients, and linkerd viz check warns; set the pod annotation %s=enabled (meshmon install does) and restart it with kubectl rollout restart %s/%s -n %s:%s",
			plural(len(unmeshed), "pod has", "pods have"), p.ProxyContainerName, plural(len(unmeshed), "it is", "they are"),
			release.InjectAnnotation, strings.ToLower(s.WorkloadKind), s.WorkloadName, s.Namespace, bullets(unmeshed))
	}
	if len(unready) > 0 {
		return fmt.Errorf("the %s container of %d Prometheus %s not ready; see kubectl logs -n %s <pod> -c %s:%s",
			p.ProxyContainerName, len(unready), plural(len(unready), "pod is", "pods are"), s.Namespace, p.ProxyContainerName, bullets(unready))
	}
	return nil
}

// resolveServicePort follows the Service port to the pod and proves it ends where
// Prometheus listens.
func (e *Env) resolveServicePort(ctx context.Context) (release.PortChain, error) {
	s, err := e.Server(ctx)
	if err != nil {
		return release.PortChain{}, err
	}
	w, err := e.serverWorkload(ctx)
	if err != nil {
		return release.PortChain{}, err
	}
	r, err := s.ContainerPort(w.Template.Spec.Containers)
	if err != nil {
		return r, err
	}
	svc := fmt.Sprintf("Service %s/%s port %d", s.Namespace, s.Service.Name, r.ServicePort)
	pc, ok := promContainer(w)
	if !ok {
		return r, fmt.Errorf("%s %s/%s has no recognisable Prometheus container (none named %s, none with --config.file)", w.Kind, s.Namespace, w.Name, w.Name)
	}
	listen := listenPort(pc)
	if r.ContainerPort != listen {
		where := "no container declares it"
		if r.Container != "" {
			where = "it belongs to container " + r.Container
		}
		return r, fmt.Errorf("%s targets pod port %d (%s), but Prometheus listens on %d: queries through the Service never reach Prometheus; set the Service's targetPort to %d",
			svc, r.ContainerPort, where, listen, listen)
	}
	r.Container = pc.Name
	return r, nil
}

func (e *Env) checkServicePort(ctx context.Context) error {
	r, err := e.resolveServicePort(ctx)
	if err != nil {
		return err
	}
	return healthcheck.Detail(fmt.Sprintf("\t* port %d -> targetPort %s -> container %s port %d", r.ServicePort, r.TargetPort.String(), r.Container, r.ContainerPort))
}

// proxyContainerName is the injected sidecar's name, from linkerd-config
// when it can be read.
func (e *Env) proxyContainerName(ctx context.Context) string {
	if p, err := e.linkerdParams(ctx); err == nil {
		return p.ProxyContainerName
	}
	return defaults.ProxyContainerName
}
