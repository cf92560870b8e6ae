package release

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/kube"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/meshmon/meshmon/pkg/defaults"
)

// UninstallOptions tune Uninstall.
type UninstallOptions struct {
	// DeleteData deletes the data volume claims too; by default they are kept.
	DeleteData bool
	// Timeout bounds the whole operation; defaults.Timeout when zero.
	Timeout time.Duration
	// OnStatus receives what the uninstall waits for.
	OnStatus func(string)
	// PollInterval is how often deletions are checked; DefaultPollInterval when zero.
	PollInterval time.Duration
}

// UninstallResult says what Uninstall removed and what it left.
type UninstallResult struct {
	// Revision is the revision removed; 0 when there was no release, only volumes.
	Revision int
	// Kept are the data volumes left in place; Deleted those removed with DeleteData.
	Kept    []Volume
	Deleted []Volume
}

// Uninstall removes the release. Its data volume claims stay (the chart's PVC by its
// keep annotation, a StatefulSet's because Helm never deletes them) unless DeleteData
// is set, so a later install with the same name binds the same volume again. Volumes
// left by an earlier uninstall are handled even when the release is gone; with neither
// release nor volumes it returns ErrNotInstalled.
func Uninstall(ctx context.Context, t *Target, o UninstallOptions) (*UninstallResult, error) {
	if o.Timeout <= 0 {
		o.Timeout = defaults.Timeout
	}
	deadline := time.Now().Add(o.Timeout)
	res := &UninstallResult{}
	last, err := t.last()
	switch {
	case errors.Is(err, ErrNotInstalled):
	case err != nil:
		return nil, err
	default:
		res.Revision = last.Version
	}
	volumes, err := Volumes(ctx, t.Kube, t.Namespace, t.Release)
	if err != nil {
		return nil, err
	}
	if res.Revision == 0 && len(volumes) == 0 {
		return nil, t.notInstalled()
	}

	if res.Revision != 0 {
		if o.OnStatus != nil {
			o.OnStatus(fmt.Sprintf("removing revision %d and waiting for its objects to be deleted", res.Revision))
		}
		un := action.NewUninstall(t.Helm)
		un.WaitStrategy = kube.StatusWatcherStrategy
		un.WaitOptions = []kube.WaitOption{kube.WithWaitContext(ctx)}
		un.Timeout = time.Until(deadline)
		un.Description = "Uninstalled by meshmon"
		if _, err := un.Run(t.Release); err != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("interrupted while uninstalling release %s; run uninstall again to finish: %w", t.Release, ctx.Err())
			}
			return nil, fmt.Errorf("uninstalling release %s in namespace %s: %w; run uninstall again, or see 'helm status %s -n %s'", t.Release, t.Namespace, err, t.Release, t.Namespace)
		}
	}

	if o.DeleteData {
		if err := deleteVolumes(ctx, t, volumes, deadline, o); err != nil {
			return nil, err
		}
		res.Deleted = volumes
		return res, nil
	}
	// Re-read: the claims' state after the workload is gone is what the user keeps.
	if res.Kept, err = Volumes(ctx, t.Kube, t.Namespace, t.Release); err != nil {
		return nil, err
	}
	return res, nil
}

func deleteVolumes(ctx context.Context, t *Target, volumes []Volume, deadline time.Time, o UninstallOptions) error {
	pvcs := t.Kube.CoreV1().PersistentVolumeClaims(t.Namespace)
	for _, v := range volumes {
		// The UID precondition makes sure a claim recreated meanwhile is not deleted.
		uid := types.UID(v.UID)
		err := pvcs.Delete(ctx, v.Claim, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("deleting PVC %s/%s: %w", t.Namespace, v.Claim, err)
		}
	}
	every := o.PollInterval
	if every <= 0 {
		every = DefaultPollInterval
	}
	for {
		var left []string
		for _, v := range volumes {
			_, err := pvcs.Get(ctx, v.Claim, metav1.GetOptions{})
			switch {
			case apierrors.IsNotFound(err):
			case err != nil:
				return fmt.Errorf("reading PVC %s/%s: %w", t.Namespace, v.Claim, err)
			default:
				left = append(left, v.Claim)
			}
		}
		if len(left) == 0 {
			return nil
		}
		status := "waiting for PVC " + strings.Join(left, ", ") + " to be deleted (Kubernetes keeps a claim until no pod uses it)"
		if o.OnStatus != nil {
			o.OnStatus(status)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("PVC %s in namespace %s still exists after %s; a pod may still use it (kubectl get pods -n %s), or a finalizer holds it", strings.Join(left, ", "), t.Namespace, o.Timeout, t.Namespace)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("interrupted while waiting for PVC %s to be deleted: %w", strings.Join(left, ", "), ctx.Err())
		case <-time.After(every):
		}
	}
}
