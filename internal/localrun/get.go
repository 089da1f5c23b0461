package localrun

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"
)

// Get reads a URL of a local process (a metrics, pprof or stats endpoint) and fails on any status
// but 200. The timeout leaves room for a 10 s CPU profile.
func Get(url string) ([]byte, error) {
	return GetWith(context.Background(), &http.Client{Timeout: 60 * time.Second}, url)
}

// GetWith is Get with the caller's client (one that authenticates, say) and context.
func GetWith(ctx context.Context, c *http.Client, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: HTTP %d", url, resp.StatusCode)
	}
	return io.ReadAll(resp.Body)
}
