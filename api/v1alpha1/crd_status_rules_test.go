package v1alpha1_test

import (
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/kubepay/kubepay/api/v1alpha1"
	"github.com/kubepay/kubepay/internal/testenv"
)

// paidOrder creates an order and writes a Paid status with a late payment on it.
func paidOrder(t *testing.T, ns, name string, phase v1.Phase) *v1.PaymentOrder {
	t.Helper()
	o := validOrder(ns, name)
	if err := env.Client.Create(t.Context(), o); err != nil {
		t.Fatal(err)
	}
	at := metav1.NewTime(time.Now().Truncate(time.Second))
	o.Status = v1.PaymentOrderStatus{Phase: phase, PaidAt: &at, OutTradeNo: "OTN-" + name,
		LatePayments: []v1.LatePayment{{ID: "txn_late", Amount: "9.99", AmountMinor: 999, ReceivedAt: at, Source: v1.SourceNotification, Phase: v1.PhaseExpired}}}
	if phase != v1.PhasePaid {
		o.Status.PaidAt = nil
	}
	if err := env.Client.Status().Update(t.Context(), o); err != nil {
		t.Fatalf("setting the initial status: %v", err)
	}
	return o
}

// TestStatusRulesHoldWhenStatusIsOmitted: a status update whose body has no status at all used
// to skip the rules that live on status, erasing a Paid order. Each write below is refused by the
// real API server and changes nothing.
func TestStatusRulesHoldWhenStatusIsOmitted(t *testing.T) {
	ns := env.Namespace(t)
	tests := []struct {
		name      string
		why       string
		phase     v1.Phase
		edit      func(u *unstructured.Unstructured)
		wantField string
	}{
		{"status removed from a Paid order", "the exact update the rules missed: no status key in the body",
			v1.PhasePaid, func(u *unstructured.Unstructured) { delete(u.Object, "status") }, "status.phase"},
		{"status emptied on a Paid order", "an empty status is no phase and no paidAt",
			v1.PhasePaid, func(u *unstructured.Unstructured) { u.Object["status"] = map[string]any{} }, "status.phase"},
		{"late payments dropped", "a late payment is the durable record of money to refund; it is never removed",
			v1.PhaseExpired, func(u *unstructured.Unstructured) { unstructured.RemoveNestedField(u.Object, "status", "latePayments") }, "status.latePayments"},
		{"late payment amount changed", "the record of the money cannot be rewritten either",
			v1.PhaseExpired, func(u *unstructured.Unstructured) {
				lps, _, _ := unstructured.NestedSlice(u.Object, "status", "latePayments")
				lps[0].(map[string]any)["amountMinor"] = int64(1)
				_ = unstructured.SetNestedSlice(u.Object, lps, "status", "latePayments")
			}, "status.latePayments"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := paidOrder(t, ns, "rules-"+string(rune('a'+i)), tt.phase)
			u := &unstructured.Unstructured{}
			u.SetGroupVersionKind(v1.GroupVersion.WithKind("PaymentOrder"))
			if err := env.Client.Get(t.Context(), client.ObjectKeyFromObject(o), u); err != nil {
				t.Fatal(err)
			}
			tt.edit(u)
			err := env.Client.Status().Update(t.Context(), u)
			if err == nil || !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), tt.wantField) {
				t.Fatalf("%s: want a refusal naming %s, got %v", tt.why, tt.wantField, err)
			}
			got := &v1.PaymentOrder{}
			if err := env.Client.Get(t.Context(), client.ObjectKeyFromObject(o), got); err != nil {
				t.Fatal(err)
			}
			if got.Status.Phase != tt.phase || len(got.Status.LatePayments) != 1 || got.Status.LatePayments[0].AmountMinor != 999 {
				t.Fatalf("the refused write changed the order: phase %q, late payments %+v", got.Status.Phase, got.Status.LatePayments)
			}
		})
	}
}

// TestNewSpecRules: the fields the providers' protocols need are checked by the API server.
func TestNewSpecRules(t *testing.T) {
	ns := env.Namespace(t)
	tests := []struct {
		name      string
		why       string
		mutate    func(*v1.PaymentOrder)
		wantField string
	}{
		{"h5 without the payer's IP", "WeChat Pay refuses an h5 payment without scene_info.payer_client_ip",
			func(o *v1.PaymentOrder) { o.Spec.Channel = "wechat_h5" }, "spec.payerClientIP"},
		{"h5 with the payer's IP", "the documented way to take an h5 payment",
			func(o *v1.PaymentOrder) { o.Spec.Channel, o.Spec.PayerClientIP = "wechat_h5", "203.0.113.7" }, ""},
		{"IPv6 payer", "payers on IPv6 are as real as any",
			func(o *v1.PaymentOrder) { o.Spec.Channel, o.Spec.PayerClientIP = "wechat_h5", "2001:db8::7" }, ""},
		{"not an IP", "a hostname or a typo would be sent to the provider as the payer's address",
			func(o *v1.PaymentOrder) { o.Spec.Channel, o.Spec.PayerClientIP = "wechat_h5", "shop.example" }, "spec.payerClientIP"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := validOrder(ns, "spec-"+string(rune('a'+i)))
			tt.mutate(o)
			err := env.Client.Create(t.Context(), o)
			if tt.wantField == "" {
				if err != nil {
					t.Fatalf("%s: refused: %v", tt.why, err)
				}
				return
			}
			if err == nil || !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), tt.wantField) {
				t.Fatalf("%s: want a refusal naming %s, got %v", tt.why, tt.wantField, err)
			}
		})
	}
}

