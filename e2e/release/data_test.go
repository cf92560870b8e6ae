//go:build e2e

package release

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8stypes "k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/meshmon/meshmon/e2e/framework"
	"github.com/meshmon/meshmon/e2e/sim"
	"github.com/meshmon/meshmon/pkg/prom"
	"github.com/meshmon/meshmon/pkg/prom/promtest"
)

// The release under test in TestDataSurvivesReinstall: its own namespace, and a
// StorageClass with exactly one volume, so the claim can bind nothing else.
const (
	dataNS     = "mm-data"
	dataClass  = "mm-data"
	dataPV     = "mm-data-pv"
	dataServer = "prometheus-server"
	// dataSrvName is the policy Server the sample is counted for: a label value no
	// other test's series has.
	dataSrvName = "data-survives"
	// bumpedChartVersion is the fixture chart's version (29.27.0) one minor on.
	bumpedChartVersion = "29.28.0"
)

// TestDataSurvivesReinstall proves with a sample, not only with the claim's UID, that
// the metrics outlive uninstall, install and a chart version change: the real
// Prometheus, running the release's configuration on the bound volume's directory (as
// the kubelet mounts it), scrapes a known series; after each step a new Prometheus on
// the same directory returns the same samples at their original timestamps, although
// nothing serves the series any more. uninstall --delete-data then deletes the claim;
// the volume's reclaim policy (Retain here) decides what happens to the data.
func TestDataSurvivesReinstall(t *testing.T) {
	env := framework.Current(t)
	kc, _ := env.Clients(t)
	createNamespace(t, kc, dataNS)
	hostDir := oneVolumeClass(t, kc)
	chart := framework.TestChart(t, "prometheus")
	bumped := chartWithVersion(t, chart, bumpedChartVersion)
	install := func(t *testing.T, chart string) string {
		t.Helper()
		return env.MustMeshmon(t, "kubectl", "install", "--skip-check", "--skip-viz", "-n", dataNS, "--chart", chart,
			"--storage-class", dataClass, "--scrape-interval", "1s").Stdout
	}
	query := fmt.Sprintf(`inbound_http_authz_allow_total{srv_name=%q}`, dataSrvName)
	requests := int(time.Now().UnixNano()%900000) + 100000 // the value, different on every run
	var (
		claimUID k8stypes.UID
		dir      string
		at       time.Time // the newest sample's timestamp
		want     string    // every sample up to at, as the first Prometheus returned them
	)

	t.Run("install and write a sample", func(t *testing.T) {
		out := install(t, chart)
		if !strings.Contains(out, "Installed release prometheus (revision 1, chart prometheus 29.27.0) in namespace "+dataNS+".") {
			t.Fatalf("install output:\n%s", out)
		}
		claim := waitBound(t, kc, dataNS, dataServer)
		claimUID = claim.UID
		dir = volumeDir(t, kc, claim)
		if !strings.HasPrefix(dir, hostDir) {
			t.Fatalf("the server's data directory %s is not on the test's volume %s", dir, hostDir)
		}
		mesh := framework.StartFakeMesh(t, kc)
		proxy := mesh.ProxyOf(t, dataNS, dataServer)
		proxy.SetAuthz([]framework.AuthzSample{{Server: dataSrvName, Port: 9090, ClientID: "default.mm-data.serviceaccount.identity.linkerd.cluster.local", Authorization: "data-survives", Requests: requests}}, nil)

		p := startOnVolume(t, env, kc, dir)
		pc := promClient(t, p.URL)
		var got model.Matrix
		framework.Eventually(t, 2*time.Minute, func() error {
			var err error
			got, err = samples(t, pc, query, time.Now())
			if err != nil {
				return err
			}
			if len(got) != 1 || len(got[0].Values) < 3 {
				return fmt.Errorf("want one series with 3 samples or more, have %s", render(got))
			}
			return nil
		})
		for _, s := range got[0].Values {
			if int(s.Value) != requests {
				t.Fatalf("the scraped sample is %v, the proxy serves %d: %s", s.Value, requests, render(got))
			}
		}
		// All samples up to the newest one seen: the target's scrapes are appended in
		// order, so none up to it can arrive later.
		at = got[0].Values[len(got[0].Values)-1].Timestamp.Time()
		first, err := samples(t, pc, query, at)
		if err != nil {
			t.Fatal(err)
		}
		want = render(first)
		stopCleanly(t, p)
		// From here on nothing serves the series: whatever a later Prometheus
		// returns for it was read from the volume.
		proxy.SetAuthz(nil, nil)
		t.Logf("sample %s=%d written to %s, newest at %s", query, requests, dir, at.UTC().Format(time.RFC3339Nano))
	})
	if t.Failed() {
		return
	}
	expectData := func(t *testing.T) {
		t.Helper()
		claim := waitBound(t, kc, dataNS, dataServer)
		if claim.UID != claimUID || claim.Spec.VolumeName != dataPV {
			t.Fatalf("the server's claim is %s on volume %q, was %s on %s", claim.UID, claim.Spec.VolumeName, claimUID, dataPV)
		}
		if d := volumeDir(t, kc, claim); d != dir {
			t.Fatalf("the server's data directory is %s, was %s", d, dir)
		}
		p := startOnVolume(t, env, kc, dir)
		got, err := samples(t, promClient(t, p.URL), query, at)
		if err != nil {
			t.Fatal(err)
		}
		if render(got) != want {
			t.Fatalf("the volume lost the samples:\ngot  %s\nwant %s", render(got), want)
		}
		stopCleanly(t, p)
	}

	t.Run("uninstall keeps the data", func(t *testing.T) {
		r := env.MustMeshmon(t, "kubectl", "uninstall", "--skip-viz", "-n", dataNS)
		if !strings.Contains(r.Stdout, "Kept the data volume: PVC "+dataNS+"/"+dataServer+" (20Gi requested, 50Gi bound, class "+dataClass+", volume "+dataPV+" reclaim Retain") {
			t.Errorf("uninstall output:\n%s", r.Stdout)
		}
		_, err := kc.AppsV1().Deployments(dataNS).Get(ctx(t), dataServer, metav1.GetOptions{})
		gone(t, err, "Deployment "+dataServer)
	})

	t.Run("install again: same volume, same samples", func(t *testing.T) {
		out := install(t, chart)
		if !strings.Contains(out, "Installed release prometheus (revision 1, chart prometheus 29.27.0)") {
			t.Fatalf("reinstall output:\n%s", out)
		}
		expectData(t)
	})

	t.Run("chart version change: same volume, same samples", func(t *testing.T) {
		before := serverPodUIDs(t, kc)
		out := install(t, bumped)
		if !strings.Contains(out, "Upgraded release prometheus to revision 2 (chart prometheus "+bumpedChartVersion+"; chart 29.27.0 → "+bumpedChartVersion) {
			t.Fatalf("upgrade output:\n%s", out)
		}
		// The rollout replaced the pod; the new one mounts the same claim.
		if after := serverPodUIDs(t, kc); len(before) != 1 || len(after) != 1 || after[0] == before[0] {
			t.Errorf("server pods %v after the upgrade, %v before: the pod was not replaced", after, before)
		}
		expectData(t)
	})

	t.Run("uninstall --delete-data", func(t *testing.T) {
		r := env.MustMeshmon(t, "kubectl", "uninstall", "--skip-viz", "-n", dataNS, "--delete-data", "--yes")
		for _, w := range []string{
			"Deleted the data volume: PVC " + dataNS + "/" + dataServer,
			"PersistentVolume " + dataPV + " has reclaim policy Retain: the data stays on it",
			"kubectl delete pv " + dataPV,
		} {
			if !strings.Contains(r.Stdout, w) {
				t.Errorf("uninstall --delete-data output lacks %q:\n%s", w, r.Stdout)
			}
		}
		_, err := kc.CoreV1().PersistentVolumeClaims(dataNS).Get(ctx(t), dataServer, metav1.GetOptions{})
		gone(t, err, "PVC "+dataServer)
		// Retain: the volume is Released, still naming the deleted claim, so no new
		// claim binds it, and its data is left in place.
		framework.Eventually(t, time.Minute, func() error {
			pv, err := kc.CoreV1().PersistentVolumes().Get(ctx(t), dataPV, metav1.GetOptions{})
			if err != nil {
				return err
			}
			if pv.Status.Phase != corev1.VolumeReleased || pv.Spec.ClaimRef == nil || pv.Spec.ClaimRef.UID != claimUID {
				return fmt.Errorf("PersistentVolume %s is %s, claim %+v; want Released, still naming claim %s", dataPV, pv.Status.Phase, pv.Spec.ClaimRef, claimUID)
			}
			return nil
		})
		// The release's configuration is gone with it: a bare Prometheus reads the directory.
		p := promtest.Start(t, promtest.Options{Config: "global: {}\n", DataDir: dir})
		got, err := samples(t, promClient(t, p.URL), query, at)
		if err != nil {
			t.Fatal(err)
		}
		if render(got) != want {
			t.Errorf("after --delete-data the Retain volume's directory does not hold the samples:\ngot  %s\nwant %s", render(got), want)
		}
	})
}

