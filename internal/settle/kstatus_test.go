package settle

import (
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"

	v1 "github.com/kubepay/kubepay/api/v1alpha1"
)

// compute is what kstatus (Flux, Argo CD's kstatus mode, `kubectl wait`-style tooling) says of obj.
func compute(t *testing.T, obj runtime.Object, kind string) status.Status {
	t.Helper()
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{Object: m}
	u.SetAPIVersion(v1.GroupVersion.String())
	u.SetKind(kind)
	res, err := status.Compute(u)
	if err != nil {
		t.Fatalf("kstatus of %s: %v", kind, err)
	}
	return res.Status
}

func ready(st metav1.ConditionStatus, reason string) metav1.Condition {
	return metav1.Condition{Type: v1.ConditionReady, Status: st, Reason: reason, Message: reason, LastTransitionTime: metav1.NewTime(now)}
}

// TestOrderKstatusInEveryPhase: tools that read kstatus can tell waiting for the customer or
// settled (Current) from being worked on (InProgress) from needing a person (Failed).
func TestOrderKstatusInEveryPhase(t *testing.T) {
	late := []v1.LatePayment{{ID: "txn_1", Amount: "1.00", AmountMinor: 100, ReceivedAt: metav1.NewTime(now), Source: v1.SourceNotification, Phase: v1.PhaseExpired}}
	tests := []struct {
		name        string
		why         string
		status      v1.PaymentOrderStatus
		want        status.Status
		wantSettled metav1.ConditionStatus
	}{
		{"new", "nothing done yet: kubepay is about to create the payment", v1.PaymentOrderStatus{}, status.InProgressStatus, metav1.ConditionFalse},
		{"pending", "the payment is being created", v1.PaymentOrderStatus{Phase: v1.PhasePending, Conditions: []metav1.Condition{ready(metav1.ConditionFalse, v1.ReasonCreating)}}, status.InProgressStatus, metav1.ConditionFalse},
		{"retrying", "the provider is down: kubepay retries on its own", v1.PaymentOrderStatus{Phase: v1.PhasePending, Conditions: []metav1.Condition{ready(metav1.ConditionFalse, v1.ReasonProviderError)}}, status.InProgressStatus, metav1.ConditionFalse},
		{"waiting on credentials", "refused credentials: the order waits for the Secret, and resumes when it changes", v1.PaymentOrderStatus{Phase: v1.PhasePending, Conditions: []metav1.Condition{ready(metav1.ConditionFalse, v1.ReasonCredentialsInvalid)}}, status.InProgressStatus, metav1.ConditionFalse},
		{"awaiting payment", "kubepay did its part; the customer pays at the URL", v1.PaymentOrderStatus{Phase: v1.PhaseAwaitingPayment, Conditions: []metav1.Condition{ready(metav1.ConditionTrue, v1.ReasonAwaitingPayment)}}, status.CurrentStatus, metav1.ConditionFalse},
		{"paid", "settled as wanted", v1.PaymentOrderStatus{Phase: v1.PhasePaid, Conditions: []metav1.Condition{ready(metav1.ConditionTrue, v1.ReasonPaid)}}, status.CurrentStatus, metav1.ConditionTrue},
		{"paid, refund in flight", "a refund is on its way: kubepay is at work", v1.PaymentOrderStatus{Phase: v1.PhasePaid, Conditions: []metav1.Condition{ready(metav1.ConditionTrue, v1.ReasonPaid)},
			Refunds: []v1.RefundReservation{{Name: "r", OutRefundNo: "n", AmountMinor: 1, State: v1.RefundReserved}}}, status.InProgressStatus, metav1.ConditionTrue},
		{"partially refunded", "settled", v1.PaymentOrderStatus{Phase: v1.PhasePartiallyRefunded, Conditions: []metav1.Condition{ready(metav1.ConditionTrue, v1.ReasonPartiallyRefunded)}}, status.CurrentStatus, metav1.ConditionTrue},
		{"refunded", "settled", v1.PaymentOrderStatus{Phase: v1.PhaseRefunded, Conditions: []metav1.Condition{ready(metav1.ConditionTrue, v1.ReasonRefunded)}}, status.CurrentStatus, metav1.ConditionTrue},
		{"expired", "settled without money, as asked", v1.PaymentOrderStatus{Phase: v1.PhaseExpired, Conditions: []metav1.Condition{ready(metav1.ConditionTrue, v1.ReasonExpired)}}, status.CurrentStatus, metav1.ConditionTrue},
		{"cancelled", "settled without money", v1.PaymentOrderStatus{Phase: v1.PhaseCancelled, Conditions: []metav1.Condition{ready(metav1.ConditionTrue, v1.ReasonCancelled)}}, status.CurrentStatus, metav1.ConditionTrue},
		{"failed", "will not be paid: a person decides what next", v1.PaymentOrderStatus{Phase: v1.PhaseFailed, Conditions: []metav1.Condition{ready(metav1.ConditionFalse, v1.ReasonProviderRejected)}}, status.FailedStatus, metav1.ConditionTrue},
		{"invalid amount", "the spec cannot be paid as written", v1.PaymentOrderStatus{Conditions: []metav1.Condition{ready(metav1.ConditionFalse, v1.ReasonInvalidAmount)}}, status.FailedStatus, metav1.ConditionFalse},
		{"close blocked", "a deleted order's payment cannot be closed: a person should look", v1.PaymentOrderStatus{Phase: v1.PhaseAwaitingPayment, Conditions: []metav1.Condition{ready(metav1.ConditionTrue, v1.ReasonAwaitingPayment),
			{Type: v1.ConditionCloseBlocked, Status: metav1.ConditionTrue, Reason: v1.ReasonProviderNotFound, Message: "gone", LastTransitionTime: metav1.NewTime(now)}}}, status.FailedStatus, metav1.ConditionFalse},
		{"late payment, record only", "money nobody wants and no refund: a person must act", v1.PaymentOrderStatus{Phase: v1.PhaseExpired, LatePayments: late,
			Conditions: []metav1.Condition{ready(metav1.ConditionTrue, v1.ReasonExpired)}}, status.FailedStatus, metav1.ConditionTrue},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := order()
			o.Generation = 3
			o.Status = tt.status
			OrderHealth(o, &o.Status, now)
			if got := compute(t, o, "PaymentOrder"); got != tt.want {
				t.Errorf("%s: kstatus %s, want %s (conditions %+v)", tt.why, got, tt.want, o.Status.Conditions)
			}
			c := meta.FindStatusCondition(o.Status.Conditions, v1.ConditionSettled)
			if c == nil || c.Status != tt.wantSettled {
				t.Errorf("%s: Settled %+v, want %s", tt.why, c, tt.wantSettled)
			}
			for _, c := range o.Status.Conditions {
				if c.ObservedGeneration != 3 {
					t.Errorf("condition %s carries generation %d, want 3", c.Type, c.ObservedGeneration)
				}
			}
		})
	}
}

