package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"

	"github.com/meshmon/meshmon/pkg/defaults"
	"github.com/meshmon/meshmon/pkg/kube"
	"github.com/meshmon/meshmon/pkg/linkerd"
	"github.com/meshmon/meshmon/pkg/policy"
	"github.com/meshmon/meshmon/pkg/release"
)

func newPolicyCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "policy",
		Short: "Manage the Linkerd authorization policy protecting meshmon's Prometheus",
		Long: `Manage the policy.linkerd.io objects that protect meshmon's Prometheus.

A Server (accessPolicy: deny) on the Prometheus port admits only linkerd-viz's
metrics-api, the clients named with --allow-client and the networks named with
--allow-federate-from. A MeshTLSAuthentication lists the scraper identities;
an existing one named with --mtls-authentication is merged into, never replaced.
linkerd-viz's own objects (metrics-api-web, prometheus-admin) are never edited.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newPolicyApplyCommand(g), newPolicyShowCommand(g), newPolicyDeleteCommand(g), newPolicyAllowScrapesCommand(g))
	return cmd
}

// policySpecFlags are what every policy subcommand needs to build the objects.
type policySpecFlags struct {
	releaseName  string
	clients      []string
	federateFrom []string
	mtlsName     string
	// promNamespace overrides g.namespace() (allow-scrapes uses -n for the data-plane namespace).
	promNamespace string

	parsedClients []policy.ServiceAccountRef
}

func (f *policySpecFlags) addFlags(cmd *cobra.Command, withAuthorizations bool, namespaceFlag string) {
	fs := cmd.Flags()
	fs.StringVar(&f.releaseName, "release-name", defaults.ReleaseName, "Name of meshmon's Prometheus Helm release (its namespace is "+namespaceFlag+", default the viz namespace)")
	fs.StringVar(&f.mtlsName, "mtls-authentication", "", "MeshTLSAuthentication listing the scraper identities; an existing one is merged into (default meshmon's own, "+policy.DefaultMTLSAuthenticationName+")")
	if withAuthorizations {
		fs.StringArrayVar(&f.clients, "allow-client", nil, "Also authorize this meshed client, as namespace/serviceaccount (repeatable), e.g. grafana/grafana")
		fs.StringArrayVar(&f.federateFrom, "allow-federate-from", nil, "Also authorize this network outside the mesh, as a CIDR (repeatable), e.g. 10.20.0.0/16 for federation")
	}
}

func (f *policySpecFlags) validate() error {
	if e := validation.IsDNS1123Label(f.releaseName); len(e) > 0 {
		return usageError("invalid --release-name %q: %s", f.releaseName, strings.Join(e, "; "))
	}
	f.parsedClients = f.parsedClients[:0]
	for _, c := range f.clients {
		ref, err := policy.ParseServiceAccountRef(c)
		if err != nil {
			return usageError("--allow-client: %w", err)
		}
		f.parsedClients = append(f.parsedClients, ref)
	}
	if f.mtlsName != "" {
		if e := validation.IsDNS1123Subdomain(f.mtlsName); len(e) > 0 {
			return usageError("invalid --mtls-authentication %q: %s", f.mtlsName, strings.Join(e, "; "))
		}
	}
	return nil
}

// policyEnv is the spec built from the cluster and the clients to apply it with.
type policyEnv struct {
	clients *kube.Clients
	pc      policy.Clients
	spec    policy.Spec
	params  linkerd.Facts
	// server is nil when the release is gone (delete may still run).
	server *release.Server
}

// policySpec reads the trust domain from linkerd-config and the Prometheus pods, port and
// ServiceAccount from the live release, and adds the namespaces where scrapes were already
// authorized (so they are kept, not reported stale). allowMissingServer lets delete run after
// the release is gone; the objects are then named from the defaults.
func policySpec(ctx context.Context, g *globals, f *policySpecFlags, allowMissingServer bool) (*policyEnv, error) {
	c, err := g.kubeClients()
	if err != nil {
		return nil, err
	}
	params, err := linkerd.Discover(ctx, c.Kube, g.linkerdNamespace, g.vizNamespace)
	if err != nil {
		return nil, err
	}
	promNS := f.promNamespace
	if promNS == "" {
		promNS = g.namespace()
	}
	srv, err := release.FindServer(ctx, c.Kube, promNS, f.releaseName, params.ClusterDomain)
	switch {
	case errors.Is(err, release.ErrServerNotFound) && allowMissingServer:
		srv = nil
	case errors.Is(err, release.ErrServerNotFound):
		return nil, fmt.Errorf("%w\n(the policy protects meshmon's Prometheus: install it first with `%s install`, or name it with -n/--release-name)", err, g.host.Display)
	case err != nil:
		return nil, err
	}
	return policySpecFor(ctx, c, params, promNS, f, srv)
}

// policySpecFor builds the spec for a Prometheus server the caller already found (or, for
// install --dry-run, the one its chart would create). A nil server names the objects from
// the defaults, which is all delete needs.
func policySpecFor(ctx context.Context, c *kube.Clients, params linkerd.Facts, promNS string, f *policySpecFlags, srv *release.Server) (*policyEnv, error) {
	env := &policyEnv{clients: c, pc: policy.Clients{Dynamic: c.Dynamic, Kube: c.Kube}, params: params, server: srv}
	spec := policy.Spec{
		VizNamespace: params.VizNamespace, PrometheusNamespace: promNS,
		LinkerdNamespace: params.LinkerdNamespace, TrustDomain: params.TrustDomain,
		AllowClients: f.parsedClients, AllowFederateFrom: f.federateFrom, MTLSAuthenticationName: f.mtlsName,
	}
	if srv == nil {
		// Only names and the instance label matter for deleting; these are the defaults.
		spec.ServerPodLabels = map[string]string{"app.kubernetes.io/instance": f.releaseName}
	} else {
		spec.ServerPodLabels = srv.SelectorLabels
		if len(spec.ServerPodLabels) == 0 {
			spec.ServerPodLabels = srv.PodLabels
		}
		spec.PrometheusServiceAccount = srv.ServiceAccount
		var err error
		if spec.Port, err = policyContainerPort(srv); err != nil {
			return nil, err
		}
	}
	nss, err := policy.AllowedScrapeNamespaces(ctx, env.pc, spec)
	if err != nil && !errors.Is(err, policy.ErrCRDsNotInstalled) {
		return nil, err
	}
	spec.ScrapeNamespaces = nss
	env.spec = spec
	return env, nil
}

// policyContainerPort is the Prometheus container port behind the Service port: the policy Server
// matches pod ports, not Service ports.
func policyContainerPort(srv *release.Server) (int, error) {
	for _, p := range srv.Service.Spec.Ports {
		if p.Port != srv.Port {
			continue
		}
		switch {
		case p.TargetPort.Type == intstr.Int && p.TargetPort.IntVal > 0:
			return int(p.TargetPort.IntVal), nil
		case p.TargetPort.Type == intstr.String && p.TargetPort.StrVal != "":
			return 0, fmt.Errorf("Service %s/%s port %d targets the named port %q; meshmon needs a numeric targetPort (the prometheus chart renders 9090)",
				srv.Namespace, srv.Service.Name, p.Port, p.TargetPort.StrVal)
		}
		return int(p.Port), nil
	}
	return int(srv.Port), nil
}

type policyApplyOptions struct {
	g      *globals
	spec   policySpecFlags
	dryRun bool
	force  bool
	output string
}

func newPolicyApplyCommand(g *globals) *cobra.Command {
	o := &policyApplyOptions{g: g, output: "text"}
	cmd := &cobra.Command{
		Use:   "apply",
		Short: "Create or update the authorization policy for meshmon's Prometheus",
		Long: `Create or update the authorization policy for meshmon's Prometheus, with
