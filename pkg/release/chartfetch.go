package release

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"helm.sh/helm/v4/pkg/chart/v2/loader"
	repo "helm.sh/helm/v4/pkg/repo/v1"
	"sigs.k8s.io/yaml"
)

// maxDownload bounds what a chart repository may send: the real chart is under 100 KiB
// and its index a few MiB.
const maxDownload = 64 << 20

// cachePath is where a remote chart is kept: one directory per origin (repository URL or
// OCI reference), one file per name and version.
func cachePath(cacheDir, origin, name, version string) string {
	sum := sha256.Sum256([]byte(origin))
	u, err := url.Parse(origin)
	host := "repo"
	if err == nil && u.Host != "" {
		host = u.Host
	}
	host = strings.NewReplacer(":", "_", "/", "_").Replace(host)
	return filepath.Join(cacheDir, host+"-"+hex.EncodeToString(sum[:6]), name+"-"+version+".tgz")
}

// fetchCached returns the cached chart for origin and version, or downloads it with
// fetch, loads it to prove it is a chart, and caches it.
func fetchCached(ctx context.Context, cacheDir, origin, name, version string, fetch func(context.Context) ([]byte, error)) (*LoadedChart, error) {
	path := cachePath(cacheDir, origin, name, version)
	if ch, err := loader.LoadFile(path); err == nil {
		return &LoadedChart{Chart: ch, Origin: origin, Cached: true, Digest: ChartDigest(ch)}, nil
	}
	data, err := fetch(ctx)
	if err != nil {
		return nil, err
	}
	ch, err := loader.LoadArchive(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("the chart downloaded from %s is not a valid chart archive: %w", origin, err)
	}
	if err := writeAtomic(path, data); err != nil {
		return nil, fmt.Errorf("caching the chart in %s: %w (set XDG_CACHE_HOME to a writable directory)", filepath.Dir(path), err)
	}
	return &LoadedChart{Chart: ch, Origin: origin, Digest: ChartDigest(ch)}, nil
}

// writeAtomic writes data to path so that readers never see a partial file.
func writeAtomic(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".download-*")
	if err != nil {
		return err
	}
	defer func() { _ = os.Remove(tmp.Name()) }()
	if _, err := tmp.Write(data); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// downloadFromRepo finds name@version in a classic repository's index.yaml and downloads
// the package, checking its digest when the index has one. flag names the chart on the
// command line, for the hints.
func downloadFromRepo(ctx context.Context, repoURL, name, version, flag string) ([]byte, error) {
	raw, err := httpGet(ctx, repoURL+"/index.yaml")
	if err != nil {
		return nil, fmt.Errorf("reading the index of chart repository %s: %w; pass %s with a downloaded chart when the repository is unreachable", repoURL, err, flag)
	}
	var index repo.IndexFile
	if err := yaml.Unmarshal(raw, &index); err != nil {
		return nil, fmt.Errorf("parsing the index of chart repository %s: %w", repoURL, err)
	}
	var entry *repo.ChartVersion
	for _, cv := range index.Entries[name] {
		if cv != nil && cv.Metadata != nil && cv.Version == version {
			entry = cv
			break
		}
	}
	if entry == nil {
		return nil, fmt.Errorf("chart repository %s has no %s chart version %s; list the versions with 'helm search repo %s --versions' and pass one with %s-version", repoURL, name, version, name, flag)
	}
	if len(entry.URLs) == 0 {
		return nil, fmt.Errorf("chart repository %s lists %s %s without a download URL", repoURL, name, version)
	}
	chartURL, err := repo.ResolveReferenceURL(repoURL, entry.URLs[0])
	if err != nil {
		return nil, fmt.Errorf("resolving the download URL %q of %s %s: %w", entry.URLs[0], name, version, err)
	}
	data, err := httpGet(ctx, chartURL)
	if err != nil {
		return nil, fmt.Errorf("downloading %s %s from %s: %w", name, version, chartURL, err)
	}
	if entry.Digest != "" {
		sum := sha256.Sum256(data)
		if got := hex.EncodeToString(sum[:]); got != strings.TrimPrefix(entry.Digest, "sha256:") {
			return nil, fmt.Errorf("the chart downloaded from %s has digest %s, but the repository index says %s; the download or the repository is corrupt", chartURL, got, entry.Digest)
		}
	}
	return data, nil
}

func httpGet(ctx context.Context, u string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxDownload+1))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", u, err)
	}
	if len(data) > maxDownload {
		return nil, errors.New("GET " + u + ": response larger than 64 MiB")
	}
	return data, nil
}
