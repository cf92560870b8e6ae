package checks

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/meshmon/meshmon/pkg/healthcheck"
	"github.com/meshmon/meshmon/pkg/scrape"
)

// federateProbe selects one series per proxy: enough to show that
// /federate serves the mesh's own metrics, cheap to parse on any mesh size.
const federateProbe = `process_start_time_seconds{job="` + scrape.JobLinkerdProxy + `"}`

// clusterLabel is the external label that tells clusters apart once their
// series are federated together.
const clusterLabel = "cluster"

// Federation checks that this Prometheus can be federated from, and that
// the sources it federates from are up.
func Federation(e *Env) healthcheck.Category {
	return healthcheck.Category{
		Name: CategoryFederation,
		Checks: []healthcheck.Check{
			{
				Description: "/federate serves the mesh metrics",
				HintAnchor:  "mm-federate",
				Needs:       []string{idPromReady},
				Run:         e.checkFederate,
			},
			{
				Description: "federation sources are up",
				HintAnchor:  "mm-federate-sources",
				Needs:       []string{idPromReady},
				Run:         e.checkFederationSources,
			},
			{
				Description: "the cluster external label is set",
				HintAnchor:  "mm-cluster-label",
				Warning:     true,
				Needs:       []string{idPromReady},
				Run:         e.checkClusterLabel,
			},
		},
	}
}

func (e *Env) checkFederate(ctx context.Context) error {
	pc, err := e.Prometheus(ctx)
	if err != nil {
		return err
	}
	res, err := pc.Federate(ctx, []string{federateProbe})
	if err != nil {
		return e.promErr(err)
	}
	if res.Samples == 0 {
		return fmt.Errorf("/federate?match[]=%s returned no samples: nothing federating from this Prometheus would get proxy metrics; the %s job scrapes no proxy successfully yet (see the targets checks)", federateProbe, scrape.JobLinkerdProxy)
	}
	return nil
}

func (e *Env) checkFederationSources(ctx context.Context) error {
	cfg, err := e.runningConfig(ctx)
	if err != nil {
		return err
	}
	var jobs, broken []string
	for i := range cfg.ScrapeConfigs {
		sc := &cfg.ScrapeConfigs[i]
		isFed := strings.TrimRight(sc.MetricsPath, "/") == "/federate"
		switch {
		case isFed && len(sc.FederationMatchers()) == 0:
			broken = append(broken, fmt.Sprintf("job %s scrapes /federate without a match[] parameter, which Prometheus answers with an error", sc.JobName))
		case sc.IsFederation():
			jobs = append(jobs, sc.JobName)
		}
	}
	if len(jobs) == 0 && len(broken) == 0 {
		return healthcheck.Skip("no federation source is configured")
	}
	ts, err := e.promTargets(ctx)
	if err != nil {
		return err
	}
	slices.Sort(jobs)
	for _, name := range jobs {
		j, _ := ts.Job(name)
		if len(j.Targets) == 0 {
			broken = append(broken, fmt.Sprintf("job %s has no target", name))
		}
		for _, t := range j.DownTargets() {
			broken = append(broken, fmt.Sprintf("job %s: %s is down: %s", name, t.Instance, orUnknownErr(t.LastError)))
		}
	}
	if len(broken) > 0 {
		return fmt.Errorf("federation sources are failing, so the other clusters' metrics are missing; check the remote Prometheus' address (meshmon federate list), its policy (its Server must authorize this cluster's network) and the federation job in Prometheus' configuration (its static target and match[] params):%s", bullets(broken))
	}
	return healthcheck.Detail(fmt.Sprintf("\t* %d %s: %s", len(jobs), plural(len(jobs), "source", "sources"), strings.Join(jobs, ", ")))
}

func (e *Env) checkClusterLabel(ctx context.Context) error {
	cfg, err := e.runningConfig(ctx)
	if err != nil {
		return err
	}
	if v := cfg.Global.ExternalLabels[clusterLabel]; v != "" {
		return healthcheck.Detail(fmt.Sprintf("\t* %s=%s", clusterLabel, v))
	}
	return fmt.Errorf("Prometheus sets no external label %q, so once its series are federated with another cluster's they cannot be told apart; set one with meshmon install --cluster-name <name> (server.global.external_labels.cluster)", clusterLabel)
}
