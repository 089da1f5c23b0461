package metrics

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/kubepay/kubepay/api/v1alpha1"
)

// The state gauges: what the cluster holds now, read from the manager's cache on every scrape.
// Counters above say what happened; these say what is outstanding, which is what alerts need (a
// late payment recorded last week and still not refunded shows here, not in any rate).
//
// Labels stop at namespace and PaymentProvider: per-order labels would make one series per order,
// unbounded. Here "provider" is the PaymentProvider's name (orders name one in spec.providerRef);
// the counters' "provider" label is the provider's type, which kubepay_provider_ready carries as
// "type" so the two can be joined.
var (
	ordersDesc = prometheus.NewDesc("kubepay_orders",
		"PaymentOrders not yet settled (the ones the manager holds: settled orders leave its cache), by namespace, PaymentProvider name and phase (an order the controller has not seen yet counts as Pending). Settled ones are counted by kubepay_order_transitions_total.",
		[]string{"namespace", "provider", "phase"}, nil)
	pendingAgeDesc = prometheus.NewDesc("kubepay_orders_pending_oldest_age_seconds",
		"Age (since creation) of the oldest PaymentOrder still Pending, by namespace and PaymentProvider name; 0 when none is Pending. An order leaves Pending once its payment is created at the provider, normally within seconds.",
		[]string{"namespace", "provider"}, nil)
	closeBlockedDesc = prometheus.NewDesc("kubepay_orders_close_blocked",
		"Deleted PaymentOrders kept because their payment cannot be closed (condition CloseBlocked True), by namespace, PaymentProvider name and the condition's reason.",
		[]string{"namespace", "provider", "reason"}, nil)
	lateOutstandingDesc = prometheus.NewDesc("kubepay_late_payments_outstanding",
		"Late payments recorded in PaymentOrder status.latePayments and not refunded yet, by namespace and PaymentProvider name (an order records at most 8; more are only in kubepay_late_payments_total and Events).",
		[]string{"namespace", "provider"}, nil)
	refundsDesc = prometheus.NewDesc("kubepay_refunds",
		"PaymentRefunds by phase (a refund the controller has not seen yet counts as Pending).",
		[]string{"phase"}, nil)
	providerReadyDesc = prometheus.NewDesc("kubepay_provider_ready",
		"1 while the PaymentProvider's Ready condition is True, else 0, by namespace, name, provider type and the condition's reason (empty before the controller has checked it).",
		[]string{"namespace", "provider", "type", "reason"}, nil)
)

// orderPhases and refundPhases are every phase, so each gauge reports zeros too: a series that
// vanishes when its count drops to zero would leave rate() and graphs with gaps instead of a 0.
var (
	orderPhases = []v1.Phase{
		v1.PhasePending, v1.PhaseAwaitingPayment, v1.PhasePaid, v1.PhaseFailed,
		v1.PhaseExpired, v1.PhaseCancelled, v1.PhasePartiallyRefunded, v1.PhaseRefunded,
	}
	refundPhases = []v1.RefundPhase{v1.RefundPending, v1.RefundProcessing, v1.RefundSucceeded, v1.RefundFailed}
)

// listTimeout bounds one scrape's reads. They are served from the informer cache, in memory; the
// bound only keeps a scrape from hanging on a cache that is not started.
const listTimeout = 10 * time.Second

// noCopy lets the cache hand out its own objects instead of a deep copy of every order at every
// scrape. Safe because the collector only reads them; other readers ignore the option.
var noCopy = client.UnsafeDisableDeepCopy

// State is a prometheus.Collector that reports the state gauges from a client.Reader, meant to be
// the manager's cache: each scrape lists PaymentOrders, PaymentRefunds and PaymentProviders from
// memory and makes no call to the API server.
type State struct {
	reader client.Reader
	now    func() time.Time
}

// NewState returns a State reading from r; now is its clock for ages (nil: time.Now).
func NewState(r client.Reader, now func() time.Time) *State {
	if now == nil {
		now = time.Now
	}
	return &State{reader: r, now: now}
}

// Describe sends the descriptors of every state gauge.
func (s *State) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{ordersDesc, pendingAgeDesc, closeBlockedDesc, lateOutstandingDesc, refundsDesc, providerReadyDesc} {
		ch <- d
	}
}

// Collect lists the objects and sends the gauges. A failed list is sent as an invalid metric, so
// the scrape fails visibly (up == 0) rather than silently dropping the series that alerts watch.
func (s *State) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), listTimeout)
	defer cancel()
	s.collectOrders(ctx, ch)
	s.collectRefunds(ctx, ch)
	s.collectProviders(ctx, ch)
}

