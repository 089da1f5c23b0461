package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"github.com/kubepay/kubepay/providers/sandbox/gateway"
)

// defaultAPIKey is the demo key; scripts put the same value in the PaymentProvider Secret.
const defaultAPIKey = "sk_sandbox_demo"

// config is the parsed command line.
type config struct {
	bindAddress    string
	publicURL      string
	apiKeys        []string
	stateFile      string
	timeScale      float64
	duplicates     int
	dropFirst      int
	dropRatio      float64
	reorder        bool
	reorderWindow  time.Duration
	delay          time.Duration
	refundDelay    time.Duration
	seed           int64
	workers        int
	signingKeyFile string
	publicKeyOut   string
	logLevel       string
}

// keyList is a repeatable flag whose values may also be comma-separated lists.
type keyList []string

func (k *keyList) String() string {
	// Never print keys, not even in --help defaults.
	return ""
}

func (k *keyList) Set(v string) error {
	for key := range strings.SplitSeq(v, ",") {
		if key = strings.TrimSpace(key); key != "" {
			*k = append(*k, key)
		}
	}
	return nil
}

const usageHeader = `sandbox-gateway runs kubepay's simulated payment gateway: an HTTP API to create, query and close
payments, a hosted checkout page with Pay/Fail buttons, and signed notifications to each
payment's notify_url, retried on Alipay's schedule (4m,10m,10m,1h,2h,6h,15h) until answered
"success". Chaos flags make deliveries misbehave the way real gateways do.

Refunds: POST /v1/payments/{id}/refunds (Idempotency-Key = out_refund_no) refunds part or all
of a paid payment, never more than it; the refund stays pending for --refund-delay, then
refund.succeeded is notified like payment events.

Test aids (no API key, as they act for the customer or the bank):
  POST /v1/payments/{id}/pay        {"outcome":"succeeded"|"failed"} simulates the customer;
                                    with "late":true the payment succeeds even when it is
                                    closed, failed or expired, reproducing the race real
                                    providers have (money that arrives after the close)
  POST /v1/refunds/{id}/complete    {"outcome":"succeeded"|"failed","reason":"..."} settles a
                                    pending refund by hand (see --refund-delay)

Usage: sandbox-gateway [flags]

Flags:
`

