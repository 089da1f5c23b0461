package controllers_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"

	v1 "github.com/kubepay/kubepay/api/v1alpha1"
	"github.com/kubepay/kubepay/internal/resolver"
	"github.com/kubepay/kubepay/providers"
)

// TestSyncDecisions is every branch of create, poll and expire: the order as the reconcile found
// it, what the provider answers, and what the order must become.
func TestSyncDecisions(t *testing.T) {
	created := func(context.Context, providers.Order) (providers.Payment, error) {
		return payment(providers.StatusOpen), nil
	}
	tests := []struct {
		name  string
		why   string
		order *v1.PaymentOrder
		prov  providers.ProviderFns
		// resolveErr is what resolving the PaymentProvider answers.
		resolveErr error
		// at is the clock of the (last) reconcile; pollFirst runs one reconcile at t0+1m before it,
		// so the query schedule exists and is due by at.
		at        time.Time
		pollFirst bool

		wantPhase     v1.Phase
		wantCalls     string
		wantReasons   string // history reasons, "" to skip
		wantCondition string // Ready's reason
		wantEvent     string // a substring of one Event, "" for none expected
		wantErr       bool
	}{
		{name: "new order without finalizer", why: "the finalizer comes first, so no payment exists that a delete could forget",
			order:     func() *v1.PaymentOrder { o := testOrder(""); o.Finalizers = nil; return o }(),
			wantPhase: "", wantCalls: ""},
		{name: "new order is created", why: "the payment is created with the order's out_trade_no as idempotency key and the checkout URL recorded",
			order: testOrder(""), prov: providers.ProviderFns{CreateFn: created},
			wantPhase: v1.PhaseAwaitingPayment, wantCalls: "create " + testOTN,
			wantReasons: "Creating,AwaitingPayment", wantCondition: v1.ReasonAwaitingPayment,
			wantEvent: "Normal AwaitingPayment (new) -> Pending -> AwaitingPayment"},
		{name: "replayed create finds it paid", why: "after a lost status write the same key returns the settled payment: Paid, never a second payment",
			order: testOrder(v1.PhasePending),
			prov: providers.ProviderFns{CreateFn: func(context.Context, providers.Order) (providers.Payment, error) {
				return payment(providers.StatusSucceeded), nil
			}},
			wantPhase: v1.PhasePaid, wantCalls: "create " + testOTN, wantReasons: "AwaitingPayment,Paid"},
		{name: "create fails retryably", why: "a provider outage is waited out with backoff; the order does not fail",
			order: testOrder(v1.PhasePending),
			prov: providers.ProviderFns{CreateFn: func(context.Context, providers.Order) (providers.Payment, error) {
				return providers.Payment{}, providers.Retryable("create", "503", errors.New("unavailable"))
			}},
			wantPhase: v1.PhasePending, wantCalls: "create " + testOTN, wantCondition: v1.ReasonProviderError,
			wantEvent: "Warning ProviderError", wantErr: true},
		{name: "create refused: credentials", why: "a provider refusing the credentials is the account's problem: the order waits for the Secret to be fixed, it does not fail",
			order: testOrder(v1.PhasePending),
			prov: providers.ProviderFns{CreateFn: func(context.Context, providers.Order) (providers.Payment, error) {
				return providers.Payment{}, providers.Terminal("create", "401", fmt.Errorf("%w: key revoked", providers.ErrCredentials))
			}},
			wantPhase: v1.PhasePending, wantCalls: "create " + testOTN, wantCondition: v1.ReasonCredentialsInvalid,
			wantEvent: "Warning CredentialsInvalid", wantErr: true},
		{name: "create refused terminally", why: "a refusal that retrying cannot fix fails the order with the provider's reason",
			order: testOrder(v1.PhasePending),
			prov: providers.ProviderFns{CreateFn: func(context.Context, providers.Order) (providers.Payment, error) {
				return providers.Payment{}, providers.Terminal("create", "idempotency_conflict", errors.New("key reused"))
			}},
			wantPhase: v1.PhaseFailed, wantCalls: "create " + testOTN, wantReasons: v1.ReasonProviderRejected,
			wantCondition: v1.ReasonProviderRejected, wantEvent: "Warning ProviderRejected"},
		{name: "provider missing", why: "an order may be applied before its provider; it waits uninitialised (the out_trade_no depends on the provider's prefix), and the provider watch brings it back",
			order: testOrder(""), resolveErr: fmt.Errorf("%w: shop/sandbox", resolver.ErrProviderNotFound),
			wantPhase: "", wantCalls: "", wantCondition: v1.ReasonProviderNotFound,
			wantEvent: "Warning ProviderNotFound", wantErr: true},
		{name: "credentials missing", why: "a missing or unlabelled Secret is a credentials problem, waited out like a missing provider",
			order: testOrder(v1.PhasePending), resolveErr: fmt.Errorf("%w: Secret shop/creds", resolver.ErrSecretNotFound),
			wantPhase: v1.PhasePending, wantCalls: "", wantCondition: v1.ReasonCredentialsInvalid, wantErr: true},
		{name: "amount cannot be converted", why: "an amount the CRD should have refused stops before any provider call",
			order:     func() *v1.PaymentOrder { o := testOrder(""); o.Spec.Amount = "1.234"; return o }(),
			wantPhase: "", wantCalls: "", wantCondition: v1.ReasonInvalidAmount},
		{name: "poll not due yet", why: "the first query waits one initial interval, so a restart does not query every open order at once",
			order:     testOrder(v1.PhaseAwaitingPayment),
			wantPhase: v1.PhaseAwaitingPayment, wantCalls: ""},
		{name: "poll finds it paid", why: "a lost notification is caught by the query: Paid, by source query",
			order: testOrder(v1.PhaseAwaitingPayment), pollFirst: true, at: t0.Add(5 * time.Minute),
			prov:      providers.ProviderFns{QueryFn: queryAnswers(payment(providers.StatusSucceeded), nil)},
			wantPhase: v1.PhasePaid, wantCalls: "query " + testOTN, wantReasons: v1.ReasonPaid,
			wantEvent: "Normal Paid AwaitingPayment -> Paid (source query"},
		{name: "poll finds another amount paid", why: "a provider record that disagrees with the order never settles it",
			order: testOrder(v1.PhaseAwaitingPayment), pollFirst: true, at: t0.Add(5 * time.Minute),
			prov: providers.ProviderFns{QueryFn: queryAnswers(func() providers.Payment {
				p := payment(providers.StatusSucceeded)
				p.AmountMinor = 1
				return p
			}(), nil)},
			wantPhase: v1.PhaseAwaitingPayment, wantCalls: "query " + testOTN, wantEvent: "Warning NotificationRejected"},
		{name: "poll finds it failed", why: "the customer's payment failed at the provider",
			order: testOrder(v1.PhaseAwaitingPayment), pollFirst: true, at: t0.Add(5 * time.Minute),
			prov:      providers.ProviderFns{QueryFn: queryAnswers(payment(providers.StatusFailed), nil)},
			wantPhase: v1.PhaseFailed, wantCalls: "query " + testOTN, wantReasons: v1.ReasonFailed},
		{name: "poll finds it closed before expiry", why: "closed elsewhere before expiresAt is a cancellation, not an expiry",
			order: testOrder(v1.PhaseAwaitingPayment), pollFirst: true, at: t0.Add(5 * time.Minute),
			prov:      providers.ProviderFns{QueryFn: queryAnswers(payment(providers.StatusClosed), nil)},
			wantPhase: v1.PhaseCancelled, wantCalls: "query " + testOTN, wantReasons: v1.ReasonCancelled},
		{name: "poll query fails", why: "a failed query changes nothing; the schedule tries again later",
			order: testOrder(v1.PhaseAwaitingPayment), pollFirst: true, at: t0.Add(5 * time.Minute),
			prov:      providers.ProviderFns{QueryFn: queryAnswers(providers.Payment{}, errGatewayDown)},
			wantPhase: v1.PhaseAwaitingPayment, wantCalls: "query " + testOTN},
		{name: "expiry closes an open payment", why: "at expiresAt one last query, then close, then Expired",
			order: testOrder(v1.PhaseAwaitingPayment), at: expiresAt,
			prov:      providers.ProviderFns{QueryFn: queryAnswers(payment(providers.StatusOpen), nil), CloseFn: closeAnswers(nil)},
			wantPhase: v1.PhaseExpired, wantCalls: "query " + testOTN + ";close " + testOTN, wantReasons: v1.ReasonExpired,
			wantEvent: "Normal Expired AwaitingPayment -> Expired"},
		{name: "expiry finds it paid", why: "a payment that succeeded just before expiry is Paid, never Expired",
			order: testOrder(v1.PhaseAwaitingPayment), at: expiresAt,
			prov:      providers.ProviderFns{QueryFn: queryAnswers(payment(providers.StatusSucceeded), nil)},
			wantPhase: v1.PhasePaid, wantCalls: "query " + testOTN},
		{name: "expiry of a payment never created", why: "nothing at the provider is nothing to pay; the close is still sent, and its not-found is success",
			order: testOrder(v1.PhasePending), at: expiresAt,
			prov: providers.ProviderFns{QueryFn: queryAnswers(providers.Payment{}, providers.ErrNotFound),
				CloseFn: closeAnswers(providers.ErrNotFound)},
			wantPhase: v1.PhaseExpired, wantCalls: "query " + testOTN + ";close " + testOTN},
		{name: "expiry of a link nobody opened", why: "Alipay page/wap: no trade to close, and the link dies at the expiry kubepay gave it: Expired, not retried forever",
			order: testOrder(v1.PhaseAwaitingPayment), at: expiresAt,
			prov: providers.ProviderFns{QueryFn: queryAnswers(providers.Payment{}, providers.ErrNotFound),
				CloseFn: closeAnswers(providers.ErrPayableUntilExpiry)},
			wantPhase: v1.PhaseExpired, wantCalls: "query " + testOTN + ";close " + testOTN, wantReasons: v1.ReasonExpired},
		{name: "expiry close finds it paid", why: "paid between the last query and the close: retry, so the next query makes it Paid",
			order: testOrder(v1.PhaseAwaitingPayment), at: expiresAt,
			prov: providers.ProviderFns{QueryFn: queryAnswers(payment(providers.StatusOpen), nil),
				CloseFn: closeAnswers(providers.ErrAlreadyPaid)},
			wantPhase: v1.PhaseAwaitingPayment, wantCalls: "query " + testOTN + ";close " + testOTN, wantErr: true},
		{name: "expiry query fails", why: "without the last query an expiry could hide a payment; retry",
			order: testOrder(v1.PhaseAwaitingPayment), at: expiresAt,
			prov:      providers.ProviderFns{QueryFn: queryAnswers(providers.Payment{}, errGatewayDown)},
			wantPhase: v1.PhaseAwaitingPayment, wantCalls: "query " + testOTN, wantCondition: v1.ReasonProviderError, wantErr: true},
		{name: "settled order", why: "a terminal order costs no provider call",
			order: testOrder(v1.PhasePaid), at: expiresAt.Add(time.Hour),
			wantPhase: v1.PhasePaid, wantCalls: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prov := tt.prov
			h := newHarness(t, tt.order, &prov, tt.resolveErr)
			if tt.pollFirst {
				if _, err := h.reconcile(); err != nil {
					t.Fatalf("first reconcile: %v", err)
				}
				h.events()
			}
			if !tt.at.IsZero() {
				h.now = tt.at
			}
			res, err := h.reconcile()
			if (err != nil) != tt.wantErr {
				t.Fatalf("%s: reconcile error %v, want error %v", tt.why, err, tt.wantErr)
			}
			o := h.order()
			if o.Status.Phase != tt.wantPhase {
				t.Errorf("%s: phase %q, want %q (history %+v)", tt.why, o.Status.Phase, tt.wantPhase, o.Status.History)
			}
			if got := strings.Join(h.calls, ";"); got != tt.wantCalls {
				t.Errorf("%s: provider calls %q, want %q", tt.why, got, tt.wantCalls)
			}
			if tt.wantReasons != "" && !strings.HasSuffix(lastReasons(o), tt.wantReasons) {
				t.Errorf("%s: history reasons %q, want them to end with %q", tt.why, lastReasons(o), tt.wantReasons)
			}
			if tt.wantCondition != "" {
				if c := meta.FindStatusCondition(o.Status.Conditions, v1.ConditionReady); c == nil || c.Reason != tt.wantCondition {
					t.Errorf("%s: Ready condition %+v, want reason %s", tt.why, c, tt.wantCondition)
				}
			}
			evs := h.events()
			if tt.wantEvent != "" && !containsPrefix(evs, tt.wantEvent) {
				t.Errorf("%s: Events %q, want one starting %q", tt.why, evs, tt.wantEvent)
			}
			if !o.Status.Phase.Terminal() && o.Status.Phase != "" && !tt.wantErr && res.RequeueAfter <= 0 {
				t.Errorf("%s: an open order must come back (requeue), got %+v", tt.why, res)
			}
		})
	}
}

