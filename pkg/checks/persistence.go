package checks

import (
	"bytes"
	"context"
	"fmt"
	"math/big"
	"path"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/meshmon/meshmon/pkg/healthcheck"
	"github.com/meshmon/meshmon/pkg/kube"
	"github.com/meshmon/meshmon/pkg/prom"
	"github.com/meshmon/meshmon/pkg/release"
)

// defaultTSDBPath is Prometheus' --storage.tsdb.path default, relative to its working directory.
const defaultTSDBPath = "data/"

// claims are the data volume claims of the server.
type claims struct {
	// Volume is the pod volume holding the TSDB; EmptyDir is set when it is one.
	Volume   string
	EmptyDir bool
	// Names are the PVCs the server uses (one per replica for a StatefulSet).
	Names []string
	// Found are the PVCs that exist, by name.
	Found map[string]*corev1.PersistentVolumeClaim
}

func (e *Env) dataClaims(ctx context.Context) (*claims, error) {
	return e.claims.get(ctx, func(ctx context.Context) (*claims, error) {
		s, err := e.Server(ctx)
		if err != nil {
			return nil, err
		}
		w, err := e.serverWorkload(ctx)
		if err != nil {
			return nil, err
		}
		c, err := claimsOf(w)
		if err != nil {
			return nil, err
		}
		kc, err := e.kube(ctx)
		if err != nil {
			return nil, err
		}
		c.Found = map[string]*corev1.PersistentVolumeClaim{}
		for _, n := range c.Names {
			pvc, err := kc.CoreV1().PersistentVolumeClaims(s.Namespace).Get(ctx, n, metav1.GetOptions{})
			switch {
			case apierrors.IsNotFound(err):
				continue
			case err != nil:
				return nil, kube.ExplainAPIError("get", "persistentvolumeclaims", s.Namespace, n, err)
			}
			c.Found[n] = pvc
		}
		return c, nil
	})
}

// claimsOf finds the volume Prometheus writes its TSDB to and the PVCs behind it.
func claimsOf(w *workload) (*claims, error) {
	pc, ok := promContainer(w)
	if !ok {
		return nil, fmt.Errorf("%s %s has no recognisable Prometheus container (none named %s, none with --config.file)", w.Kind, w.Name, w.Name)
	}
	tsdb, ok := flagValue(pc, "storage.tsdb.path")
	if !ok {
		tsdb = defaultTSDBPath
	}
	if !path.IsAbs(tsdb) {
		wd := pc.WorkingDir
		if wd == "" {
			// The Prometheus image's working directory.
			wd = "/prometheus"
		}
		tsdb = path.Join(wd, tsdb)
	}
	var mount string
	best := -1
	for _, m := range pc.VolumeMounts {
		mp := path.Clean(m.MountPath)
		if (tsdb == mp || strings.HasPrefix(tsdb, strings.TrimSuffix(mp, "/")+"/")) && len(mp) > best {
			mount, best = m.Name, len(mp)
		}
	}
	if mount == "" {
		return nil, fmt.Errorf("Prometheus writes its data to %s, which is not on any volume of %s %s: the data lives in the container and is lost on every restart; enable persistence (server.persistentVolume.enabled=true)", tsdb, w.Kind, w.Name)
	}
	c := &claims{Volume: mount}
	for _, v := range w.Template.Spec.Volumes {
		if v.Name != mount {
			continue
		}
		switch {
		case v.PersistentVolumeClaim != nil:
			c.Names = []string{v.PersistentVolumeClaim.ClaimName}
		case v.EmptyDir != nil:
			c.EmptyDir = true
		default:
			return nil, fmt.Errorf("Prometheus' data volume %q of %s %s is neither a PersistentVolumeClaim nor an emptyDir; meshmon cannot judge it", mount, w.Kind, w.Name)
		}
		return c, nil
	}
	for _, t := range w.ClaimTemplates {
		if t.Name == mount {
			for i := range max(w.Replicas, 1) {
				c.Names = append(c.Names, fmt.Sprintf("%s-%s-%d", mount, w.Name, i))
			}
			return c, nil
		}
	}
	return nil, fmt.Errorf("%s %s mounts volume %q for Prometheus' data but does not define it", w.Kind, w.Name, mount)
}

