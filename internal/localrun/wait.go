package localrun

import (
	"context"
	"fmt"
	"net/http"
	"time"
)

// WaitHTTP waits until url answers 200, failing early if p exits.
func WaitHTTP(ctx context.Context, p *Proc, url string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if p.Exited() {
			return fmt.Errorf("%s exited during start; see %s", p.Name, p.Log)
		}
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s did not answer %s within %v; see %s", p.Name, url, timeout, p.Log)
}
