package remotewrite

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func ptr(s string) *string { return &s }

func base() map[string]any {
	return map[string]any{
		"server": map[string]any{
			"global": map[string]any{"scrape_interval": "1m"},
			"extraSecretMounts": []any{
				map[string]any{"name": "users-own", "secretName": "x", "mountPath": "/etc/x"},
			},
		},
	}
}

func full() Endpoint {
	return Endpoint{
		Name: "mimir", URL: "https://mimir.example.com/api/v1/push",
		BearerToken: &SecretKeyRef{"rw-token", "token"},
		CA:          &SecretKeyRef{"rw-ca", "ca.crt"},
		ClientCert:  ptr("rw-client"),
		Headers:     map[string]string{TenantHeader: "team-a"},
		Keep:        []string{KeepLinkerd, `{__name__=~"up|scrape_.*",job="prometheus"}`},
		QueryURL:    "https://mimir.example.com/prometheus",
		MaxShards:   10, Capacity: 5000,
		QueueConfig: map[string]any{"batch_send_deadline": "10s"},
	}
}

func TestRenderRoundTrip(t *testing.T) {
	basic := Endpoint{Name: "vm", URL: "http://vm:8428/api/v1/write", BasicAuth: ptr("vm-auth"), Keep: []string{KeepAll}}
	plain := Endpoint{Name: "thanos", URL: "https://thanos:19291/api/v1/receive", InsecureSkipVerify: true}
	for _, e := range []Endpoint{full(), basic, plain} {
		t.Run(e.Name, func(t *testing.T) {
			if err := e.Validate(); err != nil {
				t.Fatal(err)
			}
			v, changed, err := With(base(), e)
			if err != nil || !changed {
				t.Fatalf("With: changed=%v err=%v", changed, err)
			}
			eps, err := Endpoints(v)
			if err != nil || len(eps) != 1 {
				t.Fatalf("Endpoints: %v %v", eps, err)
			}
			got := eps[0]
			if !same(Render(got), Render(e)) {
				t.Errorf("round trip:\n got %#v\nwant %#v", Render(got), Render(e))
			}
			if got.QueryURL != e.QueryURL {
				t.Errorf("query URL %q, want %q", got.QueryURL, e.QueryURL)
			}
			if len(e.Keep) > 0 && !reflect.DeepEqual(got.Keep, e.Keep) {
				t.Errorf("keep %q, want %q", got.Keep, e.Keep)
			}
			again, changed, err := With(v, got)
			if err != nil || changed || !same(again, v) {
				t.Errorf("re-adding what was read back changed the values (changed=%v err=%v)", changed, err)
			}
		})
	}
}

func TestRenderShape(t *testing.T) {
	r := Render(full())
	raw, _ := json.Marshal(r)
	for _, want := range []string{
		`"authorization":{"credentials_file":"/etc/meshmon/secrets/rw-token/token","type":"Bearer"}`,
		`"ca_file":"/etc/meshmon/secrets/rw-ca/ca.crt"`,
		`"cert_file":"/etc/meshmon/secrets/rw-client/tls.crt"`,
		`"key_file":"/etc/meshmon/secrets/rw-client/tls.key"`,
		`"headers":{"X-Scope-OrgID":"team-a"}`,
		`"queue_config":{"batch_send_deadline":"10s","capacity":5000,"max_shards":10}`,
		`"target_label":"__tmp_meshmon_keep"`,
		`"name":"mimir"`,
	} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("rendered entry lacks %s:\n%s", want, raw)
		}
	}
	def := Render(Endpoint{Name: "a", URL: "http://a/"})
	rules, _ := json.Marshal(def["write_relabel_configs"])
	if string(rules) != `[{"action":"keep","regex":"linkerd-controller|linkerd-multicluster-controller|linkerd-proxy","source_labels":["job"]}]` {
		t.Errorf("default keep rules: %s", rules)
	}
	all := Render(Endpoint{Name: "a", URL: "http://a/", Keep: []string{KeepAll}})
	if _, ok := all["write_relabel_configs"]; ok {
		t.Errorf("--keep all has relabel rules: %v", all)
	}
	sel := Render(Endpoint{Name: "a", URL: "http://a/", Keep: []string{`request_total{namespace="a.b"}`}})
	rules, _ = json.Marshal(sel["write_relabel_configs"])
	if string(rules) != `[{"action":"keep","regex":"request_total","source_labels":["__name__"]},{"action":"keep","regex":"a\\.b","source_labels":["namespace"]}]` {
		t.Errorf("selector keep rules: %s", rules)
	}
}