// Persistence checks that Prometheus' data is on a volume that outlives
// its pod, its release and its claim, and that a restart kept it.
func Persistence(e *Env) healthcheck.Category {
	return healthcheck.Category{
		Name: CategoryPersistence,
		Checks: []healthcheck.Check{
			{
				ID:          idPVCBound,
				Description: "data volume claim is bound",
				HintAnchor:  "mm-pvc-bound",
				Fatal:       true,
				Retryable:   true,
				Needs:       []string{idServer},
				Run:         fresh(e.checkPVCBound, &e.claims, &e.workload),
			},
			{
				Description: "volume is at least as large as requested",
				HintAnchor:  "mm-pvc-capacity",
				Needs:       []string{idPVCBound},
				Run:         e.checkPVCCapacity,
			},
			{
				Description: "storage class exists",
				HintAnchor:  "mm-storage-class",
				Needs:       []string{idServer},
				Run:         e.checkStorageClass,
			},
			{
				Description: "volume access mode suits Prometheus",
				HintAnchor:  "mm-access-mode",
				Needs:       []string{idPVCBound},
				Run:         e.checkAccessMode,
			},
			{
				Description: "volume is kept when its claim is deleted",
				HintAnchor:  "mm-reclaim-policy",
				Warning:     true,
				Needs:       []string{idPVCBound},
				Run:         e.checkReclaimPolicy,
			},
			{
				Description: "data volume survives helm uninstall",
				HintAnchor:  "mm-keep-annotation",
				Warning:     true,
				Needs:       []string{idPVCBound},
				Run:         e.checkKeep,
			},
			{
				Description: "size-based retention fits the volume",
				HintAnchor:  "mm-retention-size",
				Warning:     true,
				Needs:       []string{idPVCBound},
				Run:         e.checkRetentionSize,
			},
			{
				Description: "data survived a Prometheus restart",
				HintAnchor:  "mm-persistence-proven",
				Needs:       []string{idPVCBound, idPromReady},
				Run:         e.checkPersistenceProven,
			},
		},
	}
}

func (e *Env) checkPVCBound(ctx context.Context) error {
	s, err := e.Server(ctx)
	if err != nil {
		return err
	}
	c, err := e.dataClaims(ctx)
	if err != nil {
		return err
	}
	if c.EmptyDir {
		return fmt.Errorf("Prometheus keeps its data in the emptyDir volume %q, which is lost whenever the pod restarts or moves; install with persistence (server.persistentVolume.enabled=true, meshmon's default)", c.Volume)
	}
	var problems, bound []string
	for _, n := range c.Names {
		pvc, ok := c.Found[n]
		if !ok {
			problems = append(problems, fmt.Sprintf("%s does not exist", n))
			continue
		}
		if pvc.Status.Phase != corev1.ClaimBound {
			class := "the default class"
			if pvc.Spec.StorageClassName != nil {
				class = fmt.Sprintf("class %q", *pvc.Spec.StorageClassName)
			}
			problems = append(problems, fmt.Sprintf("%s is %s (asks for %s of %s)", n, orUnknown(string(pvc.Status.Phase)), requested(pvc), class))
			continue
		}
		bound = append(bound, fmt.Sprintf("%s (%s)", n, capacity(pvc)))
	}
	if len(problems) > 0 {
		return fmt.Errorf("Prometheus' data volume is not bound, so the pod cannot start; see kubectl describe pvc -n %s (no matching PersistentVolume, or the storage class cannot provision one):%s", s.Namespace, bullets(problems))
	}
	return healthcheck.Detail("\t* " + strings.Join(bound, ", "))
}

func orUnknown(s string) string {
	if s == "" {
		return "in an unknown phase"
	}
	return s
}

func requested(pvc *corev1.PersistentVolumeClaim) string {
	q := pvc.Spec.Resources.Requests[corev1.ResourceStorage]
	return q.String()
}

func capacity(pvc *corev1.PersistentVolumeClaim) string {
	q := pvc.Status.Capacity[corev1.ResourceStorage]
	return q.String()
}

