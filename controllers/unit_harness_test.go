package controllers_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	v1 "github.com/kubepay/kubepay/api/v1alpha1"
	"github.com/kubepay/kubepay/controllers"
	"github.com/kubepay/kubepay/internal/resolver"
	"github.com/kubepay/kubepay/internal/scheme"
	"github.com/kubepay/kubepay/providers"
)

// The unit harness runs the PaymentOrder reconciler on the fake client with a fixed clock and a
// provider double: it proves decisions, branch by branch. That the decisions work against a real
// API server and gateway is proven by the envtest tests beside it.

var (
	t0        = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	expiresAt = t0.Add(30 * time.Minute)
)

const (
	testUID      = types.UID("0f3c2a9e-1111-4b2a-9c3d-5e6f7a8b9c0d")
	testOTN      = "0f3c2a9e11114b2a9c3d5e6f7a8b9c0d"
	testPayment  = "pay_123"
	testCheckout = "https://gw.example/checkout/pay_123"
)

// stubResolver answers every Resolve with the same provider or error.
type stubResolver struct {
	rp  *resolver.Resolved
	err error
}

func (s stubResolver) Resolve(context.Context, string, string) (*resolver.Resolved, error) {
	return s.rp, s.err
}

func (s stubResolver) ResolveForClose(context.Context, string, string) (*resolver.Resolved, error) {
	return s.rp, s.err
}

// harness is one reconciler on one order.
type harness struct {
	t     *testing.T
	now   time.Time
	c     client.Client
	rec   *events.FakeRecorder
	r     *controllers.PaymentOrderReconciler
	calls []string
	key   client.ObjectKey
	// pp is the PaymentProvider the resolver answers with (tests may change its spec).
	pp *v1.PaymentProvider
}

// newHarness stores order in a fake client and wires a reconciler to prov (resolveErr, when set,
// is what resolving the provider answers instead).
func newHarness(t *testing.T, order *v1.PaymentOrder, prov *providers.ProviderFns, resolveErr error) *harness {
	t.Helper()
	h := &harness{t: t, now: t0.Add(time.Minute), rec: events.NewFakeRecorder(100), key: client.ObjectKeyFromObject(order)}
	h.c = fake.NewClientBuilder().WithScheme(scheme.New()).WithObjects(order).WithStatusSubresource(&v1.PaymentOrder{}).Build()
	pp := &v1.PaymentProvider{
		ObjectMeta: metav1.ObjectMeta{Namespace: order.Namespace, Name: order.Spec.ProviderRef.Name},
		Spec: v1.PaymentProviderSpec{Type: v1.ProviderSandbox, CallbackBaseURL: "https://pay.example",
			Query: &v1.QuerySettings{InitialInterval: &metav1.Duration{Duration: 30 * time.Second}}},
	}
	res := stubResolver{rp: &resolver.Resolved{Spec: pp, Provider: h.record(prov)}, err: resolveErr}
	h.pp = pp
	h.r = &controllers.PaymentOrderReconciler{Client: h.c, APIReader: h.c, Resolver: res, Recorder: h.rec, Now: func() time.Time { return h.now }}
	return h
}

// record wraps the double so every call is listed in h.calls, e.g. "create OTN", "close OTN pay_1".
func (h *harness) record(p *providers.ProviderFns) *providers.ProviderFns {
	return &providers.ProviderFns{
		CreateFn: func(ctx context.Context, o providers.Order) (providers.Payment, error) {
			h.calls = append(h.calls, "create "+o.OutTradeNo)
			return p.Create(ctx, o)
		},
		QueryFn: func(ctx context.Context, otn, id string) (providers.Payment, error) {
			h.calls = append(h.calls, "query "+otn)
			return p.Query(ctx, otn, id)
		},
		CloseFn: func(ctx context.Context, otn, id string) error {
			h.calls = append(h.calls, "close "+otn)
			return p.Close(ctx, otn, id)
		},
	}
}

// claim stores the Lease that claims otn at the test provider for the order with uid, as the
// controller would have created it.
func (h *harness) claim(otn, uid string) {
	h.t.Helper()
	l := &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Namespace: h.key.Namespace, Name: controllers.ClaimName(h.pp.Name, otn),
			Annotations: map[string]string{v1.AnnotationClaimOrder: "holder", v1.AnnotationOutTradeNo: otn}},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: &uid},
	}
	if err := h.c.Create(context.Background(), l); err != nil {
		h.t.Fatal(err)
	}
}

// reconcile runs one Reconcile at the harness clock.
func (h *harness) reconcile() (ctrl.Result, error) {
	h.t.Helper()
	return h.r.Reconcile(context.Background(), ctrl.Request{NamespacedName: h.key})
}

// order reads the order back; nil when it is gone.
func (h *harness) order() *v1.PaymentOrder {
	h.t.Helper()
	o := &v1.PaymentOrder{}
	if err := h.c.Get(context.Background(), h.key, o); err != nil {
		if client.IgnoreNotFound(err) == nil {
			return nil
		}
		h.t.Fatal(err)
	}
	return o
}

// events drains the recorded Events ("Normal Reason message").
func (h *harness) events() []string {
	var out []string
	for {
		select {
		case e := <-h.rec.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}

// testOrder is an order in phase p as the controller would have left it, with its finalizer.
func testOrder(p v1.Phase) *v1.PaymentOrder {
	o := &v1.PaymentOrder{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: "shop", Name: "coffee", UID: testUID, Generation: 1,
			CreationTimestamp: metav1.NewTime(t0), Finalizers: []string{v1.Finalizer},
		},
		Spec: v1.PaymentOrderSpec{
			ProviderRef: v1.ProviderReference{Name: "sandbox"}, Amount: "10.00", Currency: "CNY",
			Channel: "sandbox", Subject: "coffee", ExpiresAfter: &metav1.Duration{Duration: 30 * time.Minute},
		},
	}
	if p == "" {
		return o
	}
	exp := metav1.NewTime(expiresAt)
	o.Status = v1.PaymentOrderStatus{Phase: p, OutTradeNo: testOTN, AmountMinor: 1000, ExpiresAt: &exp, ObservedGeneration: 1}
	if p != v1.PhasePending {
		o.Status.ProviderPaymentID, o.Status.PaymentURL = testPayment, testCheckout
	}
	return o
}

// payment is the provider's answer about the test order's payment.
func payment(status providers.PaymentStatus) providers.Payment {
	return providers.Payment{ID: testPayment, OutTradeNo: testOTN, Status: status, AmountMinor: 1000, Currency: "CNY", PaymentURL: testCheckout}
}

func queryAnswers(p providers.Payment, err error) func(context.Context, string, string) (providers.Payment, error) {
	return func(context.Context, string, string) (providers.Payment, error) { return p, err }
}

func closeAnswers(err error) func(context.Context, string, string) error {
	return func(context.Context, string, string) error { return err }
}

var errGatewayDown = providers.Retryable("query", "503", errors.New("gateway down"))

// lastReasons is the reasons of the order's history, oldest first.
func lastReasons(o *v1.PaymentOrder) string {
	var rs []string
	for _, h := range o.Status.History {
		rs = append(rs, h.Reason)
	}
	return strings.Join(rs, ",")
}
