package localrun

import (
	"fmt"
	"io"
	"net/http"
	"time"
)

// Get reads a URL of a local process (a metrics, pprof or stats endpoint) and fails on any status
// but 200. The timeout leaves room for a 10 s CPU profile.
func Get(url string) ([]byte, error) {
	c := &http.Client{Timeout: 60 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: HTTP %d", url, resp.StatusCode)
	}
	return io.ReadAll(resp.Body)
}
