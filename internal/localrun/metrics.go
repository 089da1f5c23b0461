package localrun

import (
	"bufio"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Metric reads one sample from a Prometheus text endpoint: the first series called name whose
// labels include every labels entry (written as they are printed, e.g. `name="x"`).
func Metric(url, name string, labels ...string) (float64, error) {
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET %s: HTTP %d", url, resp.StatusCode)
	}
	s := bufio.NewScanner(resp.Body)
	s.Buffer(make([]byte, 1<<20), 1<<20)
	for s.Scan() {
		line := s.Text()
		rest, ok := strings.CutPrefix(line, name)
		if !ok || rest == "" || (rest[0] != ' ' && rest[0] != '{') {
			continue
		}
		series, value, found := strings.Cut(rest, "} ")
		if !found {
			series, value = "", strings.TrimSpace(rest)
		}
		if !hasLabels(series, labels) {
			continue
		}
		return strconv.ParseFloat(strings.TrimSpace(value), 64)
	}
	if err := s.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("metric %s%v not found at %s", name, labels, url)
}

func hasLabels(series string, labels []string) bool {
	for _, l := range labels {
		if !strings.Contains(series, l) {
			return false
		}
	}
	return true
}
