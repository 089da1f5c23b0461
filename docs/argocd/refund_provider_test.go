package argocd_test

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/kubepay/kubepay/api/v1alpha1"
	"github.com/kubepay/kubepay/internal/settle"
)

// refundObject is a refund with s; written computes the kstatus conditions as kubepay does.
func refundObject(t *testing.T, s v1.PaymentRefundStatus, written bool) map[string]any {
	t.Helper()
	s.ObservedGeneration = generation
	if written {
		settle.RefundHealth(&s, generation, now)
	}
	r := &v1.PaymentRefund{
		ObjectMeta: metav1.ObjectMeta{Name: "refund-1", Namespace: "shop", Generation: generation},
		Spec:       v1.PaymentRefundSpec{OrderRef: v1.LocalObjectReference{Name: "coffee-order-1001"}, Amount: "5.00"},
		Status:     s,
	}
	return unstructuredOf(t, r, "PaymentRefund")
}

// TestPaymentRefundHealth: every phase, the abnormal refund, and objects missing status,
// conditions or a current observedGeneration.
func TestPaymentRefundHealth(t *testing.T) {
	const (
		T = metav1.ConditionTrue
		F = metav1.ConditionFalse
	)
	phase := func(p v1.RefundPhase, c ...metav1.Condition) v1.PaymentRefundStatus {
		return v1.PaymentRefundStatus{Phase: p, Conditions: c}
	}
	cases := []healthCase{
		{"no status", "kubepay has not reconciled the refund yet",
			without(refundObject(t, phase(""), false), "status"), "Progressing", "waiting for kubepay to reserve the amount", false},
		{"new", "kubepay wrote its first status and is about to reserve the amount",
			refundObject(t, phase(""), true), "Progressing", "RefundProcessing", true},
		{"pending", "the amount is being reserved on the order and sent to the provider",
			refundObject(t, phase(v1.RefundPending, ready(T, v1.ReasonRefundRequested, "reserving 5.00")), true), "Progressing", "Reconciling", true},
		{"processing", "the provider accepted the refund and answers later",
			refundObject(t, phase(v1.RefundProcessing, ready(T, v1.ReasonRefundProcessing, "the provider accepted the refund")), true),
			"Progressing", "the refund is in flight", true},
		{"processing, provider error", "the provider could not be asked: kubepay retries on its own",
			refundObject(t, phase(v1.RefundProcessing, ready(F, v1.ReasonProviderError, "gateway timeout")), true),
			"Progressing", "Reconciling (ProviderError): gateway timeout", true},
		{"abnormal", "the provider holds the money and cannot give it back (WeChat Pay ABNORMAL): a person must act at the provider",
			refundObject(t, phase(v1.RefundProcessing, ready(F, v1.ReasonRefundAbnormal, "the card was cancelled")), true),
			"Degraded", "Stalled (RefundAbnormal): the card was cancelled", true},
		{"succeeded", "the money went back to the customer",
			refundObject(t, phase(v1.RefundSucceeded, ready(T, v1.ReasonRefunded, "5.00 went back")), true), "Healthy", "Succeeded: 5.00 went back", true},
		{"failed", "nothing was given back: a person decides what next",
			refundObject(t, phase(v1.RefundFailed, ready(F, v1.ReasonExceedsRefundable, "0.00 can still be refunded")), true),
			"Degraded", "Failed (ExceedsRefundable): 0.00 can still be refunded", true},
		{"stale observedGeneration", "the refund changed since kubepay last wrote its status",
			with(refundObject(t, phase(v1.RefundSucceeded, ready(T, v1.ReasonRefunded, "done")), true), "metadata.generation", int64(generation+1)),
			"Progressing", "waiting for kubepay to observe generation 4", true},
		{"failed, no kstatus conditions", "a Failed refund is Degraded whether or not Stalled was written",
			refundObject(t, phase(v1.RefundFailed, ready(F, v1.ReasonOrderNotPaid, "the order is not paid")), false),
			"Degraded", "Failed (OrderNotPaid): the order is not paid", false},
		{"processing, no conditions", "a refund in flight without conditions is still in flight",
			refundObject(t, phase(v1.RefundProcessing), false), "Progressing", "Processing: the provider answers later", false},
		{"succeeded, no conditions", "Succeeded is done whatever the conditions",
			refundObject(t, phase(v1.RefundSucceeded), false), "Healthy", "Succeeded", false},
		{"unknown phase", "a phase this script does not know (a newer kubepay) is not guessed at",
			with(refundObject(t, phase(v1.RefundSucceeded), false), "status.phase", "Reversed"), "Unknown", "unknown phase Reversed", false},
	}
	runCases(t, "PaymentRefund", cases)
}

