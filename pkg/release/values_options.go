package release

import (
	"errors"
	"fmt"
	"hash/fnv"
	"math/big"
	"net/url"
	"strings"

	"github.com/prometheus/common/model"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/meshmon/meshmon/pkg/defaults"
	"github.com/meshmon/meshmon/pkg/linkerd"
	"github.com/meshmon/meshmon/pkg/prom"
)

// ValuesOptions describe the Prometheus meshmon installs. Empty fields take the defaults
// documented on each field.
type ValuesOptions struct {
	// ReleaseName defaults to defaults.ReleaseName.
	ReleaseName string
	// Namespace defaults to Scrape.VizNamespace.
	Namespace string
	// StorageSize is a Kubernetes quantity; defaults to defaults.StorageSize.
	StorageSize string
	// StorageClass: "" uses the cluster's default class, "-" requests storageClassName "".
	StorageClass string
	// ExistingClaim reuses a PVC instead of creating one (Deployment mode only).
	ExistingClaim string
	// StatefulSet runs the server as a StatefulSet with a volumeClaimTemplate.
	StatefulSet bool
	// Retention is a Prometheus duration; defaults to defaults.Retention.
	Retention string
	// RetentionSize uses Prometheus' units (B, KB, MB, GB, TB, PB, EB, powers of 1024);
	// defaults to 90% of StorageSize; "0" turns size-based retention off.
	RetentionSize string
	// ScrapeInterval defaults to defaults.ScrapeInterval.
	ScrapeInterval string
	// ScrapeTimeout defaults to defaults.ScrapeTimeout, or to ScrapeInterval if that is shorter.
	ScrapeTimeout string
	// EvaluationInterval defaults to defaults.EvaluationInterval.
	EvaluationInterval string
	// ClusterName becomes the external label "cluster"; omitted when empty.
	ClusterName string
	// RemoteWriteURLs receive every sample (Thanos, Mimir, Cortex, VictoriaMetrics…).
	RemoteWriteURLs []string
	// ServiceAccountName defaults to the name the chart gives the server (ServerFullname).
	ServiceAccountName string
	// ClusterRoleNameOverride defaults to a name unique to the namespace and release.
	ClusterRoleNameOverride string
	// Scrape are the Linkerd facts the scrape jobs are generated from.
	Scrape linkerd.Facts
}

// ServerFullname is the name the chart gives the server's Deployment, Service, PVC and, unless
// overridden, ServiceAccount, for a release without name overrides.
func ServerFullname(release string) string {
	name := release + "-" + chartName + "-" + serverComponent
	if strings.Contains(release, chartName) {
		name = release + "-" + serverComponent
	}
	return truncName(name)
}

// truncName shortens a name the way the chart's templates do (trunc 63 | trimSuffix "-").
func truncName(name string) string {
	if len(name) > validation.DNS1123LabelMaxLength {
		name = name[:validation.DNS1123LabelMaxLength]
	}
	return strings.TrimSuffix(name, "-")
}

// defaultClusterRoleName is unique per namespace and release: the chart's default is the
// server fullname alone, which collides with a same-named release in another namespace.
func defaultClusterRoleName(namespace, release string) string {
	name := namespace + "-" + ServerFullname(release)
	if len(name) <= validation.DNS1123LabelMaxLength {
		return name
	}
	h := fnv.New32a()
	h.Write([]byte(name))
	suffix := fmt.Sprintf("-%08x", h.Sum32())
	return strings.TrimRight(name[:validation.DNS1123LabelMaxLength-len(suffix)], "-") + suffix
}

