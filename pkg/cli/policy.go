package cli

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/meshmon/meshmon/pkg/install"
	"github.com/meshmon/meshmon/pkg/policy"
)

func newPolicyCommand(inv *invocation) *cobra.Command {
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
	cmd.AddCommand(newPolicyApplyCommand(inv), newPolicyShowCommand(inv), newPolicyDeleteCommand(inv), newPolicyAllowScrapesCommand(inv))
	return cmd
}

// policySpecFlags are what every policy subcommand (and install) needs to build the objects.
type policySpecFlags struct {
	releaseName  string
	clients      []string
	federateFrom []string
	mtlsName     string
	// promNamespace overrides the invocation's namespace (allow-scrapes uses -n for the
	// data-plane namespace).
	promNamespace string

	// Derived by complete.
	parsedClients []policy.ServiceAccountRef
	clientsErr    error
}

func (f *policySpecFlags) addFlags(cmd *cobra.Command, withAuthorizations bool, namespaceFlag string) {
	fs := cmd.Flags()
	addReleaseNameFlag(fs, &f.releaseName, "Name of meshmon's Prometheus Helm release (its namespace is "+namespaceFlag+", default the viz namespace)")
	fs.StringVar(&f.mtlsName, "mtls-authentication", "", "MeshTLSAuthentication listing the scraper identities; an existing one is merged into (default meshmon's own, "+policy.DefaultMTLSAuthenticationName+")")
	if withAuthorizations {
		fs.StringArrayVar(&f.clients, "allow-client", nil, "Also authorize this meshed client, as namespace/serviceaccount (repeatable), e.g. grafana/grafana")
		fs.StringArrayVar(&f.federateFrom, "allow-federate-from", nil, "Also authorize this network outside the mesh, as a CIDR (repeatable), e.g. 10.20.0.0/16 for federation")
	}
}

// complete parses --allow-client; validate reports what did not parse.
func (f *policySpecFlags) complete() {
	f.parsedClients, f.clientsErr = nil, nil
	for _, c := range f.clients {
		ref, err := policy.ParseServiceAccountRef(c)
		if err != nil {
			f.clientsErr = err
			return
		}
		f.parsedClients = append(f.parsedClients, ref)
	}
}

func (f *policySpecFlags) validate() error {
	if err := validateReleaseName(f.releaseName); err != nil {
		return err
	}
	if f.clientsErr != nil {
		return usageError("--allow-client: %w", f.clientsErr)
	}
	return validateMTLSName(f.mtlsName)
}

// validateMTLSName checks --mtls-authentication, which names an object ("" is meshmon's own).
func validateMTLSName(name string) error {
	if name == "" {
		return nil
	}
	if e := validation.IsDNS1123Subdomain(name); len(e) > 0 {
		return usageError("invalid --mtls-authentication %q: %s", name, strings.Join(e, "; "))
	}
	return nil
}

func (f *policySpecFlags) input() install.PolicyInput {
	return install.PolicyInput{
		ReleaseName: f.releaseName, PrometheusNamespace: f.promNamespace,
		AllowClients: f.parsedClients, AllowFederateFrom: f.federateFrom, MTLSAuthenticationName: f.mtlsName,
	}
}

// buildPolicy reads the cluster and builds the policy objects the flags describe.
func buildPolicy(ctx context.Context, inv *invocation, f *policySpecFlags, allowMissingServer bool) (*install.Policy, []*unstructured.Unstructured, error) {
	pol, err := inv.env(false).ReadPolicy(ctx, f.input(), allowMissingServer)
	if err != nil {
		return nil, nil, err
	}
	objs, err := policy.Build(pol.Spec)
	if err != nil {
		return nil, nil, usageError("%w", err)
	}
	return pol, objs, nil
}

// applyPolicy applies objs; a dry run prints them first and validates them on the server.
func applyPolicy(ctx context.Context, inv *invocation, pol *install.Policy, objs []*unstructured.Unstructured, dryRun, force bool, output string) error {
	out := inv.streams.Out
	if dryRun {
		if err := printPolicyObjects(out, output, objs); err != nil {
			return err
		}
		// The objects are on stdout, for piping; the server's verdict goes to stderr.
		out = inv.streams.ErrOut
		output = "text"
	}
	p := inv.ui(machineReadable(output)).Progress()
	p.Start("applying the authorization policy")
	changes, err := policy.Apply(ctx, pol.Clients, objs, policy.ApplyOptions{DryRun: dryRun, Force: force})
	if err != nil {
		p.Fail("applying the authorization policy failed")
		if len(changes) > 0 {
			_ = printChanges(out, output, changes, true)
			return fmt.Errorf("%w\n(the changes listed above were made; fix the cause and run apply again, or `policy delete`)", err)
		}
		return err
	}
	summary := "authorization policy unchanged"
	if changes.Changed() {
		summary = "authorization policy applied"
	}
	if dryRun {
		summary = "server-side dry run accepted every object; nothing was stored"
	}
	p.Done(summary)
	return printChanges(out, output, changes, true)
}

func printPolicyObjects(w io.Writer, format string, objs []*unstructured.Unstructured) error {
	if format == "json" {
		list := make([]any, 0, len(objs))
		for _, o := range objs {
			list = append(list, o.Object)
		}
		return printDocument(w, "json", map[string]any{"apiVersion": "v1", "kind": "List", "items": list})
	}
	return policy.WriteYAML(w, objs)
}