server-side apply (field manager "meshmon"). Everything is checked before the
first write: CRDs, namespaces, ServiceAccounts, ownership and permissions.
Running it again changes nothing.`,
		Example: fmt.Sprintf(`  %[1]s policy apply --dry-run
  %[1]s policy apply --allow-client grafana/grafana --allow-client flagger-system/flagger
  %[1]s policy apply --allow-federate-from 10.20.0.0/16
  %[1]s policy apply --mtls-authentication scrapers   # merge into an existing one`, g.host.Display),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run(cmd.Context())
		},
	}
	o.spec.addFlags(cmd, true, "-n")
	cmd.Flags().BoolVar(&o.dryRun, "dry-run", false, "Print the objects as YAML (JSON with -o json) and validate them on the server; store nothing")
	cmd.Flags().BoolVar(&o.force, "force", false, "Take over objects of the same name meshmon did not create, and fields other managers set")
	cmd.Flags().StringVarP(&o.output, "output", "o", o.output, "Output format: text, json or yaml")
	return cmd
}

func (o *policyApplyOptions) Validate() error {
	if err := validateOutput(o.output, "text", "json", "yaml"); err != nil {
		return err
	}
	return o.spec.validate()
}

func (o *policyApplyOptions) Run(ctx context.Context) error {
	env, err := policySpec(ctx, o.g, &o.spec, false)
	if err != nil {
		return err
	}
	objs, err := policy.Build(env.spec)
	if err != nil {
		return usageError("%w", err)
	}
	return applyPolicy(ctx, o.g, env, objs, o.dryRun, o.force, o.output)
}

