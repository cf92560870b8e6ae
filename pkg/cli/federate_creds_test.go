package cli

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/meshmon/meshmon/pkg/defaults"
	"github.com/meshmon/meshmon/pkg/release"
	"github.com/meshmon/meshmon/pkg/remotewrite"
)

func TestFederateCredentialsStayInSecrets(t *testing.T) {
	const token, user, pass = "fed-tok-6c1d9e", "fed-usr-2a7b4f", "fed-pwd-9e3c1a"
	inv, cfg, out := memInvocation(t,
		secret("west-token", map[string]string{"token": token}),
		secret("east-basic", map[string]string{"username": user, "password": pass}),
		secret("east-ca", map[string]string{"ca.crt": "-----BEGIN CERTIFICATE-----"}))
	// The release exists first: a remote-write add creates it on Helm memory storage.
	rw := addOptions(inv, "vm")
	rw.endpoint.URL, rw.clusterName = "https://vm.example.com/api/v1/write", "hub"
	if err := runOptions(t, rw, "vm"); err != nil {
		t.Fatal(err)
	}
	west := &federateAddOptions{inv: inv, releaseName: defaults.ReleaseName, timeout: time.Minute, bearer: "west-token"}
	west.source.URL = "https://prometheus.west.example.com/federate"
	if err := runOptions(t, west, "west"); err != nil {
		t.Fatal(err)
	}
	east := &federateAddOptions{inv: inv, releaseName: defaults.ReleaseName, timeout: time.Minute, basicAuth: "east-basic", ca: "east-ca"}
	east.source.URL = "https://prometheus.east.example.com/federate"
	if err := runOptions(t, east, "east"); err != nil {
		t.Fatal(err)
	}
	last, err := cfg.Releases.Last(defaults.ReleaseName)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(last)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{token, user, pass} {
		if bytes.Contains(raw, []byte(s)) || strings.Contains(out.String(), s) {
			t.Errorf("credential %q left its Secret", s)
		}
	}
	tgt, err := inv.env(false).Target(defaults.ReleaseName)
	if err != nil {
		t.Fatal(err)
	}
	values, err := tgt.DeployedValues()
	if err != nil {
		t.Fatal(err)
	}
	sources, _ := release.FederationSources(values)
	got := map[string]string{}
	for _, s := range sources {
		got[s.Name] = s.BearerTokenFile + "|" + s.UsernameFile + "|" + s.PasswordFile + "|" + s.CAFile
	}
	if want := "/etc/meshmon/secrets/west-token/token|||"; got["west"] != want {
		t.Errorf("west reads back as %q, want %q", got["west"], want)
	}
	if want := "|/etc/meshmon/secrets/east-basic/username|/etc/meshmon/secrets/east-basic/password|/etc/meshmon/secrets/east-ca/ca.crt"; got["east"] != want {
		t.Errorf("east reads back as %q, want %q", got["east"], want)
	}
	if got := remotewrite.ReferencedSecrets(values); strings.Join(got, ",") != "east-basic,east-ca,west-token" {
		t.Errorf("mounted Secrets = %v", got)
	}
	// Removing west drops its Secret's mount; east's stay.
	rm := &federateRemoveOptions{inv: inv, releaseName: defaults.ReleaseName, timeout: time.Minute}
	if err := runOptions(t, rm, "west"); err != nil {
		t.Fatal(err)
	}
	values, err = tgt.DeployedValues()
	if err != nil {
		t.Fatal(err)
	}
	var mounted []string
	for _, m := range remotewrite.Mounts(values) {
		mounted = append(mounted, m["secretName"].(string))
	}
	if strings.Join(mounted, ",") != "east-basic,east-ca" {
		t.Errorf("mounts after removing west = %v, want east-basic,east-ca", mounted)
	}
}

func TestFederateRefusesAMissingSecretKey(t *testing.T) {
	inv, _, _ := memInvocation(t, secret("west-token", map[string]string{"bearer": "x"}))
	rw := addOptions(inv, "vm")
	rw.endpoint.URL, rw.clusterName = "https://vm.example.com/api/v1/write", "hub"
	if err := runOptions(t, rw, "vm"); err != nil {
		t.Fatal(err)
	}
	west := &federateAddOptions{inv: inv, releaseName: defaults.ReleaseName, timeout: time.Minute, bearer: "west-token"}
	west.source.URL = "https://prometheus.west.example.com/federate"
	err := runOptions(t, west, "west")
	if err == nil || !strings.Contains(err.Error(), "west-token") || !strings.Contains(err.Error(), "token") {
		t.Fatalf("federate add with a Secret lacking its key: %v", err)
	}
}
