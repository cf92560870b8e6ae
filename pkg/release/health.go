package release

import (
	"context"
	"errors"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/meshmon/meshmon/pkg/kube"
	"github.com/meshmon/meshmon/pkg/prom"
	"github.com/meshmon/meshmon/pkg/scrape"
)

// serverContainerPort is the Prometheus container's port when the Service
// names its target port instead of numbering it: the chart's default.
const serverContainerPort = 9090

// healthTimeout bounds reaching Prometheus for status, which is worth
// printing without it.
const healthTimeout = 20 * time.Second

// PrometheusHealth is Prometheus' data at a glance: how fast it grows and
// whether the configured retention fits on disk.
type PrometheusHealth struct {
	SamplesPerSecond float64       `json:"samplesPerSecond"`
	HeadSeries       float64       `json:"headSeries"`
	DiskUsedBytes    float64       `json:"diskUsedBytes"`
	Forecast         prom.Forecast `json:"forecast"`
}

// selfSelector selects Prometheus' scrape of itself.
var selfSelector = fmt.Sprintf("job=%q", scrape.JobPrometheus)

// ReadPrometheusHealth reads the TSDB figures through pc and forecasts the
// retention against volumeBytes (0: unknown).
func ReadPrometheusHealth(ctx context.Context, pc *prom.Client, volumeBytes float64) (*PrometheusHealth, error) {
	f, err := pc.TSDBFigures(ctx, selfSelector)
	if err != nil {
		return nil, err
	}
	flags, err := pc.Flags(ctx)
	if err != nil {
		return nil, err
	}
	l := prom.Limits{RetentionSize: f.RetentionLimitBytes, Retention: prom.RetentionTime(flags, f.RetentionLimitBytes > 0), Volume: volumeBytes}
	return &PrometheusHealth{
		SamplesPerSecond: f.SamplesPerSecond, HeadSeries: f.HeadSeries, DiskUsedBytes: f.DiskUsed(),
		Forecast: prom.Predict(f, l),
	}, nil
}

// ReadPrometheus fills in s.Prometheus through a port-forward to a ready
// server pod. A failure is kept in s.PrometheusError, not returned: the
// release's state is worth printing without it.
func (s *Status) ReadPrometheus(ctx context.Context, cfg *rest.Config, kc kubernetes.Interface, clusterDomain string) {
	ctx, cancel := context.WithTimeout(ctx, healthTimeout)
	defer cancel()
	h, err := s.readPrometheus(ctx, cfg, kc, clusterDomain)
	if err != nil {
		s.PrometheusError = err.Error()
		return
	}
	s.Prometheus = h
}

func (s *Status) readPrometheus(ctx context.Context, cfg *rest.Config, kc kubernetes.Interface, clusterDomain string) (*PrometheusHealth, error) {
	srv, err := FindServer(ctx, kc, s.Namespace, s.Release, clusterDomain)
	if err != nil {
		if errors.Is(err, ErrServerNotFound) {
			return nil, errors.New("no Prometheus server to read")
		}
		return nil, err
	}
	port := serverContainerPort
	if srv.Service != nil {
		for _, p := range srv.Service.Spec.Ports {
			if p.Port == srv.Port && p.TargetPort.IntValue() > 0 {
				port = p.TargetPort.IntValue()
			}
		}
	}
	sel := ServerSelector(s.Release).String()
	if len(srv.SelectorLabels) > 0 {
		sel = labels.SelectorFromSet(srv.SelectorLabels).String()
	}
	fw, err := kube.PortForward(ctx, cfg, kc, kube.ForwardTarget{Namespace: s.Namespace, Selector: sel, Port: port, What: "the Prometheus server"})
	if err != nil {
		return nil, err
	}
	defer fw.Stop()
	pc, err := prom.New("http://" + fw.Addr)
	if err != nil {
		return nil, err
	}
	return ReadPrometheusHealth(ctx, pc, s.volumeBytes())
}

// volumeBytes is the first bound data volume's capacity, 0 when unknown.
func (s *Status) volumeBytes() float64 {
	for _, v := range s.Storage {
		if q, err := resource.ParseQuantity(v.Capacity); err == nil && v.Capacity != "" {
			return q.AsApproximateFloat64()
		}
	}
	return 0
}
