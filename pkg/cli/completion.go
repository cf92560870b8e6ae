package cli

import (
	"context"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/meshmon/meshmon/pkg/defaults"
	"github.com/meshmon/meshmon/pkg/kube"
	"github.com/meshmon/meshmon/pkg/release"
	"github.com/meshmon/meshmon/pkg/ui"
)

// registerCompletions attaches value completion to the finished command
// tree, by flag name and command path, so commands stay free of it. Shells
// get it through cobra's __complete: `completion bash|zsh|fish` for
// linkerd-meshmon, kubectl's plugin completion (the kubectl_complete-meshmon
// helper) for `kubectl meshmon`.
func registerCompletions(root *cobra.Command, inv *invocation) {
	byFlag := map[string]cobra.CompletionFunc{
		"release-name":  inv.completeReleases,
		"storage-class": inv.completeStorageClasses,
		"color":         cobra.FixedCompletions([]string{string(ui.ColorAuto), string(ui.ColorAlways), string(ui.ColorNever)}, cobra.ShellCompDirectiveNoFileComp),
	}
	byPath := map[string]cobra.CompletionFunc{
		"federate remove": inv.completeFederationSources,
	}
	seen := map[*pflag.Flag]bool{}
	var walk func(*cobra.Command)
	walk = func(cmd *cobra.Command) {
		register := func(f *pflag.Flag) {
			if seen[f] {
				return
			}
			seen[f] = true
			fn := byFlag[f.Name]
			if f.Name == "output" {
				fn = outputCompletion(f.Usage)
			}
			if fn != nil {
				// Only fails for a flag registered twice, which seen prevents.
				_ = cmd.RegisterFlagCompletionFunc(f.Name, fn)
			}
		}
		cmd.PersistentFlags().VisitAll(register)
		cmd.LocalNonPersistentFlags().VisitAll(register)
		if fn, ok := byPath[strings.TrimPrefix(cmd.CommandPath(), root.CommandPath()+" ")]; ok {
			cmd.ValidArgsFunction = fn
		}
		for _, c := range cmd.Commands() {
			walk(c)
		}
	}
	walk(root)
}

// outputCompletion offers the formats an -o flag's usage lists ("Output
// format: table, json or yaml"): the usage is the one place a command
// states them.
func outputCompletion(usage string) cobra.CompletionFunc {
	formats := outputFormats(usage)
	if len(formats) == 0 {
		return nil
	}
	return cobra.FixedCompletions(formats, cobra.ShellCompDirectiveNoFileComp)
}

// outputFormats parses the formats out of an -o flag's usage.
func outputFormats(usage string) []string {
	_, list, ok := strings.Cut(usage, "Output format:")
	if !ok {
		return nil
	}
	list = strings.ReplaceAll(list, " or ", ", ")
	var out []string
	for _, f := range strings.Split(list, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// completionContext bounds the cluster lookups: a shell waiting on TAB
// must not hang on an unreachable API server.
func completionContext(cmd *cobra.Command) (context.Context, context.CancelFunc) {
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	return context.WithTimeout(ctx, defaults.CompletionTimeout)
}

// completeReleases offers the Helm releases deployed in the namespace.
func (inv *invocation) completeReleases(cmd *cobra.Command, _ []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
	clients, err := inv.completionClients(cmd)
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	list, err := release.Deployed(clients.Kube, inv.namespace())
	if err != nil {
		cobra.CompDebugln(err.Error(), false)
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var out []cobra.Completion
	for _, r := range list {
		out = append(out, cobra.CompletionWithDesc(r.Name, r.Chart))
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

// completeStorageClasses offers the cluster's storage classes, and "-"
// (none) as install documents it.
func (inv *invocation) completeStorageClasses(cmd *cobra.Command, _ []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
	clients, err := inv.completionClients(cmd)
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	ctx, cancel := completionContext(cmd)
	defer cancel()
	classes, err := release.StorageClasses(ctx, clients.Kube)
	if err != nil {
		cobra.CompDebugln(err.Error(), false)
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var out []cobra.Completion
	for _, c := range classes {
		desc := ""
		if c.Default {
			desc = "the cluster's default"
		}
		out = append(out, cobra.CompletionWithDesc(c.Name, desc))
	}
	out = append(out, cobra.CompletionWithDesc("-", "no storage class"))
	return out, cobra.ShellCompDirectiveNoFileComp
}

// completeFederationSources offers the sources of the release named by
// --release-name.
func (inv *invocation) completeFederationSources(cmd *cobra.Command, args []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	clients, err := inv.completionClients(cmd)
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	name, err := cmd.Flags().GetString("release-name")
	if err != nil || name == "" {
		name = defaults.ReleaseName
	}
	names, err := release.FederationSourceNames(clients.Kube, inv.namespace(), name)
	if err != nil {
		cobra.CompDebugln(err.Error(), false)
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	return names, cobra.ShellCompDirectiveNoFileComp
}

// completionClients applies the global flags (cobra runs no PreRun for
// __complete) and connects.
func (inv *invocation) completionClients(cmd *cobra.Command) (*kube.Clients, error) {
	if err := inv.complete(cmd); err != nil {
		cobra.CompDebugln(err.Error(), false)
		return nil, err
	}
	c, err := inv.kubeClients()
	if err != nil {
		cobra.CompDebugln(err.Error(), false)
	}
	return c, err
}
