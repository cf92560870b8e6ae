package healthcheck

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// fuzzResults builds a run of two categories from arbitrary text: the fuzzed check, with
// any status, and a fixed passing check after it.
func fuzzResults(category, desc, detail, errMsg, hint string, status uint8) Results {
	st := []Status{StatusSuccess, StatusWarning, StatusError, StatusSkipped}[status%4]
	res := Result{Description: desc, Status: st}
	switch st {
	case StatusSuccess:
		res.Detail = detail
	case StatusWarning, StatusError:
		res.Err = errors.New(errMsg)
		res.HintURL = hint
	}
	return Results{Categories: []CategoryResult{
		{Name: category, Checks: []Result{res}},
		{Name: "kubernetes-api", Checks: []Result{{Description: "can query the Kubernetes API", Status: StatusSuccess}}},
	}}
}

// FuzzRenderJSON: whatever the descriptions, details, errors and hints, -o json is one valid
// JSON document whose strings decode back to exactly what the checks said (for valid UTF-8;
// encoding/json replaces invalid bytes).
func FuzzRenderJSON(f *testing.F) {
	addRenderSeeds(f)
	f.Fuzz(func(t *testing.T, category, desc, detail, errMsg, hint string, status uint8) {
		results := fuzzResults(category, desc, detail, errMsg, hint, status)
		var out bytes.Buffer
		if err := Render(&out, results, FormatJSON, false); err != nil {
			t.Fatal(err)
		}
		var doc jsonOutput
		dec := json.NewDecoder(&out)
		dec.DisallowUnknownFields()
		if err := dec.Decode(&doc); err != nil {
			t.Fatalf("-o json is not valid JSON: %v\n%s", err, out.String())
		}
		if dec.More() {
			t.Fatal("-o json wrote more than one document")
		}
		if doc.Success != results.Success() {
			t.Fatalf("success = %v, want %v", doc.Success, results.Success())
		}
		var want []jsonCategory
		for _, c := range results.Categories {
			jc := jsonCategory{Name: c.Name}
			for _, r := range c.Checks {
				if r.Status == StatusSkipped {
					continue
				}
				chk := jsonCheck{Description: description(r), Result: r.Status}
				if r.Err != nil {
					chk.Error, chk.Hint = r.Err.Error(), r.HintURL
				}
				jc.Checks = append(jc.Checks, chk)
			}
			if len(jc.Checks) > 0 {
				want = append(want, jc)
			}
		}
		if len(doc.Categories) != len(want) {
			t.Fatalf("%d categories in JSON, want %d", len(doc.Categories), len(want))
		}
		// Invalid UTF-8 is replaced when encoded, so only valid strings must round-trip.
		// Each string on its own: two invalid halves can concatenate to a valid rune.
		for _, s := range []string{category, desc, detail, errMsg, hint} {
			if !utf8.ValidString(s) {
				return
			}
		}
		for i, c := range want {
			got := doc.Categories[i]
			if got.Name != c.Name || len(got.Checks) != len(c.Checks) {
				t.Fatalf("category %d = %+v, want %+v", i, got, c)
			}
			for j := range c.Checks {
				if got.Checks[j] != c.Checks[j] {
					t.Fatalf("check %d/%d decodes to %+v, want %+v", i, j, got.Checks[j], c.Checks[j])
				}
			}
		}
	})
}

// FuzzRenderTable: table and short output never carry a raw control character other than
// newline and tab (an ANSI escape or carriage return in an error from the cluster cannot
// rewrite the terminal), have exactly the lines the checks account for (header and dashes
// per shown category, each check's description, error and hint lines, the separators) and
// end with the status line.
func FuzzRenderTable(f *testing.F) {
	addRenderSeeds(f)
	f.Fuzz(func(t *testing.T, category, desc, detail, errMsg, hint string, status uint8) {
		results := fuzzResults(category, desc, detail, errMsg, hint, status)
		for _, format := range []string{FormatTable, FormatShort} {
			var out bytes.Buffer
			if err := Render(&out, results, format, false); err != nil {
				t.Fatal(err)
			}
			text := out.String()
			for _, r := range text {
				if r != '\n' && r != '\t' && unicode.IsControl(r) {
					t.Fatalf("%s output has the control character %U:\n%q", format, r, text)
				}
			}
			if !utf8.ValidString(text) {
				t.Fatalf("%s output is not valid UTF-8: %q", format, text)
			}
			lines := 0
			shownCats := 0
			for _, c := range results.Categories {
				shown := 0
				for _, r := range c.Checks {
					if r.Status == StatusSkipped || (format == FormatShort && r.Status == StatusSuccess) {
						continue
					}
					shown++
					lines += strings.Count(description(r), "\n") + 1
					if r.Err != nil {
						lines += strings.Count(r.Err.Error(), "\n") + 1
						if r.HintURL != "" {
							lines++
						}
					}
				}
				if shown > 0 {
					lines += 2 // name and dashes
					shownCats++
				}
			}
			switch format {
			case FormatTable:
				lines += shownCats // a blank line after each category
				if shownCats == 0 {
					lines++
				}
			case FormatShort:
				if shownCats > 1 {
					lines += shownCats - 1
				}
				if results.HasWarnings() {
					lines++
				}
			}
			lines++ // the status line
			if got := strings.Count(text, "\n"); got != lines || !strings.HasSuffix(text, "\n") {
				t.Fatalf("%s output has %d lines, want %d:\n%s", format, got, lines, text)
			}
			last := text[strings.LastIndex(strings.TrimSuffix(text, "\n"), "\n")+1:]
			want := "Status check results are " + newSymbols(false).of(map[bool]Status{true: StatusSuccess, false: StatusError}[results.Success()]) + "\n"
			if last != want {
				t.Fatalf("%s output ends with %q, want %q", format, last, want)
			}
		}
	})
}

func addRenderSeeds(f *testing.F) {
	f.Add("meshmon-persistence", "PV reclaim policy keeps data", "", "PV pvc-1234 has reclaim policy Delete: the data is lost with the PVC\n\tpatch it to Retain", testHintBase+"mm-reclaim", uint8(1))
	f.Add("meshmon-federation", "federation sources are up", "\t* cluster-east\n\t* cluster-west", "", "", uint8(0))
	f.Add("meshmon-targets", "scrape targets are up", "", "target 10.0.0.1:4191 is down: Get \"http://10.0.0.1:4191/metrics\": context deadline exceeded\x1b[2K\rall good", testHintBase+"mm-targets", uint8(2))
	f.Add("kubernetes-api", "<script>&amp;", "", "\"quoted\" \\ back\u2028slash", "https://example.com/?a=1&b=2", uint8(2))
	f.Add("meshmon-skip", "skipped", "", "", "", uint8(3))
	f.Add("x", "bad utf-8 \xff\xfe", "\x00", "\x7f\u0085", "\n", uint8(2))
}
