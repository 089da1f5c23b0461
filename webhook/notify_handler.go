package webhook

import (
	"errors"
	"io"
	"net/http"
	"time"

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
	ResultRateLimited       = "rate_limited"
)

var (
	errUnknownOrder = errors.New("no PaymentOrder with this out_trade_no")
	errMismatch     = settle.ErrMismatch
)

// handleNotify: read the raw body, let the provider verify it before anything is parsed, find the
// order, check the notification against it, decide with the state machine, write once, and only
// then acknowledge.
func (s *Server) handleNotify(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	ns, name := r.PathValue("namespace"), r.PathValue("provider")
	log := s.Log.WithValues("paymentProvider", ns+"/"+name)
	ctx := r.Context()

	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			log.Info("notification refused: body over the limit", "limit", MaxBodyBytes)
			http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
			s.count("unknown", ResultError, start)
			return
		}
		log.Info("notification refused: reading body failed", "error", err.Error())
		http.Error(w, "cannot read body", http.StatusBadRequest)
		s.count("unknown", ResultError, start)
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
		log.Info("notification refused: provider unavailable", "error", err.Error())
		http.Error(w, http.StatusText(status), status)
		s.count("unknown", ResultError, start)
		return
	}
	typ := rp.Provider.Type()

	n, err := rp.Provider.ParseNotification(ctx, r, body)
	if err != nil {
		result := ResultError
		if errors.Is(err, providers.ErrSignature) {
			result = ResultRejectedSignature
		}
		log.Info("notification refused", "result", result, "reason", err.Error(), "remoteAddr", r.RemoteAddr)
		rp.Provider.Ack(w, err)
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

func (s *Server) count(providerType, result string, start time.Time) {
	metrics.Notifications.WithLabelValues(providerType, result).Inc()
	metrics.NotificationDuration.WithLabelValues(providerType).Observe(time.Since(start).Seconds())
}
