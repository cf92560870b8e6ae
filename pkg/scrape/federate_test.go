package scrape

import (
	"reflect"
	"strings"
	"testing"
)

func TestFederationSourceNormalize(t *testing.T) {
	for _, tc := range []struct {
		url, want string
	}{
		{"http://10.1.2.3:9090", "http://10.1.2.3:9090/federate"},
		{"http://10.1.2.3:9090/", "http://10.1.2.3:9090/federate"},
		{"https://prometheus.west.example.com/federate", "https://prometheus.west.example.com:443/federate"},
		{"http://prom.example.com/prometheus/federate/", "http://prom.example.com:80/prometheus/federate"},
		{"http://[fd00::1]:9090", "http://[fd00::1]:9090/federate"},
	} {
		s := FederationSource{Name: "west", URL: tc.url}
		if err := s.Normalize(); err != nil {
			t.Errorf("%s: %v", tc.url, err)
			continue
		}
		if s.URL != tc.want {
			t.Errorf("%s normalized to %s, want %s", tc.url, s.URL, tc.want)
		}
		if !reflect.DeepEqual(s.Match, DefaultFederationMatch()) {
			t.Errorf("default match = %v", s.Match)
		}
	}
}

func TestFederationSourceNormalizeRejects(t *testing.T) {
	for _, tc := range []struct {
		src  FederationSource
		want []string
	}{
		{FederationSource{Name: "West", URL: "http://a:9090"}, []string{`invalid source name "West"`}},
		{FederationSource{Name: strings.Repeat("a", 60), URL: "http://a:9090"}, []string{"too long: at most 54 characters"}},
		{FederationSource{Name: "w", URL: "ftp://a"}, []string{"scheme must be http or https"}},
		{FederationSource{Name: "w", URL: "http://"}, []string{"no host"}},
		{FederationSource{Name: "w", URL: "https://u:p@a/federate"}, []string{"credentials in the URL"}},
		{FederationSource{Name: "w", URL: "http://a:9090/federate?match[]=up"}, []string{"no query"}},
		{FederationSource{Name: "w", URL: "http://a:9090/metrics"}, []string{"the path must be /federate"}},
		{FederationSource{Name: "w", URL: "http://a:9090", Match: []string{"{job=\"x\""}}, []string{`invalid --match "{job=\"x\""`}},
		{FederationSource{Name: "w", URL: "http://a:9090", Match: []string{"{}"}}, []string{`invalid --match "{}"`}},
		{FederationSource{Name: "w", URL: "http://a:9090", Match: []string{"1up"}}, []string{`invalid --match "1up"`}},
		{FederationSource{Name: "w", URL: "http://a:9090", Interval: "soon"}, []string{`invalid --interval "soon"`}},
		{FederationSource{Name: "w", URL: "http://a:9090", Timeout: "0s"}, []string{`invalid --scrape-timeout "0s"`}},
		{FederationSource{Name: "w", URL: "http://a:9090", Interval: "5s", Timeout: "10s"}, []string{"longer than --interval"}},
		{FederationSource{Name: "w", URL: "http://a:9090", InsecureSkipVerify: true}, []string{"https:// URLs only"}},
		// Every problem at once.
		{FederationSource{Name: "W", URL: "gopher://x", Interval: "x"}, []string{"source name", "scheme", "--interval"}},
	} {
		err := tc.src.Normalize()
		if err == nil {
			t.Errorf("%+v: accepted", tc.src)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%+v: error %q does not say %q", tc.src, err, w)
			}
		}
	}
}

func TestFederationSelectors(t *testing.T) {
	for sel, ok := range map[string]bool{
		`{job="linkerd-proxy"}`:                  true,
		`{job="a",__name__=~"request_total|up"}`: true,
		`{ job = "a" , direction!="outbound", }`: true,
		`{job='a'}`:                              true,
		"{job=`a`}":                              true,
		`{job="a\"b"}`:                           true,
		`request_total`:                          true,
		`request_total{}`:                        true,
		`request_total{direction="inbound"}`:     true,
		`{job=linkerd-proxy}`:                    false, // the shell ate the quotes
		`{}`:                                     false,
		`{job="a"`:                               false,
		`{job="a"}}`:                             false,
		`{job="a" direction="in"}`:               false,
		`{job=="a"}`:                             false,
		`{1job="a"}`:                             false,
		`{job="a}`:                               false,
		`request-total`:                          false,
		``:                                       false,
	} {
		if got := validSelector(sel); got != ok {
			t.Errorf("validSelector(%s) = %v, want %v", sel, got, ok)
		}
	}
}

func TestFederationJobRoundTrip(t *testing.T) {
	s := FederationSource{
		Name: "west", URL: "https://prom.west.example.com/federate",
		Match:    []string{`{job="linkerd-proxy"}`, `request_total{direction="inbound"}`, "up"},
		Interval: "30s", Timeout: "20s", InsecureSkipVerify: true,
	}
	if err := s.Normalize(); err != nil {
		t.Fatal(err)
	}
	job := s.Job()
	want := map[string]any{
		"job_name":        "federate-west",
		"honor_labels":    true,
		"metrics_path":    "/federate",
		"scheme":          "https",
		"params":          map[string]any{"match[]": []any{`{job="linkerd-proxy"}`, `request_total{direction="inbound"}`, "up"}},
		"static_configs":  []any{map[string]any{"targets": []any{"prom.west.example.com:443"}}},
		"scrape_interval": "30s",
		"scrape_timeout":  "20s",
		"tls_config":      map[string]any{"insecure_skip_verify": true},
	}
	if !reflect.DeepEqual(job, want) {
		t.Errorf("job =\n%#v\nwant\n%#v", job, want)
	}
	back, ok := FederationSourceFromJob(job)
	if !ok || !reflect.DeepEqual(back, s) {
		t.Errorf("read back %+v (ok=%v), want %+v", back, ok, s)
	}

	// Optional fields are left out, so the global settings apply.
	plain := FederationSource{Name: "east", URL: "http://10.0.0.1:9090"}
	if err := plain.Normalize(); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"scrape_interval", "scrape_timeout", "tls_config"} {
		if _, set := plain.Job()[k]; set {
			t.Errorf("%s set without a flag asking for it", k)
		}
	}
}

func TestFederationSourceFromOtherJobs(t *testing.T) {
	for _, job := range []map[string]any{
		{"job_name": "linkerd-proxy"},
		{"job_name": "federate-two", "static_configs": []any{map[string]any{"targets": []any{"a:1", "b:2"}}}},
		{"job_name": "federate-none"},
	} {
		if s, ok := FederationSourceFromJob(job); ok {
			t.Errorf("%v read as a source: %+v", job, s)
		}
	}
	// A hand-written job with Prometheus' defaults (http, and no params) still reads.
	s, ok := FederationSourceFromJob(map[string]any{"job_name": "federate-x", "metrics_path": "/federate",
		"static_configs": []any{map[string]any{"targets": []any{"x:9090"}}}})
	if !ok || s.URL != "http://x:9090/federate" || s.Name != "x" {
		t.Errorf("hand-written job: %+v ok=%v", s, ok)
	}
}

func TestParseSelector(t *testing.T) {
	got, err := ParseSelector(`up{job="a\"b", ns=~'x|y',le=` + "`1`" + `}`)
	want := []Matcher{{"__name__", "=", "up"}, {"job", "=", `a"b`}, {"ns", "=~", "x|y"}, {"le", "=", "1"}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("got %#v, %v; want %#v", got, err, want)
	}
	if _, err := ParseSelector(`{job=x}`); err == nil {
		t.Error("unquoted value accepted")
	}
}