// applyPolicy applies objs; a dry run prints them first and validates them on the server.
func applyPolicy(ctx context.Context, g *globals, env *policyEnv, objs []*unstructured.Unstructured, dryRun, force bool, output string) error {
	out := g.streams.Out
	if dryRun {
		if err := printPolicyObjects(out, output, objs); err != nil {
			return err
		}
		// The objects are on stdout, for piping; the server's verdict goes to stderr.
		out = g.streams.ErrOut
		output = "text"
	}
	p := g.ui(machineReadable(output)).Progress()
	p.Start("applying the authorization policy")
	changes, err := policy.Apply(ctx, env.pc, objs, policy.ApplyOptions{DryRun: dryRun, Force: force})
	if err != nil {
		p.Fail("applying the authorization policy failed")
		if len(changes) > 0 {
			_ = printPolicyChanges(out, output, changes)
			return fmt.Errorf("%w\n(the changes listed above were made; fix the cause and run apply again, or `policy delete`)", err)
		}
		return err
	}
	summary := "authorization policy unchanged"
	if policyChanged(changes) {
		summary = "authorization policy applied"
	}
	if dryRun {
		summary = "server-side dry run accepted every object; nothing was stored"
	}
	p.Done(summary)
	return printPolicyChanges(out, output, changes)
}

func policyChanged(cs policy.Changes) bool {
	return slices.ContainsFunc(cs, func(c policy.Change) bool {
		return c.Action != policy.ActionUnchanged && c.Action != policy.ActionAbsent && c.Action != policy.ActionKept
	})
}

func printPolicyObjects(w io.Writer, format string, objs []*unstructured.Unstructured) error {
	if format == "json" {
		list := make([]any, 0, len(objs))
		for _, o := range objs {
			list = append(list, o.Object)
		}
		return printDocument(w, "json", map[string]any{"apiVersion": "v1", "kind": "List", "items": list})
	}
	for _, o := range objs {
		b, err := yaml.Marshal(o.Object)
		if err != nil {
			return fmt.Errorf("rendering %s %s: %w", o.GetKind(), o.GetName(), err)
		}
		if _, err := fmt.Fprintf(w, "---\n%s", b); err != nil {
			return err
		}
	}
	return nil
}

