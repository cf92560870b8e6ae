package prom_test

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/meshmon/meshmon/pkg/prom"
)

const (
	gib = float64(1 << 30)
	mib = float64(1 << 20)
	day = 24 * time.Hour
)

func TestPredict(t *testing.T) {
	// 10k samples/s at 1.5 bytes/sample is 15 kB/s, 1.2 GiB a day (1.296e9 bytes).
	blocks := prom.TSDBFigures{
		Blocks: 4, BlockBytes: 3 * gib, BlockSamples: 3 * gib / 1.5,
		WALBytes: 200 * mib, HeadChunkBytes: 56 * mib, HeadSeries: 40000, SamplesPerSecond: 10000,
	}
	perDay := 10000 * 1.5 * 86400
	head := 256 * mib
	for _, tc := range []struct {
		name       string
		figures    prom.TSDBFigures
		limits     prom.Limits
		outcome    prom.Outcome
		needed     float64
		bps        float64
		bpsFrom    string
		kept       time.Duration
		fullIn     time.Duration
		summary    []string
		noNeededAt bool
	}{
		{
			name: "fits within retention size", figures: blocks,
			limits:  prom.Limits{Retention: 15 * day, RetentionSize: 36 * gib, Volume: 40 * gib},
			outcome: prom.OutcomeFits, needed: 15*perDay + head, bps: 1.5, bpsFrom: "blocks",
			summary: []string{"at 10.0k samples/s", "15d needs 18.4 GiB", "within retention size 36.0 GiB"},
		},
		{
			name: "fits a volume without size limit", figures: blocks,
			limits:  prom.Limits{Retention: 15 * day, Volume: 40 * gib},
			outcome: prom.OutcomeFits, needed: 15*perDay + head, bps: 1.5, bpsFrom: "blocks",
			summary: []string{"within the 40.0 GiB volume"},
		},
		{
			name: "retention size cuts the retention short", figures: blocks,
			limits:  prom.Limits{Retention: 15 * day, RetentionSize: 12 * gib, Volume: 20 * gib},
			outcome: prom.OutcomeCutShort, needed: 15*perDay + head, bps: 1.5, bpsFrom: "blocks",
			kept:    time.Duration((12*gib - head) / (10000 * 1.5) * float64(time.Second)),
			summary: []string{"15d needs 18.4 GiB", "retention size 12.0 GiB keeps about 10d"},
		},
		{
			name: "volume fills without a size limit", figures: blocks,
			limits:  prom.Limits{Retention: 15 * day, Volume: 8 * gib},
			outcome: prom.OutcomeOverflow, needed: 15*perDay + head, bps: 1.5, bpsFrom: "blocks",
			fullIn:  time.Duration((8*gib - blocks.DiskUsed()) / (10000 * 1.5) * float64(time.Second)),
			summary: []string{"the volume holds 8.0 GiB", "no retention size is set", "full in about 4d"},
		},
		{
			name: "volume fills before a too large size limit", figures: blocks,
			limits:  prom.Limits{Retention: 15 * day, RetentionSize: 18 * gib, Volume: 8 * gib},
			outcome: prom.OutcomeOverflow, needed: 15*perDay + head, bps: 1.5, bpsFrom: "blocks",
			fullIn:  time.Duration((8*gib - blocks.DiskUsed()) / (10000 * 1.5) * float64(time.Second)),
			summary: []string{"retention size 18.0 GiB is larger than the volume"},
		},
		{
			name: "tight without a size limit", figures: blocks,
			limits:  prom.Limits{Retention: 15 * day, Volume: 19 * gib},
			outcome: prom.OutcomeTight, needed: 15*perDay + head, bps: 1.5, bpsFrom: "blocks",
			summary: []string{"less than 10% for compaction"},
		},
		{
			name:    "size-only retention is a choice",
			figures: blocks, limits: prom.Limits{RetentionSize: 12 * gib, Volume: 20 * gib},
			outcome: prom.OutcomeFits, bps: 1.5, bpsFrom: "blocks", noNeededAt: true,
			kept:    time.Duration((12*gib - head) / (10000 * 1.5) * float64(time.Second)),
			summary: []string{"no time limit", "keeps about 10d"},
		},
		{
			// A fresh Prometheus: no block yet, so the default bytes/sample.
			name:    "fresh Prometheus without blocks",
			figures: prom.TSDBFigures{WALBytes: 10 * mib, HeadSeries: 5000, SamplesPerSecond: 500},
			limits:  prom.Limits{Retention: 15 * day, RetentionSize: 7 * gib, Volume: 8 * gib},
			outcome: prom.OutcomeFits, needed: 500*2*15*86400 + 10*mib, bps: prom.DefaultBytesPerSample, bpsFrom: "default",
		},
		{
			name:    "fresh Prometheus on a tiny volume",
			figures: prom.TSDBFigures{WALBytes: 2 * mib, SamplesPerSecond: 2000},
			limits:  prom.Limits{Retention: 15 * day, Volume: 64 * mib},
			outcome: prom.OutcomeOverflow, needed: 2000*2*15*86400 + 2*mib, bps: prom.DefaultBytesPerSample, bpsFrom: "default",
			fullIn:  time.Duration((62 * mib) / (2000 * 2) * float64(time.Second)),
			summary: []string{"at 2.0k samples/s", "full in about 5h"},
		},
		{
			name:    "nothing ingested yet",
			figures: prom.TSDBFigures{},
			limits:  prom.Limits{Retention: 15 * day, Volume: 8 * gib},
			outcome: prom.OutcomeFits, needed: 0, bps: prom.DefaultBytesPerSample, bpsFrom: "default",
		},
		{
			name:    "unknown volume, only the size limit",
			figures: blocks, limits: prom.Limits{Retention: 15 * day, RetentionSize: 30 * gib},
			outcome: prom.OutcomeFits, needed: 15*perDay + head, bps: 1.5, bpsFrom: "blocks",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fc := prom.Predict(tc.figures, tc.limits)
			if fc.Outcome != tc.outcome {
				t.Errorf("outcome = %s, want %s (%s)", fc.Outcome, tc.outcome, fc.Summary)
			}
			if !tc.noNeededAt && !near(fc.NeededBytes, tc.needed) {
				t.Errorf("needed = %.0f, want %.0f", fc.NeededBytes, tc.needed)
			}
			if tc.noNeededAt && fc.NeededBytes != 0 {
				t.Errorf("needed = %.0f without a time limit, want it left out", fc.NeededBytes)
			}
			if !near(fc.BytesPerSample, tc.bps) || fc.BytesPerSampleFrom != tc.bpsFrom {
				t.Errorf("bytes/sample = %v from %s, want %v from %s", fc.BytesPerSample, fc.BytesPerSampleFrom, tc.bps, tc.bpsFrom)
			}
			if !near(fc.KeptSeconds, tc.kept.Seconds()) {
				t.Errorf("kept = %.0fs, want %.0fs", fc.KeptSeconds, tc.kept.Seconds())
			}
			if !near(fc.FullInSeconds, tc.fullIn.Seconds()) {
				t.Errorf("full in = %.0fs, want %.0fs", fc.FullInSeconds, tc.fullIn.Seconds())
			}
			if !near(fc.UsedBytes, tc.figures.DiskUsed()) {
				t.Errorf("used = %.0f, want %.0f", fc.UsedBytes, tc.figures.DiskUsed())
			}
			for _, s := range tc.summary {
				if !strings.Contains(fc.Summary, s) {
					t.Errorf("summary %q lacks %q", fc.Summary, s)
				}
			}
		})
	}
}

func near(a, b float64) bool {
	return math.Abs(a-b) <= 1e-6*math.Max(1, math.Abs(b))
}

func TestHumanBytes(t *testing.T) {
	for in, want := range map[float64]string{0: "0 B", 1023: "1023 B", 1536: "1.5 KiB", 23.4 * gib: "23.4 GiB", math.Inf(1): "unbounded"} {
		if got := prom.HumanBytes(in); got != want {
			t.Errorf("HumanBytes(%v) = %q, want %q", in, got, want)
		}
	}
}
