package prom

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"unicode/utf8"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
)

// Kind says which way a request to Prometheus failed, so callers can pick a hint or retry.
type Kind int

const (
	// KindUnreachable means no connection (refused, DNS, reset): the port-forward or URL is wrong.
	KindUnreachable Kind = iota + 1
	// KindTimeout means connected (or tried to) but no answer before the deadline, or the caller gave up.
	KindTimeout
	// KindNotReady means Prometheus answered 503: it is still starting (WAL replay); retry later.
	KindNotReady
	// KindHTTP is an unexpected HTTP status, often a URL that is not Prometheus.
	KindHTTP
	// KindAPI means Prometheus rejected the request ({"status":"error"}), e.g. a bad PromQL expression.
	KindAPI
	// KindBadResponse is a 2xx answer whose body could not be understood.
	KindBadResponse
)

func (k Kind) String() string {
	switch k {
	case KindUnreachable:
		return "unreachable"
	case KindTimeout:
		return "timeout"
	case KindNotReady:
		return "not ready"
	case KindHTTP:
		return "http error"
	case KindAPI:
		return "api error"
	case KindBadResponse:
		return "bad response"
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// bodyExcerptLen bounds how much of an unexpected body ends up in an error message.
const bodyExcerptLen = 200

// Error describes a failed request to Prometheus; Client methods return it (possibly wrapped)
// whenever Prometheus could not be asked or gave an unusable answer.
type Error struct {
	URL     string // the Prometheus base URL
	Op      string // what was asked, e.g. "GET /api/v1/targets" or `query "up"`
	Kind    Kind
	Status  int    // HTTP status, when there was an answer
	Body    string // first bytes of an unexpected body
	APIType string // Prometheus errorType for KindAPI, e.g. "bad_data"
	Err     error
}

func (e *Error) Error() string {
	var b strings.Builder
	switch e.Kind {
	case KindUnreachable:
		fmt.Fprintf(&b, "cannot reach Prometheus at %s (%s): %v; check that the port-forward is running or that --prometheus-url is right", e.URL, e.Op, e.Err)
	case KindTimeout:
		fmt.Fprintf(&b, "Prometheus at %s did not answer %s in time: %v", e.URL, e.Op, e.Err)
	case KindNotReady:
		fmt.Fprintf(&b, "Prometheus at %s is not ready yet (%s: HTTP %d %q); it is still starting or replaying its WAL, retry shortly", e.URL, e.Op, e.Status, e.Body)
	case KindHTTP:
		fmt.Fprintf(&b, "Prometheus at %s answered %s with HTTP %d %s", e.URL, e.Op, e.Status, http.StatusText(e.Status))
		if e.Body != "" {
			fmt.Fprintf(&b, ": %q", e.Body)
		}
		if e.Status == http.StatusNotFound {
			b.WriteString("; is this URL really a Prometheus server?")
		}
	case KindAPI:
		fmt.Fprintf(&b, "Prometheus at %s rejected %s: %s: %v", e.URL, e.Op, e.APIType, e.Err)
	default:
		fmt.Fprintf(&b, "Prometheus at %s gave an unusable answer to %s: %v", e.URL, e.Op, e.Err)
		if e.Body != "" {
			fmt.Fprintf(&b, " (body %q)", e.Body)
		}
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Retryable reports whether the same request may succeed later without any change by the user.
func (e *Error) Retryable() bool {
	switch e.Kind {
	case KindUnreachable, KindTimeout, KindNotReady:
		return true
	case KindHTTP:
		return e.Status >= 500 || e.Status == http.StatusTooManyRequests
	}
	return false
}

// IsRetryable reports whether err is an *Error that may go away by itself.
func IsRetryable(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Retryable()
}

// KindOf returns the Kind of err, or 0 when err is not an *Error.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return 0
}

func excerpt(body []byte) string {
	s := strings.TrimSpace(string(body))
	if len(s) <= bodyExcerptLen {
		return s
	}
	cut := bodyExcerptLen
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// transportError classifies an error from http.Client.Do.
func (c *Client) transportError(op string, err error) *Error {
	kind := KindUnreachable
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) || (errors.As(err, &ne) && ne.Timeout()) {
		kind = KindTimeout
	}
	return &Error{URL: c.base.String(), Op: op, Kind: kind, Err: err}
}

// statusError classifies a non-2xx answer that is not a Prometheus API error body.
func (c *Client) statusError(op string, status int, body []byte) *Error {
	kind := KindHTTP
	if status == http.StatusServiceUnavailable {
		kind = KindNotReady
	}
	return &Error{URL: c.base.String(), Op: op, Kind: kind, Status: status, Body: excerpt(body)}
}

// wrap turns any error from the v1 API into an *Error naming op.
func (c *Client) wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		cp := *e
		cp.Op = op
		return &cp
	}
	var ae *v1.Error
	if errors.As(err, &ae) {
		if ae.Type == v1.ErrBadResponse {
			return &Error{URL: c.base.String(), Op: op, Kind: KindBadResponse, Body: excerpt([]byte(ae.Detail)), Err: errors.New(ae.Msg)}
		}
		return &Error{URL: c.base.String(), Op: op, Kind: KindAPI, APIType: string(ae.Type), Err: errors.New(ae.Msg)}
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return &Error{URL: c.base.String(), Op: op, Kind: KindTimeout, Err: err}
	}
	return &Error{URL: c.base.String(), Op: op, Kind: KindBadResponse, Err: err}
}
