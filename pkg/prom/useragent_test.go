package prom_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/meshmon/meshmon/pkg/prom"
)

// Requests to Prometheus carry meshmon's User-Agent, so Prometheus' logs and a
// counting proxy can tell them apart; an explicit header replaces it.
func TestRequestsCarryMeshmonUserAgent(t *testing.T) {
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.UserAgent())
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"success","data":{"activeTargets":[],"droppedTargets":[]}}`))
	}))
	defer srv.Close()
	for _, tc := range []struct {
		opts []prom.Option
		want func(string) bool
	}{
		{nil, func(ua string) bool { return strings.HasPrefix(ua, "meshmon/") }},
		{[]prom.Option{prom.WithHeader("User-Agent", "custom/1")}, func(ua string) bool { return ua == "custom/1" }},
	} {
		got = nil
		c, err := prom.New(srv.URL, tc.opts...)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Targets(context.Background()); err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || !tc.want(got[0]) {
			t.Errorf("User-Agents seen: %q", got)
		}
	}
}