// boundClaims returns the existing PVCs in order.
func (e *Env) boundClaims(ctx context.Context) ([]*corev1.PersistentVolumeClaim, error) {
	c, err := e.dataClaims(ctx)
	if err != nil {
		return nil, err
	}
	var out []*corev1.PersistentVolumeClaim
	for _, n := range c.Names {
		if pvc, ok := c.Found[n]; ok {
			out = append(out, pvc)
		}
	}
	return out, nil
}

func (e *Env) checkPVCCapacity(ctx context.Context) error {
	pvcs, err := e.boundClaims(ctx)
	if err != nil {
		return err
	}
	var small []string
	for _, pvc := range pvcs {
		want := pvc.Spec.Resources.Requests[corev1.ResourceStorage]
		got, ok := pvc.Status.Capacity[corev1.ResourceStorage]
		if !ok || got.Cmp(want) < 0 {
			small = append(small, fmt.Sprintf("%s has %s, asked for %s", pvc.Name, orNone(got, ok), want.String()))
		}
	}
	if len(small) > 0 {
		return fmt.Errorf("the data volume is smaller than requested, so Prometheus fills it before retention expects; resize the PVC (if the storage class allows expansion) or move to a larger volume:%s", bullets(small))
	}
	return nil
}

func orNone(q resource.Quantity, ok bool) string {
	if !ok {
		return "no reported capacity"
	}
	return q.String()
}

func (e *Env) checkStorageClass(ctx context.Context) error {
	c, err := e.dataClaims(ctx)
	if err != nil {
		return err
	}
	if c.EmptyDir {
		return healthcheck.Skip("no persistent volume")
	}
	kc, err := e.kube(ctx)
	if err != nil {
		return err
	}
	var claim *corev1.PersistentVolumeClaim
	for _, n := range c.Names {
		if pvc, ok := c.Found[n]; ok {
			claim = pvc
			break
		}
	}
	if claim == nil {
		return healthcheck.Skip("no PVC yet")
	}
	sc := claim.Spec.StorageClassName
	switch {
	case sc != nil && *sc == "":
		return healthcheck.Detail("\t* none: the claim binds to statically provisioned volumes")
	case sc != nil:
		_, err := kc.StorageV1().StorageClasses().Get(ctx, *sc, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			return fmt.Errorf("PVC %s asks for StorageClass %q, which does not exist, so no volume can be provisioned for it; create the class or reinstall with --storage-class naming an existing one (kubectl get storageclass)", claim.Name, *sc)
		case err != nil:
			return kube.ExplainAPIError("get", "storageclasses", "", *sc, err)
		}
		return healthcheck.Detail("\t* " + *sc)
	}
	def, err := defaultStorageClass(ctx, e)
	if err != nil {
		return err
	}
	if def == "" {
		return fmt.Errorf("PVC %s asks for the default StorageClass, but the cluster has none; mark one as default (annotation %s=true) or reinstall with --storage-class", claim.Name, kube.DefaultStorageClassAnnotation)
	}
	return healthcheck.Detail("\t* " + def + " (default)")
}

// defaultStorageClass names the cluster's default class, "" when there is none.
func defaultStorageClass(ctx context.Context, e *Env) (string, error) {
	kc, err := e.kube(ctx)
	if err != nil {
		return "", err
	}
	list, err := kc.StorageV1().StorageClasses().List(ctx, metav1.ListOptions{})
	if err != nil {
		return "", kube.ExplainAPIError("list", "storageclasses", "", "", err)
	}
	if defaults := kube.DefaultStorageClasses(list.Items); len(defaults) > 0 {
		return defaults[0], nil
	}
	return "", nil
}

func (e *Env) checkAccessMode(ctx context.Context) error {
	pvcs, err := e.boundClaims(ctx)
	if err != nil {
		return err
	}
	for _, pvc := range pvcs {
		modes := pvc.Status.AccessModes
		if len(modes) == 0 {
			modes = pvc.Spec.AccessModes
		}
		switch {
		case slices.Contains(modes, corev1.ReadWriteOnce) || slices.Contains(modes, corev1.ReadWriteOncePod):
		case slices.Contains(modes, corev1.ReadWriteMany):
			return healthcheck.Warn(fmt.Errorf("PVC %s is ReadWriteMany, which usually means a network file system: Prometheus' TSDB does not support NFS-like storage and can corrupt on it; use a ReadWriteOnce block volume", pvc.Name))
		default:
			return fmt.Errorf("PVC %s has access modes %v: Prometheus must write to its volume; use ReadWriteOnce", pvc.Name, modes)
		}
	}
	return nil
}