// TestOutTradeNoPrefixIsFixed: payments already created are known by their prefixed number, so
// the prefix cannot be added, changed or removed afterwards.
func TestOutTradeNoPrefixIsFixed(t *testing.T) {
	ns := env.Namespace(t)
	tests := []struct {
		name  string
		why   string
		from  string
		to    string
		allow bool
	}{
		{"added", "orders created without it would no longer be found by their number", "", "shopA_", false},
		{"changed", "the same, for every order created with the old one", "shopA_", "shopB_", false},
		{"removed", "the same, the other way round", "shopA_", "", false},
		{"kept", "an unrelated edit of the provider stays possible", "shopA_", "shopA_", true},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &v1.PaymentProvider{
				ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "prefix-" + string(rune('a'+i))},
				Spec: v1.PaymentProviderSpec{Type: v1.ProviderSandbox, CredentialsSecretRef: v1.LocalObjectReference{Name: "x"},
					OutTradeNoPrefix: tt.from},
			}
			if err := env.Client.Create(t.Context(), p); err != nil {
				t.Fatal(err)
			}
			p.Spec.OutTradeNoPrefix = tt.to
			p.Spec.AppID = "edited"
			err := env.Client.Update(t.Context(), p)
			if tt.allow != (err == nil) {
				t.Fatalf("%s: update error %v, want allowed=%v", tt.why, err, tt.allow)
			}
			if err != nil && !strings.Contains(err.Error(), "outTradeNoPrefix") {
				t.Fatalf("refusal does not name outTradeNoPrefix: %v", err)
			}
		})
	}
}

// TestLateColumn: `kubectl get pord` shows late money next to the phase.
func TestLateColumn(t *testing.T) {
	ns := env.Namespace(t)
	paidOrder(t, ns, "late-shown", v1.PhaseExpired)
	kubectl := env.AdminKubectl(t, "late-column")
	stdout, stderr, err := kubectl.Run("get", "pord", "-n", ns)
	if err != nil {
		t.Fatalf("kubectl get pord: %v\n%s", err, readAll(stderr))
	}
	out := readAll(stdout)
	if !strings.Contains(out, "LATE") || !strings.Contains(out, "Expired") || !strings.Contains(out, "9.99") {
		t.Fatalf("kubectl get pord does not show the late payment:\n%s", out)
	}
}

// TestExpiresAfterBounds: the expiry a provider is given is a real duration within what the
// providers take.
func TestExpiresAfterBounds(t *testing.T) {
	ns := env.Namespace(t)
	tests := []struct {
		value string
		why   string
		ok    bool
	}{
		{"30m", "the default, written out", true},
		{"90s", "seconds are fine for short checkouts (and tests)", true},
		{"168h", "the longest kubepay accepts", true},
		{"0s", "an order that is expired at creation cannot be paid", false},
		{"200h", "longer than any provider keeps a payment open", false},
		{"soon", "not a duration", false},
	}
	for i, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			// Unstructured, so an invalid duration reaches the API server as written.
			raw := map[string]any{}
			u := &unstructured.Unstructured{}
			u.SetGroupVersionKind(v1.GroupVersion.WithKind("PaymentOrder"))
			u.SetNamespace(ns)
			u.SetName("exp-" + string(rune('a'+i)))
			raw["providerRef"] = map[string]any{"name": "sandbox"}
			raw["amount"], raw["currency"], raw["channel"], raw["subject"], raw["expiresAfter"] = "1.00", "CNY", "sandbox", "s", tt.value
			u.Object["spec"] = raw
			err := env.Client.Create(t.Context(), u)
			if tt.ok != (err == nil) {
				t.Fatalf("%s: expiresAfter %q: create error %v, want accepted=%v", tt.why, tt.value, err, tt.ok)
			}
			if err != nil && !strings.Contains(err.Error(), "expiresAfter") {
				t.Fatalf("refusal does not name expiresAfter: %v", err)
			}
		})
	}
}

// TestKubectlExplainDescribesFields: `kubectl explain` answers what a platform team asks first.
func TestKubectlExplainDescribesFields(t *testing.T) {
	testenv.SkipIfShort(t)
	kubectl := env.AdminKubectl(t, "explainer")
	tests := []struct {
		field string
		why   string
		want  []string
	}{
		{"paymentorder.spec.channel", "which channel goes with which provider", []string{"Stripe", "alipay_page", "wechat_h5", "payerClientIP"}},
		{"paymentorder.spec.expiresAfter", "the format and bounds of expiresAfter", []string{"30m", "168h", "Stripe"}},
		{"paymentorder.spec.payerClientIP", "the field h5 needs", []string{"h5"}},
		{"paymentorder.spec.providerRef.kind", "how to name a shared account", []string{"ClusterPaymentProvider"}},
		{"paymentorder.status.latePayments", "where money nobody wanted is recorded", []string{"refunded"}},
		{"paymentrefund.spec.amount", "what a refund may give back", []string{"exceed"}},
		{"clusterpaymentprovider.spec.credentialsSecretRef", "where a shared account's Secret lives", []string{"manager's namespace"}},
		{"paymentprovider.spec.latePayments", "what happens to late money", []string{"Refund", "Record"}},
	}
	for _, tt := range tests {
		t.Run(tt.field, func(t *testing.T) {
			stdout, stderr, err := kubectl.Run("explain", tt.field)
			if err != nil {
				t.Fatalf("kubectl explain %s: %v\n%s", tt.field, err, readAll(stderr))
			}
			out := readAll(stdout)
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("%s: kubectl explain %s does not mention %q:\n%s", tt.why, tt.field, w, out)
				}
			}
		})
	}
}
