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
	"github.com/meshmon/meshmon/pkg/scrape"
)

func newFederateCommand(inv *invocation) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "federate",
		Short: "Scrape other clusters' Prometheus /federate into meshmon's Prometheus",
		Long: `Manage the other Prometheus servers whose /federate endpoint meshmon's Prometheus
scrapes, e.g. the meshmon Prometheus of every workload cluster, into the one of a
management cluster.

Each source is a scrape job named federate-<name> in the release's prometheus.yml
(honor_labels, so the remote's "cluster" external label is kept: install each
cluster with its own --cluster-name). The release is upgraded with the chart it
runs already; install keeps the sources. On the remote cluster, let this
Prometheus in: "policy apply --allow-federate-from <CIDR>" there. "check" shows
whether every source is up.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newFederateAddCommand(inv), newFederateListCommand(inv), newFederateRemoveCommand(inv))
	return cmd
}

type federateAddOptions struct {
	inv         *invocation
	releaseName string
	source      scrape.FederationSource
	timeout     time.Duration
	dryRun      bool
	chart       string
	// bearer, basicAuth and ca name the Secrets of the credentials (SECRET[:KEY]).
	bearer, basicAuth, ca string

	// normalizeErr is what Complete found wrong with the source; secrets are the Secret
	// keys its credentials are mounted from.
	normalizeErr error
	secrets      []remotewrite.SecretKeyRef
}

func newFederateAddCommand(inv *invocation) *cobra.Command {
	o := &federateAddOptions{inv: inv}
	cmd := &cobra.Command{
		Use:   "add NAME --url URL",
		Short: "Add (or change) a federation source",
		Long: `Add a federation source: a scrape job federate-NAME that reads the series
selected by --match (default: the proxies' and the control plane's) from the
remote Prometheus' /federate. Adding a source that exists replaces it; adding it
unchanged changes nothing.`,
		Example: fmt.Sprintf(`  # The Prometheus of cluster "west", reached through its ingress
  %[1]s federate add west --url https://prometheus.west.example.com/federate

  # Only the proxies' request counters, every 30s
  %[1]s federate add east --url http://10.20.0.15:9090 --match '{job="linkerd-proxy",__name__=~"request_total|response_total"}' --interval 30s

  # Preview the job and change nothing
  %[1]s federate add west --url https://prometheus.west.example.com --dry-run`, inv.host.Display),
		Args: exactArgs(1, "NAME"),
		RunE: runE(o),
	}
	f := cmd.Flags()
	f.StringVar(&o.source.URL, "url", "", "The remote Prometheus: http(s)://host[:port][/prefix]/federate (path /federate by default)")
	f.StringArrayVar(&o.source.Match, "match", nil, `Series selector sent as match[] (repeatable; default {job="linkerd-proxy"} and {job="linkerd-controller"})`)
	f.StringVar(&o.source.Interval, "interval", "", "Scrape interval of this source (default: the global scrape interval)")
	f.StringVar(&o.source.Timeout, "scrape-timeout", "", "Scrape timeout of this source (default: the global one, at most the interval)")
	f.BoolVar(&o.source.InsecureSkipVerify, "remote-insecure-skip-tls-verify", false, "Do not verify the remote's TLS certificate (https only)")
	f.StringVar(&o.bearer, "bearer-token-secret", "", `Secret[:key] in the release's namespace holding the bearer token the remote wants (key default "token"); mounted into the server, never copied`)
	f.StringVar(&o.basicAuth, "basic-auth-secret", "", `Secret in the release's namespace with the keys "username" and "password"; mounted into the server, never copied`)
	f.StringVar(&o.ca, "ca-secret", "", `Secret[:key] with the CA certificate that signs the remote's (key default "ca.crt")`)
	addReleaseNameFlag(f, &o.releaseName, "Name of meshmon's Prometheus Helm release")
	addTimeoutFlag(f, &o.timeout, "How long to wait for the upgraded release to become ready before rolling it back")
	f.BoolVar(&o.dryRun, "dry-run", false, "Print the scrape job that would be added; change nothing")
	f.StringVar(&o.chart, "chart", "", "The chart the release runs, when neither the chart cache nor its recorded source has it: a chart directory, a packaged .tgz, an http(s) URL or an oci:// reference")
	return cmd
}

