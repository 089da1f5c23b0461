package gateway

import (
	"crypto/rsa"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// DefaultRetrySchedule is the delay before each retry of an unacknowledged notification. It is
// Alipay's documented schedule: eight notifications spread over about 25 hours.
var DefaultRetrySchedule = []time.Duration{
	4 * time.Minute, 10 * time.Minute, 10 * time.Minute,
	time.Hour, 2 * time.Hour, 6 * time.Hour, 15 * time.Hour,
}

const (
	// DefaultReorderWindow is how long notifications are buffered before being shuffled when
	// Options.Reorder is set.
	DefaultReorderWindow = 200 * time.Millisecond
	// DefaultWorkers bounds how many notification attempts run at the same time.
	DefaultWorkers = 16
	// DefaultAttemptTimeout is how long one notification POST may take, as at real gateways.
	DefaultAttemptTimeout = 10 * time.Second
	// MaxBodyBytes bounds every request body the gateway reads.
	MaxBodyBytes = 1 << 20
	// MinKeyBits is the smallest signing key accepted; the sandbox client refuses smaller keys.
	MinKeyBits = 2048
)

// Options configures a Gateway. The zero value of every field except APIKeys has a usable default.
type Options struct {
	// APIKeys are the accepted merchant secret keys (Authorization: Bearer <key>). At least one.
	APIKeys []string
	// PublicBaseURL is the gateway's externally reachable base URL, used for payment_url. When
	// empty it is derived from the Host of each create request.
	PublicBaseURL string
	// SigningKey signs notifications. When nil it is loaded from StateFile, or generated.
	SigningKey *rsa.PrivateKey
	// StateFile, when set, makes the gateway durable: every mutation is written to it atomically
	// and New loads it, so a restarted gateway keeps its payments, key and pending notifications.
	StateFile string
	// TimeScale multiplies every RetrySchedule delay (0.001 turns 4m into 240ms). Zero means 1.
	TimeScale float64
	// RetrySchedule is the delay before each retry; nil means DefaultRetrySchedule. After the
	// last one the delivery is given up.
	RetrySchedule []time.Duration

	// Chaos, to exercise receivers the way real gateways do.

	// Duplicates sends every attempt this many times concurrently (0 and 1 mean once).
	Duplicates int
	// DropFirst records the first DropFirst attempts of a delivery as dropped without sending them.
	DropFirst int
	// DropRatio is the fraction of deliveries DropFirst applies to, chosen with the seeded RNG.
	// Zero means 1 (every delivery); use DropFirst 0 to drop nothing.
	DropRatio float64
	// Reorder buffers due notifications for ReorderWindow and sends them in random order.
	Reorder bool
	// ReorderWindow defaults to DefaultReorderWindow. It is wall-clock time, not scaled by
	// TimeScale: it is already short, and scaling it down in tests would make reordering vanish.
	ReorderWindow time.Duration
	// Delay postpones every attempt by Delay plus a random jitter in [0, Delay] (wall-clock, not
	// scaled), as a slow network would.
	Delay time.Duration
	// Seed seeds the RNG behind DropRatio, Delay jitter and Reorder, so chaos runs are repeatable.
	Seed int64

	// RefundDelay is how long a refund stays pending before the gateway makes it succeed and
	// notifies refund.succeeded (wall-clock, not scaled). Zero means DefaultRefundDelay; a
	// negative value means never by itself: tests settle refunds with POST /v1/refunds/{id}/complete.
	RefundDelay time.Duration

	// Workers bounds concurrent notification attempts; zero means DefaultWorkers.
	Workers int
	// AttemptTimeout bounds one notification POST; zero means DefaultAttemptTimeout.
	AttemptTimeout time.Duration
	// Now is the clock for payment timestamps, expiry and signature times; nil means time.Now.
	// Retry timing always uses the real clock.
	Now func() time.Time
	// HTTPClient sends notifications; nil means a client that does not follow redirects.
	HTTPClient *http.Client
	// Logger receives operational logs; nil discards them.
	Logger *slog.Logger
}

// withDefaults validates o and returns a copy with every default filled in. Slices are copied so
// the caller may reuse its own. Every invalid option is reported, not just the first.
func (o Options) withDefaults() (Options, error) {
	errs := o.checkMerchant()
	errs = append(errs, o.checkDelivery()...)
	o.fillPlumbing()
	if err := errors.Join(errs...); err != nil {
		return o, fmt.Errorf("invalid sandbox gateway options: %w", err)
	}
	return o, nil
}

// checkMerchant validates what identifies the merchant and the gateway (API keys, public URL,
// signing key) and normalises them in o.
func (o *Options) checkMerchant() []error {
	var errs []error
	if len(o.APIKeys) == 0 {
		errs = append(errs, errors.New("at least one API key is required"))
	}
	keys := make([]string, 0, len(o.APIKeys))
	for i, k := range o.APIKeys {
		if k == "" || strings.ContainsAny(k, " \t\r\n") {
			// Never echo the key itself: it is a secret.
			errs = append(errs, fmt.Errorf("API key #%d is empty or contains whitespace", i+1))
		}
		keys = append(keys, k)
	}
	o.APIKeys = keys
	if o.PublicBaseURL != "" {
		u, err := url.Parse(o.PublicBaseURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("public base URL %q is not an absolute http(s) URL", o.PublicBaseURL))
		}
		o.PublicBaseURL = strings.TrimRight(o.PublicBaseURL, "/")
	}
	if o.SigningKey != nil && o.SigningKey.N.BitLen() < MinKeyBits {
		errs = append(errs, fmt.Errorf("signing key has %d bits, at least %d are required", o.SigningKey.N.BitLen(), MinKeyBits))
	}
	return errs
}