// Resolve fills in defaults and validates every option. The warnings are about choices
// that work but are probably not meant.
func (o ValuesOptions) Resolve() (ValuesOptions, []Warning, error) {
	var errs []error
	var warnings []Warning
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	if err := o.Scrape.Validate(); err != nil {
		errs = append(errs, err)
	}
	o.ReleaseName = orDefault(o.ReleaseName, defaults.ReleaseName)
	if err := ValidateName(o.ReleaseName); err != nil {
		fail("%s", err)
	}
	o.Namespace = orDefault(o.Namespace, o.Scrape.VizNamespace)
	if msgs := validation.IsDNS1123Label(o.Namespace); len(msgs) > 0 {
		fail("namespace %q is invalid: %s", o.Namespace, strings.Join(msgs, "; "))
	}

	o.StorageSize = orDefault(o.StorageSize, defaults.StorageSize)
	size, err := resource.ParseQuantity(o.StorageSize)
	switch {
	case err != nil:
		fail("storage size %q is not a Kubernetes quantity: write it like 20Gi, 500Gi or 1Ti", o.StorageSize)
	case size.Cmp(resource.MustParse(minStorageSize)) < 0:
		fail("storage size %q is too small: Prometheus needs at least %s, e.g. 20Gi", o.StorageSize, minStorageSize)
	default:
		o.StorageSize = size.String()
	}
	if o.StorageClass != "" && o.StorageClass != "-" {
		if msgs := validation.IsDNS1123Subdomain(o.StorageClass); len(msgs) > 0 {
			fail("storage class %q is invalid: %s", o.StorageClass, strings.Join(msgs, "; "))
		}
	}
	if o.ExistingClaim != "" {
		if msgs := validation.IsDNS1123Subdomain(o.ExistingClaim); len(msgs) > 0 {
			fail("existing claim %q is invalid: %s", o.ExistingClaim, strings.Join(msgs, "; "))
		}
		if o.StatefulSet {
			fail("an existing claim cannot be used with a StatefulSet: the chart always creates the StatefulSet's volume from a template; drop one of the two options")
		}
	}

	o.Retention = orDefault(o.Retention, defaults.Retention)
	if _, err := positiveDuration("retention", o.Retention); err != nil {
		errs = append(errs, err)
	}
	o.ScrapeInterval = orDefault(o.ScrapeInterval, defaults.ScrapeInterval)
	interval, err := positiveDuration("scrape interval", o.ScrapeInterval)
	if err != nil {
		errs = append(errs, err)
	}
	if o.ScrapeTimeout == "" {
		o.ScrapeTimeout = defaults.ScrapeTimeout
		if d, _ := model.ParseDuration(defaults.ScrapeTimeout); interval > 0 && interval < d {
			o.ScrapeTimeout = o.ScrapeInterval
		}
	}
	timeout, err := positiveDuration("scrape timeout", o.ScrapeTimeout)
	if err != nil {
		errs = append(errs, err)
	}
	if interval > 0 && timeout > interval {
		fail("scrape timeout %s is longer than the scrape interval %s: Prometheus refuses such a config; shorten the timeout or lengthen the interval", o.ScrapeTimeout, o.ScrapeInterval)
	}
	o.EvaluationInterval = orDefault(o.EvaluationInterval, defaults.EvaluationInterval)
	if _, err := positiveDuration("evaluation interval", o.EvaluationInterval); err != nil {
		errs = append(errs, err)
	}

	switch {
	case o.RetentionSize == "0":
		o.RetentionSize = ""
	case o.RetentionSize == "" && size.Sign() > 0:
		o.RetentionSize = retentionSizeFor(size)
	case o.RetentionSize != "":
		bytes, err := parseRetentionSize(o.RetentionSize)
		if err != nil {
			errs = append(errs, err)
		} else if size.Sign() > 0 && bytes.Cmp(quantityBytes(size)) > 0 {
			warnings = append(warnings, Warning{
				Path:        "server.retentionSize",
				Problem:     fmt.Sprintf("%s is more than the %s volume", o.RetentionSize, o.StorageSize),
				Consequence: "the volume fills up before size-based retention deletes anything, and Prometheus stops ingesting",
				Fix:         fmt.Sprintf("leave the retention size empty (meshmon then uses %s) or grow the volume", retentionSizeFor(size)),
			})
		}
	}

	if o.ClusterName != "" && strings.ContainsAny(o.ClusterName, "\n\r") {
		fail("cluster name %q must be a single line", o.ClusterName)
	}
	for _, raw := range o.RemoteWriteURLs {
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			fail("remote-write URL %q is invalid: give an absolute http:// or https:// URL", raw)
		}
	}

	o.ServiceAccountName = orDefault(o.ServiceAccountName, ServerFullname(o.ReleaseName))
	if msgs := validation.IsDNS1123Subdomain(o.ServiceAccountName); len(msgs) > 0 {
		fail("service account name %q is invalid: %s", o.ServiceAccountName, strings.Join(msgs, "; "))
	}
	o.ClusterRoleNameOverride = orDefault(o.ClusterRoleNameOverride, defaultClusterRoleName(o.Namespace, o.ReleaseName))
	if msgs := validation.IsDNS1123Subdomain(o.ClusterRoleNameOverride); len(msgs) > 0 || len(o.ClusterRoleNameOverride) > validation.DNS1123LabelMaxLength {
		fail("cluster role name %q is invalid: use at most 63 lower-case letters, digits, '-' and '.' (the chart truncates longer names)", o.ClusterRoleNameOverride)
	}

	if len(errs) > 0 {
		return ValuesOptions{}, nil, fmt.Errorf("invalid Prometheus options: %w", errors.Join(errs...))
	}
	return o, warnings, nil
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// positiveDuration parses a Prometheus duration (15d, 1h30m, 10s), rejecting zero.
func positiveDuration(what, s string) (model.Duration, error) {
	d, err := model.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%s %q is not a Prometheus duration: use a number and a unit (ms, s, m, h, d, w, y), largest unit first, like 15d or 1h30m", what, s)
	}
	if d <= 0 {
		return 0, fmt.Errorf("%s %q must be longer than zero", what, s)
	}
	return d, nil
}

// parseRetentionSize reads --retention-size: a Prometheus size, larger than zero.
func parseRetentionSize(s string) (*big.Int, error) {
	bytes, ok := prom.ParseSize(s)
	if !ok {
		return nil, fmt.Errorf("retention size %q is invalid: use a number and one of Prometheus' units B, KB, MB, GB, TB, PB, EB (powers of 1024), like 18GB", s)
	}
	if bytes.Sign() <= 0 {
		return nil, fmt.Errorf("retention size %q must be larger than zero (or exactly 0 to turn size-based retention off)", s)
	}
	return bytes, nil
}

func quantityBytes(q resource.Quantity) *big.Int {
	r, _ := new(big.Rat).SetString(q.AsDec().String())
	return new(big.Int).Quo(r.Num(), r.Denom())
}

// retentionSizeFor is retentionShare% of a volume, in Prometheus' units (prom.FormatSize:
// 20Gi → 18GB, 8Gi → 7372MB).
func retentionSizeFor(volume resource.Quantity) string {
	b := quantityBytes(volume)
	b.Mul(b, big.NewInt(retentionShare))
	b.Quo(b, big.NewInt(100))
	return prom.FormatSize(b)
}
