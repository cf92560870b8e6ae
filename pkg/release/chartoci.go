package release

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"

	"helm.sh/helm/v4/pkg/registry"
)

// pullOCI downloads ref:version from an OCI registry with Helm's registry client, using
// the credentials of `helm registry login` or `docker login`. Registries on loopback
// addresses are spoken to over plain HTTP, as Docker does for local registries. flag names
// the chart on the command line, for the hints.
func pullOCI(ctx context.Context, ref, version, flag string) ([]byte, error) {
	host := strings.SplitN(strings.TrimPrefix(ref, "oci://"), "/", 2)[0]
	opts := []registry.ClientOption{
		// Helm's client takes no context; the transport carries ours so Ctrl-C stops a pull.
		registry.ClientOptHTTPClient(&http.Client{Transport: contextTransport{ctx: ctx, next: http.DefaultTransport}}),
	}
	if isLoopbackHost(host) {
		opts = append(opts, registry.ClientOptPlainHTTP())
	}
	client, err := registry.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("creating the OCI registry client: %w", err)
	}
	target := strings.TrimPrefix(ref, "oci://") + ":" + version
	res, err := client.Pull(target, registry.PullOptWithChart(true))
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("pulling %s: %w", target, ctx.Err())
		}
		return nil, fmt.Errorf("pulling chart %s: %w; check the reference and %s-version, and log in with 'helm registry login %s' if the registry needs credentials", target, err, flag, host)
	}
	if res.Chart == nil || len(res.Chart.Data) == 0 {
		return nil, fmt.Errorf("pulling chart %s: the registry returned no chart layer", target)
	}
	return res.Chart.Data, nil
}

func isLoopbackHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// contextTransport ties every request to a context.
type contextTransport struct {
	ctx  context.Context
	next http.RoundTripper
}

func (t contextTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	return t.next.RoundTrip(req.WithContext(t.ctx))
}