// oneVolumeClass makes the StorageClass dataClass with one hostPath volume, dataPV,
// reclaim policy Retain, in a directory of this test (hack/storage.sh's volumes share
// host paths across clusters on one machine; this one is the test's alone), and
// returns that directory.
func oneVolumeClass(t *testing.T, kc kubernetes.Interface) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), dataPV)
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	sc := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: dataClass}, Provisioner: "kubernetes.io/no-provisioner"}
	if _, err := kc.StorageV1().StorageClasses().Create(ctx(t), sc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	dirType := corev1.HostPathDirectory
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: dataPV},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("50Gi")},
			AccessModes:                   []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
			StorageClassName:              dataClass,
			PersistentVolumeSource:        corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: dir, Type: &dirType}},
		},
	}
	if _, err := kc.CoreV1().PersistentVolumes().Create(ctx(t), pv, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		for _, err := range []error{
			kc.CoreV1().PersistentVolumes().Delete(c, dataPV, metav1.DeleteOptions{}),
			kc.StorageV1().StorageClasses().Delete(c, dataClass, metav1.DeleteOptions{}),
		} {
			if err != nil && !apierrors.IsNotFound(err) {
				t.Log(err)
			}
		}
	})
	return dir
}

// chartWithVersion copies the chart directory src with its version set to version.
func chartWithVersion(t *testing.T, src, version string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "prometheus")
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dst, "Chart.yaml")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	const old = "\nversion: 29.27.0\n"
	if !strings.Contains(string(b), old) {
		t.Fatalf("%s has no %q to change", path, old)
	}
	if err := os.WriteFile(path, []byte(strings.Replace(string(b), old, "\nversion: "+version+"\n", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	return dst
}

// volumeDir is the directory the kubelet would mount as the server's
// --storage.tsdb.path: the hostPath of the volume bound to claim, plus the subPath of
// the server container's mount of that claim in the Deployment.
func volumeDir(t *testing.T, kc kubernetes.Interface, claim *corev1.PersistentVolumeClaim) string {
	t.Helper()
	pv, err := kc.CoreV1().PersistentVolumes().Get(ctx(t), claim.Spec.VolumeName, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("reading the volume of claim %s: %v", claim.Name, err)
	}
	if pv.Spec.ClaimRef == nil || pv.Spec.ClaimRef.UID != claim.UID || pv.Spec.HostPath == nil {
		t.Fatalf("PersistentVolume %s: claim %+v, hostPath %+v; want bound to claim %s, on a host path", pv.Name, pv.Spec.ClaimRef, pv.Spec.HostPath, claim.UID)
	}
	dep, err := kc.AppsV1().Deployments(claim.Namespace).Get(ctx(t), dataServer, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	spec := dep.Spec.Template.Spec
	for _, c := range spec.Containers {
		var tsdb string
		for _, a := range c.Args {
			if v, ok := strings.CutPrefix(a, "--storage.tsdb.path="); ok {
				tsdb = v
			}
		}
		if tsdb == "" {
			continue
		}
		for _, m := range c.VolumeMounts {
			if m.MountPath != tsdb {
				continue
			}
			for _, v := range spec.Volumes {
				if v.Name == m.Name && v.PersistentVolumeClaim != nil && v.PersistentVolumeClaim.ClaimName == claim.Name {
					return filepath.Join(pv.Spec.HostPath.Path, m.SubPath)
				}
			}
			t.Fatalf("container %s keeps its TSDB at %s on volume %s, which is not claim %s", c.Name, tsdb, m.Name, claim.Name)
		}
		t.Fatalf("container %s keeps its TSDB at %s, where nothing is mounted", c.Name, tsdb)
	}
	t.Fatalf("no container of Deployment %s has --storage.tsdb.path", dep.Name)
	return ""
}

// startOnVolume runs the real Prometheus with the release's configuration and
// retention flags on dir.
func startOnVolume(t *testing.T, env *framework.Env, kc kubernetes.Interface, dir string) *sim.Prometheus {
	t.Helper()
	return framework.StartReleasePrometheus(t, env, kc, framework.ReleasePrometheus{
		Namespace: dataNS, ConfigMap: dataServer, ServiceAccount: dataServer, DataDir: dir,
		Args: framework.ServerRetentionArgs(t, kc, dataNS, dataServer),
	})
}

// stopCleanly stops Prometheus with SIGTERM and fails unless it exited cleanly: its
// last writes are on the volume.
func stopCleanly(t *testing.T, p *sim.Prometheus) {
	t.Helper()
	p.Stop()
	if done, err := p.Exited(); !done || err != nil {
		t.Fatalf("Prometheus did not exit cleanly (exited %v: %v):\n%s", done, err, p.Logs())
	}
}

func promClient(t *testing.T, url string) *prom.Client {
	t.Helper()
	pc, err := prom.New(url)
	if err != nil {
		t.Fatal(err)
	}
	return pc
}

// samples returns every sample of the series of selector in the hour up to at.
func samples(t *testing.T, pc *prom.Client, selector string, at time.Time) (model.Matrix, error) {
	t.Helper()
	v, _, err := pc.Query(ctx(t), selector+"[1h]", at)
	if err != nil {
		return nil, err
	}
	m, ok := v.(model.Matrix)
	if !ok {
		return nil, fmt.Errorf("%s[1h] returned a %s, not a matrix", selector, v.Type())
	}
	return m, nil
}

// render writes series with their labels and every sample's timestamp and value.
func render(m model.Matrix) string {
	if len(m) == 0 {
		return "no series"
	}
	var b strings.Builder
	for _, s := range m {
		fmt.Fprintf(&b, "%s:", s.Metric)
		for _, v := range s.Values {
			fmt.Fprintf(&b, " %d=%s", v.Timestamp, v.Value)
		}
		b.WriteString("; ")
	}
	return b.String()
}

// serverPodUIDs are the UIDs of the release's server pods that are not being deleted.
func serverPodUIDs(t *testing.T, kc kubernetes.Interface) []k8stypes.UID {
	t.Helper()
	pods, err := kc.CoreV1().Pods(dataNS).List(ctx(t), metav1.ListOptions{LabelSelector: "app.kubernetes.io/instance=prometheus,app.kubernetes.io/component=server"})
	if err != nil {
		t.Fatal(err)
	}
	var out []k8stypes.UID
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil {
			out = append(out, p.UID)
		}
	}
	return out
}