// exactArgs is cobra.ExactArgs with a usage error that names the argument.
func exactArgs(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usageError("%s takes exactly %d argument (%s), got %d\nSee '%s --help' for usage.", cmd.CommandPath(), n, what, len(args), cmd.CommandPath())
		}
		return nil
	}
}

// Complete takes the source's name from the argument and fills in its defaults.
func (o *federateAddOptions) Complete(_ *cobra.Command, args []string) error {
	o.source.Name = args[0]
	o.normalizeErr = nil
	if o.source.URL != "" {
		o.normalizeErr = o.source.Normalize()
	}
	o.secrets = nil
	if o.bearer != "" {
		ref, err := remotewrite.ParseSecretKeyRef(o.bearer, remotewrite.DefaultBearerKey)
		if err != nil {
			return usageError("--bearer-token-secret: %w", err)
		}
		o.source.BearerTokenFile = remotewrite.SecretPath(ref.Secret, ref.Key)
		o.secrets = append(o.secrets, ref)
	}
	if o.basicAuth != "" {
		ref, err := remotewrite.ParseSecretKeyRef(o.basicAuth, remotewrite.UsernameKey)
		if err != nil || ref.Key != remotewrite.UsernameKey {
			return usageError("--basic-auth-secret takes a Secret name (with the keys %q and %q), got %q", remotewrite.UsernameKey, remotewrite.PasswordKey, o.basicAuth)
		}
		o.source.UsernameFile = remotewrite.SecretPath(ref.Secret, remotewrite.UsernameKey)
		o.source.PasswordFile = remotewrite.SecretPath(ref.Secret, remotewrite.PasswordKey)
		o.secrets = append(o.secrets, ref, remotewrite.SecretKeyRef{Secret: ref.Secret, Key: remotewrite.PasswordKey})
	}
	if o.ca != "" {
		ref, err := remotewrite.ParseSecretKeyRef(o.ca, remotewrite.DefaultCAKey)
		if err != nil {
			return usageError("--ca-secret: %w", err)
		}
		o.source.CAFile = remotewrite.SecretPath(ref.Secret, ref.Key)
		o.secrets = append(o.secrets, ref)
	}
	return nil
}

// Validate checks the flags without contacting the cluster.
func (o *federateAddOptions) Validate() error {
	if o.source.URL == "" {
		return usageError("--url is required: the remote Prometheus, e.g. https://prometheus.west.example.com/federate")
	}
	if err := validateTimeout(o.timeout); err != nil {
		return err
	}
	if err := validateReleaseName(o.releaseName); err != nil {
		return err
	}
	if o.normalizeErr != nil {
		return usageError("%w", o.normalizeErr)
	}
	if o.bearer != "" && o.basicAuth != "" {
		return usageError("--bearer-token-secret and --basic-auth-secret exclude each other: a scrape job authenticates one way")
	}
	return nil
}

