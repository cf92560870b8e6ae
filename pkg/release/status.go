package release

import (
	"context"
	"errors"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshmon/meshmon/pkg/remotewrite"
)

// Status is the release at a glance. Its JSON form is what `status -o json` prints and
// is kept stable: fields are only ever added.
type Status struct {
	Release      string    `json:"release"`
	Namespace    string    `json:"namespace"`
	Revision     int       `json:"revision"`
	Status       string    `json:"status"`
	Description  string    `json:"description,omitempty"`
	Chart        string    `json:"chart"`
	ChartVersion string    `json:"chartVersion"`
	AppVersion   string    `json:"appVersion"`
	FirstDeploy  time.Time `json:"firstDeployed"`
	LastDeploy   time.Time `json:"lastDeployed"`
	// Workload is the server Deployment or StatefulSet; nil when it is missing.
	Workload *Workload `json:"workload,omitempty"`
	Storage  []Volume  `json:"storage"`
	// URL is the in-cluster address of the server Service; empty when there is none or
	// the cluster domain is unknown.
	URL string `json:"url,omitempty"`
	// Prometheus is what Prometheus says about its data; nil when it could
	// not be read, and PrometheusError says why.
	Prometheus      *PrometheusHealth `json:"prometheus,omitempty"`
	PrometheusError string            `json:"prometheusError,omitempty"`
	// RemoteWrite lists the release's remote-write endpoints; credentials appear only as
	// the names of the Secrets they are read from.
	RemoteWrite []remotewrite.Endpoint `json:"remoteWrite"`
}

// Workload is the server's Deployment or StatefulSet.
type Workload struct {
	Kind    string `json:"kind"`
	Name    string `json:"name"`
	Ready   int32  `json:"ready"`
	Desired int32  `json:"desired"`
}

// GetStatus reads the release, its server and its volumes. clusterDomain comes from
// linkerd-config; empty leaves the URL out. A missing release is ErrNotInstalled.
func GetStatus(ctx context.Context, t *Target, clusterDomain string) (*Status, error) {
	last, err := t.last()
	if err != nil {
		if errors.Is(err, ErrNotInstalled) {
			return nil, fmt.Errorf("%w; install it, or pass the -n/--release-name it was installed with", err)
		}
		return nil, err
	}
	s := &Status{Release: t.Release, Namespace: t.Namespace, Revision: last.Version, Storage: []Volume{}}
	if last.Info != nil {
		s.Status, s.Description = string(last.Info.Status), last.Info.Description
		s.FirstDeploy, s.LastDeploy = last.Info.FirstDeployed, last.Info.LastDeployed
	}
	if s.RemoteWrite, err = remotewrite.Endpoints(last.Config); err != nil {
		return nil, fmt.Errorf("reading the remote-write endpoints of release %s: %w", t.Release, err)
	}
	if s.RemoteWrite == nil {
		s.RemoteWrite = []remotewrite.Endpoint{}
	}
	if last.Chart != nil && last.Chart.Metadata != nil {
		s.Chart, s.ChartVersion, s.AppVersion = last.Chart.Metadata.Name, last.Chart.Metadata.Version, last.Chart.Metadata.AppVersion
	}
	if s.Storage, err = Volumes(ctx, t.Kube, t.Namespace, t.Release); err != nil {
		return nil, err
	}
	srv, err := FindServer(ctx, t.Kube, t.Namespace, t.Release, clusterDomain)
	switch {
	case errors.Is(err, ErrServerNotFound):
		return s, nil
	case err != nil:
		return nil, err
	}
	if clusterDomain != "" {
		s.URL = srv.URL
	}
	s.Workload = &Workload{Kind: srv.WorkloadKind, Name: srv.WorkloadName}
	if err := s.Workload.readReplicas(ctx, t); err != nil {
		return nil, err
	}
	return s, nil
}

func (w *Workload) readReplicas(ctx context.Context, t *Target) error {
	w.Desired = 1
	switch w.Kind {
	case "Deployment":
		d, err := t.Kube.AppsV1().Deployments(t.Namespace).Get(ctx, w.Name, metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("reading Deployment %s/%s: %w", t.Namespace, w.Name, err)
		}
		if d.Spec.Replicas != nil {
			w.Desired = *d.Spec.Replicas
		}
		w.Ready = d.Status.ReadyReplicas
	case "StatefulSet":
		st, err := t.Kube.AppsV1().StatefulSets(t.Namespace).Get(ctx, w.Name, metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("reading StatefulSet %s/%s: %w", t.Namespace, w.Name, err)
		}
		if st.Spec.Replicas != nil {
			w.Desired = *st.Spec.Replicas
		}
		w.Ready = st.Status.ReadyReplicas
	}
	return nil
}
