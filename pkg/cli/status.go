package cli

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/meshmon/meshmon/pkg/prom"
	"github.com/meshmon/meshmon/pkg/release"
	"github.com/meshmon/meshmon/pkg/remotewrite"
)

type statusOptions struct{ releaseReader }

func newStatusCommand(inv *invocation) *cobra.Command {
	o := &statusOptions{releaseReader{inv: inv}}
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
(or prometheusError when it cannot be reached), and remoteWrite[] (the remote-write
endpoints as "remote-write list -o json" prints them: Secret names, never credentials).`,
		Example: fmt.Sprintf(`  %[1]s status
  %[1]s status -o json`, inv.host.Display),
		Args: cobra.NoArgs,
		RunE: runE(o),
	}
	o.addFlags(cmd.Flags(), "Name of the Helm release")
	return cmd
}

// Run reads the release and prints it.
func (o *statusOptions) Run(ctx context.Context) error {
	env := o.env()
	s, warning, err := env.Status(ctx, o.releaseName)
	if warning != "" {
		fmt.Fprintf(env.UI.Err, "%s %s\n", env.UI.ErrStyle().Yellow("‼ warning:"), warning)
	}
	if err != nil {
		return err
	}
	if o.output.value != "table" {
		return printDocument(o.inv.streams.Out, o.output.value, s)
	}
	return printStatusTable(o.inv.streams.Out, s)
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
	for i, e := range s.RemoteWrite {
		key := ""
		if i == 0 {
			key = "REMOTE WRITE"
		}
		name := e.Name
		if name == "" {
			name = "(unnamed)"
		}
		desc := name + " " + e.URL + " (auth " + remoteWriteAuth(e)
		if tenant := e.Headers[remotewrite.TenantHeader]; tenant != "" {
			desc += ", tenant " + tenant
		}
		if e.QueryURL != "" {
			desc += ", query " + e.QueryURL
		}
		row(key, desc+")")
	}
	return tw.Flush()
}
