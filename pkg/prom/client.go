// Package prom is meshmon's client for the HTTP API of one Prometheus server.
package prom

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"

	"github.com/meshmon/meshmon/pkg/version"
)

// DefaultTimeout bounds each request when WithTimeout is not given.
const DefaultTimeout = 30 * time.Second

// maxBodyBytes caps plain-HTTP bodies (/federate) so a wrong URL cannot exhaust memory.
const maxBodyBytes = 512 << 20

// Client talks to one Prometheus server. It is safe for concurrent use.
type Client struct {
	base    *url.URL
	http    *http.Client
	api     v1.API
	timeout time.Duration
}

type options struct {
	rt      http.RoundTripper
	header  http.Header
	timeout time.Duration
}

// Option configures a Client.
type Option func(*options)

// WithRoundTripper sends every request through rt (e.g. a port-forward dialer or a test transport).
func WithRoundTripper(rt http.RoundTripper) Option {
	return func(o *options) { o.rt = rt }
}

// WithHeader adds a header to every request (e.g. Authorization for a proxied Prometheus);
// a User-Agent replaces meshmon's.
func WithHeader(key, value string) Option {
	return func(o *options) {
		if http.CanonicalHeaderKey(key) == "User-Agent" {
			o.header.Set(key, value)
			return
		}
		o.header.Add(key, value)
	}
}

// WithTimeout bounds each single request; zero or negative means no bound beyond ctx.
func WithTimeout(d time.Duration) Option {
	return func(o *options) { o.timeout = d }
}

// New returns a Client for the Prometheus server at baseURL (scheme, host and optional path prefix).
func New(baseURL string, opts ...Option) (*Client, error) {
	u, err := url.Parse(strings.TrimSpace(baseURL))
	if err != nil {
		return nil, fmt.Errorf("invalid Prometheus URL %q: %w", baseURL, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("invalid Prometheus URL %q: want http(s)://host[:port][/prefix]", baseURL)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawQuery, u.Fragment = "", ""

	o := options{header: http.Header{"User-Agent": {version.UserAgent()}}, timeout: DefaultTimeout}
	for _, opt := range opts {
		opt(&o)
	}
	rt := o.rt
	if rt == nil {
		rt = http.DefaultTransport.(*http.Transport).Clone()
	}
	rt = headerRoundTripper{next: rt, header: o.header}
	c := &Client{base: u, http: &http.Client{Transport: rt}, timeout: o.timeout}

	inner, err := api.NewClient(api.Config{Address: u.String(), Client: c.http})
	if err != nil {
		return nil, fmt.Errorf("invalid Prometheus URL %q: %w", baseURL, err)
	}
	c.api = v1.NewAPI(classifyingClient{c: c, inner: inner})
	return c, nil
}

// URL returns the base URL the client talks to.
func (c *Client) URL() string { return c.base.String() }

func (c *Client) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if c.timeout > 0 {
		return context.WithTimeout(ctx, c.timeout)
	}
	return context.WithCancel(ctx)
}

// get performs a plain GET of path under the base URL and returns the body of a 2xx answer.
func (c *Client) get(ctx context.Context, path string, query url.Values, accept string) ([]byte, http.Header, error) {
	u := *c.base
	u.Path += path
	u.RawQuery = query.Encode()
	op := "GET " + path
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, nil, fmt.Errorf("building request %s for %s: %w", op, c.base, err)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, nil, c.transportError(op, err)
	}
	// The body is read or abandoned; closing it can only fail in ways that
	// change nothing about the answer.
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBodyBytes+1))
	if err != nil {
		return nil, nil, c.transportError(op, err)
	}
	if resp.StatusCode/100 != 2 {
		return nil, nil, c.statusError(op, resp.StatusCode, body)
	}
	if len(body) > maxBodyBytes {
		return nil, nil, &Error{URL: c.base.String(), Op: op, Kind: KindBadResponse, Err: fmt.Errorf("body larger than %d MiB", maxBodyBytes>>20)}
	}
	return body, resp.Header, nil
}

type headerRoundTripper struct {
	next   http.RoundTripper
	header http.Header
}

func (h headerRoundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	r := req.Clone(req.Context())
	for k, vs := range h.header {
		r.Header[k] = append([]string(nil), vs...)
	}
	return h.next.RoundTrip(r)
}

// classifyingClient sits under the v1 API so transport failures and non-API HTTP statuses
// reach callers as *Error with the status and body, which the v1 package would otherwise flatten.
type classifyingClient struct {
	c     *Client
	inner api.Client
}

func (cc classifyingClient) URL(ep string, args map[string]string) *url.URL {
	return cc.inner.URL(ep, args)
}

func (cc classifyingClient) Do(ctx context.Context, req *http.Request) (*http.Response, []byte, error) {
	resp, body, err := cc.inner.Do(ctx, req)
	op := req.Method + " " + strings.TrimPrefix(req.URL.Path, cc.c.base.Path)
	if err != nil {
		return resp, body, cc.c.transportError(op, err)
	}
	code := resp.StatusCode
	if code/100 == 2 {
		return resp, body, nil
	}
	// Prometheus reports API errors (bad PromQL, bad parameters) as 400/422 with a JSON envelope;
	// leave those to the v1 package, which decodes errorType and error.
	if (code == http.StatusBadRequest || code == http.StatusUnprocessableEntity) && isAPIEnvelope(body) {
		return resp, body, nil
	}
	// resp is returned too: the v1 package retries a POST as GET on 403/405/501.
	return resp, body, cc.c.statusError(op, code, body)
}

func isAPIEnvelope(body []byte) bool {
	var env struct {
		Status string `json:"status"`
	}
	return json.Unmarshal(body, &env) == nil && env.Status != ""
}
