package manager

import (
	// The Stripe provider registers itself with the providers registry when imported.
	_ "github.com/kubepay/kubepay/providers/stripe"
)