func TestValidate(t *testing.T) {
	ok := Endpoint{Name: "a", URL: "https://a.example.com/api/v1/write"}
	cases := []struct {
		name string
		mod  func(*Endpoint)
		want string
	}{
		{"ok", func(*Endpoint) {}, ""},
		{"bad name", func(e *Endpoint) { e.Name = "A_b" }, "invalid name"},
		{"no url", func(e *Endpoint) { e.URL = "" }, "invalid --url"},
		{"userinfo", func(e *Endpoint) { e.URL = "https://u:p@a/" }, "credentials in it"},
		{"both auth", func(e *Endpoint) { e.BearerToken = &SecretKeyRef{"t", "token"}; e.BasicAuth = ptr("b") }, "not both"},
		{"insecure http", func(e *Endpoint) { e.URL = "http://a/"; e.InsecureSkipVerify = true }, "needs an https"},
		{"auth header", func(e *Endpoint) { e.Headers = map[string]string{"authorization": "x"} }, "--bearer-token-secret"},
		{"bad keep", func(e *Endpoint) { e.Keep = []string{"{job=x}"} }, "invalid --keep"},
		{"negative keep", func(e *Endpoint) { e.Keep = []string{`{job!="x"}`} }, "only = and =~"},
		{"all plus", func(e *Endpoint) { e.Keep = []string{"all", "linkerd"} }, "give it alone"},
		{"secret name", func(e *Endpoint) { e.CA = &SecretKeyRef{"a.b", "ca.crt"} }, "DNS label"},
		{"long secret", func(e *Endpoint) { e.ClientCert = ptr(strings.Repeat("a", 49)) }, "at most 48"},
		{"queue field", func(e *Endpoint) { e.QueueConfig = map[string]any{"max_shard": 2} }, "unknown queue_config field"},
		{"query url", func(e *Endpoint) { e.QueryURL = "vm:8428" }, "--query-url"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := ok
			c.mod(&e)
			err := e.Validate()
			if c.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err %v, want %q", err, c.want)
			}
		})
	}
}

func TestParse(t *testing.T) {
	r, err := ParseSecretKeyRef("tok", "token")
	if err != nil || r != (SecretKeyRef{"tok", "token"}) {
		t.Errorf("%v %v", r, err)
	}
	r, err = ParseSecretKeyRef("tok:bearer", "token")
	if err != nil || r != (SecretKeyRef{"tok", "bearer"}) {
		t.Errorf("%v %v", r, err)
	}
	if _, err := ParseSecretKeyRef(":x", "token"); err == nil {
		t.Error("empty Secret name accepted")
	}
	k, v, err := ParseHeader("X-Scope-OrgID=a=b")
	if err != nil || k != "X-Scope-OrgID" || v != "a=b" {
		t.Errorf("%q %q %v", k, v, err)
	}
	for _, bad := range []string{"novalue", "=v", "Content-Type=x"} {
		if _, _, err := ParseHeader(bad); err == nil {
			t.Errorf("ParseHeader(%q) accepted", bad)
		}
	}
	if got := SecretPath("s", "k"); got != "/etc/meshmon/secrets/s/k" {
		t.Error(got)
	}
}

func mountNames(v map[string]any) []string {
	var out []string
	items, _ := list(v, secretMountsPath)
	for _, it := range items {
		out = append(out, it.(map[string]any)["name"].(string))
	}
	return out
}

func TestMountsSharedAndRemoved(t *testing.T) {
	a := Endpoint{Name: "a", URL: "https://a/", BearerToken: &SecretKeyRef{"shared", "a"}, CA: &SecretKeyRef{"ca", "ca.crt"}}
	b := Endpoint{Name: "b", URL: "https://b/", BearerToken: &SecretKeyRef{"shared", "b"}}
	v, _, err := With(base(), a)
	if err != nil {
		t.Fatal(err)
	}
	v, _, err = With(v, b)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := mountNames(v), []string{"users-own", "meshmon-secret-ca", "meshmon-secret-shared"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("mounts %v, want %v", got, want)
	}
	v, found, err := Without(v, "a")
	if err != nil || !found {
		t.Fatal(found, err)
	}
	if got, want := mountNames(v), []string{"users-own", "meshmon-secret-shared"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("after removing a: mounts %v, want %v", got, want)
	}
	// Changing b to another Secret drops the old mount.
	b.BearerToken = &SecretKeyRef{"other", "token"}
	v, changed, err := With(v, b)
	if err != nil || !changed {
		t.Fatal(changed, err)
	}
	if got, want := mountNames(v), []string{"users-own", "meshmon-secret-other"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("after changing b: mounts %v, want %v", got, want)
	}
	v, _, err = Without(v, "b")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := mountNames(v), []string{"users-own"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("after removing all: mounts %v, want %v", got, want)
	}
	if _, ok := v["meshmon"]; ok {
		t.Errorf("notes left behind: %v", v["meshmon"])
	}
	if _, found, _ := Without(v, "b"); found {
		t.Error("removing a missing entry found it")
	}
}

func TestMountsForFederationJobs(t *testing.T) {
	v := base()
	v["serverFiles"] = map[string]any{"prometheus.yml": map[string]any{"scrape_configs": []any{
		map[string]any{"job_name": "federate-west", "authorization": map[string]any{"credentials_file": SecretPath("fed", "token")}},
	}}}
	if err := SyncMounts(v); err != nil {
		t.Fatal(err)
	}
	if got, want := mountNames(v), []string{"users-own", "meshmon-secret-fed"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("mounts %v, want %v", got, want)
	}
}

func TestEndpointsUnnamedAndCluster(t *testing.T) {
	v := map[string]any{"server": map[string]any{
		"remoteWrite": []any{map[string]any{"url": "http://old/"}},
		"global":      map[string]any{"external_labels": map[string]any{"cluster": "east"}},
	}}
	eps, err := Endpoints(v)
	if err != nil || len(eps) != 1 || eps[0].Name != "" || eps[0].URL != "http://old/" {
		t.Fatalf("%#v %v", eps, err)
	}
	if ClusterLabel(v) != "east" || ClusterLabel(base()) != "" {
		t.Error("ClusterLabel")
	}
	if got := ClusterLabel(WithClusterLabel(base(), "west")); got != "west" {
		t.Error(got)
	}
	v["server"].(map[string]any)["remoteWrite"] = "oops"
	if _, err := Endpoints(v); err == nil {
		t.Error("a non-list remoteWrite was accepted")
	}
}
