package sim

import (
	"fmt"
	"io"
	"time"
)

// proxyModes make a FakeProxy misbehave the way real exporters do, to
// provoke Prometheus' own failure counters. The FakeProxy's mutex guards them.
type proxyModes struct {
	// backwards, when set, is the timestamp the next scrape's sample
	// carries; each scrape moves it one second into the past.
	backwards time.Time
	// extra is the number of additional gauge series each scrape returns.
	extra int
}

// SetBackwardsTimestamps makes every scrape carry a sample whose explicit
// timestamp is one second older than the previous scrape's: Prometheus
// keeps the first and drops the rest as out of order.
func (p *FakeProxy) SetBackwardsTimestamps(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.modes.backwards = time.Time{}
	if on {
		p.modes.backwards = time.Now()
	}
}

// SetExtraSeries makes every scrape return n more series, for a fast
// ingestion rate.
func (p *FakeProxy) SetExtraSeries(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.modes.extra = n
}

func (m *proxyModes) write(w io.Writer) {
	if !m.backwards.IsZero() {
		fmt.Fprintf(w, "# TYPE meshsim_clock_seconds gauge\nmeshsim_clock_seconds %d %d\n", m.backwards.Unix(), m.backwards.UnixMilli())
		m.backwards = m.backwards.Add(-time.Second)
	}
	if m.extra > 0 {
		fmt.Fprint(w, "# TYPE meshsim_load gauge\n")
		for i := range m.extra {
			fmt.Fprintf(w, "meshsim_load{series=\"%d\"} %d\n", i, time.Now().UnixNano()%1000)
		}
	}
}