// pair is one namespace and PaymentProvider name: the unit the order gauges are reported by.
type pair struct{ namespace, provider string }

// orderTally is what one pair's orders add up to.
type orderTally struct {
	phases       map[v1.Phase]int
	oldest       time.Duration
	closeBlocked map[string]int
	late         int
}

func (s *State) collectOrders(ctx context.Context, ch chan<- prometheus.Metric) {
	var orders v1.PaymentOrderList
	if err := s.reader.List(ctx, &orders, noCopy); err != nil {
		err = fmt.Errorf("listing PaymentOrders for the state gauges: %w", err)
		for _, d := range []*prometheus.Desc{ordersDesc, pendingAgeDesc, closeBlockedDesc, lateOutstandingDesc} {
			ch <- prometheus.NewInvalidMetric(d, err)
		}
		return
	}
	now := s.now()
	tallies := map[pair]*orderTally{}
	for i := range orders.Items {
		o := &orders.Items[i]
		k := pair{o.Namespace, o.Spec.ProviderRef.Name}
		t := tallies[k]
		if t == nil {
			t = &orderTally{phases: map[v1.Phase]int{}, closeBlocked: map[string]int{}}
			tallies[k] = t
		}
		phase := o.Status.Phase
		if phase == "" {
			// The state machine's first step is "" to Pending: not seen yet is not paid for yet.
			phase = v1.PhasePending
		}
		t.phases[phase]++
		if phase == v1.PhasePending {
			// Creation, not the Pending transition: an order the controller never picked up (it
			// is down, or cannot reach the provider) is stuck from the moment it was created.
			if age := now.Sub(o.CreationTimestamp.Time); age > t.oldest {
				t.oldest = age
			}
		}
		if c := meta.FindStatusCondition(o.Status.Conditions, v1.ConditionCloseBlocked); c != nil && c.Status == metav1.ConditionTrue {
			t.closeBlocked[c.Reason]++
		}
		for _, lp := range o.Status.LatePayments {
			if !lp.Refunded {
				t.late++
			}
		}
	}
	for k, t := range tallies {
		for _, p := range orderPhases {
			ch <- prometheus.MustNewConstMetric(ordersDesc, prometheus.GaugeValue, float64(t.phases[p]), k.namespace, k.provider, string(p))
		}
		ch <- prometheus.MustNewConstMetric(pendingAgeDesc, prometheus.GaugeValue, t.oldest.Seconds(), k.namespace, k.provider)
		ch <- prometheus.MustNewConstMetric(lateOutstandingDesc, prometheus.GaugeValue, float64(t.late), k.namespace, k.provider)
		for reason, n := range t.closeBlocked {
			ch <- prometheus.MustNewConstMetric(closeBlockedDesc, prometheus.GaugeValue, float64(n), k.namespace, k.provider, reason)
		}
	}
}

func (s *State) collectRefunds(ctx context.Context, ch chan<- prometheus.Metric) {
	var refunds v1.PaymentRefundList
	if err := s.reader.List(ctx, &refunds, noCopy); err != nil {
		ch <- prometheus.NewInvalidMetric(refundsDesc, fmt.Errorf("listing PaymentRefunds for the state gauges: %w", err))
		return
	}
	byPhase := map[v1.RefundPhase]int{}
	for i := range refunds.Items {
		phase := refunds.Items[i].Status.Phase
		if phase == "" {
			phase = v1.RefundPending
		}
		byPhase[phase]++
	}
	for _, p := range refundPhases {
		ch <- prometheus.MustNewConstMetric(refundsDesc, prometheus.GaugeValue, float64(byPhase[p]), string(p))
	}
}

func (s *State) collectProviders(ctx context.Context, ch chan<- prometheus.Metric) {
	var providers v1.PaymentProviderList
	if err := s.reader.List(ctx, &providers, noCopy); err != nil {
		ch <- prometheus.NewInvalidMetric(providerReadyDesc, fmt.Errorf("listing PaymentProviders for the state gauges: %w", err))
		return
	}
	for i := range providers.Items {
		p := &providers.Items[i]
		ready, reason := 0.0, ""
		if c := meta.FindStatusCondition(p.Status.Conditions, v1.ConditionReady); c != nil {
			reason = c.Reason
			if c.Status == metav1.ConditionTrue {
				ready = 1
			}
		}
		ch <- prometheus.MustNewConstMetric(providerReadyDesc, prometheus.GaugeValue, ready, p.Namespace, p.Name, string(p.Spec.Type), reason)
	}
}
