package healthcheck

import (
	"context"
	"fmt"
	"io"
	"testing"
)

// BenchmarkRunAndRender measures the engine's own overhead: 200 trivial
// checks in 10 categories, run, then rendered as a table.
func BenchmarkRunAndRender(b *testing.B) {
	var cats []Category
	for i := range 10 {
		cat := Category{Name: fmt.Sprintf("category-%d", i)}
		for j := range 20 {
			c := Check{ID: fmt.Sprintf("c%d-%d", i, j), Description: fmt.Sprintf("check %d of category %d", j, i), Run: pass}
			if i > 0 && j == 0 {
				c.Needs = []string{fmt.Sprintf("c%d-19", i-1)}
			}
			if j%7 == 3 {
				c.Run, c.HintAnchor = fail("something failed"), "anchor"
			}
			cat.Checks = append(cat.Checks, c)
		}
		cats = append(cats, cat)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		res, err := Run(ctx, cats, Options{HintBaseURL: testHintBase})
		if err != nil {
			b.Fatal(err)
		}
		if err := Render(io.Discard, res, FormatTable, true); err != nil {
			b.Fatal(err)
		}
	}
}
