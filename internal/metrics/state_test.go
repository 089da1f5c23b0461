package metrics_test

import (
	"context"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	v1 "github.com/kubepay/kubepay/api/v1alpha1"
	"github.com/kubepay/kubepay/internal/metrics"
	"github.com/kubepay/kubepay/internal/scheme"
)

var now = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

// order is a PaymentOrder in namespace ns of provider, in phase, created age before now.
func order(ns, name, provider string, phase v1.Phase, age time.Duration, mutate ...func(*v1.PaymentOrder)) *v1.PaymentOrder {
	o := &v1.PaymentOrder{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, CreationTimestamp: metav1.NewTime(now.Add(-age))},
		Spec:       v1.PaymentOrderSpec{ProviderRef: v1.ProviderReference{Name: provider}},
		Status:     v1.PaymentOrderStatus{Phase: phase},
	}
	for _, m := range mutate {
		m(o)
	}
	return o
}

func condition(typ string, status metav1.ConditionStatus, reason string) func(*v1.PaymentOrder) {
	return func(o *v1.PaymentOrder) {
		o.Status.Conditions = append(o.Status.Conditions, metav1.Condition{Type: typ, Status: status, Reason: reason, LastTransitionTime: metav1.NewTime(now)})
	}
}

func late(refunded ...bool) func(*v1.PaymentOrder) {
	return func(o *v1.PaymentOrder) {
		for i, r := range refunded {
			o.Status.LatePayments = append(o.Status.LatePayments, v1.LatePayment{ID: o.Name + "-late-" + string(rune('a'+i)), Phase: v1.PhaseExpired, Refunded: r})
		}
	}
}

func refund(ns, name string, phase v1.RefundPhase) *v1.PaymentRefund {
	return &v1.PaymentRefund{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Status: v1.PaymentRefundStatus{Phase: phase}}
}

func provider(ns, name string, typ v1.ProviderType, conds ...metav1.Condition) *v1.PaymentProvider {
	return &v1.PaymentProvider{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: v1.PaymentProviderSpec{Type: typ}, Status: v1.PaymentProviderStatus{Conditions: conds}}
}

// zeroRefunds is the refunds gauge of a cluster with no PaymentRefund: every phase at 0.
const zeroRefunds = `
# HELP kubepay_refunds PaymentRefunds by phase (a refund the controller has not seen yet counts as Pending).
# TYPE kubepay_refunds gauge
kubepay_refunds{phase="Failed"} 0
kubepay_refunds{phase="Pending"} 0
kubepay_refunds{phase="Processing"} 0
kubepay_refunds{phase="Succeeded"} 0
`

// ordersOf is the kubepay_orders series of one namespace and provider: counts for the phases
// given, 0 for the others.
func ordersOf(ns, provider string, counts map[v1.Phase]int) string {
	var b strings.Builder
	for _, p := range []v1.Phase{"AwaitingPayment", "Cancelled", "Expired", "Failed", "Paid", "PartiallyRefunded", "Pending", "Refunded"} {
		b.WriteString(`kubepay_orders{namespace="` + ns + `",phase="` + string(p) + `",provider="` + provider + `"} `)
		b.WriteString(strconv.Itoa(counts[p]))
		b.WriteString("\n")
	}
	return b.String()
}

const (
	ordersHead = `
# HELP kubepay_orders PaymentOrders not yet settled (the ones the manager holds: settled orders leave its cache), by namespace, PaymentProvider name and phase (an order the controller has not seen yet counts as Pending). Settled ones are counted by kubepay_order_transitions_total.
# TYPE kubepay_orders gauge
`
	pendingHead = `
# HELP kubepay_orders_pending_oldest_age_seconds Age (since creation) of the oldest PaymentOrder still Pending, by namespace and PaymentProvider name; 0 when none is Pending. An order leaves Pending once its payment is created at the provider, normally within seconds.
# TYPE kubepay_orders_pending_oldest_age_seconds gauge
`
	lateHead = `
# HELP kubepay_late_payments_outstanding Late payments recorded in PaymentOrder status.latePayments and not refunded yet, by namespace and PaymentProvider name (an order records at most 8; more are only in kubepay_late_payments_total and Events).
# TYPE kubepay_late_payments_outstanding gauge
`
	blockedHead = `
# HELP kubepay_orders_close_blocked Deleted PaymentOrders kept because their payment cannot be closed (condition CloseBlocked True), by namespace, PaymentProvider name and the condition's reason.
# TYPE kubepay_orders_close_blocked gauge
`
	readyHead = `
# HELP kubepay_provider_ready 1 while the PaymentProvider's Ready condition is True, else 0, by namespace, name, provider type and the condition's reason (empty before the controller has checked it).
# TYPE kubepay_provider_ready gauge
`
)