// checkDelivery validates the notification timing and chaos options and fills in their
// defaults in o.
func (o *Options) checkDelivery() []error {
	var errs []error
	switch {
	case o.TimeScale < 0:
		errs = append(errs, fmt.Errorf("time scale %v is negative", o.TimeScale))
	case o.TimeScale == 0:
		o.TimeScale = 1
	}
	if o.RetrySchedule == nil {
		o.RetrySchedule = DefaultRetrySchedule
	}
	o.RetrySchedule = append([]time.Duration(nil), o.RetrySchedule...)
	for i, d := range o.RetrySchedule {
		if d < 0 {
			errs = append(errs, fmt.Errorf("retry schedule entry #%d (%v) is negative", i+1, d))
		}
	}
	switch {
	case o.Duplicates < 0:
		errs = append(errs, fmt.Errorf("duplicates %d is negative", o.Duplicates))
	case o.Duplicates == 0:
		o.Duplicates = 1
	}
	if o.DropFirst < 0 {
		errs = append(errs, fmt.Errorf("drop-first %d is negative", o.DropFirst))
	}
	switch {
	case o.DropRatio < 0 || o.DropRatio > 1:
		errs = append(errs, fmt.Errorf("drop ratio %v is outside [0, 1]", o.DropRatio))
	case o.DropRatio == 0:
		o.DropRatio = 1
	}
	switch {
	case o.ReorderWindow < 0:
		errs = append(errs, fmt.Errorf("reorder window %v is negative", o.ReorderWindow))
	case o.ReorderWindow == 0:
		o.ReorderWindow = DefaultReorderWindow
	}
	if o.Delay < 0 {
		errs = append(errs, fmt.Errorf("delay %v is negative", o.Delay))
	}
	return errs
}

// fillPlumbing fills in the defaults of the options that cannot be invalid: worker count,
// attempt timeout, clock, HTTP client and logger.
func (o *Options) fillPlumbing() {
	if o.Workers <= 0 {
		o.Workers = DefaultWorkers
	}
	if o.AttemptTimeout <= 0 {
		o.AttemptTimeout = DefaultAttemptTimeout
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{
			// Its own transport, so Close can drop its idle connections without touching
			// anybody else's.
			Transport: http.DefaultTransport.(*http.Transport).Clone(),
			// A POST answered with a redirect would be replayed as a GET: a real gateway treats
			// it as a failed attempt instead of following it.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// scaled applies TimeScale to a retry delay.
func (o Options) scaled(d time.Duration) time.Duration {
	return time.Duration(float64(d) * o.TimeScale)
}