// TestCreateSendsTheOrder: the provider gets the order as the spec says, with the metadata that
// leads a payment in the provider's dashboard back to its object.
func TestCreateSendsTheOrder(t *testing.T) {
	var got providers.Order
	h := newHarness(t, testOrder(""), &providers.ProviderFns{CreateFn: func(_ context.Context, o providers.Order) (providers.Payment, error) {
		got = o
		return payment(providers.StatusOpen), nil
	}}, nil)
	if _, err := h.reconcile(); err != nil {
		t.Fatal(err)
	}
	want := providers.Order{Namespace: "shop", Name: "coffee", OutTradeNo: testOTN, AmountMinor: 1000, Amount: "10.00",
		Currency: "CNY", Channel: "sandbox", Subject: "coffee", NotifyURL: "https://pay.example/notify/shop/sandbox", ExpiresAt: expiresAt}
	if got.OutTradeNo != want.OutTradeNo || got.AmountMinor != want.AmountMinor || got.Amount != want.Amount ||
		got.NotifyURL != want.NotifyURL || !got.ExpiresAt.Equal(want.ExpiresAt) || got.Channel != want.Channel {
		t.Errorf("create got %+v, want %+v", got, want)
	}
	if got.Metadata[v1.MetadataNamespace] != "shop" || got.Metadata[v1.MetadataName] != "coffee" {
		t.Errorf("create metadata %v lacks the object's namespace and name", got.Metadata)
	}
}

