package install

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/meshmon/meshmon/pkg/change"
	"github.com/meshmon/meshmon/pkg/defaults"
	"github.com/meshmon/meshmon/pkg/kube"
	"github.com/meshmon/meshmon/pkg/policy"
	"github.com/meshmon/meshmon/pkg/release"
	"github.com/meshmon/meshmon/pkg/ui"
	"github.com/meshmon/meshmon/pkg/viz"
)

// UninstallOptions say what one uninstall removes.
type UninstallOptions struct {
	ReleaseName string
	// DeleteData deletes the data volume claim too.
	DeleteData bool
	// ConfirmDeleteData is asked, with DeleteData, before anything is changed, with the
	// claims that will be deleted (none: it is not asked). An error stops the uninstall with
	// nothing changed; nil means confirmed. A nil func confirms.
	ConfirmDeleteData func(volumes []release.Volume) error
	// Timeout bounds the wait for the objects to be deleted.
	Timeout time.Duration
	// SkipViz leaves linkerd-viz as it is; SkipPolicy leaves the policy objects.
	SkipViz bool
	// VizChart says where the chart of a Helm-installed linkerd-viz comes from.
	VizChart   viz.ChartOptions
	SkipPolicy bool
	// MTLSAuthenticationName is the one install merged meshmon's identities into, if any.
	MTLSAuthenticationName string
}

// uninstallation is what the steps of one uninstall share.
type uninstallation struct {
	env      *Env
	opts     *UninstallOptions
	progress ui.Progress
	clients  *kube.Clients
	target   *release.Target
	// owner is the release's Prometheus as Helm recorded it (Service empty: none, so no viz
	// configuration is its to undo); installed says Helm has a record of the release at all
	// (if not, the namespace's policy belongs to another release).
	owner     *viz.Owner
	installed bool
}

// Uninstall runs the uninstall pipeline. Restoring linkerd-viz and deleting the policies
// come before the release removal, so nothing keeps pointing at, or protecting, a
// Prometheus that is gone.
func Uninstall(ctx context.Context, e *Env, o UninstallOptions) error {
	un := &uninstallation{env: e, opts: &o, progress: e.UI.Progress()}
	return runSteps(ctx, un.steps())
}

func (un *uninstallation) steps() []step {
	steps := []step{{name: "connect", run: un.connect}, {name: "access", run: un.checkAccess}, {name: "owner", run: un.readOwner}}
	if un.opts.DeleteData {
		steps = append(steps, step{name: "confirm", run: un.confirmDeleteData})
	}
	if !un.opts.SkipViz {
		steps = append(steps, step{name: "viz", run: un.restoreViz})
	}
	if !un.opts.SkipPolicy {
		steps = append(steps, step{name: "policy", run: un.deletePolicy})
	}
	return append(steps, step{name: "release", run: un.removeRelease})
}

func (un *uninstallation) connect(context.Context) error {
	clients, err := un.env.Clients()
	if err != nil {
		return err
	}
	un.clients = clients
	un.target, err = un.env.target(clients, un.opts.ReleaseName)
	return err
}

// UninstallAccess is what an uninstall with every step does to a release of the chart's
// usual objects in namespace, with linkerd-viz (CLI-installed) in vizNS and Linkerd in
// linkerdNS; deleteData adds what --delete-data does. The published uninstall role
// (docs/rbac/uninstall.yaml) is generated from it.
func UninstallAccess(namespace, vizNS, linkerdNS string, deleteData bool) []kube.Access {
	return uninstallAccess(namespace, vizNS, linkerdNS, &UninstallOptions{DeleteData: deleteData})
}

func uninstallAccess(namespace, vizNS, linkerdNS string, o *UninstallOptions) []kube.Access {
	var a []kube.Access
	if !o.SkipViz {
		a = append(a, viz.RestoreAccess(vizNS, linkerdNS, true)...)
	}
	if !o.SkipPolicy {
		// The policy is named from linkerd-config and the live server before it is deleted.
		a = append(a,
			kube.Access{Resource: "configmaps", Namespace: linkerdNS, Verbs: []string{"get"}, Kind: "ConfigMaps", Why: "read the trust domain from linkerd-config"},
			kube.Access{Resource: "namespaces", Verbs: []string{"get"}, Kind: "Namespaces", Why: "find linkerd-viz"},
		)
		a = append(a, release.FindServerAccess(namespace, "find the Prometheus server the policy protects")...)
		a = append(a, policy.DeleteAccess(vizNS)...)
	}
	return append(a, release.UninstallAccess(namespace, o.DeleteData)...)
}

