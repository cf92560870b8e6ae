package healthcheck

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/fatih/color"

	"github.com/meshmon/meshmon/pkg/fixtures"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

const testHintBase = "https://github.com/meshmon/meshmon/blob/main/docs/checks.md#"

func pass(context.Context) error { return nil }

func fail(msg string) func(context.Context) error {
	return func(context.Context) error { return errors.New(msg) }
}

func ret(err error) func(context.Context) error {
	return func(context.Context) error { return err }
}

// scenarios are the runs whose output is pinned by golden files.
var scenarios = []struct {
	name       string
	categories func() []Category
}{
	{"allpass", func() []Category {
		return []Category{
			{Name: "kubernetes-api", Checks: []Check{
				{Description: "can initialize the client", Run: pass},
				{Description: "can query the Kubernetes API", Run: pass},
			}},
			{Name: "meshmon-federation", Checks: []Check{
				{Description: "federation sources are up", Run: ret(Detail("\t* cluster-east\n\t* cluster-west"))},
				{Description: "federation returns samples", Run: pass},
			}},
		}
	}},
	{"warnings", func() []Category {
		return []Category{
			{Name: "meshmon-persistence", Checks: []Check{
				{Description: "PVC is Bound", Run: pass},
				{Description: "PV reclaim policy keeps data", HintAnchor: "mm-reclaim", Warning: true,
					Run: fail("PV pvc-1234 has reclaim policy Delete: the data is lost with the PVC\n\tpatch it to Retain")},
				{Description: "retention fits the volume", HintAnchor: "mm-retention",
					Run: ret(Warn(errors.New("retentionSize 9GiB leaves less than 10% of the 10Gi volume free")))},
			}},
			{Name: "meshmon-targets", Checks: []Check{
				{Description: "Linkerd jobs have targets", Run: pass},
			}},
		}
	}},
	{"errors", func() []Category {
		return []Category{
			{Name: "meshmon-release", Checks: []Check{
				{Description: "Helm release is deployed", Run: pass},
				{Description: "Prometheus pods are ready", HintAnchor: "mm-pods-ready",
					Run: fail("2 of 3 pods are not ready:\n\t* linkerd-viz/prometheus-0\n\t* linkerd-viz/prometheus-1")},
				{Description: "Service port resolves to a container port", Run: fail("service port 80 -> targetPort <none> & no match")},
			}},
			{Name: "meshmon-policy", Checks: []Check{
				{Description: "Server selects the Prometheus pods", HintAnchor: "mm-server", Run: pass},
				{Description: "no overlapping Server", HintAnchor: "mm-overlap", Warning: true, Run: fail("Server a and b both select port 9090")},
			}},
		}
	}},
	{"fatal", func() []Category {
		return []Category{
			{Name: "kubernetes-api", Checks: []Check{
				{ID: "client", Description: "can initialize the client", Fatal: true, HintAnchor: "k8s-api",
					Run: fail("no kubeconfig found: set KUBECONFIG or pass --kubeconfig")},
				{ID: "query", Description: "can query the Kubernetes API", Fatal: true, Needs: []string{"client"}, Run: pass},
				{ID: "local", Description: "kubectl-meshmon is on the PATH", Run: pass},
			}},
			{Name: "meshmon-release", Checks: []Check{
				{ID: "release", Description: "Helm release is deployed", Needs: []string{"query"}, Run: pass},
				{Description: "chart version is supported", Needs: []string{"release"}, Run: pass},
				{ID: "soft", Description: "values file is readable", HintAnchor: "mm-values", Needs: []string{"local"}, Run: fail("reading values.yaml: permission denied")},
				{Description: "values are valid", Needs: []string{"soft"}, Run: pass},
			}},
		}
	}},
	{"skippedcategory", func() []Category {
		return []Category{
			{Name: "prometheus-operator", Checks: []Check{
				{ID: "crds", Description: "prometheus-operator CRDs exist", Run: ret(Skip("prometheus-operator CRDs not installed"))},
				{Description: "ServiceMonitor ports exist", Needs: []string{"crds"}, Run: pass},
			}},
			{Name: "meshmon-targets", Checks: []Check{
				{Description: "Linkerd jobs have targets", Run: pass},
				{Description: "meshed pods are all scraped", Run: ret(Skip("no meshed pods"))},
				{Description: "targets are up", Run: pass},
			}},
		}
	}},
}

