package stripe_test

import (
	"os"
	"testing"

	"github.com/kubepay/kubepay/providers/internal/testvectors"
)

// TestMain runs the tests, then stops what they started on demand: stripe-mock and the control
// plane with its manager (each started once, by the first test that needs it).
func TestMain(m *testing.M) {
	code := m.Run()
	stopCluster()
	stopStripeMock()
	os.Exit(code)
}

// stripeVectors is the genuine Stripe webhook vector in testdata/vectors/stripe.
var stripeVectors = testvectors.Vectors{Provider: "stripe", Display: "Stripe webhook"}
