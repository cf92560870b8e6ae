package release

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/meshmon/meshmon/pkg/prom"
)

// cannedPrometheus answers the queries status makes: a Prometheus with no
// block yet, 500 samples/s, 8000 series, 15d retention and no size limit.
func cannedPrometheus(t *testing.T) *prom.Client {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		w.Header().Set("Content-Type", "application/json")
		vec := func(series ...string) {
			fmt.Fprintf(w, `{"status":"success","data":{"resultType":"vector","result":[%s]}}`, strings.Join(series, ","))
		}
		sample := func(name string, v float64) string {
			return fmt.Sprintf(`{"metric":{"__name__":%q,"job":"prometheus","instance":"localhost:9090"},"value":[1763787600,"%v"]}`, name, v)
		}
		switch q := r.Form.Get("query"); {
		case r.URL.Path == "/api/v1/status/flags":
			fmt.Fprint(w, `{"status":"success","data":{"storage.tsdb.retention.time":"15d","storage.tsdb.retention.size":"0B"}}`)
		case strings.HasPrefix(q, `{__name__=~`) && strings.Contains(q, `job="prometheus"`):
			vec(sample("prometheus_tsdb_head_series", 8000), sample("prometheus_tsdb_wal_storage_size_bytes", 4<<20),
				sample("prometheus_tsdb_blocks_loaded", 0), sample("process_start_time_seconds", 1763787600-1800))
		case strings.HasPrefix(q, "sum(rate(prometheus_tsdb_head_samples_appended_total"):
			fmt.Fprint(w, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1763787600,"500"]}]}}`)
		default:
			t.Errorf("unexpected request %s %q", r.URL.Path, q)
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	pc, err := prom.New(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	return pc
}

func TestReadPrometheusHealth(t *testing.T) {
	pc := cannedPrometheus(t)
	h, err := ReadPrometheusHealth(context.Background(), pc, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	if h.SamplesPerSecond != 500 || h.HeadSeries != 8000 || h.DiskUsedBytes != 4<<20 {
		t.Errorf("health = %+v", h)
	}
	// 500 samples/s × 2 bytes (no block yet) × 15d ≈ 1.2 GiB, more than the 1 GiB volume.
	fc := h.Forecast
	if fc.Outcome != prom.OutcomeOverflow || fc.BytesPerSampleFrom != "default" || fc.VolumeBytes != 1<<30 {
		t.Errorf("forecast = %+v", fc)
	}
	if !strings.Contains(fc.Summary, "at 500.0 samples/s, 15d needs 1.2 GiB but the volume holds 1.0 GiB") {
		t.Errorf("summary %q", fc.Summary)
	}
	s := &Status{Storage: []Volume{{Capacity: ""}, {Capacity: "2Gi"}}}
	if got := s.volumeBytes(); got != 2<<30 {
		t.Errorf("volumeBytes = %v, want the first known capacity", got)
	}
}
