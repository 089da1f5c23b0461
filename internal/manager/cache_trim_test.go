package manager

import (
	"encoding/json"
	"fmt"
	"testing"
	"unsafe"

	"k8s.io/apimachinery/pkg/api/equality"

	v1 "github.com/kubepay/kubepay/api/v1alpha1"
)

// awaitingOrder is an order as the controller leaves it at AwaitingPayment (from make bench),
// with a managed-fields entry and kubectl's last-applied copy.
const awaitingOrder = `{"metadata":{"name":"%s","namespace":"shop","uid":"%s","resourceVersion":"24473","generation":1,
"finalizers":["kubepay.io/finalizer"],"annotations":{"kubectl.kubernetes.io/last-applied-configuration":"{}","team":"payments"},
"managedFields":[{"manager":"kubectl","operation":"Update","apiVersion":"kubepay.io/v1alpha1"}]},
"spec":{"providerRef":{"kind":"PaymentProvider","name":"sandbox"},"amount":"10.00","currency":"CNY","channel":"sandbox","subject":"bench","expiresAfter":"1h0m0s"},
"status":{"phase":"AwaitingPayment","outTradeNo":"%s","providerPaymentID":"pay_%s","paymentURL":"http://127.0.0.1/checkout/pay_%s","amountMinor":1000,
"expiresAt":"2026-12-03T16:42:20Z","history":[{"time":"2026-12-03T15:42:20Z","to":"Pending","source":"controller","reason":"Creating"},
{"time":"2026-12-03T15:42:20Z","from":"Pending","to":"AwaitingPayment","source":"controller","reason":"AwaitingPayment"}],"observedGeneration":1,
"conditions":[{"type":"Ready","status":"True","observedGeneration":1,"lastTransitionTime":"2026-12-03T15:42:20Z","reason":"AwaitingPayment","message":"payment created at the provider; the customer pays at status.paymentURL"},
{"type":"Settled","status":"False","observedGeneration":1,"lastTransitionTime":"2026-12-03T15:42:20Z","reason":"Open","message":"the order can still be paid"}]}}`

func decodeOrder(t *testing.T, name, id string) *v1.PaymentOrder {
	t.Helper()
	o := &v1.PaymentOrder{}
	raw := []byte(fmt.Sprintf(awaitingOrder, name, id, id, id, id))
	if err := json.Unmarshal(raw, o); err != nil {
		t.Fatal(err)
	}
	return o
}

func same[S ~string](a, b S) bool {
	return len(a) > 0 && unsafe.StringData(string(a)) == unsafe.StringData(string(b))
}

// TestTrimForCacheSharesOrdersRepeatedStrings: two cached orders decoded apart hold their common
// strings (namespace, provider, phase, reasons, messages) in one copy, hold their own values
// apart, and keep every value: only managed fields and kubectl's last-applied copy go.
func TestTrimForCacheSharesOrdersRepeatedStrings(t *testing.T) {
	a, b := decodeOrder(t, "order-1", "0a1b"), decodeOrder(t, "order-2", "2c3d")
	want := a.DeepCopy()
	want.ManagedFields = nil
	want.Annotations = map[string]string{"team": "payments"}
	for _, o := range []*v1.PaymentOrder{a, b} {
		if _, err := trimForCache(o); err != nil {
			t.Fatal(err)
		}
	}
	if !equality.Semantic.DeepEqual(a, want) {
		t.Fatalf("trimming changed more than metadata:\n got %+v\nwant %+v", a, want)
	}
	shared := map[string]bool{
		"namespace":              same(a.Namespace, b.Namespace),
		"finalizer":              same(a.Finalizers[0], b.Finalizers[0]),
		"provider":               same(a.Spec.ProviderRef.Name, b.Spec.ProviderRef.Name),
		"currency":               same(a.Spec.Currency, b.Spec.Currency),
		"phase":                  same(a.Status.Phase, b.Status.Phase),
		"condition type":         same(a.Status.Conditions[1].Type, b.Status.Conditions[1].Type),
		"condition message":      same(a.Status.Conditions[0].Message, b.Status.Conditions[0].Message),
		"transition reason":      same(a.Status.History[1].Reason, b.Status.History[1].Reason),
		"transition destination": same(a.Status.History[1].To, b.Status.History[1].To),
	}
	for field, ok := range shared {
		if !ok {
			t.Errorf("the %s of two cached orders is held twice; want one shared copy", field)
		}
	}
	if a.Status.OutTradeNo == b.Status.OutTradeNo || a.Name == b.Name {
		t.Fatalf("the orders' own values were mixed up: %s/%s, %s/%s", a.Name, a.Status.OutTradeNo, b.Name, b.Status.OutTradeNo)
	}
}