func printPolicyChanges(w io.Writer, format string, changes policy.Changes) error {
	if format != "text" {
		return printDocument(w, format, map[string]any{"changes": changes})
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, c := range changes {
		action := string(c.Action)
		if c.DryRun {
			action += " (server dry run)"
		}
		detail := c.Detail
		if len(c.Identities) > 0 {
			detail = strings.TrimSpace(detail + " [" + strings.Join(c.Identities, ", ") + "]")
		}
		line := fmt.Sprintf("%s/%s -n %s\t%s", strings.ToLower(c.Kind), c.Name, c.Namespace, action)
		if detail != "" {
			line += "\t" + detail
		}
		fmt.Fprintln(tw, line)
	}
	return tw.Flush()
}

type policyShowOptions struct {
	g      *globals
	spec   policySpecFlags
	output string
}

func newPolicyShowCommand(g *globals) *cobra.Command {
	o := &policyShowOptions{g: g, output: "table"}
	cmd := &cobra.Command{
		Use:   "show",
		Short: "Show which policy objects exist and which are missing",
		Long: `Compare the policy objects meshmon would apply (same flags as apply) with the
cluster: present, missing, drifted, unmanaged (same name, not meshmon's), merged
(a MeshTLSAuthentication meshmon merged into) or stale (no longer wanted).`,
		Example: fmt.Sprintf(`  %[1]s policy show
  %[1]s policy show --allow-client grafana/grafana -o json`, g.host.Display),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := validateOutput(o.output, "table", "json", "yaml"); err != nil {
				return err
			}
			if err := o.spec.validate(); err != nil {
				return err
			}
			return o.Run(cmd.Context())
		},
	}
	o.spec.addFlags(cmd, true, "-n")
	cmd.Flags().StringVarP(&o.output, "output", "o", o.output, "Output format: table, json or yaml")
	return cmd
}

func (o *policyShowOptions) Run(ctx context.Context) error {
	env, err := policySpec(ctx, o.g, &o.spec, false)
	if err != nil {
		return err
	}
	objs, err := policy.Build(env.spec)
	if err != nil {
		return usageError("%w", err)
	}
	st, err := policy.Show(ctx, env.pc, objs)
	if err != nil {
		return err
	}
	if o.output != "table" {
		return printDocument(o.g.streams.Out, o.output, st)
	}
	w := o.g.streams.Out
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	header, rows := st.Table()
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if m := st.MeshTLSAuthentication; m != nil {
		owner := "meshmon's own"
		if m.Exists && !m.ManagedByMeshmon {
			owner = "not meshmon's; identities merged in"
		}
		if !m.Exists {
			owner = "missing"
		}
		fmt.Fprintf(w, "\nMeshTLSAuthentication %s/%s (%s):\n", m.Namespace, m.Name, owner)
		for _, id := range m.Identities {
			mark := ""
			if slices.Contains(m.AddedByMeshmon, id) {
				mark = "  (added by meshmon)"
			}
			fmt.Fprintf(w, "  %s%s\n", id, mark)
		}
		for _, id := range m.Missing {
			fmt.Fprintf(w, "  %s  (missing)\n", id)
		}
	}
	if st.InSync {
		fmt.Fprintln(w, "\nThe policy is in place.")
	} else {
		fmt.Fprintf(w, "\nThe policy is not in place: run `%s policy apply` with the same flags.\n", o.g.host.Display)
	}
	return nil
}

type policyDeleteOptions struct {
	g      *globals
	spec   policySpecFlags
	dryRun bool
	output string
}

func newPolicyDeleteCommand(g *globals) *cobra.Command {
	o := &policyDeleteOptions{g: g, output: "text"}
	cmd := &cobra.Command{
		Use:   "delete",
		Short: "Delete meshmon's policy objects",
		Long: `Delete the policy objects meshmon created for this Prometheus (also in the
namespaces allow-scrapes covered). From a MeshTLSAuthentication meshmon merged
into (name it with --mtls-authentication, as for apply), only the identities
meshmon added are removed. Objects meshmon did not create are never deleted.`,
		Example: fmt.Sprintf(`  %[1]s policy delete --dry-run
  %[1]s policy delete --mtls-authentication scrapers`, g.host.Display),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := validateOutput(o.output, "text", "json", "yaml"); err != nil {
				return err
			}
			if err := o.spec.validate(); err != nil {
				return err
			}
			return o.Run(cmd.Context())
		},
	}
	o.spec.addFlags(cmd, false, "-n")
	cmd.Flags().BoolVar(&o.dryRun, "dry-run", false, "Send every deletion as a server-side dry run; change nothing")
	cmd.Flags().StringVarP(&o.output, "output", "o", o.output, "Output format: text, json or yaml")
	return cmd
}

