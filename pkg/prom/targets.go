package prom

import (
	"context"
	"encoding/json"
	"maps"
	"net/url"
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

// Targets reads the active targets (/api/v1/targets?state=active) and groups
// them by scrape pool. Dropped targets, most of the answer's bytes on a big
// cluster (each with all its discovered labels), are not asked for: Dropped
// stays 0; DroppedTargets counts them when a caller needs them.
func (c *Client) Targets(ctx context.Context) (TargetSummary, error) {
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	var r struct {
		Data struct {
			Active []struct {
				ScrapePool         string            `json:"scrapePool"`
				Labels             map[string]string `json:"labels"`
				ScrapeURL          string            `json:"scrapeUrl"`
				Health             v1.HealthStatus   `json:"health"`
				LastError          string            `json:"lastError"`
				LastScrape         time.Time         `json:"lastScrape"`
				LastScrapeDuration float64           `json:"lastScrapeDuration"`
			} `json:"activeTargets"`
		} `json:"data"`
	}
	if err := c.getJSON(ctx, "/api/v1/targets", url.Values{"state": {"active"}}, &r); err != nil {
		return TargetSummary{}, err
	}
	// The decoded label maps become the targets' own: no second copy.
	s := TargetSummary{Jobs: map[string]*JobTargets{}}
	for _, a := range r.Data.Active {
		pool := a.ScrapePool
		if pool == "" {
			pool = a.Labels["job"]
		}
		j, ok := s.Jobs[pool]
		if !ok {
			j = &JobTargets{Job: pool}
			s.Jobs[pool] = j
		}
		if a.Labels == nil {
			a.Labels = map[string]string{}
		}
		j.add(Target{
			Job: pool, Instance: a.Labels["instance"], Namespace: a.Labels["namespace"], Pod: a.Labels["pod"],
			Labels: a.Labels, ScrapeURL: a.ScrapeURL, Health: string(a.Health), LastError: a.LastError,
			LastScrape: a.LastScrape, LastScrapeDuration: time.Duration(a.LastScrapeDuration * float64(time.Second)),
		})
	}
	s.sortTargets()
	return s, nil
}

// add counts t by its health and keeps it.
func (j *JobTargets) add(t Target) {
	switch v1.HealthStatus(t.Health) {
	case v1.HealthGood:
		j.Up++
	case v1.HealthBad:
		j.Down++
	default:
		j.Unknown++
	}
	j.Targets = append(j.Targets, t)
}

func (s TargetSummary) sortTargets() {
	for _, j := range s.Jobs {
		slices.SortFunc(j.Targets, func(a, b Target) int { return strings.Compare(a.Instance, b.Instance) })
	}
}

// DroppedTargets counts the dropped targets (/api/v1/targets?state=dropped)
// of each job.
func (c *Client) DroppedTargets(ctx context.Context) (map[string]int, error) {
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	var r struct {
		Data struct {
			Dropped []struct {
				DiscoveredLabels struct {
					Job string `json:"job"`
				} `json:"discoveredLabels"`
			} `json:"droppedTargets"`
		} `json:"data"`
	}
	if err := c.getJSON(ctx, "/api/v1/targets", url.Values{"state": {"dropped"}}, &r); err != nil {
		return nil, err
	}
	out := map[string]int{}
	for _, d := range r.Data.Dropped {
		out[d.DiscoveredLabels.Job]++
	}
	return out, nil
}

// getJSON GETs an API path and decodes the answer's JSON into v.
func (c *Client) getJSON(ctx context.Context, path string, query url.Values, v any) error {
	body, _, err := c.get(ctx, path, query, "application/json")
	if err != nil {
		return err
	}
	if err := json.Unmarshal(body, v); err != nil {
		return &Error{URL: c.base.String(), Op: "GET " + path, Kind: KindBadResponse, Err: err}
	}
	return nil
}