// TestStateGauges runs the state collector over a fake client's objects, as a scrape would over
// the manager's cache, and compares everything it reports.
func TestStateGauges(t *testing.T) {
	cases := []struct {
		name    string
		reason  string
		objects []client.Object
		want    string
	}{{
		name:   "empty cluster",
		reason: "with nothing to count only the refund phases report, at zero, so the series exist before the first refund",
		want:   zeroRefunds,
	}, {
		name:   "orders by namespace, provider and phase",
		reason: "orders are counted per namespace and PaymentProvider, every phase reported (zeros too) for each pair that has orders",
		objects: []client.Object{
			order("shop", "a", "stripe", v1.PhasePaid, time.Hour),
			order("shop", "b", "stripe", v1.PhasePaid, time.Hour),
			order("shop", "c", "stripe", v1.PhaseAwaitingPayment, time.Minute),
			order("shop", "d", "alipay", v1.PhaseRefunded, time.Hour),
			order("cafe", "e", "stripe", v1.PhaseExpired, time.Hour),
		},
		want: ordersHead +
			ordersOf("cafe", "stripe", map[v1.Phase]int{"Expired": 1}) +
			ordersOf("shop", "alipay", map[v1.Phase]int{"Refunded": 1}) +
			ordersOf("shop", "stripe", map[v1.Phase]int{"Paid": 2, "AwaitingPayment": 1}) +
			pendingHead +
			`kubepay_orders_pending_oldest_age_seconds{namespace="cafe",provider="stripe"} 0
kubepay_orders_pending_oldest_age_seconds{namespace="shop",provider="alipay"} 0
kubepay_orders_pending_oldest_age_seconds{namespace="shop",provider="stripe"} 0
` + lateHead + `kubepay_late_payments_outstanding{namespace="cafe",provider="stripe"} 0
kubepay_late_payments_outstanding{namespace="shop",provider="alipay"} 0
kubepay_late_payments_outstanding{namespace="shop",provider="stripe"} 0
` + zeroRefunds,
	}, {
		name:   "oldest pending order",
		reason: "the age is the oldest Pending order's, an order the controller never saw counts as Pending, and older orders past Pending do not count",
		objects: []client.Object{
			order("shop", "new", "stripe", v1.PhasePending, 30*time.Second),
			order("shop", "unseen", "stripe", "", 10*time.Minute),
			order("shop", "old-paid", "stripe", v1.PhasePaid, 48*time.Hour),
		},
		want: ordersHead +
			ordersOf("shop", "stripe", map[v1.Phase]int{"Pending": 2, "Paid": 1}) +
			pendingHead + `kubepay_orders_pending_oldest_age_seconds{namespace="shop",provider="stripe"} 600
` + lateHead + `kubepay_late_payments_outstanding{namespace="shop",provider="stripe"} 0
` + zeroRefunds,
	}, {
		name:   "late payments outstanding",
		reason: "only late payments not yet refunded are outstanding; refunded ones are settled",
		objects: []client.Object{
			order("shop", "a", "stripe", v1.PhaseExpired, time.Hour, late(false, true, false)),
			order("shop", "b", "stripe", v1.PhaseCancelled, time.Hour, late(true)),
		},
		want: ordersHead +
			ordersOf("shop", "stripe", map[v1.Phase]int{"Expired": 1, "Cancelled": 1}) +
			pendingHead + `kubepay_orders_pending_oldest_age_seconds{namespace="shop",provider="stripe"} 0
` + lateHead + `kubepay_late_payments_outstanding{namespace="shop",provider="stripe"} 2
` + zeroRefunds,
	}, {
		name:   "close blocked by reason",
		reason: "orders with CloseBlocked True count under the condition's reason, so alerts can tell a link payable until expiry from a missing provider; a False condition does not count",
		objects: []client.Object{
			order("shop", "a", "stripe", v1.PhaseAwaitingPayment, time.Hour, condition(v1.ConditionCloseBlocked, metav1.ConditionTrue, v1.ReasonPayableUntilExpiry)),
			order("shop", "b", "stripe", v1.PhaseAwaitingPayment, time.Hour, condition(v1.ConditionCloseBlocked, metav1.ConditionTrue, v1.ReasonProviderNotFound)),
			order("shop", "c", "stripe", v1.PhaseAwaitingPayment, time.Hour, condition(v1.ConditionCloseBlocked, metav1.ConditionTrue, v1.ReasonProviderNotFound)),
			order("shop", "d", "stripe", v1.PhaseCancelled, time.Hour, condition(v1.ConditionCloseBlocked, metav1.ConditionFalse, v1.ReasonReleasedAfterExpiry)),
		},
		want: ordersHead +
			ordersOf("shop", "stripe", map[v1.Phase]int{"AwaitingPayment": 3, "Cancelled": 1}) +
			pendingHead + `kubepay_orders_pending_oldest_age_seconds{namespace="shop",provider="stripe"} 0
` + blockedHead + `kubepay_orders_close_blocked{namespace="shop",provider="stripe",reason="PayableUntilExpiry"} 1
kubepay_orders_close_blocked{namespace="shop",provider="stripe",reason="ProviderNotFound"} 2
` + lateHead + `kubepay_late_payments_outstanding{namespace="shop",provider="stripe"} 0
` + zeroRefunds,
	}, {
		name:   "refunds by phase",
		reason: "refunds are counted by phase across namespaces, and one the controller never saw counts as Pending",
		objects: []client.Object{
			refund("shop", "r1", v1.RefundSucceeded),
			refund("cafe", "r2", v1.RefundSucceeded),
			refund("shop", "r3", v1.RefundProcessing),
			refund("shop", "r4", ""),
		},
		want: `
# HELP kubepay_refunds PaymentRefunds by phase (a refund the controller has not seen yet counts as Pending).
# TYPE kubepay_refunds gauge
kubepay_refunds{phase="Failed"} 0
kubepay_refunds{phase="Pending"} 1
kubepay_refunds{phase="Processing"} 1
kubepay_refunds{phase="Succeeded"} 2
`,
	}, {
		name:   "providers ready or not",
		reason: "Ready True is 1; Ready False is 0 with its reason; a provider not checked yet is 0 with an empty reason",
		objects: []client.Object{
			provider("shop", "stripe", "stripe", metav1.Condition{Type: v1.ConditionReady, Status: metav1.ConditionTrue, Reason: v1.ReasonAuthenticated, LastTransitionTime: metav1.NewTime(now)}),
			provider("shop", "alipay", "alipay", metav1.Condition{Type: v1.ConditionReady, Status: metav1.ConditionFalse, Reason: v1.ReasonCredentialsInvalid, LastTransitionTime: metav1.NewTime(now)}),
			provider("cafe", "wechat", "wechatpay"),
		},
		want: readyHead + `kubepay_provider_ready{namespace="cafe",provider="wechat",reason="",type="wechatpay"} 0
kubepay_provider_ready{namespace="shop",provider="alipay",reason="CredentialsInvalid",type="alipay"} 0
kubepay_provider_ready{namespace="shop",provider="stripe",reason="Authenticated",type="stripe"} 1
` + zeroRefunds,
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := fake.NewClientBuilder().WithScheme(scheme.New()).WithObjects(tc.objects...).Build()
			state := metrics.NewState(c, func() time.Time { return now })
			if err := testutil.CollectAndCompare(state, strings.NewReader(tc.want)); err != nil {
				t.Errorf("%s:\n%v", tc.reason, err)
			}
		})
	}
}

