package helm

import (
	"strings"
	"testing"

	"github.com/kubepay/kubepay/internal/testenv"
)

// TestChartLints runs `helm lint --strict` (warnings fail too) on the chart with its defaults and
// with every option on.
func TestChartLints(t *testing.T) {
	testenv.SkipIfShort(t)
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"defaults", nil},
		{"all options on", []string{"--values", allOnValues()}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := runHelm(t, append([]string{"lint", "--strict", "charts/kubepay"}, tc.args...)...)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(out, "1 chart(s) linted, 0 chart(s) failed") {
				t.Errorf("helm lint did not pass the chart:\n%s", out)
			}
		})
	}
}
