package prom

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
)

// FederateResult summarises one /federate answer.
type FederateResult struct {
	Samples  int            // sample lines; a histogram or summary counts each bucket/quantile, _sum and _count
	Families int            // distinct metric names
	Jobs     map[string]int // samples per value of the job label ("" for samples without one)
	// CommonLabels holds the labels that every sample carries with one same value. Prometheus
	// adds its external_labels to each federated sample, so they appear here; with no samples
	// it is empty.
	CommonLabels map[string]string
}

// federateAccept asks for the text format, which every Prometheus version serves.
const federateAccept = "text/plain;version=0.0.4;q=1,*/*;q=0.1"

// Federate asks /federate for the series selected by matchers (each one match[] parameter)
// and counts what came back.
func (c *Client) Federate(ctx context.Context, matchers []string) (FederateResult, error) {
	const op = "GET /federate"
	if len(matchers) == 0 {
		return FederateResult{}, fmt.Errorf("federating from %s: at least one match[] selector is needed", c.base)
	}
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	q := url.Values{"match[]": matchers}
	body, header, err := c.get(ctx, "/federate", q, federateAccept)
	if err != nil {
		return FederateResult{}, err
	}
	res, err := ParseFederate(body, header)
	if err != nil {
		return FederateResult{}, &Error{URL: c.base.String(), Op: op, Kind: KindBadResponse, Body: excerpt(body), Err: err}
	}
	return res, nil
}

// ParseFederate counts the samples of a /federate body served with header.
func ParseFederate(body []byte, header http.Header) (FederateResult, error) {
	format := expfmt.ResponseFormat(header)
	if format.FormatType() == expfmt.TypeUnknown {
		ct := header.Get("Content-Type")
		media, _, _ := mime.ParseMediaType(ct)
		if ct != "" && media != "text/plain" {
			return FederateResult{}, fmt.Errorf("not a Prometheus exposition (Content-Type %q)", ct)
		}
		format = expfmt.NewFormat(expfmt.TypeTextPlain)
	}
	res := FederateResult{Jobs: map[string]int{}}
	var common map[string]string
	dec := expfmt.NewDecoder(bytes.NewReader(body), format)
	for {
		var mf dto.MetricFamily
		err := dec.Decode(&mf)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return FederateResult{}, fmt.Errorf("parsing federated metrics: %w", err)
		}
		res.Families++
		for _, m := range mf.GetMetric() {
			n := samplesOf(mf.GetType(), m)
			res.Samples += n
			job := ""
			for _, lp := range m.GetLabel() {
				if lp.GetName() == "job" {
					job = lp.GetValue()
				}
			}
			res.Jobs[job] += n
			common = intersectLabels(common, m.GetLabel())
		}
	}
	res.CommonLabels = common
	if res.CommonLabels == nil {
		res.CommonLabels = map[string]string{}
	}
	return res, nil
}

// samplesOf counts the exposition lines one metric stands for.
func samplesOf(t dto.MetricType, m *dto.Metric) int {
	switch t {
	case dto.MetricType_SUMMARY:
		return len(m.GetSummary().GetQuantile()) + 2
	case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
		return len(m.GetHistogram().GetBucket()) + 2
	}
	return 1
}

// intersectLabels keeps in common the labels that lps has with the same value; nil common
// means "first metric".
func intersectLabels(common map[string]string, lps []*dto.LabelPair) map[string]string {
	if common == nil {
		common = make(map[string]string, len(lps))
		for _, lp := range lps {
			common[lp.GetName()] = lp.GetValue()
		}
		return common
	}
	kept := 0
	for _, lp := range lps {
		if v, ok := common[lp.GetName()]; ok {
			if v != lp.GetValue() {
				delete(common, lp.GetName())
			} else {
				kept++
			}
		}
	}
	if kept != len(common) {
		present := make(map[string]bool, len(lps))
		for _, lp := range lps {
			present[lp.GetName()] = true
		}
		for k := range common {
			if !present[k] {
				delete(common, k)
			}
		}
	}
	return common
}