func (o *policyDeleteOptions) Run(ctx context.Context) error {
	env, err := policySpec(ctx, o.g, &o.spec, true)
	if err != nil {
		return err
	}
	objs, err := policy.Build(env.spec)
	if err != nil {
		return usageError("%w", err)
	}
	changes, err := policy.Delete(ctx, env.pc, objs, policy.DeleteOptions{DryRun: o.dryRun})
	if perr := printPolicyChanges(o.g.streams.Out, o.output, changes); perr != nil {
		return perr
	}
	return err
}

type policyAllowScrapesOptions struct {
	g      *globals
	spec   policySpecFlags
	all    bool
	dryRun bool
	force  bool
	output string
}

// scrapeDecision says why a namespace is, or is not, given scrape authorization.
type scrapeDecision struct {
	Namespace string `json:"namespace"`
	Policy    string `json:"defaultInboundPolicy"`
	From      string `json:"from"`
	Allowed   bool   `json:"allowed"`
	Reason    string `json:"reason"`
}

func newPolicyAllowScrapesCommand(g *globals) *cobra.Command {
	o := &policyAllowScrapesOptions{g: g, output: "text"}
	cmd := &cobra.Command{
		Use:   "allow-scrapes",
		Short: "Authorize meshmon's Prometheus to scrape proxies in namespaces that deny by default",
		Long: `Authorize meshmon's Prometheus (and viz's own, and tap) to scrape the proxies'
/metrics in namespaces whose default inbound policy is deny, keeping the
proxies' /live and /ready probes working. Like "linkerd viz allow-scrapes", but
for meshmon's real Prometheus identity. Namespaces that do not deny by default
need nothing and are skipped, with the reason.

Here -n names the namespace to authorize; meshmon's Prometheus is found in
--prometheus-namespace (default the viz namespace).`,
		Example: fmt.Sprintf(`  %[1]s policy allow-scrapes -n emojivoto
  %[1]s policy allow-scrapes --all-meshed-namespaces --dry-run`, g.host.Display),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run(cmd.Context())
		},
	}
	o.spec.addFlags(cmd, false, "--prometheus-namespace")
	cmd.Flags().StringVar(&o.spec.promNamespace, "prometheus-namespace", "", "Namespace of meshmon's Prometheus release (default the viz namespace)")
	cmd.Flags().BoolVar(&o.all, "all-meshed-namespaces", false, "Consider every namespace with meshed pods instead of -n")
	cmd.Flags().BoolVar(&o.dryRun, "dry-run", false, "Print the objects as YAML (JSON with -o json) and validate them on the server; store nothing")
	cmd.Flags().BoolVar(&o.force, "force", false, "Take over objects of the same name meshmon did not create")
	cmd.Flags().StringVarP(&o.output, "output", "o", o.output, "Output format: text, json or yaml")
	return cmd
}

func (o *policyAllowScrapesOptions) explicitNamespace() string {
	if ns := o.g.kubeFlags.Namespace; ns != nil {
		return *ns
	}
	return ""
}

func (o *policyAllowScrapesOptions) Validate() error {
	if err := validateOutput(o.output, "text", "json", "yaml"); err != nil {
		return err
	}
	switch ns := o.explicitNamespace(); {
	case ns == "" && !o.all:
		return usageError("name the namespace to authorize with -n NAMESPACE, or use --all-meshed-namespaces")
	case ns != "" && o.all:
		return usageError("-n and --all-meshed-namespaces exclude each other")
	}
	if o.spec.promNamespace == "" {
		o.spec.promNamespace = o.g.vizNamespace
	}
	return o.spec.validate()
}

