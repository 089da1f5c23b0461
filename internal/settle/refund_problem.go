package settle

import (
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/kubepay/kubepay/api/v1alpha1"
	"github.com/kubepay/kubepay/providers"
)

// NoteStuckRefund records, on a refund in flight, that the provider holds its money for a person
// to act (WeChat Pay ABNORMAL: still processing, with a failure reason): Ready turns False with
// reason RefundAbnormal, and RefundHealth makes it Stalled. It reports whether it changed s; the
// refund stays in flight and its reservation held, so the money can never be refunded twice.
// The controller's query and the callback server's notification both call it.
func NoteStuckRefund(s *v1.PaymentRefundStatus, f RefundFact, generation int64, now time.Time) bool {
	if f.Status != providers.RefundProcessing || f.FailureReason == "" || s.Phase.Terminal() {
		return false
	}
	return meta.SetStatusCondition(&s.Conditions, metav1.Condition{Type: v1.ConditionReady, Status: metav1.ConditionFalse,
		Reason: v1.ReasonRefundAbnormal, Message: f.FailureReason, LastTransitionTime: metav1.NewTime(now), ObservedGeneration: generation})
}
