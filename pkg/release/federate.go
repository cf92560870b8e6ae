package release

import (
	"context"
	"errors"
	"fmt"
	"strings"

	hrelease "helm.sh/helm/v4/pkg/release"
	rcommon "helm.sh/helm/v4/pkg/release/common"
	rel "helm.sh/helm/v4/pkg/release/v1"
	"helm.sh/helm/v4/pkg/storage/driver"

	"github.com/meshmon/meshmon/pkg/defaults"
	"github.com/meshmon/meshmon/pkg/helmvalues"
	"github.com/meshmon/meshmon/pkg/scrape"
)

// scrapeConfigsPath is where the chart takes prometheus.yml's scrape jobs from, and where
// meshmon keeps its Linkerd and federation jobs.
var scrapeConfigsPath = []string{"serverFiles", "prometheus.yml", "scrape_configs"}

// FederationJobs returns the federation jobs (named scrape.FederationJobPrefix…) of a
// release's values, in their order.
func FederationJobs(values map[string]any) []map[string]any {
	list, _ := helmvalues.Lookup(values, scrapeConfigsPath...)
	items, _ := list.([]any)
	var out []map[string]any
	for _, it := range items {
		job, ok := it.(map[string]any)
		if !ok {
			continue
		}
		if name, _ := job["job_name"].(string); strings.HasPrefix(name, scrape.FederationJobPrefix) {
			out = append(out, job)
		}
	}
	return out
}

// FederationSources reads the federation sources back from a release's values. Jobs named
// like federation jobs but not shaped like one are returned as names in odd.
func FederationSources(values map[string]any) (sources []scrape.FederationSource, odd []string) {
	for _, job := range FederationJobs(values) {
		if s, ok := scrape.FederationSourceFromJob(job); ok {
			sources = append(sources, s)
		} else {
			name, _ := job["job_name"].(string)
			odd = append(odd, name)
		}
	}
	return sources, odd
}

// scrapeJobs returns a copy of values and the scrape_configs list inside it, or an error
// when the values have no such list (a user override removed meshmon's jobs).
func scrapeJobs(values map[string]any) (map[string]any, []any, error) {
	out := helmvalues.DeepCopyMap(values)
	list, ok := helmvalues.Lookup(out, scrapeConfigsPath...)
	items, isList := list.([]any)
	if !ok || !isList {
		return nil, nil, fmt.Errorf("the release's values have no %s list: meshmon's scrape jobs were overridden; run install again without that override first", pathString(scrapeConfigsPath...))
	}
	return out, items, nil
}

func setScrapeJobs(values map[string]any, jobs []any) {
	files := values["serverFiles"].(map[string]any)
	files["prometheus.yml"].(map[string]any)["scrape_configs"] = jobs
}

// WithFederationSource returns values with src's job added, or replacing the job of the
// same name in place. changed is false when that exact job is already there.
func WithFederationSource(values map[string]any, src scrape.FederationSource) (out map[string]any, changed bool, err error) {
	out, items, err := scrapeJobs(values)
	if err != nil {
		return nil, false, err
	}
	job, err := toValue(src.Job())
	if err != nil {
		return nil, false, err
	}
	want, err := canonicalJSON(job)
	if err != nil {
		return nil, false, err
	}
	for i, it := range items {
		m, _ := it.(map[string]any)
		if name, _ := m["job_name"].(string); name != src.JobName() {
			continue
		}
		have, err := canonicalJSON(m)
		if err != nil {
			return nil, false, err
		}
		if have == want {
			return values, false, nil
		}
		items[i] = job
		setScrapeJobs(out, items)
		return out, true, nil
	}
	setScrapeJobs(out, append(items, job))
	return out, true, nil
}