func (e *Env) checkReclaimPolicy(ctx context.Context) error {
	pvcs, err := e.boundClaims(ctx)
	if err != nil {
		return err
	}
	kc, err := e.kube(ctx)
	if err != nil {
		return err
	}
	var deleting []string
	for _, pvc := range pvcs {
		if pvc.Spec.VolumeName == "" {
			continue
		}
		pv, err := kc.CoreV1().PersistentVolumes().Get(ctx, pvc.Spec.VolumeName, metav1.GetOptions{})
		if err != nil {
			return kube.ExplainAPIError("get", "persistentvolumes", "", pvc.Spec.VolumeName, err)
		}
		if pv.Spec.PersistentVolumeReclaimPolicy == corev1.PersistentVolumeReclaimDelete {
			deleting = append(deleting, pv.Name)
		}
	}
	if len(deleting) > 0 {
		return fmt.Errorf("PersistentVolume %s has reclaim policy Delete: deleting the claim (uninstall --delete-data, a deleted namespace, a mistake) destroys the metrics with it; keep them with kubectl patch pv %s -p '{\"spec\":{\"persistentVolumeReclaimPolicy\":\"Retain\"}}'",
			strings.Join(deleting, ", "), strings.Join(deleting, " "))
	}
	return nil
}

func (e *Env) checkKeep(ctx context.Context) error {
	w, err := e.serverWorkload(ctx)
	if err != nil {
		return err
	}
	if w.Kind == "StatefulSet" {
		if w.ClaimsDeletedWithSet {
			return fmt.Errorf("StatefulSet %s deletes its PVCs with itself (persistentVolumeClaimRetentionPolicy.whenDeleted: Delete), so uninstalling the release deletes the metrics; set server.statefulSet.pvcDeleteOnStsDelete=false", w.Name)
		}
		return nil
	}
	pvcs, err := e.boundClaims(ctx)
	if err != nil {
		return err
	}
	inRelease := e.releaseClaims(ctx)
	for _, pvc := range pvcs {
		if pvc.Annotations[release.KeepAnnotation] == "keep" {
			continue
		}
		if inRelease != nil && !inRelease[pvc.Name] {
			// An existing claim the release only mounts: Helm never deletes it.
			continue
		}
		return fmt.Errorf("PVC %s lacks the annotation %s=keep, so helm uninstall (and meshmon uninstall) deletes it with all metrics; add it with kubectl annotate pvc %s -n %s %s=keep (meshmon install sets it)",
			pvc.Name, release.KeepAnnotation, pvc.Name, pvc.Namespace, release.KeepAnnotation)
	}
	return nil
}

// releaseClaims names the PVCs the release's manifest creates; nil when the
// release cannot be read.
func (e *Env) releaseClaims(ctx context.Context) map[string]bool {
	rel, err := e.latestRelease(ctx)
	if err != nil {
		return nil
	}
	out := map[string]bool{}
	for _, doc := range bytes.Split([]byte(rel.Manifest), []byte("\n---")) {
		var obj struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Name string `json:"name"`
			} `json:"metadata"`
		}
		if yaml.Unmarshal(doc, &obj) == nil && obj.Kind == "PersistentVolumeClaim" {
			out[obj.Metadata.Name] = true
		}
	}
	return out
}

// parsePrometheusSize converts a Prometheus size to bytes.
func parsePrometheusSize(s string) (float64, bool) {
	b, ok := prom.ParseSize(strings.TrimSpace(s))
	if !ok {
		return 0, false
	}
	f, _ := new(big.Float).SetInt(b).Float64()
	return f, true
}

