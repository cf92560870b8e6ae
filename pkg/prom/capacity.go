package prom

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/common/model"
)

// DefaultBytesPerSample is the disk cost of a sample assumed before the
// first block is compacted: the upper end of the 1–2 bytes per sample that
// Prometheus' storage documentation (docs/storage.md, "Operational
// aspects") gives for compressed samples. The upper end, because a fresh
// Prometheus should be warned early rather than late.
const DefaultBytesPerSample = 2.0

// rateWindow is how far back the ingestion rate is averaged.
const rateWindow = time.Hour

// headroom is the share of the volume the forecast keeps free without a
// size limit: compaction writes a new block before it deletes the ones it
// replaces, and the WAL grows between truncations.
const headroom = 0.10

// TSDBFigures are one Prometheus' storage figures, read from its self-scrape.
type TSDBFigures struct {
	// Instance is the self-scrape target the figures come from.
	Instance string `json:"instance"`
	// Blocks and BlockBytes are the persisted blocks and their size on disk.
	Blocks     float64 `json:"blocks"`
	BlockBytes float64 `json:"blockBytes"`
	// BlockSamples is the number of samples in those blocks (0: unknown).
	BlockSamples float64 `json:"blockSamples"`
	// WALBytes and HeadChunkBytes are what the head block keeps on disk.
	WALBytes       float64 `json:"walBytes"`
	HeadChunkBytes float64 `json:"headChunkBytes"`
	HeadSeries     float64 `json:"headSeries"`
	// SamplesPerSecond is the ingestion rate over RateWindowSeconds: the last
	// hour, or the time since the process started when that is shorter.
	SamplesPerSecond  float64 `json:"samplesPerSecond"`
	RateWindowSeconds float64 `json:"rateWindowSeconds"`
	// RetentionLimitBytes is the size retention Prometheus applies (0: none).
	RetentionLimitBytes float64 `json:"retentionLimitBytes"`
	// ResidentBytes is the process' resident memory.
	ResidentBytes float64 `json:"residentBytes"`
}

// DiskUsed is what the TSDB occupies on disk now.
func (f TSDBFigures) DiskUsed() float64 { return f.BlockBytes + f.WALBytes + f.HeadChunkBytes }

// figureMetrics are read in one query; each maps to a field of TSDBFigures.
var figureMetrics = []string{
	"prometheus_tsdb_blocks_loaded",
	"prometheus_tsdb_storage_blocks_bytes",
	"prometheus_tsdb_wal_storage_size_bytes",
	"prometheus_tsdb_head_chunks_storage_size_bytes",
	"prometheus_tsdb_head_series",
	"prometheus_tsdb_head_samples_appended_total",
	"prometheus_tsdb_retention_limit_bytes",
	"process_start_time_seconds",
	"process_resident_memory_bytes",
}

// TSDBFigures reads the storage figures of the Prometheus whose self-scrape
// sel selects (label matchers without braces). When sel matches several
// instances, the first in sort order is used and named in the result.
func (c *Client) TSDBFigures(ctx context.Context, sel string) (TSDBFigures, error) {
	q := fmt.Sprintf(`{__name__=~%q,%s}`, strings.Join(figureMetrics, "|"), sel)
	vec, _, err := c.QueryVector(ctx, q, time.Time{})
	if err != nil {
		return TSDBFigures{}, err
	}
	var instances []string
	for _, s := range vec {
		if in := string(s.Metric["instance"]); !slices.Contains(instances, in) {
			instances = append(instances, in)
		}
	}
	if len(instances) == 0 {
		return TSDBFigures{}, fmt.Errorf("Prometheus at %s has no TSDB metrics for {%s}: it does not scrape itself, so its storage cannot be judged", c.base, sel)
	}
	slices.Sort(instances)
	f := TSDBFigures{Instance: instances[0]}
	var appended, start float64
	var at time.Time
	for _, s := range vec {
		if string(s.Metric["instance"]) != f.Instance {
			continue
		}
		v := float64(s.Value)
		switch s.Metric[model.MetricNameLabel] {
		case "prometheus_tsdb_blocks_loaded":
			f.Blocks = v
		case "prometheus_tsdb_storage_blocks_bytes":
			f.BlockBytes = v
		case "prometheus_tsdb_wal_storage_size_bytes":
			f.WALBytes = v
		case "prometheus_tsdb_head_chunks_storage_size_bytes":
			f.HeadChunkBytes = v
		case "prometheus_tsdb_head_series":
			f.HeadSeries = v
		case "prometheus_tsdb_head_samples_appended_total":
			appended += v
		case "prometheus_tsdb_retention_limit_bytes":
			f.RetentionLimitBytes = v
		case "process_start_time_seconds":
			start, at = v, s.Timestamp.Time()
		case "process_resident_memory_bytes":
			f.ResidentBytes = v
		}
	}
	uptime := time.Duration(0)
	if start > 0 {
		uptime = at.Sub(time.Unix(0, int64(start*float64(time.Second))))
	}
	f.RateWindowSeconds = min(uptime, rateWindow).Seconds()
	rq := fmt.Sprintf(`sum(rate(prometheus_tsdb_head_samples_appended_total{%s,instance=%q}[%s]))`, sel, f.Instance, model.Duration(rateWindow))
	r, found, err := c.ScalarQuery(ctx, rq, time.Time{})
	switch {
	case err != nil:
		return TSDBFigures{}, err
	case found:
		f.SamplesPerSecond = r
	case uptime > 0:
		// Fewer than two self-scrapes so far: the counter since start is all there is.
		f.SamplesPerSecond = appended / uptime.Seconds()
	}
	if f.Blocks > 0 {
		f.BlockSamples, err = c.blockSamples(ctx)
		if err != nil && KindOf(err) != KindHTTP {
			return TSDBFigures{}, err
		}
	}
	return f, nil
}