// Run upgrades the release with the source's job.
func (o *federateAddOptions) Run(ctx context.Context) error {
	src := o.source
	if len(o.secrets) > 0 {
		c, err := o.inv.kubeClients()
		if err != nil {
			return err
		}
		if err := remotewrite.CheckSecrets(ctx, c.Kube, o.inv.namespace(), o.secrets); err != nil {
			return err
		}
	}
	update := func(current map[string]any) (map[string]any, bool, error) {
		out, changed, err := release.WithFederationSource(current, src)
		if err != nil || !changed {
			return out, changed, err
		}
		return out, true, remotewrite.SyncMounts(out)
	}
	if o.dryRun {
		return o.inv.dryRunUpdate(ctx, o.releaseName, o.chart, "federate add", update, func(map[string]any) (string, error) {
			return yamlSection(`Scrape job (serverFiles."prometheus.yml".scrape_configs)`, []any{src.Job()})
		})
	}
	res, err := o.inv.updateRelease(ctx, o.releaseName, o.chart, o.timeout, "Adding federation source "+src.Name, update)
	if err != nil {
		return err
	}
	out := o.inv.streams.Out
	if res.Action == release.ActionNone {
		fmt.Fprintf(out, "Federation source %s is already configured (job %s, revision %d); nothing changed.\n", src.Name, src.JobName(), res.Revision)
		return nil
	}
	fmt.Fprintf(out, "Federation source %s: job %s scrapes %s (match[] %s).\n", src.Name, src.JobName(), src.URL, strings.Join(src.Match, " "))
	fmt.Fprintf(out, "Upgraded release %s to revision %d; Prometheus reloads its configuration within a minute.\n", o.releaseName, res.Revision)
	fmt.Fprintf(out, "On the remote cluster, authorize this Prometheus: %s policy apply --allow-federate-from <CIDR of this cluster's egress>\n", o.inv.host.Display)
	fmt.Fprintf(out, "Then '%s check' shows whether the source is up.\n", o.inv.host.Display)
	return nil
}

type federateListOptions struct{ releaseReader }

func newFederateListCommand(inv *invocation) *cobra.Command {
	o := &federateListOptions{releaseReader{inv: inv}}
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the federation sources",
		Long: `List the federation sources in the release's configuration. -o json and -o yaml
print a list of {name, url, match, interval, timeout, insecureSkipVerify}.`,
		Example: fmt.Sprintf(`  %[1]s federate list
  %[1]s federate list -o json`, inv.host.Display),
		Args: cobra.NoArgs,
		RunE: runE(o),
	}
	o.addFlags(cmd.Flags(), "Name of meshmon's Prometheus Helm release")
	return cmd
}

// Run reads the release's values and prints the sources.
func (o *federateListOptions) Run(_ context.Context) error {
	env := o.env()
	t, values, err := o.deployedValues(env)
	if err != nil {
		return err
	}
	sources, odd := release.FederationSources(values)
	u := env.UI
	for _, name := range odd {
		fmt.Fprintf(u.Err, "%s job %s is named like a federation job but has no single static target; left out\n", u.ErrStyle().Yellow("‼ warning:"), name)
	}
	return printList(&o.releaseReader, t.Namespace, "federation sources", sources, printFederationTable)
}

