package release

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"helm.sh/helm/v4/pkg/action"
	rcommon "helm.sh/helm/v4/pkg/release/common"
	rel "helm.sh/helm/v4/pkg/release/v1"
	"helm.sh/helm/v4/pkg/storage/driver"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/kubernetes"

	"github.com/meshmon/meshmon/pkg/helmclient"
)

// MaxHistory is how many revisions of the release Helm keeps.
const MaxHistory = 10

// Target is one release in one namespace of one cluster.
type Target struct {
	Kube      kubernetes.Interface
	Helm      *action.Configuration
	Namespace string
	Release   string
}

// NewTarget connects Helm to the cluster for release name in namespace. Helm's own log
// lines go to log (nil discards them).
func NewTarget(getter genericclioptions.RESTClientGetter, kc kubernetes.Interface, namespace, name string, log io.Writer) (*Target, error) {
	cfg, err := helmclient.New(getter, namespace, log)
	if err != nil {
		return nil, err
	}
	return &Target{Kube: kc, Helm: cfg, Namespace: namespace, Release: name}, nil
}

// ErrNotInstalled means the release does not exist (or was uninstalled); the errors
// returned are *NotInstalledError, which match it with errors.Is.
var ErrNotInstalled = errors.New("release not installed")

// NotInstalledError names the release that is not installed.
type NotInstalledError struct {
	Release   string
	Namespace string
}

func (e *NotInstalledError) Error() string {
	return fmt.Sprintf("release %s is not installed in namespace %s", e.Release, e.Namespace)
}

// Is makes errors.Is(err, ErrNotInstalled) true.
func (e *NotInstalledError) Is(target error) bool { return target == ErrNotInstalled }

func (t *Target) notInstalled() error {
	return &NotInstalledError{Release: t.Release, Namespace: t.Namespace}
}

// last returns the newest revision of the release, or ErrNotInstalled.
func (t *Target) last() (*rel.Release, error) {
	r, err := t.Helm.Releases.Last(t.Release)
	if err != nil {
		if isNotFound(err) {
			return nil, t.notInstalled()
		}
		return nil, fmt.Errorf("reading the history of release %s in namespace %s: %w", t.Release, t.Namespace, err)
	}
	v1, ok := r.(*rel.Release)
	if !ok {
		return nil, fmt.Errorf("release %s uses a Helm release format meshmon does not know (%T)", t.Release, r)
	}
	if v1.Info != nil && v1.Info.Status == rcommon.StatusUninstalled {
		return nil, t.notInstalled()
	}
	return v1, nil
}

// RenderedServer is the server the newest revision of the release rendered, read from
// Helm's record rather than the cluster, so it names the release's Service even after that
// Service is gone; the URL has no cluster domain. ErrNotInstalled: there is no release.
func (t *Target) RenderedServer() (*Server, error) {
	r, err := t.last()
	if err != nil {
		return nil, err
	}
	return PlannedServer(r.Manifest, t.Namespace, t.Release, "")
}

// history returns every stored revision, oldest first.
func (t *Target) history() ([]*rel.Release, error) {
	h, err := t.Helm.Releases.History(t.Release)
	if err != nil {
		if isNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("reading the history of release %s in namespace %s: %w", t.Release, t.Namespace, err)
	}
	out := make([]*rel.Release, 0, len(h))
	for _, r := range h {
		if v1, ok := r.(*rel.Release); ok {
			out = append(out, v1)
		}
	}
	sortByRevision(out)
	return out, nil
}

func sortByRevision(rs []*rel.Release) {
	slices.SortFunc(rs, func(a, b *rel.Release) int { return a.Version - b.Version })
}

// isNotFound tells Helm's "no such release" errors; storage.Last returns an unwrapped
// "no revision for release" one.
func isNotFound(err error) bool {
	return errors.Is(err, driver.ErrReleaseNotFound) || errors.Is(err, driver.ErrNoDeployedReleases) ||
		(err != nil && strings.HasPrefix(err.Error(), "no revision for release"))
}