// parseFlags parses args (without the program name). It returns flag.ErrHelp after printing the
// usage for --help.
func parseFlags(args []string, out io.Writer) (config, error) {
	var c config
	var keys keyList
	fs := flag.NewFlagSet("sandbox-gateway", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.Usage = func() {
		// Like PrintDefaults below, help that cannot be written has nowhere else to go.
		_, _ = fmt.Fprint(out, usageHeader)
		fs.PrintDefaults()
	}
	fs.StringVar(&c.bindAddress, "bind-address", "127.0.0.1:8090", "`host:port` to listen on")
	fs.StringVar(&c.publicURL, "public-url", "", "externally reachable base `URL` of the gateway, used in payment_url (default http://<bind-address>, with an unspecified host replaced by 127.0.0.1)")
	fs.Var(&keys, "api-key", "accepted merchant API `key` (Authorization: Bearer <key>); repeat the flag or give a comma-separated list (default "+defaultAPIKey+")")
	fs.StringVar(&c.stateFile, "state-file", "", "JSON `file` persisting payments, idempotency records, pending notifications and the signing key across restarts; written atomically with mode 0600 (default: in memory only)")
	fs.Float64Var(&c.timeScale, "time-scale", 1, "`factor` applied to the notification retry schedule; 0.001 turns 4m into 240ms for tests and demos")
	fs.IntVar(&c.duplicates, "duplicates", 1, "chaos: send every notification attempt `N` times concurrently (same event id and signature)")
	fs.IntVar(&c.dropFirst, "drop-first", 0, "chaos: record the first `N` attempts of a delivery as dropped without sending them; they are retried on the schedule")
	fs.Float64Var(&c.dropRatio, "drop-ratio", 1, "chaos: `fraction` (0..1] of deliveries --drop-first applies to, chosen with the seeded RNG")
	fs.BoolVar(&c.reorder, "reorder", false, "chaos: buffer due notifications for --reorder-window and send them in random order")
	fs.DurationVar(&c.reorderWindow, "reorder-window", gateway.DefaultReorderWindow, "chaos: how long --reorder buffers notifications (`duration`, not scaled by --time-scale)")
	fs.DurationVar(&c.delay, "delay", 0, "chaos: wait this `duration` plus a random jitter up to the same amount before every attempt (not scaled)")
	fs.DurationVar(&c.refundDelay, "refund-delay", 0, "how long a refund stays pending before the gateway makes it succeed and notifies refund.succeeded (`duration`, not scaled); 0 means "+gateway.DefaultRefundDelay.String()+", a negative value never: refunds wait for POST /v1/refunds/{id}/complete")
	fs.Int64Var(&c.seed, "seed", 0, "`seed` of the RNG behind --drop-ratio, --delay jitter and --reorder, for repeatable chaos")
	fs.IntVar(&c.workers, "workers", gateway.DefaultWorkers, "maximum `number` of notification attempts in flight")
	fs.StringVar(&c.signingKeyFile, "signing-key-file", "", "PEM `file` with the RSA notification signing key (PKCS#1 \"RSA PRIVATE KEY\" or PKCS#8 \"PRIVATE KEY\", at least 2048 bits); default: the key in --state-file, else a generated one")
	fs.StringVar(&c.publicKeyOut, "public-key-out", "", "write the notification public key (PEM \"PUBLIC KEY\") to this `file` at start, for scripts that build the PaymentProvider Secret")
	fs.StringVar(&c.logLevel, "log-level", "info", "log `level`: debug (every notification attempt), info, warn or error")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	c.apiKeys = keys
	if len(c.apiKeys) == 0 {
		c.apiKeys = []string{defaultAPIKey}
	}
	if c.publicURL == "" {
		c.publicURL = defaultPublicURL(c.bindAddress)
	}
	var errs []error
	if c.timeScale <= 0 {
		errs = append(errs, fmt.Errorf("--time-scale %v must be positive", c.timeScale))
	}
	if c.duplicates < 1 {
		errs = append(errs, fmt.Errorf("--duplicates %d must be at least 1", c.duplicates))
	}
	if c.dropRatio <= 0 || c.dropRatio > 1 {
		errs = append(errs, fmt.Errorf("--drop-ratio %v must be in (0, 1]", c.dropRatio))
	}
	if _, err := parseLevel(c.logLevel); err != nil {
		errs = append(errs, err)
	}
	return c, errors.Join(errs...)
}

// defaultPublicURL is http://<bind-address>; a wildcard host is not dialable, so it becomes
// the loopback address.
func defaultPublicURL(bind string) string {
	host, port, err := net.SplitHostPort(bind)
	if err != nil {
		return "http://" + bind
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// options turns the command line into gateway options, reading the signing key file.
func (c config) options() (gateway.Options, error) {
	o := gateway.Options{
		APIKeys: c.apiKeys, PublicBaseURL: c.publicURL, StateFile: c.stateFile,
		TimeScale: c.timeScale, Duplicates: c.duplicates, DropFirst: c.dropFirst, DropRatio: c.dropRatio,
		Reorder: c.reorder, ReorderWindow: c.reorderWindow, Delay: c.delay, Seed: c.seed, Workers: c.workers,
		RefundDelay: c.refundDelay,
	}
	if c.signingKeyFile != "" {
		data, err := os.ReadFile(c.signingKeyFile)
		if err != nil {
			return o, fmt.Errorf("read --signing-key-file: %w", err)
		}
		if o.SigningKey, err = gateway.ParsePrivateKeyPEM(data); err != nil {
			return o, fmt.Errorf("--signing-key-file %s: %w", c.signingKeyFile, err)
		}
	}
	return o, nil
}