// blockSamples sums the samples of the persisted blocks (/api/v1/status/tsdb/blocks).
// Prometheus versions without that endpoint answer 404.
func (c *Client) blockSamples(ctx context.Context) (float64, error) {
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	r, err := c.api.TSDBBlocks(ctx)
	if err != nil {
		return 0, c.wrap("GET /api/v1/status/tsdb/blocks", err)
	}
	var n float64
	for _, b := range r.Blocks {
		n += float64(b.Stats.NumSamples)
	}
	return n, nil
}

// Limits are what bounds Prometheus' data.
type Limits struct {
	// Retention is the time retention; 0 means none (only a size limit).
	Retention time.Duration
	// RetentionSize is --storage.tsdb.retention.size in bytes; 0 means none.
	RetentionSize float64
	// Volume is the data volume's capacity in bytes; 0 means unknown.
	Volume float64
}

// RetentionTime is the time retention Prometheus runs with, from its flags
// (/api/v1/status/flags): --storage.tsdb.retention.time, else Prometheus'
// own 15d default when no size limit is set either; 0 with only a size limit.
func RetentionTime(flags map[string]string, sizeLimited bool) time.Duration {
	if d, err := model.ParseDuration(flags["storage.tsdb.retention.time"]); err == nil && d > 0 {
		return time.Duration(d)
	}
	if sizeLimited {
		return 0
	}
	return defaultRetention
}

// Outcome is the verdict of a forecast.
type Outcome string

// Forecast outcomes.
const (
	// OutcomeFits: the retention fits with room to spare.
	OutcomeFits Outcome = "fits"
	// OutcomeTight: it fits the volume, but with less than 10% to spare and
	// no size limit to fall back on.
	OutcomeTight Outcome = "tight"
	// OutcomeCutShort: retentionSize deletes data before the retention time.
	OutcomeCutShort Outcome = "cut-short"
	// OutcomeOverflow: the volume fills before any limit applies.
	OutcomeOverflow Outcome = "overflow"
)

// Forecast says whether the configured retention fits, at the current rate.
type Forecast struct {
	SamplesPerSecond float64 `json:"samplesPerSecond"`
	BytesPerSample   float64 `json:"bytesPerSample"`
	// BytesPerSampleFrom is "blocks" (measured) or "default" (DefaultBytesPerSample).
	BytesPerSampleFrom string `json:"bytesPerSampleFrom"`
	// RetentionSeconds is the time retention; 0 means none.
	RetentionSeconds float64 `json:"retentionSeconds"`
	// NeededBytes is the disk the retention needs: the blocks for the whole
	// retention plus today's WAL and head chunks. +Inf (omitted) without a time limit.
	NeededBytes float64 `json:"neededBytes,omitempty"`
	UsedBytes   float64 `json:"usedBytes"`
	// RetentionSizeBytes and VolumeBytes are the limits (0: none, unknown).
	RetentionSizeBytes float64 `json:"retentionSizeBytes,omitempty"`
	VolumeBytes        float64 `json:"volumeBytes,omitempty"`
	// KeptSeconds is how much time retentionSize keeps when it applies first.
	KeptSeconds float64 `json:"keptSeconds,omitempty"`
	// FullInSeconds is when the volume is full, for OutcomeOverflow.
	FullInSeconds float64 `json:"fullInSeconds,omitempty"`
	Outcome       Outcome `json:"outcome"`
	// Summary says it in one line, e.g. "at 12.4k samples/s, 15d needs 23 GiB, …".
	Summary string `json:"summary"`
}

