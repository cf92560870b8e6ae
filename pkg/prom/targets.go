package prom

import (
	"context"
	"maps"
	"slices"
	"strings"
	"time"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
)

// Target is one active scrape target.
type Target struct {
	Job                string // scrape pool (job_name)
	Instance           string
	Namespace          string // "namespace" label, set by Linkerd's relabeling
	Pod                string // "pod" label, set by Linkerd's relabeling
	Labels             map[string]string
	ScrapeURL          string
	Health             string // "up", "down" or "unknown" (not scraped yet)
	LastError          string
	LastScrape         time.Time
	LastScrapeDuration time.Duration
}

// JobTargets summarises the targets of one scrape pool.
type JobTargets struct {
	Job               string
	Up, Down, Unknown int
	// Dropped counts discovered targets that relabeling removed; a job with only dropped
	// targets usually has a keep/drop rule that matches nothing (e.g. an outdated port name).
	Dropped int
	// Targets holds every active target, sorted by instance.
	Targets []Target
}

// DownTargets returns the active targets whose last scrape failed.
func (j JobTargets) DownTargets() []Target {
	var out []Target
	for _, t := range j.Targets {
		if t.Health == string(v1.HealthBad) {
			out = append(out, t)
		}
	}
	return out
}

// TargetSummary groups Prometheus' targets by scrape pool.
type TargetSummary struct {
	Jobs map[string]*JobTargets
}

// JobNames returns the scrape pools in sorted order.
func (s TargetSummary) JobNames() []string {
	return slices.Sorted(maps.Keys(s.Jobs))
}

// Job returns the summary of one scrape pool.
func (s TargetSummary) Job(name string) (JobTargets, bool) {
	j, ok := s.Jobs[name]
	if !ok {
		return JobTargets{Job: name}, false
	}
	return *j, true
}

// Targets reads /api/v1/targets and groups active and dropped targets by scrape pool.
func (c *Client) Targets(ctx context.Context) (TargetSummary, error) {
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	r, err := c.api.Targets(ctx)
	if err != nil {
		return TargetSummary{}, c.wrap("GET /api/v1/targets", err)
	}
	return summarizeTargets(r), nil
}

func summarizeTargets(r v1.TargetsResult) TargetSummary {
	s := TargetSummary{Jobs: map[string]*JobTargets{}}
	job := func(name string) *JobTargets {
		j, ok := s.Jobs[name]
		if !ok {
			j = &JobTargets{Job: name}
			s.Jobs[name] = j
		}
		return j
	}
	for _, at := range r.Active {
		pool := at.ScrapePool
		if pool == "" {
			pool = string(at.Labels["job"])
		}
		j := job(pool)
		labels := make(map[string]string, len(at.Labels))
		for k, v := range at.Labels {
			labels[string(k)] = string(v)
		}
		t := Target{
			Job:                pool,
			Instance:           labels["instance"],
			Namespace:          labels["namespace"],
			Pod:                labels["pod"],
			Labels:             labels,
			ScrapeURL:          at.ScrapeURL,
			Health:             string(at.Health),
			LastError:          at.LastError,
			LastScrape:         at.LastScrape,
			LastScrapeDuration: time.Duration(at.LastScrapeDuration * float64(time.Second)),
		}
		switch at.Health {
		case v1.HealthGood:
			j.Up++
		case v1.HealthBad:
			j.Down++
		default:
			j.Unknown++
		}
		j.Targets = append(j.Targets, t)
	}
	for _, dt := range r.Dropped {
		// Prometheus keeps the job name among the discovered labels of dropped targets.
		job(dt.DiscoveredLabels["job"]).Dropped++
	}
	for _, j := range s.Jobs {
		slices.SortFunc(j.Targets, func(a, b Target) int { return strings.Compare(a.Instance, b.Instance) })
	}
	return s
}