func containsPrefix(list []string, prefix string) bool {
	for _, s := range list {
		if strings.HasPrefix(s, prefix) {
			return true
		}
	}
	return false
}

// TestInitializeClaimsTheOutTradeNo: the out_trade_no is claimed before any provider call, and an
// order that cannot have it fails at once without touching any payment.
func TestInitializeClaimsTheOutTradeNo(t *testing.T) {
	created := func(context.Context, providers.Order) (providers.Payment, error) {
		return payment(providers.StatusOpen), nil
	}
	tests := []struct {
		name       string
		why        string
		prefix     string
		orderID    string
		claimedBy  string
		wantPhase  v1.Phase
		wantReason string
		wantCalls  string
	}{
		{name: "free", why: "the first order with an out_trade_no claims it and creates its payment",
			wantPhase: v1.PhaseAwaitingPayment, wantCalls: "create " + testOTN},
		{name: "claimed by itself", why: "a claim left by this order's earlier reconcile (crash before the status write) is its own",
			claimedBy: string(testUID), wantPhase: v1.PhaseAwaitingPayment, wantCalls: "create " + testOTN},
		{name: "claimed by another order", why: "two orders with one orderID: the second fails before any provider call and never learns the first one's payment",
			claimedBy: "first-order-uid", wantPhase: v1.PhaseFailed, wantReason: v1.ReasonDuplicateOrderID, wantCalls: ""},
		{name: "too long with the prefix", why: "prefix and orderID past 32 characters would be refused or cut by a provider",
			prefix: "shop_namespace_a", orderID: "ORDER-0000000000000000001", wantPhase: v1.PhaseFailed, wantReason: v1.ReasonInvalidOrderID, wantCalls: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := testOrder("")
			o.Spec.OrderID = tt.orderID
			h := newHarness(t, o, &providers.ProviderFns{CreateFn: created}, nil)
			h.pp.Spec.OutTradeNoPrefix = tt.prefix
			if tt.claimedBy != "" {
				h.claim(testOTN, tt.claimedBy)
			}
			if _, err := h.reconcile(); err != nil {
				t.Fatalf("%s: %v", tt.why, err)
			}
			got := h.order()
			if got.Status.Phase != tt.wantPhase {
				t.Fatalf("%s: phase %q, want %q (history %+v)", tt.why, got.Status.Phase, tt.wantPhase, got.Status.History)
			}
			if c := strings.Join(h.calls, ";"); c != tt.wantCalls {
				t.Errorf("%s: provider calls %q, want %q", tt.why, c, tt.wantCalls)
			}
			if tt.wantReason != "" {
				if !strings.HasSuffix(lastReasons(got), tt.wantReason) || got.Status.OutTradeNo != "" {
					t.Errorf("%s: history %q and outTradeNo %q; want reason %s and no outTradeNo (notifications must keep finding the holder alone)",
						tt.why, lastReasons(got), got.Status.OutTradeNo, tt.wantReason)
				}
				return
			}
			holder, err := h.r.ClaimHolderForTest(context.Background(), got, testOTN)
			if err != nil || holder != string(testUID) {
				t.Errorf("%s: claim held by %q (err %v), want this order", tt.why, holder, err)
			}
		})
	}
}