// Predict forecasts the disk the configured retention needs.
//
// The arithmetic: bytes/sample is the persisted blocks' size over their
// samples (DefaultBytesPerSample before there is a block); a day of data
// takes rate × bytes/sample × 86400 bytes; the retention needs that times
// its length, plus what the head keeps on disk now (WAL and head chunks),
// which retentionSize counts too. retentionSize then keeps
// (retentionSize − WAL − head chunks) / (rate × bytes/sample) seconds.
func Predict(f TSDBFigures, l Limits) Forecast {
	fc := Forecast{
		SamplesPerSecond: f.SamplesPerSecond, BytesPerSample: DefaultBytesPerSample, BytesPerSampleFrom: "default",
		RetentionSeconds: l.Retention.Seconds(), UsedBytes: f.DiskUsed(),
		RetentionSizeBytes: l.RetentionSize, VolumeBytes: l.Volume,
	}
	if f.BlockSamples > 0 && f.BlockBytes > 0 {
		fc.BytesPerSample, fc.BytesPerSampleFrom = f.BlockBytes/f.BlockSamples, "blocks"
	}
	perSecond := f.SamplesPerSecond * fc.BytesPerSample
	head := f.WALBytes + f.HeadChunkBytes
	needed := math.Inf(1)
	if l.Retention > 0 || perSecond == 0 {
		needed = perSecond*l.Retention.Seconds() + head
	}
	if !math.IsInf(needed, 1) {
		fc.NeededBytes = needed
	}
	sizeApplies := l.RetentionSize > 0 && (l.Volume == 0 || l.RetentionSize <= l.Volume)
	if sizeApplies && needed > l.RetentionSize && perSecond > 0 {
		fc.KeptSeconds = max(l.RetentionSize-head, 0) / perSecond
	}
	rate := humanRate(f.SamplesPerSecond)
	wants := "no time limit"
	if l.Retention > 0 {
		wants = fmt.Sprintf("%s needs %s", model.Duration(l.Retention), HumanBytes(needed))
	}
	switch {
	case l.Volume > 0 && !sizeApplies && needed > l.Volume:
		fc.Outcome = OutcomeOverflow
		if perSecond > 0 {
			fc.FullInSeconds = max(l.Volume-fc.UsedBytes, 0) / perSecond
		}
		limit := "no retention size is set"
		if l.RetentionSize > 0 {
			limit = "retention size " + HumanBytes(l.RetentionSize) + " is larger than the volume"
		}
		fc.Summary = fmt.Sprintf("at %s, %s but the volume holds %s and %s: it is full in about %s",
			rate, wants, HumanBytes(l.Volume), limit, humanDuration(fc.FullInSeconds))
	case l.RetentionSize > 0 && needed > l.RetentionSize:
		fc.Summary = fmt.Sprintf("at %s, %s, retention size %s keeps about %s", rate, wants, HumanBytes(l.RetentionSize), humanDuration(fc.KeptSeconds))
		fc.Outcome = OutcomeCutShort
		if l.Retention == 0 {
			// Size-only retention is a choice, not a shortfall.
			fc.Outcome = OutcomeFits
		}
	case l.Volume > 0 && l.RetentionSize == 0 && needed > (1-headroom)*l.Volume:
		fc.Outcome = OutcomeTight
		fc.Summary = fmt.Sprintf("at %s, %s of the %s volume, leaving less than %.0f%% for compaction and no retention size to fall back on",
			rate, wants, HumanBytes(l.Volume), headroom*100)
	default:
		fc.Outcome = OutcomeFits
		room := ""
		switch {
		case l.RetentionSize > 0:
			room = ", within retention size " + HumanBytes(l.RetentionSize)
		case l.Volume > 0:
			room = ", within the " + HumanBytes(l.Volume) + " volume"
		}
		fc.Summary = fmt.Sprintf("at %s, %s%s", rate, wants, room)
	}
	return fc
}

// HumanBytes renders a byte count with binary units, e.g. "23.4 GiB".
func HumanBytes(b float64) string {
	if math.IsInf(b, 1) {
		return "unbounded"
	}
	const unit = 1024
	if b < unit {
		return fmt.Sprintf("%.0f B", b)
	}
	exp, div := 0, float64(unit)
	for n := b / unit; n >= unit && exp < 5; n /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", b/div, "KMGTPE"[exp])
}

func humanRate(r float64) string {
	switch {
	case r >= 1e6:
		return fmt.Sprintf("%.1fM samples/s", r/1e6)
	case r >= 1e3:
		return fmt.Sprintf("%.1fk samples/s", r/1e3)
	}
	return fmt.Sprintf("%.1f samples/s", r)
}

// humanDuration rounds seconds to what a forecast can promise: days from two
// days up, hours below, minutes under an hour.
func humanDuration(s float64) string {
	d := time.Duration(s * float64(time.Second))
	switch {
	case d >= 48*time.Hour:
		return fmt.Sprintf("%.0fd", d.Hours()/24)
	case d >= time.Hour:
		return fmt.Sprintf("%.0fh", d.Hours())
	}
	return fmt.Sprintf("%.0fm", d.Minutes())
}
