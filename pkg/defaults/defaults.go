// Package defaults is the one home of every default meshmon applies when a
// flag or a field is left empty: where Linkerd lives, what the release is
// called, which chart it installs and how long meshmon waits.
package defaults

import "time"

// Where Linkerd lives. LinkerdNamespace is what Linkerd's own CLI assumes for
// -L/--linkerd-namespace; the others are what a stock `linkerd install` and
// `linkerd viz install` write. Real values are read from linkerd-config; these
// serve only where the cluster says nothing.
const (
	LinkerdNamespace   = "linkerd"
	VizNamespace       = "linkerd-viz"
	ClusterDomain      = "cluster.local"
	TrustDomain        = "cluster.local"
	ProxyContainerName = "linkerd-proxy"
)

// The Prometheus release meshmon installs.
const (
	// ReleaseName is the Helm release's name; its namespace defaults to VizNamespace.
	ReleaseName = "prometheus"
	// ChartRepo is the prometheus-community classic Helm repository.
	ChartRepo = "https://prometheus-community.github.io/helm-charts"
	// ChartVersion is the chart version meshmon is tested with and installs unless told.
	ChartVersion = "29.27.0"
	// OCIChart is the same chart in prometheus-community's OCI registry.
	OCIChart = "oci://ghcr.io/prometheus-community/charts/prometheus"

	StorageSize        = "20Gi"
	Retention          = "15d"
	ScrapeInterval     = "10s"
	ScrapeTimeout      = "10s"
	EvaluationInterval = "10s"
)

// Linkerd's Helm repositories, one per release channel: where the linkerd-viz chart of a
// Helm-installed viz is fetched from for an upgrade.
const (
	LinkerdEdgeRepo   = "https://helm.linkerd.io/edge"
	LinkerdStableRepo = "https://helm.linkerd.io/stable"
)

// How long meshmon waits.
const (
	// Timeout bounds a Helm install, upgrade or uninstall (release or viz) and its wait.
	Timeout = 5 * time.Minute
	// CheckWait is how long install's final checks may wait for Prometheus to scrape.
	CheckWait = 2 * time.Minute
	// PreflightCheckTimeout bounds each preflight check's reads of the cluster, so an
	// API server that stops answering fails that check instead of hanging install.
	PreflightCheckTimeout = 30 * time.Second
	// UndoTimeout bounds the undo of an interrupted step (viz put back, policy objects
	// deleted), which runs after Ctrl-C has cancelled the command's own context.
	UndoTimeout = 30 * time.Second
	// CompletionTimeout bounds the cluster lookups behind shell completion.
	CompletionTimeout = 5 * time.Second
)
