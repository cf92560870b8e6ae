//go:build e2e

package release

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/meshmon/meshmon/e2e/framework"
)

type checkJSON struct {
	Success    bool `json:"success"`
	Categories []struct {
		CategoryName string `json:"categoryName"`
		Checks       []struct {
			Description string `json:"description"`
			Error       string `json:"error"`
			Result      string `json:"result"`
		} `json:"checks"`
	} `json:"categories"`
}

func (c checkJSON) find(desc string) (result, errText string, ok bool) {
	for _, cat := range c.Categories {
		for _, ch := range cat.Checks {
			if strings.Contains(ch.Description, desc) {
				return ch.Result, ch.Error, true
			}
		}
	}
	return "", "", false
}

// check --pre is install's own preflight, rendered as checks.
func TestCheckPre(t *testing.T) {
	env := framework.Current(t)
	run := func(args ...string) (checkJSON, framework.Result) {
		r := env.Meshmon(t, "kubectl", append([]string{"check", "--pre", "-o", "json"}, args...)...)
		var doc checkJSON
		if err := json.Unmarshal([]byte(r.Stdout), &doc); err != nil {
			t.Fatalf("check --pre -o json is not JSON: %v\n%s\n%s", err, r.Stdout, r.Stderr)
		}
		return doc, r
	}

	doc, r := run()
	if !doc.Success || r.Code != 0 || len(doc.Categories) != 1 || doc.Categories[0].CategoryName != "meshmon-pre-install" {
		t.Fatalf("check --pre on a ready cluster: exit %d\n%s", r.Code, r.Stdout)
	}
	for _, want := range []string{"Linkerd control plane is installed", "linkerd-viz in linkerd-viz can be rewired", "the Linkerd policy API (policy.linkerd.io) is served", "storage class"} {
		if res, _, ok := doc.find(want); !ok || res != "success" {
			t.Errorf("check %q: found=%v result=%q", want, ok, res)
		}
	}

	doc, r = run("--storage-class", "gold")
	if res, errText, _ := doc.find("storage class gold"); r.Code != 1 || doc.Success || res != "error" || !strings.Contains(errText, "gold") {
		t.Errorf("unknown storage class: exit %d, result %q, error %q", r.Code, res, errText)
	}

	doc, r = run("--kubeconfig", env.LimitedKubeconfig())
	if r.Code != 1 || doc.Success {
		t.Errorf("a user without permissions passes check --pre: exit %d\n%s", r.Code, r.Stdout)
	}
	if !strings.Contains(r.Stdout, "forbidden") && !strings.Contains(r.Stdout, "not allowed") && !strings.Contains(r.Stdout, "denied") {
		t.Errorf("the missing permissions are not named:\n%s", r.Stdout)
	}
}
