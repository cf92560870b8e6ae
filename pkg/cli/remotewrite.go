package cli

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"github.com/meshmon/meshmon/pkg/release"
	"github.com/meshmon/meshmon/pkg/remotewrite"
)

func newRemoteWriteCommand(inv *invocation) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "remote-write",
		Short: "Send meshmon's series to a long-term store (Prometheus remote write)",
		Long: `Manage the remote_write endpoints of meshmon's Prometheus: VictoriaMetrics,
Thanos Receive, Mimir/Cortex or any Prometheus remote-write receiver.

Credentials stay in Kubernetes Secrets in the release's namespace: meshmon mounts
them into the Prometheus container and refers to the files; no credential is put
in the Helm values. See docs/remote-write.md.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newRemoteWriteAddCommand(inv), newRemoteWriteListCommand(inv), newRemoteWriteRemoveCommand(inv))
	return cmd
}

type remoteWriteAddOptions struct {
	inv         *invocation
	releaseName string
	timeout     time.Duration
	dryRun      bool
	chart       string
	clusterName string

	endpoint    remotewrite.Endpoint
	bearer      string
	basicAuth   string
	ca          string
	clientCert  string
	headers     []string
	tenant      string
	queueConfig string

	// completeErr is what Complete found wrong with the flags.
	completeErr error
}

func newRemoteWriteAddCommand(inv *invocation) *cobra.Command {
	o := &remoteWriteAddOptions{inv: inv}
	cmd := &cobra.Command{
		Use:   "add NAME --url URL",
		Short: "Add (or change) a remote-write endpoint",
		Long: `Add a remote_write entry named NAME. Adding an endpoint that exists replaces it in
place; adding it unchanged changes nothing. The Secrets must exist in the release's
namespace with the keys named. The release needs the external label cluster
(install --cluster-name, or --cluster-name here).`,
		Example: fmt.Sprintf(`  # VictoriaMetrics single-node
  %[1]s remote-write add vm --url http://vm.example.com:8428/api/v1/write --query-url http://vm.example.com:8428

  # Mimir with a tenant and a bearer token from Secret mimir-token (key "token")
  kubectl create secret generic mimir-token -n linkerd-viz --from-literal=token=...
  %[1]s remote-write add mimir --url https://mimir.example.com/api/v1/push --tenant team-a --bearer-token-secret mimir-token

  # Preview the entry and the mounts; change nothing
  %[1]s remote-write add vm --url http://vm.example.com:8428/api/v1/write --dry-run`, inv.host.Display),
		Args: exactArgs(1, "NAME"),
		RunE: runE(o),
	}
	f := cmd.Flags()
	f.StringVar(&o.endpoint.URL, "url", "", "The receiver's write URL, e.g. http://vm:8428/api/v1/write, http://thanos-receive:19291/api/v1/receive, https://mimir/api/v1/push")
	f.StringVar(&o.bearer, "bearer-token-secret", "", `Secret[:key] holding the bearer token (key default "token")`)
	f.StringVar(&o.basicAuth, "basic-auth-secret", "", `Secret with the keys "username" and "password"`)
	f.StringVar(&o.ca, "ca-secret", "", `Secret[:key] with the CA certificate to verify the receiver (key default "ca.crt")`)
	f.StringVar(&o.clientCert, "client-cert-secret", "", `kubernetes.io/tls Secret with "tls.crt" and "tls.key" for client TLS`)
	f.BoolVar(&o.endpoint.InsecureSkipVerify, "remote-insecure-skip-tls-verify", false, "Do not verify the receiver's TLS certificate")
	f.StringArrayVar(&o.headers, "header", nil, "Header K=V sent with every request (repeatable; not for secrets)")
	f.StringVar(&o.tenant, "tenant", "", "Tenant ID, sent as header X-Scope-OrgID (Mimir, Cortex, Thanos Receive)")
	f.StringArrayVar(&o.endpoint.Keep, "keep", nil, `What to send: "linkerd" (default: the proxy series the dashboards use), "all", or a series selector (repeatable)`)
	f.IntVar(&o.endpoint.MaxShards, "max-shards", 0, "queue_config.max_shards (default: Prometheus')")
	f.IntVar(&o.endpoint.Capacity, "capacity", 0, "queue_config.capacity (default: Prometheus')")
	f.StringVar(&o.queueConfig, "queue-config", "", "A whole queue_config as YAML (instead of --max-shards/--capacity)")
	f.StringVar(&o.endpoint.QueryURL, "query-url", "", "The store's Prometheus-compatible query API (for check and status)")
	f.StringVar(&o.clusterName, "cluster-name", "", "Set the release's external label cluster=NAME (required when the release has none)")
	addReleaseNameFlag(f, &o.releaseName, "Name of meshmon's Prometheus Helm release")
	addTimeoutFlag(f, &o.timeout, "How long to wait for the upgraded release to become ready before rolling it back")
	f.BoolVar(&o.dryRun, "dry-run", false, "Print the remote_write entry and the Secret mounts that would be added; change nothing")
	f.StringVar(&o.chart, "chart", "", "The chart the release runs, when neither the chart cache nor its recorded source has it: a chart directory, a packaged .tgz, an http(s) URL or an oci:// reference")
	return cmd
}