func (e *Env) checkRetentionSize(ctx context.Context) error {
	w, err := e.serverWorkload(ctx)
	if err != nil {
		return err
	}
	pc, ok := promContainer(w)
	if !ok {
		return fmt.Errorf("%s %s has no recognisable Prometheus container", w.Kind, w.Name)
	}
	pvcs, err := e.boundClaims(ctx)
	if err != nil {
		return err
	}
	if len(pvcs) == 0 {
		return healthcheck.Skip("no PVC")
	}
	capQ, ok := pvcs[0].Status.Capacity[corev1.ResourceStorage]
	if !ok {
		return healthcheck.Skip("no reported capacity")
	}
	capBytes := capQ.AsApproximateFloat64()
	suggest := fmt.Sprintf("%.0fMB", capBytes*0.9/(1<<20))
	size, set := flagValue(pc, "storage.tsdb.retention.size")
	if !set || size == "" || size == "0" || size == "0B" {
		return fmt.Errorf("no size-based retention is set: when the %s volume fills up, Prometheus stops ingesting; set server.retentionSize to about 90%% of the volume (%s; meshmon install does this)", capQ.String(), suggest)
	}
	b, ok := parsePrometheusSize(size)
	if !ok {
		return fmt.Errorf("--storage.tsdb.retention.size=%s is not a size Prometheus accepts (a number and B, KB, MB, GB, TB, PB or EB); set server.retentionSize like %s", size, suggest)
	}
	if b > capBytes*0.95 {
		return fmt.Errorf("retention size %s leaves less than 5%% of the %s volume for the WAL and compaction, so the volume can fill up before retention deletes anything; set server.retentionSize to about %s", size, capQ.String(), suggest)
	}
	return nil
}

func (e *Env) checkPersistenceProven(ctx context.Context) error {
	pc, err := e.Prometheus(ctx)
	if err != nil {
		return err
	}
	ev, err := pc.Persistence(ctx)
	if err != nil {
		return e.promErr(err)
	}
	if ev.Proven {
		return nil
	}
	restarted, why := e.earlierProcess(ctx, ev.ProcessStart)
	if restarted {
		return fmt.Errorf("data was lost: %s, yet no sample older than the current process (started %s) is left, so the data directory did not survive the restart; check that the TSDB path is on the persistent volume",
			why, ev.ProcessStart.UTC().Format(time.RFC3339))
	}
	return healthcheck.Warn(fmt.Errorf("not yet proven: Prometheus has not restarted since it started writing (process started %s); restart it once to prove the data survives, e.g. kubectl rollout restart %s -n %s, and check again",
		ev.ProcessStart.UTC().Format(time.RFC3339), e.workloadRef(ctx), e.namespaceOrEmpty(ctx)))
}

// earlierProcess looks for proof that an earlier Prometheus process wrote to
// this data directory: a container restart in the current pod after a run
// long enough to have scraped something. A pod recreated on the same volume
// is no proof, since the earlier pod may never have run, and neither is a
// crash loop that died before its first scrape.
func (e *Env) earlierProcess(ctx context.Context, start time.Time) (bool, string) {
	pods, err := e.ServerPods(ctx)
	if err != nil {
		return false, ""
	}
	w, err := e.serverWorkload(ctx)
	if err != nil {
		return false, ""
	}
	pc, ok := promContainer(w)
	if !ok {
		return false, ""
	}
	for _, p := range pods {
		for _, cs := range p.Status.ContainerStatuses {
			t := cs.LastTerminationState.Terminated
			if cs.Name != pc.Name || cs.RestartCount == 0 || t == nil || t.StartedAt.IsZero() || !t.StartedAt.Time.Before(start) {
				continue
			}
			if t.FinishedAt.Sub(t.StartedAt.Time) < minWritingRun {
				continue
			}
			return true, fmt.Sprintf("container %s of pod %s ran from %s to %s before its last restart",
				cs.Name, p.Name, t.StartedAt.UTC().Format(time.RFC3339), t.FinishedAt.UTC().Format(time.RFC3339))
		}
	}
	return false, ""
}

// minWritingRun is how long a Prometheus process surely runs before its
// samples are in the WAL that the next process replays.
const minWritingRun = time.Minute

// workloadRef names the server workload for kubectl, e.g. deployment/prometheus-server.
func (e *Env) workloadRef(ctx context.Context) string {
	if s, err := e.Server(ctx); err == nil {
		return strings.ToLower(s.WorkloadKind) + "/" + s.WorkloadName
	}
	return "deployment/" + release.ServerFullname(e.opts.ReleaseName)
}

func (e *Env) namespaceOrEmpty(ctx context.Context) string {
	ns, _ := e.promNamespace(ctx)
	return ns
}