func (o *policyAllowScrapesOptions) Run(ctx context.Context) error {
	env, err := policySpec(ctx, o.g, &o.spec, false)
	if err != nil {
		return err
	}
	decisions, err := o.decide(ctx, env)
	if err != nil {
		return err
	}
	var allow []string
	for _, d := range decisions {
		if d.Allowed {
			allow = append(allow, d.Namespace)
		}
	}
	textOut := o.g.streams.Out
	if o.dryRun || machineReadable(o.output) {
		textOut = o.g.streams.ErrOut
	}
	for _, d := range decisions {
		verb := "skipped"
		if d.Allowed {
			verb = "authorizing"
		}
		if o.output == "text" || o.dryRun {
			fmt.Fprintf(textOut, "namespace %s: %s (default inbound policy %s, from %s): %s\n", d.Namespace, verb, d.Policy, d.From, d.Reason)
		}
	}
	if len(allow) == 0 {
		if machineReadable(o.output) && !o.dryRun {
			return printDocument(o.g.streams.Out, o.output, map[string]any{"namespaces": decisions, "changes": policy.Changes{}})
		}
		fmt.Fprintln(textOut, "No namespace needs scrape authorization.")
		return nil
	}
	spec := env.spec
	spec.ScrapeNamespaces = append(slices.Clone(spec.ScrapeNamespaces), allow...)
	objs, err := policy.Build(spec)
	if err != nil {
		return usageError("%w", err)
	}
	// Only what scraping needs: the per-namespace objects and the authentications they name.
	var scrapeObjs []*unstructured.Unstructured
	for _, obj := range objs {
		role := obj.GetLabels()[policy.LabelRole]
		if slices.Contains(allow, obj.GetNamespace()) || role == "scrapers" || role == "kubelet" {
			scrapeObjs = append(scrapeObjs, obj)
		}
	}
	if machineReadable(o.output) && !o.dryRun {
		changes, err := policy.Apply(ctx, env.pc, scrapeObjs, policy.ApplyOptions{Force: o.force})
		if err != nil {
			return err
		}
		return printDocument(o.g.streams.Out, o.output, map[string]any{"namespaces": decisions, "changes": changes})
	}
	return applyPolicy(ctx, o.g, env, scrapeObjs, o.dryRun, o.force, o.output)
}

// decide applies Linkerd's rule: a meshed Prometheus is let in by every default policy but deny.
func (o *policyAllowScrapesOptions) decide(ctx context.Context, env *policyEnv) ([]scrapeDecision, error) {
	kc := env.clients.Kube
	clusterDefault, err := policy.ClusterDefaultInboundPolicy(env.params)
	if err != nil {
		return nil, err
	}
	var names []string
	if o.all {
		if names, err = policy.MeshedNamespaces(ctx, kc, env.params.ProxyContainerName); err != nil {
			return nil, err
		}
	} else {
		names = []string{o.explicitNamespace()}
	}
	out := make([]scrapeDecision, 0, len(names))
	for _, name := range names {
		ns, err := kc.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("namespace %q does not exist; check -n", name)
		}
		if err != nil {
			return nil, fmt.Errorf("reading namespace %s: %w", name, err)
		}
		out = append(out, scrapeDecisionFor(ns, clusterDefault))
	}
	return out, nil
}

func scrapeDecisionFor(ns *corev1.Namespace, clusterDefault string) scrapeDecision {
	d := scrapeDecision{Namespace: ns.Name, From: "the cluster default in linkerd-config"}
	var fromAnnotation bool
	d.Policy, fromAnnotation = policy.EffectiveInboundPolicy(ns, clusterDefault)
	if fromAnnotation {
		d.From = "namespace annotation " + policy.DefaultInboundPolicyAnnotation
	}
	d.Allowed = policy.NeedsScrapeAuthorization(ns, clusterDefault)
	if d.Allowed {
		d.Reason = "proxies deny unauthorized traffic, so Prometheus needs a policy to scrape them"
	} else {
		d.Reason = "a meshed Prometheus is already let in; nothing to do"
	}
	if v, ok := ns.Annotations[policy.DefaultInboundPolicyAnnotation]; ok && !fromAnnotation {
		d.Reason += fmt.Sprintf(" (the namespace annotation %q is not a Linkerd policy; Linkerd ignores it)", v)
	}
	return d
}
