package cli

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshmon/meshmon/pkg/defaults"
	"github.com/meshmon/meshmon/pkg/prom"
	"github.com/meshmon/meshmon/pkg/release"
	"github.com/meshmon/meshmon/pkg/scrape"
)

type statusOptions struct {
	g           *globals
	releaseName string
	output      string
}

func newStatusCommand(g *globals) *cobra.Command {
	o := &statusOptions{g: g, releaseName: defaults.ReleaseName, output: "table"}
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show meshmon's Prometheus release: revision, chart, storage and URL",
		Long: `Show the Prometheus release at a glance: Helm revision and status, chart and app
version, when it was last deployed, the server workload, its data volume (requested
and bound capacity, storage class, phase, volume) and its in-cluster URL.

-o json and -o yaml print a document whose fields are stable (fields are only added):
release, namespace, revision, status, description, chart, chartVersion, appVersion,
firstDeployed, lastDeployed, workload{kind,name,ready,desired},
storage[]{claim,namespace,uid,phase,requested,capacity,storageClass,accessModes,
persistentVolume,reclaimPolicy,statefulSet,keep}, url, and from Prometheus itself
prometheus{samplesPerSecond,headSeries,diskUsedBytes,forecast{outcome,summary,…}}
(or prometheusError when it cannot be reached).`,
		Example: fmt.Sprintf(`  %[1]s status
  %[1]s status -o json`, g.host.Display),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run(cmd.Context())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.releaseName, "release-name", o.releaseName, "Name of the Helm release")
	f.StringVarP(&o.output, "output", "o", o.output, "Output format: table, json or yaml")
	return cmd
}

// Validate checks the flags without contacting the cluster.
func (o *statusOptions) Validate() error {
	return validateOutput(o.output, "table", "json", "yaml")
}

// Run reads the release and prints it.
func (o *statusOptions) Run(ctx context.Context) error {
	clients, err := o.g.kubeClients()
	if err != nil {
		return err
	}
	t, err := release.NewTarget(clients.Flags, clients.Kube, o.g.namespace(), o.releaseName, helmLog(o.g))
	if err != nil {
		return err
	}
	u := o.g.ui(machineReadable(o.output))
	domain := ""
	cm, err := clients.Kube.CoreV1().ConfigMaps(o.g.linkerdNamespace).Get(ctx, scrape.LinkerdConfigName, metav1.GetOptions{})
	if err == nil {
		if cm.Namespace == "" {
			cm.Namespace = o.g.linkerdNamespace
		}
		var params scrape.Params
		if params, err = scrape.FromLinkerdConfig(cm); err == nil {
			domain = params.ClusterDomain
		}
	}
	if err != nil {
		// The URL needs Linkerd's cluster domain; everything else does not.
		fmt.Fprintf(u.Err, "%s the URL is left out: reading the cluster domain from %s/%s: %v\n",
			u.ErrStyle().Yellow("‼ warning:"), o.g.linkerdNamespace, scrape.LinkerdConfigName, err)
	}
	s, err := release.GetStatus(ctx, t, domain)
	if err != nil {
		return err
	}
	s.ReadPrometheus(ctx, clients.Config, clients.Kube, domain)
	if o.output != "table" {
		return printDocument(o.g.streams.Out, o.output, s)
	}
	return printStatusTable(o.g.streams.Out, s)
}

func printStatusTable(w io.Writer, s *release.Status) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k, v string) { fmt.Fprintf(tw, "%s\t%s\n", k, v) }
	row("RELEASE", s.Release)
	row("NAMESPACE", s.Namespace)
	row("REVISION", fmt.Sprint(s.Revision))
	status := s.Status
	if s.Description != "" {
		status += " (" + s.Description + ")"
	}
	row("STATUS", status)
	row("CHART", s.Chart+"-"+s.ChartVersion)
	row("APP VERSION", s.AppVersion)
	if !s.LastDeploy.IsZero() {
		row("LAST DEPLOYED", fmt.Sprintf("%s (%s ago)", s.LastDeploy.Local().Format(time.RFC1123), time.Since(s.LastDeploy).Round(time.Second)))
	}
	if s.Workload != nil {
		row("WORKLOAD", fmt.Sprintf("%s %s (%d/%d ready)", s.Workload.Kind, s.Workload.Name, s.Workload.Ready, s.Workload.Desired))
	} else {
		row("WORKLOAD", "none found")
	}
	if len(s.Storage) == 0 {
		row("STORAGE", "no data volume")
	}
	for i, v := range s.Storage {
		key := ""
		if i == 0 {
			key = "STORAGE"
		}
		parts := []string{v.Phase, v.Requested + " requested"}
		if v.Capacity != "" {
			parts = append(parts, v.Capacity+" bound")
		}
		if v.StorageClass != "" {
			parts = append(parts, "class "+v.StorageClass)
		}
		if v.PersistentVolume != "" {
			pv := "volume " + v.PersistentVolume
			if v.ReclaimPolicy != "" {
				pv += " (reclaim " + v.ReclaimPolicy + ")"
			}
			parts = append(parts, pv)
		}
		if v.Keep {
			parts = append(parts, "kept on uninstall")
		}
		row(key, "PVC "+v.Claim+": "+strings.Join(parts, ", "))
	}
	if s.URL != "" {
		row("URL", s.URL)
	}
	if p := s.Prometheus; p != nil {
		row("INGESTION", fmt.Sprintf("%.1f samples/s", p.SamplesPerSecond))
		row("HEAD SERIES", fmt.Sprintf("%.0f", p.HeadSeries))
		row("DISK USED", prom.HumanBytes(p.DiskUsedBytes))
		row("FORECAST", fmt.Sprintf("%s: %s", p.Forecast.Outcome, p.Forecast.Summary))
	} else if s.PrometheusError != "" {
		row("PROMETHEUS", "not read: "+s.PrometheusError)
	}
	return tw.Flush()
}