// Complete builds the endpoint from the flags.
func (o *remoteWriteAddOptions) Complete(_ *cobra.Command, args []string) error {
	o.completeErr = o.complete(args[0])
	return nil
}

func (o *remoteWriteAddOptions) complete(name string) error {
	e := &o.endpoint
	e.Name = name
	if o.bearer != "" {
		r, err := remotewrite.ParseSecretKeyRef(o.bearer, "token")
		if err != nil {
			return fmt.Errorf("--bearer-token-secret: %w", err)
		}
		e.BearerToken = &r
	}
	if o.ca != "" {
		r, err := remotewrite.ParseSecretKeyRef(o.ca, "ca.crt")
		if err != nil {
			return fmt.Errorf("--ca-secret: %w", err)
		}
		e.CA = &r
	}
	if o.basicAuth != "" {
		s := o.basicAuth
		e.BasicAuth = &s
	}
	if o.clientCert != "" {
		s := o.clientCert
		e.ClientCert = &s
	}
	for _, h := range o.headers {
		k, v, err := remotewrite.ParseHeader(h)
		if err != nil {
			return fmt.Errorf("--header: %w", err)
		}
		if e.Headers == nil {
			e.Headers = map[string]string{}
		}
		e.Headers[k] = v
	}
	if o.tenant != "" {
		if e.Headers == nil {
			e.Headers = map[string]string{}
		}
		e.Headers["X-Scope-OrgID"] = o.tenant
	}
	if o.queueConfig != "" {
		var q map[string]any
		if err := yaml.Unmarshal([]byte(o.queueConfig), &q); err != nil {
			return fmt.Errorf("--queue-config: %w", err)
		}
		e.QueueConfig = q
	}
	return e.Validate()
}

// Validate checks the flags without contacting the cluster.
func (o *remoteWriteAddOptions) Validate() error {
	if o.endpoint.URL == "" {
		return usageError("--url is required: the receiver's write URL, e.g. http://vm.example.com:8428/api/v1/write")
	}
	if o.queueConfig != "" && (o.endpoint.MaxShards != 0 || o.endpoint.Capacity != 0) {
		return usageError("--queue-config cannot be combined with --max-shards or --capacity: put them into the queue_config")
	}
	if err := validateTimeout(o.timeout); err != nil {
		return err
	}
	if err := validateReleaseName(o.releaseName); err != nil {
		return err
	}
	if o.completeErr != nil {
		return usageError("%w", o.completeErr)
	}
	return nil
}

// Run checks the Secrets and upgrades the release with the endpoint.
func (o *remoteWriteAddOptions) Run(ctx context.Context) error {
	e := o.endpoint
	if refs := remotewrite.SecretsReferenced(e); len(refs) > 0 {
		c, err := o.inv.kubeClients()
		if err != nil {
			return err
		}
		if err := remotewrite.CheckSecrets(ctx, c.Kube, o.inv.namespace(), refs); err != nil {
			return err
		}
	}
	update := func(current map[string]any) (map[string]any, bool, error) {
		return release.WithRemoteWrite(current, e, o.clusterName)
	}
	if o.dryRun {
		return o.inv.dryRunUpdate(ctx, o.releaseName, o.chart, "remote-write add", update, func(values map[string]any) (string, error) {
			entry, err := yamlSection("Remote write entry (server.remoteWrite)", []any{remotewrite.Render(e)})
			if err != nil {
				return "", err
			}
			mounts, err := yamlSection("Secret mounts (server.extraSecretMounts, meshmon's)", remotewrite.Mounts(values))
			return entry + mounts, err
		})
	}
	res, err := o.inv.updateRelease(ctx, o.releaseName, o.chart, o.timeout, "Adding remote-write endpoint "+e.Name, update)
	if err != nil {
		return err
	}
	out := o.inv.streams.Out
	if res.Action == release.ActionNone {
		fmt.Fprintf(out, "Remote-write endpoint %s is already configured (revision %d); nothing changed.\n", e.Name, res.Revision)
		return nil
	}
	fmt.Fprintf(out, "Remote-write endpoint %s: Prometheus writes to %s.\n", e.Name, e.URL)
	fmt.Fprintf(out, "Upgraded release %s to revision %d; Prometheus reloads its configuration within a minute.\n", o.releaseName, res.Revision)
	fmt.Fprintf(out, "Then '%s check' shows whether the samples arrive.\n", o.inv.host.Display)
	return nil
}

type remoteWriteListOptions struct{ releaseReader }