func printFederationTable(w io.Writer, sources []scrape.FederationSource) error {
	tw := tabwriter.NewWriter(w, 0, 0, 3, ' ', 0)
	fmt.Fprintln(tw, "NAME\tURL\tMATCH\tINTERVAL")
	for _, s := range sources {
		interval := s.Interval
		if interval == "" {
			interval = "global"
		}
		url := s.URL
		if s.InsecureSkipVerify {
			url += " (TLS unverified)"
		}
		for _, c := range []struct{ what, file string }{{"bearer", s.BearerTokenFile}, {"basic", s.UsernameFile}, {"CA", s.CAFile}} {
			if ref, ok := remotewrite.ParseSecretPath(c.file); ok {
				url += " (" + c.what + " from Secret " + ref.Secret + ")"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", s.Name, url, strings.Join(s.Match, " "), interval)
	}
	return tw.Flush()
}

type federateRemoveOptions struct {
	inv         *invocation
	releaseName string
	name        string
	timeout     time.Duration
	dryRun      bool
	chart       string
}

func newFederateRemoveCommand(inv *invocation) *cobra.Command {
	o := &federateRemoveOptions{inv: inv}
	cmd := &cobra.Command{
		Use:   "remove NAME",
		Short: "Remove a federation source",
		Long: `Remove the federation source NAME (its scrape job federate-NAME). The series
already federated stay in the TSDB until retention drops them.`,
		Example: fmt.Sprintf(`  %[1]s federate remove west`, inv.host.Display),
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

func (o *federateRemoveOptions) Complete(_ *cobra.Command, args []string) error {
	o.name = args[0]
	return nil
}

func (o *federateRemoveOptions) Validate() error {
	if err := validateTimeout(o.timeout); err != nil {
		return err
	}
	return validateReleaseName(o.releaseName)
}

// Run upgrades the release without the source's job.
func (o *federateRemoveOptions) Run(ctx context.Context) error {
	var known []string
	update := func(current map[string]any) (map[string]any, bool, error) {
		out, found, err := release.WithoutFederationSource(current, o.name)
		if err != nil {
			return nil, false, err
		}
		if !found {
			sources, _ := release.FederationSources(current)
			for _, s := range sources {
				known = append(known, s.Name)
			}
			have := "there are none"
			if len(known) > 0 {
				have = "the sources are: " + strings.Join(known, ", ")
			}
			return nil, false, fmt.Errorf("%w %q in release %s: %s (see 'federate list')", release.ErrNoSuchFederationSource, o.name, o.releaseName, have)
		}
		// The source's Secrets stay mounted only while something else refers to them.
		return out, true, remotewrite.SyncMounts(out)
	}
	if o.dryRun {
		return o.inv.dryRunUpdate(ctx, o.releaseName, o.chart, "federate remove", update, nil)
	}
	res, err := o.inv.updateRelease(ctx, o.releaseName, o.chart, o.timeout, "Removing federation source "+o.name, update)
	if err != nil {
		return err
	}
	fmt.Fprintf(o.inv.streams.Out, "Removed federation source %s (job %s%s); upgraded release %s to revision %d.\n",
		o.name, scrape.FederationJobPrefix, o.name, o.releaseName, res.Revision)
	return nil
}

// updateRelease upgrades the release with update (a values-only change, as federate and
// remote-write make), showing progress.
func (inv *invocation) updateRelease(ctx context.Context, name, chart string, timeout time.Duration, what string, update func(map[string]any) (map[string]any, bool, error)) (*release.Result, error) {
	env := inv.env(false)
	t, err := env.Target(name)
	if err != nil {
		return nil, err
	}
	p := env.UI.Progress()
	p.Start(what)
	res, err := release.UpdateValues(ctx, t, update, release.UpdateOptions{
		ApplyOptions: release.ApplyOptions{Timeout: timeout, OnStatus: p.Update},
		Chart:        release.ChartReuse{Chart: chart},
	})
	if err != nil {
		p.Fail("release " + name + " not changed")
		return nil, env.ExplainNotInstalled(err)
	}
	if res.Action == release.ActionNone {
		p.Done("release " + name + " unchanged")
	} else {
		p.Done(fmt.Sprintf("release %s ready in %s", name, res.Duration.Round(100*time.Millisecond)))
	}
	return res, nil
}

// dryRunUpdate prints what command (e.g. "federate add") would change, reading the
// release but writing nothing; describe adds the details from the new values.
func (inv *invocation) dryRunUpdate(ctx context.Context, name, chart, command string, update func(map[string]any) (map[string]any, bool, error), describe func(values map[string]any) (string, error)) error {
	env := inv.env(false)
	t, err := env.Target(name)
	if err != nil {
		return err
	}
	up, err := release.PlanUpdate(ctx, t, update, release.ChartReuse{Chart: chart})
	if err != nil {
		return env.ExplainNotInstalled(err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# %s %s --dry-run: nothing below has been applied.\n", inv.host.Display, command)
	if !up.Changed {
		fmt.Fprintf(&b, "# Release %s in namespace %s: nothing to do, it is configured so already.\n", name, t.Namespace)
	} else {
		fmt.Fprintf(&b, "# Release %s in namespace %s: would be upgraded with %s.\n", name, t.Namespace, release.DescribeChart(up.Chart))
	}
	if describe != nil {
		d, err := describe(up.Values)
		if err != nil {
			return err
		}
		b.WriteString(d)
	}
	_, err = io.WriteString(inv.streams.Out, b.String())
	return err
}

// yamlSection renders v under a comment line.
func yamlSection(title string, v any) (string, error) {
	y, err := yaml.Marshal(v)
	if err != nil {
		return "", err
	}
	return "# " + title + ":\n" + string(y), nil
}