// checkAccess asks the API server, before the first change, whether the user may do
// everything this uninstall does: a refusal halfway would leave viz restored but the
// release in place, or the policy gone but Prometheus running.
func (un *uninstallation) checkAccess(ctx context.Context) error {
	e := un.env
	ac := kube.NewAccessChecker(un.clients.Kube)
	access := uninstallAccess(un.target.Namespace, e.VizNamespace, e.LinkerdNamespace, un.opts)
	errs := make([]error, len(access))
	var wg sync.WaitGroup
	for i, a := range access {
		wg.Go(func() { errs[i] = ac.Check(ctx, a) })
	}
	wg.Wait()
	var missing []string
	for _, err := range errs {
		if err != nil && !slices.Contains(missing, err.Error()) {
			missing = append(missing, err.Error())
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return fmt.Errorf("uninstall needs permissions you do not have (nothing was changed):\n\t* %s\n(the least privilege for uninstall is published in docs/rbac/uninstall.yaml; --skip-viz and --skip-policy need less)",
		strings.Join(missing, "\n\t* "))
}

// confirmDeleteData lists the claims --delete-data will delete and asks before the first
// change: a data volume is the one thing uninstall cannot give back.
func (un *uninstallation) confirmDeleteData(ctx context.Context) error {
	if un.opts.ConfirmDeleteData == nil {
		return nil
	}
	t := un.target
	volumes, err := release.Volumes(ctx, t.Kube, t.Namespace, t.Release)
	if err != nil {
		return err
	}
	if len(volumes) == 0 {
		return nil
	}
	if err := un.opts.ConfirmDeleteData(volumes); err != nil {
		return fmt.Errorf("%w\n(nothing was uninstalled)", err)
	}
	return nil
}

// restoreViz puts linkerd-viz back as it was before install, from the record
// configure left on its namespace; without a record there is nothing to do.
func (un *uninstallation) restoreViz(ctx context.Context) error {
	e, p := un.env, un.progress
	p.Start("Restoring linkerd-viz")
	changes, err := viz.Restore(ctx, VizClients(un.clients), viz.RestoreOptions{Namespace: e.VizNamespace, Chart: un.opts.VizChart, Owner: un.owner})
	switch {
	case errors.Is(err, viz.ErrNotInstalled):
		p.Done("linkerd-viz is not installed; nothing to restore")
		return nil
	case errors.Is(err, viz.ErrOtherPrometheus):
		p.Done("linkerd-viz uses another Prometheus; left as it is")
		fmt.Fprintf(e.Out, "linkerd-viz was left as it is: %v (`%s viz restore` undoes that configuration).\n", err, e.Host)
		return nil
	case err != nil:
		p.Fail("restoring linkerd-viz failed")
		if len(changes) > 0 {
			_ = change.WriteText(e.Out, changes, false)
		}
		return fmt.Errorf("%w\n(nothing was uninstalled; fix the cause and run uninstall again, or pass --skip-viz to leave linkerd-viz as it is)", err)
	}
	if changes.Changed() {
		p.Done("linkerd-viz restored")
	} else {
		p.Done("linkerd-viz had nothing of meshmon's to restore")
	}
	return change.WriteText(e.Out, changes, false)
}

// readOwner reads the Prometheus a viz configuration must point at for this uninstall to
// undo it: the server Service of the release's newest revision, as Helm recorded it (so it
// is known even once the Service is gone). A release that does not exist owns nothing.
func (un *uninstallation) readOwner(context.Context) error {
	t := un.target
	un.owner = &viz.Owner{Release: t.Release, Namespace: t.Namespace}
	srv, err := t.RenderedServer()
	un.installed = !errors.Is(err, release.ErrNotInstalled)
	switch {
	case errors.Is(err, release.ErrNotInstalled), errors.Is(err, release.ErrServerNotFound):
		return nil
	case err != nil:
		return fmt.Errorf("%w\n(nothing was uninstalled)", err)
	}
	un.owner.Service = srv.Service.Name
	return nil
}

// deletePolicy removes meshmon's authorization objects and takes meshmon's
// identities out of a MeshTLSAuthentication it merged into.
func (un *uninstallation) deletePolicy(ctx context.Context) error {
	e, p := un.env, un.progress
	p.Start("Deleting the Linkerd authorization policy")
	if !un.installed {
		// The policy objects are per namespace: without this release, they protect another.
		p.Done(fmt.Sprintf("release %s is not installed in %s; the policy there is left as it is", un.target.Release, un.target.Namespace))
		fmt.Fprintf(e.Out, "The authorization policy in namespace %s was left as it is: release %s is not installed there (`%s policy delete` removes it).\n", un.target.Namespace, un.target.Release, e.Host)
		return nil
	}
	pol, err := e.ReadPolicy(ctx, PolicyInput{ReleaseName: un.opts.ReleaseName, MTLSAuthenticationName: un.opts.MTLSAuthenticationName}, true)
	if err != nil {
		p.Fail("cannot read the policy")
		return fmt.Errorf("%w\n(nothing was uninstalled; pass --skip-policy to leave the policy objects in place)", err)
	}
	objs, err := policy.Build(pol.Spec)
	if err != nil {
		p.Fail("cannot name the policy objects")
		return err
	}
	changes, err := policy.Delete(ctx, pol.Clients, objs, policy.DeleteOptions{})
	switch {
	case errors.Is(err, policy.ErrCRDsNotInstalled):
		p.Done("Linkerd policy CRDs are not installed; no policy to delete")
		return nil
	case err != nil:
		p.Fail("deleting the authorization policy failed")
		return fmt.Errorf("%w\n(nothing was uninstalled; fix the cause and run uninstall again, or pass --skip-policy)", err)
	}
	p.Done("authorization policy deleted")
	return change.WriteText(e.Out, changes, true)
}

func (un *uninstallation) removeRelease(ctx context.Context) error {
	e, t, p, out := un.env, un.target, un.progress, un.env.Out
	p.Start(fmt.Sprintf("Uninstalling release %s from namespace %s", t.Release, t.Namespace))
	res, err := release.Uninstall(ctx, t, release.UninstallOptions{DeleteData: un.opts.DeleteData, Timeout: un.opts.Timeout, OnStatus: p.Update})
	if errors.Is(err, release.ErrNotInstalled) {
		p.Fail("nothing to uninstall")
		return fmt.Errorf("release %s is not installed in namespace %s and left no data volume there; nothing to uninstall (pass -n/--release-name if it was installed elsewhere)", t.Release, t.Namespace)
	}
	if err != nil {
		p.Fail("uninstall failed")
		return err
	}
	if res.Revision != 0 {
		p.Done(fmt.Sprintf("release %s removed", t.Release))
		fmt.Fprintf(out, "Uninstalled release %s (revision %d) from namespace %s.\n", t.Release, res.Revision, t.Namespace)
	} else {
		p.Done(fmt.Sprintf("release %s was already gone", t.Release))
		fmt.Fprintf(out, "Release %s was not installed in namespace %s; only its data volume was left.\n", t.Release, t.Namespace)
	}
	for _, v := range res.Deleted {
		fmt.Fprintf(out, "Deleted the data volume: %s.\n", v)
		if v.ReclaimPolicy == "Retain" && v.PersistentVolume != "" {
			fmt.Fprintf(out, "PersistentVolume %s has reclaim policy Retain: the data stays on it (Released: no new claim binds it). To free the storage, kubectl delete pv %s, then delete the disk or directory behind it, which Kubernetes keeps.\n", v.PersistentVolume, v.PersistentVolume)
		}
	}
	for _, v := range res.Kept {
		fmt.Fprintf(out, "Kept the data volume: %s.\n", v)
	}
	if len(res.Kept) > 0 {
		fmt.Fprintf(out, "A later '%s install' in this namespace with release name %s uses it again. To delete it: %s uninstall --delete-data -n %s", e.Host, t.Release, e.Host, t.Namespace)
		if t.Release != defaults.ReleaseName {
			fmt.Fprintf(out, " --release-name %s", t.Release)
		}
		fmt.Fprintf(out, ", or kubectl delete pvc -n %s", t.Namespace)
		for _, v := range res.Kept {
			fmt.Fprintf(out, " %s", v.Claim)
		}
		fmt.Fprintln(out)
	}
	return nil
}