func newRemoteWriteListCommand(inv *invocation) *cobra.Command {
	o := &remoteWriteListOptions{releaseReader{inv: inv}}
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the remote-write endpoints",
		Long: `List the remote-write endpoints in the release's configuration. Credentials are
shown as the names of their Secrets only. -o json and -o yaml print the endpoints.`,
		Example: fmt.Sprintf(`  %[1]s remote-write list
  %[1]s remote-write list -o json`, inv.host.Display),
		Args: cobra.NoArgs,
		RunE: runE(o),
	}
	o.addFlags(cmd.Flags(), "Name of meshmon's Prometheus Helm release")
	return cmd
}

// Run reads the release's values and prints the endpoints.
func (o *remoteWriteListOptions) Run(_ context.Context) error {
	t, values, err := o.deployedValues(o.env())
	if err != nil {
		return err
	}
	eps, err := remotewrite.Endpoints(values)
	if err != nil {
		return err
	}
	return printList(&o.releaseReader, t.Namespace, "remote-write endpoints", eps, printRemoteWriteTable)
}

// RemoteWriteAuth says how an endpoint authenticates, naming Secrets only.
func remoteWriteAuth(e remotewrite.Endpoint) string {
	var parts []string
	if e.BearerToken != nil {
		parts = append(parts, "bearer ("+e.BearerToken.Secret+")")
	}
	if e.BasicAuth != nil {
		parts = append(parts, "basic ("+*e.BasicAuth+")")
	}
	if e.ClientCert != nil {
		parts = append(parts, "client cert ("+*e.ClientCert+")")
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

func printRemoteWriteTable(w io.Writer, eps []remotewrite.Endpoint) error {
	tw := tabwriter.NewWriter(w, 0, 0, 3, ' ', 0)
	fmt.Fprintln(tw, "NAME\tURL\tAUTH\tTENANT\tKEEP\tQUERY URL")
	for _, e := range eps {
		keep := strings.Join(e.Keep, " ")
		if keep == "" {
			keep = remotewrite.KeepLinkerd
		}
		tenant, query := e.Headers[remotewrite.TenantHeader], e.QueryURL
		if tenant == "" {
			tenant = "-"
		}
		if query == "" {
			query = "-"
		}
		name := e.Name
		if name == "" {
			name = "(unnamed)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", name, e.URL, remoteWriteAuth(e), tenant, keep, query)
	}
	return tw.Flush()
}

type remoteWriteRemoveOptions struct {
	inv         *invocation
	releaseName string
	name        string
	timeout     time.Duration
	dryRun      bool
	chart       string
}

func newRemoteWriteRemoveCommand(inv *invocation) *cobra.Command {
	o := &remoteWriteRemoveOptions{inv: inv}
	cmd := &cobra.Command{
		Use:   "remove NAME",
		Short: "Remove a remote-write endpoint",
		Long: `Remove the remote-write endpoint NAME, and the Secret mounts no other entry uses.
The Secrets themselves are left in place.`,
		Example: fmt.Sprintf(`  %[1]s remote-write remove vm`, inv.host.Display),
		Args:    exactArgs(1, "NAME"),
		RunE:    runE(o),
	}
	f := cmd.Flags()
	addReleaseNameFlag(f, &o.releaseName, "Name of meshmon's Prometheus Helm release")
	addTimeoutFlag(f, &o.timeout, "How long to wait for the upgraded release to become ready before rolling it back")
	f.BoolVar(&o.dryRun, "dry-run", false, "Say what would be removed; change nothing")
	f.StringVar(&o.chart, "chart", "", "The chart the release runs, when neither the chart cache nor its recorded source has it: a chart directory, a packaged .tgz, an http(s) URL or an oci:// reference")
	return cmd
}

func (o *remoteWriteRemoveOptions) Complete(_ *cobra.Command, args []string) error {
	o.name = args[0]
	return nil
}

func (o *remoteWriteRemoveOptions) Validate() error {
	if err := validateTimeout(o.timeout); err != nil {
		return err
	}
	return validateReleaseName(o.releaseName)
}

// Run upgrades the release without the endpoint.
func (o *remoteWriteRemoveOptions) Run(ctx context.Context) error {
	update := func(current map[string]any) (map[string]any, bool, error) {
		out, err := release.WithoutRemoteWrite(current, o.name)
		if err != nil {
			return nil, false, fmt.Errorf("%w in release %s (see 'remote-write list')", err, o.releaseName)
		}
		return out, true, nil
	}
	if o.dryRun {
		return o.inv.dryRunUpdate(ctx, o.releaseName, o.chart, "remote-write remove", update, nil)
	}
	res, err := o.inv.updateRelease(ctx, o.releaseName, o.chart, o.timeout, "Removing remote-write endpoint "+o.name, update)
	if err != nil {
		return err
	}
	fmt.Fprintf(o.inv.streams.Out, "Removed remote-write endpoint %s; upgraded release %s to revision %d.\n", o.name, o.releaseName, res.Revision)
	return nil
}
