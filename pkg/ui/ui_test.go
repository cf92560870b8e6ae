package ui

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

func env(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

func TestUseColor(t *testing.T) {
	var buf bytes.Buffer // not a terminal
	cases := []struct {
		name string
		mode ColorMode
		env  func(string) string
		want bool
	}{
		{"always wins over NO_COLOR", ColorAlways, env("NO_COLOR", "1"), true},
		{"never", ColorNever, env(), false},
		{"auto on a non-terminal", ColorAuto, env(), false},
		{"auto with NO_COLOR", ColorAuto, env("NO_COLOR", "1"), false},
		{"auto with TERM=dumb", ColorAuto, env("TERM", "dumb"), false},
	}
	for _, c := range cases {
		if got := UseColor(c.mode, &buf, c.env); got != c.want {
			t.Errorf("%s: UseColor = %v, want %v", c.name, got, c.want)
		}
	}
	// A pipe is a file but not a terminal.
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if UseColor(ColorAuto, w, env()) || IsTerminal(w) {
		t.Error("a pipe must not get colour")
	}
}

func TestParseColorMode(t *testing.T) {
	for _, s := range []string{"auto", "ALWAYS", "never"} {
		if _, err := ParseColorMode(s); err != nil {
			t.Errorf("%q: %v", s, err)
		}
	}
	if _, err := ParseColorMode("sometimes"); err == nil || !strings.Contains(err.Error(), "auto, always, never") {
		t.Errorf("invalid mode error = %v", err)
	}
}

func TestStyle(t *testing.T) {
	on, off := Style{enabled: true}, Style{enabled: false}
	if got := off.Red("x"); got != "x" {
		t.Errorf("disabled style painted: %q", got)
	}
	if got := on.Red("x"); !strings.Contains(got, "\x1b[31m") || !strings.Contains(got, "x") {
		t.Errorf("enabled style did not paint: %q", got)
	}
}

// Off a terminal, progress is one plain line per state change; repeats are
// dropped so a poll loop does not flood logs.
func TestLineProgress(t *testing.T) {
	var out bytes.Buffer
	u := New(&out, &out, ColorNever, env())
	p := u.Progress()
	p.Start("installing")
	p.Update("waiting for PVC prometheus-server to bind")
	p.Update("waiting for PVC prometheus-server to bind")
	p.Update("waiting for Deployment prometheus-server: 0/1 ready")
	p.Done("release ready")
	p.Start("rewiring")
	p.Fail("rewiring failed")
	want := "installing ...\n" +
		"  waiting for PVC prometheus-server to bind\n" +
		"  waiting for Deployment prometheus-server: 0/1 ready\n" +
		"√ release ready\n" +
		"rewiring ...\n" +
		"× rewiring failed\n"
	if out.String() != want {
		t.Errorf("progress lines:\n%s\nwant:\n%s", out.String(), want)
	}
}

func TestQuietProgressWritesNothing(t *testing.T) {
	var out bytes.Buffer
	u := New(&out, &out, ColorNever, env())
	u.Quiet = true
	p := u.Progress()
	p.Start("x")
	p.Update("y")
	p.Done("z")
	if out.Len() != 0 {
		t.Errorf("quiet progress wrote %q", out.String())
	}
}

// A spinner needs a terminal: New decides that from stderr.
func TestInteractiveOnlyOnTerminal(t *testing.T) {
	var out bytes.Buffer
	if New(&out, &out, ColorAlways, env()).Interactive {
		t.Error("a buffer is not interactive")
	}
}