// providerObject is a provider (or, for kind ClusterPaymentProvider, a cluster-scoped one with
// the same status) with conditions c; written computes the kstatus conditions as kubepay does.
func providerObject(t *testing.T, kind string, c []metav1.Condition, written bool) map[string]any {
	t.Helper()
	s := v1.PaymentProviderStatus{NotifyURL: "https://pay.example/notify/shop/sandbox", ObservedGeneration: generation, Conditions: c}
	if written {
		settle.ProviderHealth(&s.Conditions, generation, now)
	}
	p := &v1.PaymentProvider{
		ObjectMeta: metav1.ObjectMeta{Name: "sandbox", Namespace: "shop", Generation: generation},
		Spec:       v1.PaymentProviderSpec{Type: "sandbox"},
		Status:     s,
	}
	m := unstructuredOf(t, p, kind)
	if kind == "ClusterPaymentProvider" {
		without(m, "metadata.namespace")
	}
	return m
}

func providerCases(t *testing.T, kind string) []healthCase {
	const (
		T = metav1.ConditionTrue
		F = metav1.ConditionFalse
	)
	written := func(c ...metav1.Condition) map[string]any { return providerObject(t, kind, c, true) }
	raw := func(c ...metav1.Condition) map[string]any { return providerObject(t, kind, c, false) }
	deleting := written(ready(F, v1.ReasonInUse, "being deleted; kept while 2 unsettled PaymentOrder(s) use it"))
	with(deleting, "metadata.deletionTimestamp", now.Format("2006-01-02T15:04:05Z"))
	with(deleting, "metadata.finalizers", []any{v1.FinalizerInUse})
	return []healthCase{
		{"no status", "kubepay has not checked the provider yet",
			without(raw(), "status"), "Progressing", "waiting for kubepay to check the credentials", false},
		{"no conditions", "notifyURL is written but the credentials were not checked yet",
			raw(), "Progressing", "waiting for kubepay to check the credentials", false},
		{"authenticated", "the provider accepted an authenticated call with the credentials",
			written(ready(T, v1.ReasonAuthenticated, "the provider accepted an authenticated call")), "Healthy", "Ready (Authenticated)", true},
		{"credentials refused", "only a new Secret helps: a person must act",
			written(ready(F, v1.ReasonCredentialsInvalid, "the provider refused the credentials: 401")),
			"Degraded", "Stalled (CredentialsInvalid): the provider refused the credentials: 401", true},
		{"unreachable", "the provider could not be asked; kubepay asks again on its own",
			written(ready(F, v1.ReasonProviderUnreachable, "the credentials could not be checked: timeout")),
			"Progressing", "Reconciling (ProviderUnreachable)", true},
		{"not ready", "the provider cannot be resolved yet; kubepay comes back when it can",
			written(ready(F, v1.ReasonProviderNotReady, "not found")), "Progressing", "ProviderNotReady", true},
		{"being deleted while orders use it", "kept until its orders settle, on its own (Argo CD itself shows a deleted object as Progressing, Pending deletion, without running the script)",
			deleting, "Progressing", "Reconciling (InUse)", false},
		{"stale observedGeneration", "the spec changed (new endpoint or Secret): the Ready condition is about the old one",
			with(written(ready(T, v1.ReasonAuthenticated, "ok")), "metadata.generation", int64(generation+1)),
			"Progressing", "waiting for kubepay to observe generation 4", true},
		{"refused, no kstatus conditions", "written before Stalled existed: refused credentials still need a person",
			raw(ready(F, v1.ReasonCredentialsInvalid, "Secret sandbox-credentials not found")), "Degraded", "Not ready (CredentialsInvalid)", false},
		{"unreachable, no kstatus conditions", "written before Reconciling existed: anything else is retried",
			raw(ready(F, v1.ReasonProviderUnreachable, "timeout")), "Progressing", "Not ready (ProviderUnreachable): timeout", false},
		{"ready, no kstatus conditions", "Ready True is healthy whatever else was written",
			raw(ready(T, v1.ReasonCredentialsLoaded, "loaded")), "Healthy", "Ready (CredentialsLoaded): loaded", false},
		{"ready unknown", "Ready Unknown is not an answer yet",
			raw(ready(metav1.ConditionUnknown, "Checking", "")), "Progressing", "Not ready (Checking)", false},
		{"no Ready condition", "conditions without Ready: the credentials were not judged yet",
			raw(cond("Other", T, "Other", "other")), "Progressing", "waiting for kubepay to check the credentials", false},
	}
}

// TestPaymentProviderHealth: credentials accepted, refused, not checkable, the provider kept
// while deleted, and objects missing status, conditions or a current observedGeneration.
func TestPaymentProviderHealth(t *testing.T) {
	runCases(t, "PaymentProvider", providerCases(t, "PaymentProvider"))
}

// TestClusterPaymentProviderHealth: the cluster-scoped kind has the same status and the same
// verdicts.
func TestClusterPaymentProviderHealth(t *testing.T) {
	runCases(t, "ClusterPaymentProvider", providerCases(t, "ClusterPaymentProvider"))
}
