package release

import (
	"context"
	"fmt"
	"time"

	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/kube"
	rcommon "helm.sh/helm/v4/pkg/release/common"
	rel "helm.sh/helm/v4/pkg/release/v1"

	"github.com/meshmon/meshmon/pkg/defaults"
)

// PendingError is a release stuck in pending-install, pending-upgrade or
// pending-rollback: an earlier operation was killed before it could record its outcome,
// and Helm refuses every further change until that is resolved.
type PendingError struct {
	Release   string
	Namespace string
	Revision  int
	Status    string
	Since     time.Time
	// RollbackTo is the revision a repair returns to; 0 means the repair uninstalls the
	// release (keeping its data volume) because no revision was ever deployed.
	RollbackTo int
}

func (e *PendingError) Error() string {
	since := ""
	if !e.Since.IsZero() {
		since = fmt.Sprintf(" since %s (%s ago)", e.Since.UTC().Format(time.RFC3339), time.Since(e.Since).Round(time.Second))
	}
	return fmt.Sprintf("release %s in namespace %s is stuck in %s at revision %d%s: an earlier install, upgrade or rollback was interrupted. If no other meshmon or helm command is working on it, re-run install with --repair to %s",
		e.Release, e.Namespace, e.Status, e.Revision, since, e.Remedy())
}

// Remedy says what --repair will do.
func (e *PendingError) Remedy() string {
	if e.RollbackTo == 0 {
		return "uninstall the unfinished release (keeping its data volume) and install it again"
	}
	return fmt.Sprintf("mark revision %d failed, roll back to revision %d (the last deployed one) and continue", e.Revision, e.RollbackTo)
}

func pendingError(t *Target, last *rel.Release, history []*rel.Release) *PendingError {
	e := &PendingError{
		Release: t.Release, Namespace: t.Namespace, Revision: last.Version,
		Status: string(last.Info.Status), Since: last.Info.LastDeployed,
	}
	if last.Info.Status != rcommon.StatusPendingInstall {
		if good := lastGood(history, last.Version); good != nil {
			e.RollbackTo = good.Version
		}
	}
	return e
}

// lastGood is the newest revision before `before` that was deployed, or failing that
// superseded (a rollback supersedes the deployed one it replaces).
func lastGood(history []*rel.Release, before int) *rel.Release {
	var superseded *rel.Release
	for i := len(history) - 1; i >= 0; i-- {
		r := history[i]
		if r.Version >= before || r.Info == nil {
			continue
		}
		switch r.Info.Status {
		case rcommon.StatusDeployed:
			return r
		case rcommon.StatusSuperseded:
			if superseded == nil {
				superseded = r
			}
		}
	}
	return superseded
}

// Pending returns the release's *PendingError, or nil when it is not stuck.
func Pending(t *Target) (*PendingError, error) {
	h, err := t.history()
	if err != nil || len(h) == 0 {
		return nil, err
	}
	last := h[len(h)-1]
	if last.Info == nil || !last.Info.Status.IsPending() {
		return nil, nil
	}
	return pendingError(t, last, h), nil
}

// RepairResult says what Repair found and did.
type RepairResult struct {
	Found *PendingError
	// Uninstalled is set when the unfinished release was removed (data volume kept).
	Uninstalled bool
	// RolledBackTo is the revision restored; NewRevision the revision the rollback made.
	RolledBackTo int
	NewRevision  int
}

func (r *RepairResult) String() string {
	if r.Uninstalled {
		return fmt.Sprintf("release %s was stuck in %s at revision %d; uninstalled the unfinished release (its data volume is kept)", r.Found.Release, r.Found.Status, r.Found.Revision)
	}
	return fmt.Sprintf("release %s was stuck in %s at revision %d; marked it failed and rolled back to revision %d (now revision %d)", r.Found.Release, r.Found.Status, r.Found.Revision, r.RolledBackTo, r.NewRevision)
}

// Repair resolves a release stuck pending: a pending install with no deployed revision
// is uninstalled (the PVC stays, by its keep annotation, and StatefulSet claims are never
// deleted by Helm); a pending upgrade or rollback is marked failed and rolled back to
// the last deployed revision. It returns nil when nothing is pending.
func Repair(ctx context.Context, t *Target, timeout time.Duration) (*RepairResult, error) {
	if timeout <= 0 {
		timeout = defaults.Timeout
	}
	found, err := Pending(t)
	if err != nil || found == nil {
		return nil, err
	}
	res := &RepairResult{Found: found}
	if found.RollbackTo == 0 {
		un := action.NewUninstall(t.Helm)
		un.WaitStrategy = kube.StatusWatcherStrategy
		un.WaitOptions = []kube.WaitOption{kube.WithWaitContext(ctx)}
		un.Timeout = timeout
		un.Description = "Uninstalled by meshmon install --repair: was stuck in " + found.Status
		if _, err := un.Run(t.Release); err != nil {
			return nil, fmt.Errorf("repairing release %s: uninstalling the unfinished revision %d: %w", t.Release, found.Revision, err)
		}
		res.Uninstalled = true
		return res, nil
	}

	last, err := t.last()
	if err != nil {
		return nil, err
	}
	// Helm rolls back from a pending revision but leaves it pending in the history, where
	// it would confuse anyone reading it; record how it really ended first.
	last.SetStatus(rcommon.StatusFailed, fmt.Sprintf("Interrupted in %s; marked failed by meshmon install --repair", found.Status))
	if err := t.Helm.Releases.Update(last); err != nil {
		return nil, fmt.Errorf("repairing release %s: marking revision %d failed: %w", t.Release, last.Version, err)
	}
	rb := action.NewRollback(t.Helm)
	rb.Version = found.RollbackTo
	rb.WaitStrategy = kube.StatusWatcherStrategy
	rb.Timeout = timeout
	rb.MaxHistory = MaxHistory
	rb.Description = fmt.Sprintf("Rollback to %d by meshmon install --repair", found.RollbackTo)
	if err := rb.Run(t.Release); err != nil {
		return nil, fmt.Errorf("repairing release %s: rolling back to revision %d: %w; see 'helm history %s -n %s'", t.Release, found.RollbackTo, err, t.Release, t.Namespace)
	}
	now, err := t.last()
	if err != nil {
		return nil, err
	}
	res.RolledBackTo, res.NewRevision = found.RollbackTo, now.Version
	return res, nil
}
