package checks

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/meshmon/meshmon/pkg/healthcheck"
)

func TestRunSuiteRunsPreInsteadOfTheCatalog(t *testing.T) {
	var b bytes.Buffer
	pre := func(context.Context) healthcheck.Category {
		return healthcheck.Category{Name: "meshmon-pre-install", Checks: []healthcheck.Check{
			{Description: "first", Run: func(context.Context) error { return nil }},
			{Description: "second", Run: func(context.Context) error { return errors.New("broken") }},
		}}
	}
	var before int
	res, err := RunSuite(context.Background(), &b, SuiteOptions{Pre: pre, Format: healthcheck.FormatTable, BeforeCategory: func() { before++ }})
	if err != nil {
		t.Fatal(err)
	}
	if res.Success() || len(res.Categories) != 1 || res.Categories[0].Name != "meshmon-pre-install" {
		t.Errorf("results %+v", res)
	}
	if out := b.String(); !strings.Contains(out, "meshmon-pre-install") || !strings.Contains(out, "second") {
		t.Errorf("output lacks the category:\n%s", out)
	}
	if before != 1 {
		t.Errorf("BeforeCategory ran %d times, want once per category", before)
	}
}

// Bad selections are the caller's mistake, distinguishable from a failed run.
func TestRunSuiteSelectionErrors(t *testing.T) {
	for _, o := range []SuiteOptions{
		{Format: "xml"},
		{Format: healthcheck.FormatTable, Options: Options{Categories: []string{"nope"}}},
	} {
		_, err := RunSuite(context.Background(), &bytes.Buffer{}, o)
		var se *SelectionError
		if !errors.As(err, &se) {
			t.Errorf("%+v: error %v, want a *SelectionError", o, err)
		}
	}
}