// WithoutFederationSource returns values without the federation job of source name;
// found is false when there is none.
func WithoutFederationSource(values map[string]any, name string) (out map[string]any, found bool, err error) {
	out, items, err := scrapeJobs(values)
	if err != nil {
		return nil, false, err
	}
	kept := make([]any, 0, len(items))
	for _, it := range items {
		m, _ := it.(map[string]any)
		if n, _ := m["job_name"].(string); n == scrape.FederationJobPrefix+name {
			found = true
			continue
		}
		kept = append(kept, it)
	}
	if !found {
		return values, false, nil
	}
	setScrapeJobs(out, kept)
	return out, true, nil
}

// carryJobs appends to planned values the jobs of the deployed release that the plan
// lacks (by name), so that install keeps the federation sources added since. It returns
// the names carried.
func carryJobs(planned map[string]any, jobs []map[string]any) []string {
	list, _ := helmvalues.Lookup(planned, scrapeConfigsPath...)
	items, isList := list.([]any)
	if !isList || len(jobs) == 0 {
		return nil
	}
	have := map[string]bool{}
	for _, n := range jobNames(items) {
		have[n] = true
	}
	var carried []string
	for _, job := range jobs {
		name, _ := job["job_name"].(string)
		if have[name] {
			continue
		}
		items = append(items, helmvalues.DeepCopy(job))
		carried = append(carried, name)
	}
	if len(carried) > 0 {
		setScrapeJobs(planned, items)
	}
	return carried
}

// DeployedValues returns the values of the release's newest revision, or a
// *NotInstalledError.
func (t *Target) DeployedValues() (map[string]any, error) {
	last, err := t.last()
	if err != nil {
		return nil, err
	}
	return last.Config, nil
}

// UpdateOptions tune UpdateValues.
type UpdateOptions struct {
	ApplyOptions
	// Chart says where the release's own chart may come from.
	Chart ChartReuse
}

// UpdatePlan is a value-only upgrade worked out, with nothing written.
type UpdatePlan struct {
	Current *rel.Release
	Values  map[string]any
	Changed bool
	// Chart is the release's own chart, loaded again (never Helm's stored copy, which
	// lacks the subcharts); nil when nothing changes.
	Chart *LoadedChart
}

// PlanUpdate computes the release's new values from its current ones and, when they
// change, loads the chart it runs (see DeployedChart). update returns changed=false to
// leave the release alone. The release must be installed, deployed and not pending.
func PlanUpdate(ctx context.Context, t *Target, update func(current map[string]any) (map[string]any, bool, error), o ChartReuse) (*UpdatePlan, error) {
	h, err := t.history()
	if err != nil {
		return nil, err
	}
	if len(h) == 0 {
		return nil, t.notInstalled()
	}
	last := h[len(h)-1]
	switch {
	case last.Info == nil:
		return nil, fmt.Errorf("revision %d of release %s has no status; inspect it with 'helm history %s -n %s'", last.Version, t.Release, t.Release, t.Namespace)
	case last.Info.Status.IsPending():
		return nil, pendingError(t, last, h)
	case last.Info.Status == rcommon.StatusUninstalled:
		return nil, t.notInstalled()
	case last.Info.Status != rcommon.StatusDeployed:
		return nil, fmt.Errorf("revision %d of release %s is %s, not deployed: run install to bring it back before changing it", last.Version, t.Release, last.Info.Status)
	}
	values, changed, err := update(last.Config)
	if err != nil {
		return nil, err
	}
	up := &UpdatePlan{Current: last, Values: values, Changed: changed}
	if !changed {
		return up, nil
	}
	if up.Chart, err = DeployedChart(ctx, last, o); err != nil {
		return nil, err
	}
	return up, nil
}

