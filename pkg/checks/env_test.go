package checks

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v4/pkg/action"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	kubefake "helm.sh/helm/v4/pkg/kube/fake"
	"helm.sh/helm/v4/pkg/release/common"
	releasev1 "helm.sh/helm/v4/pkg/release/v1"
	"helm.sh/helm/v4/pkg/storage"
	"helm.sh/helm/v4/pkg/storage/driver"

	"github.com/meshmon/meshmon/pkg/defaults"
	"github.com/meshmon/meshmon/pkg/healthcheck"
)

// unreachableKube is a Helm kube client whose reachability probe (a /version request on a
// real cluster) fails: reading the release must not ask it.
type unreachableKube struct{ kubefake.PrintingKubeClient }

func (unreachableKube) IsReachable() error {
	return errors.New("IsReachable called: a /version request")
}

func TestHelmReleasesReadsHelmStorage(t *testing.T) {
	store := storage.Init(driver.NewMemory())
	cfg := &action.Configuration{Releases: store, KubeClient: &unreachableKube{kubefake.PrintingKubeClient{Out: io.Discard}}}
	for v, st := range map[int]common.Status{1: common.StatusSuperseded, 2: common.StatusPendingUpgrade} {
		r := &releasev1.Release{Name: "prometheus", Namespace: vizNS, Version: v, Info: &releasev1.Info{Status: st},
			Chart: &chart.Chart{Metadata: &chart.Metadata{Name: "prometheus", Version: defaults.ChartVersion}}}
		if err := store.Create(r); err != nil {
			t.Fatal(err)
		}
	}
	read := HelmReleases(func(ns string) (*action.Configuration, error) {
		if ns != vizNS {
			t.Errorf("Helm configured for namespace %q", ns)
		}
		return cfg, nil
	})
	revs, err := read(context.Background(), vizNS, "prometheus")
	if err != nil {
		t.Fatal(err)
	}
	sortNewestFirst(revs)
	if len(revs) != 2 || revs[0].Version != 2 || revs[0].Info.Status != common.StatusPendingUpgrade {
		t.Errorf("revisions = %+v", revs)
	}
	if _, err := read(context.Background(), vizNS, "other"); !errors.Is(err, driver.ErrReleaseNotFound) {
		t.Errorf("missing release: err = %v, want driver.ErrReleaseNotFound", err)
	}
	f := newFixture(t)
	d := f.deps()
	d.Releases = read
	e := NewEnv(Options{}, d)
	cats, _ := Catalog(e)
	res, err := healthcheck.Run(context.Background(), cats, healthcheck.Options{HintBaseURL: HintBaseURL})
	e.Close()
	if err != nil {
		t.Fatal(err)
	}
	expect(t, res, "Prometheus Helm release is deployed", healthcheck.StatusError, "stuck in pending-upgrade", "helm rollback prometheus 1 -n linkerd-viz")
}

// A retried check sees the cluster anew, and a retried connection opens a
// new port-forward (the pod may have been replaced).
func TestWaitRetriesWithFreshState(t *testing.T) {
	f := newFixture(t)
	f.prom.readyStatus = http.StatusServiceUnavailable
	p := f.pvc()
	p.Status.Phase = "Pending"
	f.update(p)
	go func() {
		time.Sleep(300 * time.Millisecond)
		f.prom.mu.Lock()
		f.prom.readyStatus = http.StatusOK
		f.prom.mu.Unlock()
		p := f.pvc()
		p.Status.Phase = "Bound"
		f.update(p)
	}()
	e := NewEnv(Options{}, f.deps())
	defer e.Close()
	cats, _ := Catalog(e)
	var retried []string
	res, err := healthcheck.Run(context.Background(), cats, healthcheck.Options{Wait: 10 * time.Second, RetryInterval: 50 * time.Millisecond,
		OnRetry: func(_, desc string, _ int, _ error) { retried = append(retried, desc) }})
	if err != nil {
		t.Fatal(err)
	}
	expect(t, res, "Prometheus is ready", healthcheck.StatusSuccess)
	expect(t, res, "data volume claim is bound", healthcheck.StatusSuccess)
	if !strings.Contains(strings.Join(retried, "\n"), "Prometheus is ready") {
		t.Errorf("retries = %q, want Prometheus is ready among them", retried)
	}
	n := 0
	for _, fw := range f.forwards {
		if fw.Port == 9090 {
			n++
		}
	}
	if n < 2 {
		t.Errorf("%d port-forwards to Prometheus; a retried connection check must open a new one", n)
	}
}
