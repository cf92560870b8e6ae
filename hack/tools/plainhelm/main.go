// Command plainhelm installs a chart through the Helm SDK alone, the way
// meshmon's release step does (action.Install, Secrets storage, kstatus wait,
// rollback on failure), so that `make bench-scale` can compare meshmon's
// install with a plain Helm install of the same chart and values.
//
//	plainhelm values -n NS --release NAME > values.json
//	plainhelm install --chart DIR --values values.json -n NS --release NAME
//	plainhelm uninstall -n NS --release NAME
//
// values prints the user-supplied values of an installed release (what
// `helm get values -o json` prints), so the plain install gets exactly the
// values meshmon computed. Every request's User-Agent starts with "plainhelm/".
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/kube"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/rest"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "plainhelm:", err)
		os.Exit(1)
	}
}

func config(kubeconfig, namespace string) (*action.Configuration, error) {
	flags := genericclioptions.NewConfigFlags(false)
	flags.KubeConfig, flags.Namespace = &kubeconfig, &namespace
	flags.WrapConfigFn = func(c *rest.Config) *rest.Config {
		c.UserAgent = "plainhelm/dev"
		return c
	}
	// The field manager the helm CLI applies with, as meshmon does.
	kube.ManagedFieldsManager = "helm"
	cfg := action.NewConfiguration(action.ConfigurationSetLogger(slog.NewTextHandler(io.Discard, nil)))
	if err := cfg.Init(flags, namespace, "secret"); err != nil {
		return nil, fmt.Errorf("initialising Helm for namespace %s: %w", namespace, err)
	}
	if c, ok := cfg.KubeClient.(*kube.Client); ok {
		c.Namespace = namespace
	}
	return cfg, nil
}

func run(args []string) error {
	if len(args) == 0 || (args[0] != "install" && args[0] != "uninstall" && args[0] != "values") {
		return errors.New("usage: plainhelm values|install|uninstall [flags]")
	}
	fs := flag.NewFlagSet("plainhelm "+args[0], flag.ContinueOnError)
	kubeconfig := fs.String("kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig")
	namespace := fs.String("n", "default", "namespace of the release")
	name := fs.String("release", "plain", "release name")
	chartPath := fs.String("chart", "", "chart directory or .tgz (install)")
	valuesFile := fs.String("values", "", "JSON file of the values to install with, as 'plainhelm values' prints them (install)")
	timeout := fs.Duration("timeout", 5*time.Minute, "bound of the install, waiting included")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	cfg, err := config(*kubeconfig, *namespace)
	if err != nil {
		return err
	}
	if args[0] == "uninstall" {
		u := action.NewUninstall(cfg)
		u.WaitStrategy = kube.StatusWatcherStrategy
		u.Timeout = *timeout
		_, err := u.Run(*name)
		return err
	}
	if args[0] == "values" {
		values, err := action.NewGetValues(cfg).Run(*name)
		if err != nil {
			return fmt.Errorf("reading the values of release %s/%s: %w", *namespace, *name, err)
		}
		return json.NewEncoder(os.Stdout).Encode(values)
	}
	if *chartPath == "" || *valuesFile == "" {
		return errors.New("install needs --chart and --values")
	}
	raw, err := os.ReadFile(*valuesFile)
	if err != nil {
		return err
	}
	var values map[string]any
	if err := json.Unmarshal(raw, &values); err != nil {
		return fmt.Errorf("reading values %s: %w", *valuesFile, err)
	}
	ch, err := loader.Load(*chartPath)
	if err != nil {
		return fmt.Errorf("loading chart %s: %w", *chartPath, err)
	}
	ctx := context.Background()
	inst := action.NewInstall(cfg)
	inst.ReleaseName, inst.Namespace, inst.Timeout = *name, *namespace, *timeout
	inst.WaitStrategy = kube.StatusWatcherStrategy
	inst.WaitOptions = []kube.WaitOption{kube.WithWaitMethodContext(ctx)}
	inst.RollbackOnFailure = true
	t0 := time.Now()
	if _, err := inst.RunWithContext(ctx, ch, values); err != nil {
		return fmt.Errorf("installing %s: %w", *name, err)
	}
	fmt.Printf("installed release %s in %s (Helm install and wait %s)\n", *name, *namespace, time.Since(t0).Round(time.Millisecond))
	return nil
}