// UpdateValues upgrades the release to new values computed from its current ones, with
// the chart it runs now (from the chart cache or its recorded source, never another
// version) and the same waiting and rollback as Apply. Everything that can fail is
// settled before the upgrade starts.
func UpdateValues(ctx context.Context, t *Target, update func(current map[string]any) (map[string]any, bool, error), o UpdateOptions) (*Result, error) {
	if o.Timeout <= 0 {
		o.Timeout = defaults.Timeout
	}
	for attempt := 1; ; attempt++ {
		res, err := updateValuesOnce(ctx, t, update, o)
		if errors.Is(err, errBaseMoved) && attempt < maxUpdateAttempts {
			// Another writer finished a revision between our read and our write, and nothing
			// was written: plan again on top of its values, so neither change is lost.
			continue
		}
		return res, err
	}
}

// maxUpdateAttempts bounds how often UpdateValues re-plans after another writer's revision.
const maxUpdateAttempts = 3

// errBaseMoved: the revision Helm would upgrade from is not the one the values were planned on.
var errBaseMoved = errors.New("the release changed since its values were read")

// ErrConcurrentOperation means another install, upgrade or rollback of the release is in
// progress; nothing was changed and a retry once it is done succeeds.
var ErrConcurrentOperation = errors.New("another operation is in progress")

func updateValuesOnce(ctx context.Context, t *Target, update func(current map[string]any) (map[string]any, bool, error), o UpdateOptions) (*Result, error) {
	up, err := PlanUpdate(ctx, t, update, o.Chart)
	if err != nil {
		return nil, err
	}
	res := &Result{Action: ActionNone, Reason: "unchanged", Revision: up.Current.Version, Release: up.Current}
	if !up.Changed {
		return res, nil
	}
	ch, err := storedChart(up.Chart)
	if err != nil {
		return nil, err
	}
	// Helm numbers the new revision from its own read of the history and creates its record
	// first (a create fails when the name exists), so refusing any revision but the planned
	// one makes the write conditional on the revision the values were read from: a writer
	// that lost the race changes nothing, and so never rolls back the winner's revision.
	guard := &revisionGuard{Driver: t.Helm.Releases.Driver, release: t.Release, next: up.Current.Version + 1}
	t.Helm.Releases.Driver = guard
	defer func() { t.Helm.Releases.Driver = guard.Driver }()
	// The chart is the same, so is its digest: install still finds the release up to date.
	r, d, err := t.watched(ctx, ActionUpgrade, o.ApplyOptions, func() (*rel.Release, error) {
		return t.upgrade(ctx, ch, up.Values, releaseLabels(up.Chart), o.Timeout)
	})
	res.Duration = d
	switch {
	case guard.moved:
		return nil, errBaseMoved
	case guard.exists || (err != nil && strings.Contains(err.Error(), "another operation (install/upgrade/rollback) is in progress")):
		return nil, fmt.Errorf("release %s in namespace %s: %w (another meshmon or helm command is changing it); nothing was changed by this one: retry once it is done",
			t.Release, t.Namespace, ErrConcurrentOperation)
	case err != nil:
		return nil, err
	}
	res.Action, res.Reason, res.Release, res.Revision = ActionUpgrade, "values changed", r, r.Version
	return res, nil
}

// revisionGuard lets Helm create only revision next of release; it records why it refused.
type revisionGuard struct {
	driver.Driver
	release string
	next    int
	moved   bool // Helm read a newer base revision than planned
	exists  bool // another writer created revision next first
	created bool // revision next is ours; later creates (a rollback) pass
}

func (g *revisionGuard) Create(key string, r hrelease.Releaser) error {
	if g.created {
		return g.Driver.Create(key, r) // a rollback of our own revision
	}
	if v1, ok := r.(*rel.Release); ok && v1.Name == g.release && v1.Version != g.next {
		g.moved = true
		return fmt.Errorf("revision %d of release %s: %w", v1.Version, g.release, errBaseMoved)
	}
	err := g.Driver.Create(key, r)
	switch {
	case errors.Is(err, driver.ErrReleaseExists):
		g.exists = true
	case err == nil:
		g.created = true
	}
	return err
}

// ErrNoSuchFederationSource is returned (wrapped) when a source to remove does not exist.
var ErrNoSuchFederationSource = errors.New("no such federation source")