func TestRefundKstatusInEveryPhase(t *testing.T) {
	tests := []struct {
		name  string
		why   string
		phase v1.RefundPhase
		ready metav1.Condition
		want  status.Status
	}{
		{"new", "kubepay is about to reserve and send it", "", metav1.Condition{}, status.InProgressStatus},
		{"pending", "being reserved and sent", v1.RefundPending, ready(metav1.ConditionTrue, v1.ReasonRefundRequested), status.InProgressStatus},
		{"processing", "the provider answers later", v1.RefundProcessing, ready(metav1.ConditionTrue, v1.ReasonRefundProcessing), status.InProgressStatus},
		{"abnormal", "the provider holds the money for a person to redirect", v1.RefundProcessing, ready(metav1.ConditionFalse, v1.ReasonRefundAbnormal), status.FailedStatus},
		{"succeeded", "the money went back", v1.RefundSucceeded, ready(metav1.ConditionTrue, v1.ReasonRefunded), status.CurrentStatus},
		{"failed", "nothing was given back: a person decides", v1.RefundFailed, ready(metav1.ConditionFalse, v1.ReasonExceedsRefundable), status.FailedStatus},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &v1.PaymentRefund{ObjectMeta: metav1.ObjectMeta{Name: "r", Namespace: "shop", Generation: 1}}
			r.Status.Phase = tt.phase
			if tt.ready.Type != "" {
				r.Status.Conditions = []metav1.Condition{tt.ready}
			}
			RefundHealth(&r.Status, 1, now.Add(time.Second))
			if got := compute(t, r, "PaymentRefund"); got != tt.want {
				t.Errorf("%s: kstatus %s, want %s (conditions %+v)", tt.why, got, tt.want, r.Status.Conditions)
			}
		})
	}
}

func TestProviderKstatus(t *testing.T) {
	tests := []struct {
		name  string
		why   string
		ready metav1.Condition
		want  status.Status
	}{
		{"authenticated", "the provider accepted an authenticated call", ready(metav1.ConditionTrue, v1.ReasonAuthenticated), status.CurrentStatus},
		{"credentials refused", "only a person can fix the Secret", ready(metav1.ConditionFalse, v1.ReasonCredentialsInvalid), status.FailedStatus},
		{"unreachable", "kubepay asks again on its own", ready(metav1.ConditionFalse, v1.ReasonProviderUnreachable), status.InProgressStatus},
		{"in use while deleting", "kept until its orders settle", ready(metav1.ConditionFalse, v1.ReasonInUse), status.InProgressStatus},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := provider()
			p.Generation = 2
			p.Status.ObservedGeneration = 2
			p.Status.Conditions = []metav1.Condition{tt.ready}
			ProviderHealth(&p.Status.Conditions, 2, now)
			if got := compute(t, p, "PaymentProvider"); got != tt.want {
				t.Errorf("%s: kstatus %s, want %s (conditions %+v)", tt.why, got, tt.want, p.Status.Conditions)
			}
		})
	}
}
