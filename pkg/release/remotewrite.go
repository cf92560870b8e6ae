package release

import (
	"errors"
	"fmt"

	"github.com/meshmon/meshmon/pkg/remotewrite"
)

// ErrNoClusterLabel is returned when a release without the external label cluster gets
// remote write: its series would mix with other clusters' in the store.
var ErrNoClusterLabel = errors.New("the release has no external label cluster")

// ErrNoSuchRemoteWrite is returned (wrapped) when remove names an endpoint the release does not have.
var ErrNoSuchRemoteWrite = errors.New("no remote-write endpoint")

// WithRemoteWrite returns values with endpoint e (added, or replacing the one of the same
// name in place). cluster, when not empty, sets the external label cluster in the same
// change; without it the release must have that label already. changed is false when the
// values already are so (no new revision).
func WithRemoteWrite(values map[string]any, e remotewrite.Endpoint, cluster string) (out map[string]any, changed bool, err error) {
	have := remotewrite.ClusterLabel(values)
	if have == "" && cluster == "" {
		return nil, false, fmt.Errorf("%w: every cluster writing to one store needs its own, or their series collide; give --cluster-name NAME (sets server.global.external_labels.cluster)", ErrNoClusterLabel)
	}
	if have != "" && cluster != "" && cluster != have {
		return nil, false, fmt.Errorf("the release already has external label cluster=%q, not %q: leave out --cluster-name, or change the label with install --cluster-name", have, cluster)
	}
	out, changed, err = remotewrite.With(values, e)
	if err != nil {
		return nil, false, err
	}
	if cluster != "" && cluster != have {
		out, changed = remotewrite.WithClusterLabel(out, cluster), true
	}
	return out, changed, nil
}

// WithoutRemoteWrite returns values without endpoint name, its note and the Secret mounts
// nothing else references.
func WithoutRemoteWrite(values map[string]any, name string) (out map[string]any, err error) {
	out, found, err := remotewrite.Without(values, name)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, fmt.Errorf("%w %q", ErrNoSuchRemoteWrite, name)
	}
	return out, nil
}
