package release

import (
	"reflect"
	"testing"

	"github.com/meshmon/meshmon/pkg/linkerd"
)

// FuzzResolveValues feeds arbitrary install flags to ValuesOptions.Resolve. It never panics;
// options it accepts are accepted again unchanged (the resolved options are a fixed point,
// so an upgrade that resolves stored options once more keeps them) and always satisfy the
// invariants Prometheus needs: a scrape timeout no longer than the interval.
func FuzzResolveValues(f *testing.F) {
	f.Add("", "", "", "", "", "", "", "", false)
	f.Add("20Gi", "15d", "0", "30s", "10s", "1m", "east", "meshmon", false)
	f.Add("500Mi", "1h", "19GiB", "5s", "", "", "line\nbreak", "", true)
	f.Add("1Ti", "90d", "900GB", "1m", "2m", "0s", "", "UPPER", false)
	f.Add("20e3Gi", "15d", "1EB", "1ms", "1ms", "1ms", "", "a-very-long-release-name-that-exceeds-the-limits-of-dns", true)
	f.Fuzz(func(t *testing.T, size, retention, retentionSize, interval, timeout, eval, cluster, release string, statefulSet bool) {
		o := ValuesOptions{
			ReleaseName: release, StorageSize: size, StatefulSet: statefulSet, Retention: retention,
			RetentionSize: retentionSize, ScrapeInterval: interval, ScrapeTimeout: timeout,
			EvaluationInterval: eval, ClusterName: cluster, Scrape: linkerd.Defaults(),
		}
		resolved, _, err := o.Resolve()
		if err != nil {
			return
		}
		iv, err := positiveDuration("scrape interval", resolved.ScrapeInterval)
		if err != nil {
			t.Fatalf("resolved interval %q: %v", resolved.ScrapeInterval, err)
		}
		to, err := positiveDuration("scrape timeout", resolved.ScrapeTimeout)
		if err != nil || to > iv {
			t.Fatalf("resolved timeout %q with interval %q: %v", resolved.ScrapeTimeout, resolved.ScrapeInterval, err)
		}
		if resolved.RetentionSize == "" && retentionSize != "0" {
			t.Fatalf("retention size %q resolved to none", retentionSize)
		}
		if retentionSize == "0" {
			return // "0" (size-based retention off) is an input only; "" then means the default
		}
		again, _, err := resolved.Resolve()
		if err != nil {
			t.Fatalf("resolved options are refused on a second Resolve: %+v: %v", resolved, err)
		}
		if !reflect.DeepEqual(again, resolved) {
			t.Fatalf("Resolve is not idempotent:\nonce  %+v\ntwice %+v", resolved, again)
		}
	})
}
