package prom

import (
	"context"
	"time"
)

// Ready asks /-/ready. nil means Prometheus serves queries; an *Error of KindNotReady (503)
// means it is still starting and the call is worth retrying.
func (c *Client) Ready(ctx context.Context) error {
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	_, _, err := c.get(ctx, "/-/ready", nil, "")
	return err
}

// RuntimeInfo is the part of /api/v1/status/runtimeinfo that meshmon uses.
type RuntimeInfo struct {
	StartTime           time.Time // when the running Prometheus process started
	ReloadConfigSuccess bool      // whether the last configuration (re)load succeeded
	LastConfigTime      time.Time // when the configuration was last loaded successfully
	StorageRetention    string    // e.g. "15d" or "15d or 10GiB"
	CorruptionCount     int       // TSDB corruptions found since start
}

// RuntimeInfo reads /api/v1/status/runtimeinfo.
func (c *Client) RuntimeInfo(ctx context.Context) (RuntimeInfo, error) {
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	r, err := c.api.Runtimeinfo(ctx)
	if err != nil {
		return RuntimeInfo{}, c.wrap("GET /api/v1/status/runtimeinfo", err)
	}
	return RuntimeInfo{
		StartTime:           r.StartTime,
		ReloadConfigSuccess: r.ReloadConfigSuccess,
		LastConfigTime:      r.LastConfigTime,
		StorageRetention:    r.StorageRetention,
		CorruptionCount:     r.CorruptionCount,
	}, nil
}

// ConfigReloadSuccessful reports whether the last configuration reload succeeded and when
// the configuration was last loaded successfully. A failed reload leaves Prometheus running
// the previous configuration, so changes the user made are silently not in effect.
func (c *Client) ConfigReloadSuccessful(ctx context.Context) (ok bool, lastSuccess time.Time, err error) {
	ri, err := c.RuntimeInfo(ctx)
	if err != nil {
		return false, time.Time{}, err
	}
	return ri.ReloadConfigSuccess, ri.LastConfigTime, nil
}

// Flags reads /api/v1/status/flags: command-line flags without leading dashes,
// e.g. "storage.tsdb.retention.time" → "15d".
func (c *Client) Flags(ctx context.Context) (map[string]string, error) {
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	f, err := c.api.Flags(ctx)
	if err != nil {
		return nil, c.wrap("GET /api/v1/status/flags", err)
	}
	return map[string]string(f), nil
}

// BuildInfo identifies the Prometheus build.
type BuildInfo struct {
	Version   string
	Revision  string
	Branch    string
	BuildDate string
	GoVersion string
}

// BuildInfo reads /api/v1/status/buildinfo.
func (c *Client) BuildInfo(ctx context.Context) (BuildInfo, error) {
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	b, err := c.api.Buildinfo(ctx)
	if err != nil {
		return BuildInfo{}, c.wrap("GET /api/v1/status/buildinfo", err)
	}
	return BuildInfo{Version: b.Version, Revision: b.Revision, Branch: b.Branch, BuildDate: b.BuildDate, GoVersion: b.GoVersion}, nil
}

// Config reads the configuration Prometheus is running (/api/v1/status/config) and parses it.
func (c *Client) Config(ctx context.Context) (*Config, error) {
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	const op = "GET /api/v1/status/config"
	r, err := c.api.Config(ctx)
	if err != nil {
		return nil, c.wrap(op, err)
	}
	cfg, err := ParseConfig([]byte(r.YAML))
	if err != nil {
		return nil, &Error{URL: c.base.String(), Op: op, Kind: KindBadResponse, Err: err}
	}
	return cfg, nil
}