// TestStateGaugesFailScrapeOnListError checks that a cache read that fails makes the scrape fail,
// naming the list, instead of serving a scrape without the series the alerts watch.
func TestStateGaugesFailScrapeOnListError(t *testing.T) {
	cases := []struct {
		list   client.ObjectList
		want   string
		reason string
	}{
		{&v1.PaymentOrderList{}, "listing PaymentOrders", "without orders the order gauges would vanish and their alerts go quiet"},
		{&v1.PaymentRefundList{}, "listing PaymentRefunds", "the refunds gauge is read from its own list"},
		{&v1.PaymentProviderList{}, "listing PaymentProviders", "without providers KubepayProviderNotReady could never fire"},
	}
	for _, tc := range cases {
		t.Run(tc.want, func(t *testing.T) {
			failing := tc.list
			c := fake.NewClientBuilder().WithScheme(scheme.New()).WithInterceptorFuncs(interceptor.Funcs{
				List: func(ctx context.Context, c client.WithWatch, list client.ObjectList, opts ...client.ListOption) error {
					if reflect.TypeOf(list) == reflect.TypeOf(failing) {
						return errors.New("cache not started")
					}
					return c.List(ctx, list, opts...)
				},
			}).Build()
			reg := prometheus.NewPedanticRegistry()
			reg.MustRegister(metrics.NewState(c, nil))
			_, err := reg.Gather()
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "cache not started") {
				t.Errorf("%s: gathering with a failing %T: got error %v, want one containing %q and the cause", tc.reason, tc.list, err, tc.want)
			}
		})
	}
}
