package scrape

import (
	"net/url"
	"reflect"
	"strings"
	"testing"
)

// FuzzFederationSourceNormalize feeds arbitrary `federate add` flags to Normalize. It never
// panics; a source it accepts is a fixed point (normalizing it again changes nothing and
// still succeeds), its URL is an absolute http(s) URL without credentials, query or
// fragment ending in /federate with an explicit port, and the scrape job rendered from it
// reads back (FederationSourceFromJob) to the same source.
func FuzzFederationSourceNormalize(f *testing.F) {
	f.Add("west", "http://10.1.2.3:9090", `{job="linkerd-proxy"}`, "30s", "10s", false)
	f.Add("east", "https://prometheus.east.example.com/prometheus/federate/", `up{job=~"linkerd-.*",namespace!=''}`, "", "", true)
	f.Add("v6", "http://[fd00::1]:9090/federate", "up", "1m", "", false)
	f.Add("bad", "http://user:pass@host/federate", "{job=linkerd-proxy}", "0s", "1m", false)
	f.Add("q", "http://host/federate?match[]=up#frag", "{}", "1m", "2m", false)
	f.Fuzz(func(t *testing.T, name, rawURL, match, interval, timeout string, insecure bool) {
		s := FederationSource{Name: name, URL: rawURL, Interval: interval, Timeout: timeout, InsecureSkipVerify: insecure}
		if match != "" {
			s.Match = strings.Split(match, "\x00")
		}
		if err := s.Normalize(); err != nil {
			return
		}
		again := s
		again.Match = append([]string(nil), s.Match...)
		if err := again.Normalize(); err != nil {
			t.Fatalf("a normalized source fails to normalize again: %+v: %v", s, err)
		}
		if !reflect.DeepEqual(again, s) {
			t.Fatalf("Normalize is not idempotent:\nonce  %+v\ntwice %+v", s, again)
		}
		u, err := url.Parse(s.URL)
		if err != nil {
			t.Fatalf("normalized URL %q does not parse: %v", s.URL, err)
		}
		if u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Port() == "" || !strings.HasSuffix(u.Path, FederatePath) {
			t.Fatalf("normalized URL %q: want http(s)://host:port[/prefix]/federate without credentials, query or fragment", s.URL)
		}
		back, ok := FederationSourceFromJob(s.Job())
		if !ok {
			t.Fatalf("the job of %+v is not read back as a federation source: %v", s, s.Job())
		}
		if !reflect.DeepEqual(back, s) {
			t.Fatalf("job round trip changed the source:\nwant %+v\ngot  %+v", s, back)
		}
	})
}

// FuzzValidSelector checks the match[] grammar: it never panics, surrounding space does
// not change the verdict, a selector it accepts names a metric or has at least one matcher
// (Prometheus refuses {}), and an accepted selector is accepted in its single-element
// --match list by Normalize unchanged.
func FuzzValidSelector(f *testing.F) {
	for _, s := range append(DefaultFederationMatch(),
		"up", `up{}`, `{job="a",}`, `{__name__=~"job:.*"}`, "{job='x'}", "{job=`x`}",
		`{job="a\"b"}`, "{job=linkerd-proxy}", "{}", `{ job = "a" , ns != "b" }`, "9up", `up{job="a"`) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, sel string) {
		ok := validSelector(sel)
		if validSelector(" "+sel+"\t") != ok {
			t.Fatalf("surrounding space changes the verdict on %q", sel)
		}
		if !ok {
			return
		}
		trimmed := strings.TrimSpace(sel)
		if trimmed == "{}" || strings.HasPrefix(trimmed, "{") && strings.TrimSpace(strings.Trim(trimmed, "{}")) == "" {
			t.Fatalf("accepted the empty selector %q, which Prometheus refuses", sel)
		}
		s := FederationSource{Name: "fuzz", URL: "http://127.0.0.1:9090", Match: []string{sel}}
		if err := s.Normalize(); err != nil {
			t.Fatalf("validSelector accepts %q but Normalize refuses it: %v", sel, err)
		}
		if len(s.Match) != 1 || s.Match[0] != sel {
			t.Fatalf("Normalize changed the selector %q to %q", sel, s.Match)
		}
	})
}
