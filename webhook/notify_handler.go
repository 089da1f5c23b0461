package webhook

import (
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/go-logr/logr"

	"github.com/kubepay/kubepay/internal/metrics"
	"github.com/kubepay/kubepay/internal/resolver"
	"github.com/kubepay/kubepay/internal/settle"
	"github.com/kubepay/kubepay/providers"
)

// Results of a notification, the values of kubepay_notifications_total's result label.
const (
	ResultApplied           = "applied"
	ResultLatePayment       = "late_payment"
	ResultDuplicate         = "duplicate"
	ResultIgnored           = "ignored"
	ResultRejectedSignature = "rejected_signature"
	ResultRejectedMismatch  = "rejected_mismatch"
	ResultUnknownOrder      = "unknown_order"
	ResultError             = "error"
	// ResultRateLimited is a failed request from a source whose failure budget was spent,
	// answered 429.
	ResultRateLimited = "rate_limited"
	// ResultSaturated is a request that got no verification slot within the wait, answered 503.
	ResultSaturated = "saturated"
)

var (
	errUnknownOrder = errors.New("no PaymentOrder with this out_trade_no")
	errMismatch     = settle.ErrMismatch
)

// handleNotify: read the raw body, let the provider verify it before anything is parsed, find the
// order, check the notification against it, decide with the state machine, write once, and only
// then acknowledge.
//
// Flood defence. Behind an ingress every request, the provider's included, has one source
// address, so nothing keyed on the source may refuse a request before it is verified: that would
// refuse the provider's genuine notifications because of someone else's traffic. Instead:
//   - every request is verified, within a global bound on concurrent verification (verifyGate):
//     the cost a flood can impose is bounded and shared in arrival order, and the answer is 503 +
//     Retry-After only when the server as a whole cannot verify within DefaultVerifyWait;
//   - what fails before or during verification spends its source's failure budget
//     (failureBudget: IPv4 address or IPv6 /64). Within it, the failure gets the provider's
//     failure answer and a log line; beyond it, 429 + Retry-After and the aggregate log
//     (refusalLog). A request that verifies spends nothing and is never answered 429.
func (s *Server) handleNotify(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	ns, name := r.PathValue("namespace"), r.PathValue("provider")
	log := s.Log.WithValues("paymentProvider", ns+"/"+name)
	if ns == resolver.ClusterRoute {
		// A ClusterPaymentProvider's route: no namespace can be called "_cluster".
		ns = ""
	}
	if !s.Share.HasNamespace(ns) {
		// Another install's share: its callback server answers it. 404 tells a misrouted
		// provider, or a misconfigured ingress, without reading anything.
		log.Info("notification refused: namespace not served by this install")
		http.Error(w, http.StatusText(http.StatusNotFound), http.StatusNotFound)
		return
	}
	ctx := r.Context()
	source := sourceKey(r.RemoteAddr)

	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			result := s.refuse(w, log, source, failure{result: ResultError, reason: "body over the limit", err: err, answer: func(w http.ResponseWriter) {
				http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
			}})
			s.count("unknown", result, start)
			return
		}
		result := s.refuse(w, log, source, failure{result: ResultError, reason: "reading body failed", err: err, answer: func(w http.ResponseWriter) {
			http.Error(w, "cannot read body", http.StatusBadRequest)
		}})
		s.count("unknown", result, start)
		return
	}

	rp, err := s.Resolver.Resolve(ctx, ns, name)
	if err != nil {
		// Without the provider there is no key to verify with: refuse, and let the provider
		// retry (it may be a PaymentProvider that is being created).
		status := http.StatusServiceUnavailable
		if errors.Is(err, resolver.ErrProviderNotFound) {
			status = http.StatusNotFound
		}
		result := s.refuse(w, log, source, failure{result: ResultError, reason: "provider unavailable", err: err, answer: func(w http.ResponseWriter) {
			http.Error(w, http.StatusText(status), status)
		}})
		s.count("unknown", result, start)
		return
	}
	typ := rp.Provider.Type()

	release, admitted := s.gate().enter(ctx, s.verifyWait())
	if !admitted {
		if ctx.Err() != nil {
			return // the sender is gone; nobody reads an answer
		}
		s.refusals().note("verification saturated", http.StatusServiceUnavailable, source)
		w.Header().Set("Retry-After", "1")
		http.Error(w, "server busy", http.StatusServiceUnavailable)
		s.count(typ, ResultSaturated, start)
		return
	}
	n, err := rp.Provider.ParseNotification(ctx, r, body)
	release()
	if err != nil {
		result := ResultError
		if errors.Is(err, providers.ErrSignature) {
			result = ResultRejectedSignature
		}
		result = s.refuse(w, log, source, failure{result: result, reason: "verification failed", err: err, answer: func(w http.ResponseWriter) {
			rp.Provider.Ack(w, err)
		}})
		s.count(typ, result, start)
		return
	}
	log = log.WithValues("notificationID", n.ID, "type", n.Type, "outTradeNo", n.OutTradeNo)
	if n.Status == "" && n.Refund == nil {
		log.V(1).Info("notification acknowledged and ignored: kubepay does not act on this event type")
		rp.Provider.Ack(w, nil)
		s.count(typ, ResultIgnored, start)
		return
	}

	apply := s.apply
	if n.Refund != nil {
		log = log.WithValues("outRefundNo", n.Refund.OutRefundNo)
		apply = s.applyRefund
	}
	result, err := apply(ctx, rp, n)
	switch {
	case err == nil:
		log.Info("notification recorded", "result", result, "duration", time.Since(start).String())
	case errors.Is(err, errUnknownOrder), errors.Is(err, errUnknownRefund):
		// The order may be newer than this replica's cache, or the notification is for
		// someone else: refuse so the provider retries.
		log.Info("notification refused: unknown order", "error", err.Error())
	case errors.Is(err, errMismatch):
		log.Info("notification refused: does not match the order", "error", err.Error())
	default:
		log.Error(err, "notification not recorded; the provider will retry")
	}
	rp.Provider.Ack(w, err)
	s.count(typ, result, start)
}

// failure is a request refused before it was verified.
type failure struct {
	// result is the metric result while the source's budget lasts.
	result string
	// reason is a short, fixed description for the logs; err says more (never a secret or a
	// signature: providers' verification errors name the check that failed, not the value).
	reason string
	err    error
	// answer writes the answer while the budget lasts: the provider's failure answer, or the
	// HTTP error that fits.
	answer func(http.ResponseWriter)
}

// refuse answers a failed request and returns its metric result. The failure spends one unit of
// its source's budget: within it, f.answer answers and one line is logged; beyond it, the answer
// is 429 with Retry-After and the refusal only counts towards the aggregate log line. Either
// answer makes a provider retry, so the budget only changes how a request that will not be
// applied is answered and logged.
func (s *Server) refuse(w http.ResponseWriter, log logr.Logger, source string, f failure) string {
	ok, retryAfter := s.budget().spend(source, time.Now())
	if !ok {
		s.refusals().note(f.reason, http.StatusTooManyRequests, source)
		w.Header().Set("Retry-After", strconv.Itoa(int(retryAfter/time.Second)))
		http.Error(w, "too many failed requests", http.StatusTooManyRequests)
		return ResultRateLimited
	}
	log.Info("notification refused", "result", f.result, "reason", f.reason, "error", f.err.Error(), "source", source)
	f.answer(w)
	return f.result
}

func (s *Server) count(providerType, result string, start time.Time) {
	metrics.Notifications.WithLabelValues(providerType, result).Inc()
	metrics.NotificationDuration.WithLabelValues(providerType).Observe(time.Since(start).Seconds())
}