func runScenario(t *testing.T, cats []Category) Results {
	t.Helper()
	return mustRun(t, context.Background(), cats, Options{HintBaseURL: testHintBase})
}

func TestGolden(t *testing.T) {
	for _, sc := range scenarios {
		for _, format := range Formats() {
			t.Run(sc.name+"/"+format, func(t *testing.T) {
				res := runScenario(t, sc.categories())
				var buf bytes.Buffer
				if err := Render(&buf, res, format, false); err != nil {
					t.Fatalf("Render: %v", err)
				}
				checkGolden(t, filepath.Join("testdata", sc.name+"."+format+".golden"), buf.Bytes())
			})
		}
	}
}

func checkGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	fixtures.Golden(t, path, got, *update)
}

// TestLinkerdShape pins the exact bytes of the run shape of linkerd's own
// golden files (cli/cmd/testdata/check_output*.golden): one pass, then one
// error with a hint, with linkerd's hint base URL.
func TestLinkerdShape(t *testing.T) {
	res, err := runWithin(t, context.Background(), []Category{{Name: "some-category", Checks: []Check{
		{Description: "first check", Run: pass},
		{Description: "second check", HintAnchor: "an-anchor", Run: fail("what went wrong")},
	}}}, Options{HintBaseURL: "https://linkerd.io/2/checks/#"})
	if err != nil {
		t.Fatal(err)
	}
	wantTable := "some-category\n-------------\n\u221a first check\n\u00d7 second check\n" +
		"    what went wrong\n" +
		"    see https://linkerd.io/2/checks/#an-anchor for hints\n\n" +
		"Status check results are \u00d7\n"
	wantJSON := `{
  "success": false,
  "categories": [
    {
      "categoryName": "some-category",
      "checks": [
        {
          "description": "first check",
          "result": "success"
        },
        {
          "description": "second check",
          "hint": "https://linkerd.io/2/checks/#an-anchor",
          "error": "what went wrong",
          "result": "error"
        }
      ]
    }
  ]
}
`
	for format, want := range map[string]string{FormatTable: wantTable, FormatJSON: wantJSON} {
		var buf bytes.Buffer
		if err := Render(&buf, res, format, false); err != nil {
			t.Fatal(err)
		}
		if buf.String() != want {
			t.Errorf("%s output:\n%q\nwant\n%q", format, buf.String(), want)
		}
	}
}

func TestShortAllPassIsStatusLineOnly(t *testing.T) {
	res := runScenario(t, scenarios[0].categories())
	var buf bytes.Buffer
	if err := Render(&buf, res, FormatShort, false); err != nil {
		t.Fatal(err)
	}
	if got, want := buf.String(), "Status check results are \u221a\n"; got != want {
		t.Errorf("short output = %q, want %q", got, want)
	}
}

// TestShortBlankLineOnlyWithWarnings pins a linkerd quirk: short output puts
// a blank line before the status line only when a warning was printed.
func TestShortBlankLineOnlyWithWarnings(t *testing.T) {
	for _, tc := range []struct {
		name    string
		warning bool
		want    string
	}{
		{"error only", false, "c\n-\n\u00d7 x\n    boom\nStatus check results are \u00d7\n"},
		{"warning", true, "c\n-\n\u203c x\n    boom\n\nStatus check results are \u221a\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := runScenario(t, []Category{{Name: "c", Checks: []Check{{Description: "x", Warning: tc.warning, Run: fail("boom")}}}})
			var buf bytes.Buffer
			if err := Render(&buf, res, FormatShort, false); err != nil {
				t.Fatal(err)
			}
			if buf.String() != tc.want {
				t.Errorf("got %q, want %q", buf.String(), tc.want)
			}
		})
	}
}

