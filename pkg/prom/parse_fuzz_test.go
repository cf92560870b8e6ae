package prom_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/meshmon/meshmon/pkg/prom"
)

// cannedTransport answers every request with one fuzzed status and body, in memory: no
// socket is opened, so a fuzz run sends no traffic at all.
type cannedTransport struct {
	status int
	ctype  string
	body   []byte
}

func (c cannedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	return &http.Response{
		StatusCode: c.status, Status: http.StatusText(c.status), Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{"Content-Type": {c.ctype}}, Body: io.NopCloser(bytes.NewReader(c.body)),
		ContentLength: int64(len(c.body)), Request: req,
	}, nil
}

func addTestdataSeeds(f *testing.F, files ...string) {
	f.Helper()
	for _, name := range files {
		body, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(body, uint16(200))
	}
}

// FuzzAPIAnswers feeds arbitrary answers (body and status) to the readers of Prometheus'
// JSON API that the checks use: targets, runtime info, flags and build info. None panics;
// every failure is a *prom.Error (so the checks can classify it and show its hint); a
// targets answer that parses is summarised consistently (per job, up+down+unknown equals
// the targets listed, each under its job, sorted by instance, DownTargets the down ones).
func FuzzAPIAnswers(f *testing.F) {
	addTestdataSeeds(f, "targets.json", "targets_empty.json", "runtimeinfo.json", "runtimeinfo_fresh.json",
		"runtimeinfo_reload_failed.json", "flags.json", "buildinfo.json", "query_bad_data.json")
	f.Add([]byte(`{"status":"success","data":{"activeTargets":[{"labels":{"job":"a","instance":"b"},"health":"down","scrapePool":""}],"droppedTargets":[{"discoveredLabels":{}}]}}`), uint16(200))
	f.Add([]byte(`{"status":"error","errorType":"bad_data","error":"x"}`), uint16(422))
	f.Add([]byte(`upstream connect error`), uint16(503))
	f.Fuzz(func(t *testing.T, body []byte, status uint16) {
		code := int(status%500) + 100
		c, err := prom.New("http://prometheus.invalid:9090", prom.WithRoundTripper(cannedTransport{status: code, ctype: "application/json", body: body}))
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		isPromError := func(what string, err error) {
			var pe *prom.Error
			if err != nil && !errors.As(err, &pe) {
				t.Fatalf("%s: error %T %v is not a *prom.Error", what, err, err)
			}
		}
		ts, err := c.Targets(ctx)
		isPromError("targets", err)
		if err == nil {
			for name, j := range ts.Jobs {
				if j.Job != name {
					t.Fatalf("job %q filed under %q", j.Job, name)
				}
				if j.Up+j.Down+j.Unknown != len(j.Targets) {
					t.Fatalf("job %q: %d up + %d down + %d unknown != %d targets", name, j.Up, j.Down, j.Unknown, len(j.Targets))
				}
				if len(j.DownTargets()) != j.Down {
					t.Fatalf("job %q: %d DownTargets, %d down", name, len(j.DownTargets()), j.Down)
				}
				if !slices.IsSortedFunc(j.Targets, func(a, b prom.Target) int { return strings.Compare(a.Instance, b.Instance) }) {
					t.Fatalf("job %q: targets not sorted by instance", name)
				}
				for _, tg := range j.Targets {
					if tg.Job != name {
						t.Fatalf("target %+v listed under job %q", tg, name)
					}
				}
			}
			if !slices.IsSorted(ts.JobNames()) || len(ts.JobNames()) != len(ts.Jobs) {
				t.Fatalf("JobNames %v", ts.JobNames())
			}
		}
		_, err = c.RuntimeInfo(ctx)
		isPromError("runtime info", err)
		_, err = c.Flags(ctx)
		isPromError("flags", err)
		_, err = c.BuildInfo(ctx)
		isPromError("build info", err)
	})
}

// FuzzParseFederate feeds arbitrary /federate bodies and Content-Types to ParseFederate. It
// never panics; a body that parses is counted consistently: the samples per job add up to
// the samples, and labels common to every sample exist only when there are samples.
func FuzzParseFederate(f *testing.F) {
	body, err := os.ReadFile(filepath.Join("testdata", "federate.txt"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(body, "text/plain; version=0.0.4; charset=utf-8")
	f.Add(body, "")
	f.Add([]byte("# TYPE h histogram\nh_bucket{le=\"+Inf\",job=\"a\"} 1\nh_sum{job=\"a\"} 1\nh_count{job=\"a\"} 1\n"), "text/plain")
	f.Add([]byte("<html>login</html>"), "text/html")
	f.Add([]byte("up{job=\"a\"} 1\nup{job=\"b\",cluster=\"x\"} 0 1700000000000\n"), "application/openmetrics-text; version=1.0.0")
	f.Fuzz(func(t *testing.T, body []byte, ctype string) {
		res, err := prom.ParseFederate(body, http.Header{"Content-Type": {ctype}})
		if err != nil {
			return
		}
		sum := 0
		for job, n := range res.Jobs {
			if n < 0 {
				t.Fatalf("job %q has %d samples", job, n)
			}
			sum += n
		}
		if sum != res.Samples || res.Samples < 0 || res.Families < 0 {
			t.Fatalf("samples %d, families %d, per job %v", res.Samples, res.Families, res.Jobs)
		}
		if res.CommonLabels == nil || (res.Samples == 0 && len(res.CommonLabels) > 0 && len(res.Jobs) == 0) {
			t.Fatalf("common labels %v with %d samples", res.CommonLabels, res.Samples)
		}
	})
}
