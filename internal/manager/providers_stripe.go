package manager

// The Stripe provider registers itself with the providers registry.
import _ "github.com/kubepay/kubepay/providers/stripe"