func TestTableNothingToShow(t *testing.T) {
	res := runScenario(t, []Category{{Name: "c", Checks: []Check{{Description: "x", Run: ret(Skip("n/a"))}}}})
	var buf bytes.Buffer
	if err := Render(&buf, res, FormatTable, false); err != nil {
		t.Fatal(err)
	}
	if got, want := buf.String(), "\nStatus check results are \u221a\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	buf.Reset()
	if err := Render(&buf, res, FormatJSON, false); err != nil {
		t.Fatal(err)
	}
	if got, want := buf.String(), "{\n  \"success\": true,\n  \"categories\": []\n}\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

var ansi = regexp.MustCompile("\x1b\\[[0-9;]*m")

func TestColour(t *testing.T) {
	// The engine must ignore fatih/color's global switch in both directions.
	saved := color.NoColor
	t.Cleanup(func() { color.NoColor = saved })

	var mixed []Category
	for _, sc := range scenarios[1:3] {
		mixed = append(mixed, sc.categories()...)
	}
	res := runScenario(t, mixed)
	for _, format := range []string{FormatTable, FormatShort} {
		t.Run(format, func(t *testing.T) {
			var plain, coloured bytes.Buffer
			color.NoColor = false
			if err := Render(&plain, res, format, false); err != nil {
				t.Fatal(err)
			}
			color.NoColor = true
			if err := Render(&coloured, res, format, true); err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(plain.Bytes(), []byte("\x1b")) {
				t.Errorf("colour off produced escape codes:\n%q", plain.String())
			}
			// linkerd's styles: bold green, bold yellow, bold red.
			for _, want := range []string{"\x1b[32;1m\u221a", "\x1b[33;1m\u203c", "\x1b[31;1m\u00d7", "Status check results are \x1b[31;1m\u00d7"} {
				if format == FormatShort && want == "\x1b[32;1m\u221a" {
					continue
				}
				if !strings.Contains(coloured.String(), want) {
					t.Errorf("colour on: missing %q in\n%q", want, coloured.String())
				}
			}
			if stripped := ansi.ReplaceAllString(coloured.String(), ""); stripped != plain.String() {
				t.Errorf("colour on, escape codes removed:\n%q\ndiffers from colour off:\n%q", stripped, plain.String())
			}
		})
	}
	var js bytes.Buffer
	if err := Render(&js, res, FormatJSON, true); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(js.Bytes(), []byte("\x1b")) {
		t.Error("JSON output contains escape codes")
	}
}

func TestUnknownFormat(t *testing.T) {
	err := Render(&bytes.Buffer{}, Results{}, "yaml", false)
	if err == nil {
		t.Fatal("Render accepted format yaml")
	}
	for _, f := range append(Formats(), "yaml") {
		if !strings.Contains(err.Error(), f) {
			t.Errorf("error %q does not mention %q", err, f)
		}
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestWriteError(t *testing.T) {
	res := runScenario(t, scenarios[0].categories())
	for _, format := range Formats() {
		err := Render(failingWriter{}, res, format, false)
		if err == nil || !strings.Contains(err.Error(), "disk full") {
			t.Errorf("%s: Render error = %v, want the writer's error", format, err)
		}
	}
}

// TestStreamingMatchesRender checks that a Printer fed by Run's OnCategory
// writes the same bytes as rendering afterwards.
func TestStreamingMatchesRender(t *testing.T) {
	for _, sc := range scenarios {
		for _, format := range Formats() {
			var streamed, after bytes.Buffer
			p, err := NewPrinter(&streamed, format, false)
			if err != nil {
				t.Fatal(err)
			}
			res, err := runWithin(t, context.Background(), sc.categories(), Options{HintBaseURL: testHintBase, OnCategory: p.Category})
			if err != nil {
				t.Fatal(err)
			}
			if err := p.Finish(res); err != nil {
				t.Fatal(err)
			}
			if err := Render(&after, res, format, false); err != nil {
				t.Fatal(err)
			}
			if streamed.String() != after.String() {
				t.Errorf("%s/%s: streamed\n%q\nrendered\n%q", sc.name, format, streamed.String(), after.String())
			}
		}
	}
}
