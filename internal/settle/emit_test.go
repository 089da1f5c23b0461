package settle

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"k8s.io/client-go/tools/events"

	v1 "github.com/kubepay/kubepay/api/v1alpha1"
	"github.com/kubepay/kubepay/internal/metrics"
)

func TestTransitionsOneEventNamingThePath(t *testing.T) {
	tests := []struct {
		name string
		why  string
		ts   []v1.Transition
		want string // the Event, "" for none
	}{
		{"none", "a write without transitions tells nothing", nil, ""},
		{"create path", "one Event for the whole reconcile, every step named",
			[]v1.Transition{{To: v1.PhasePending, Reason: v1.ReasonCreating, Source: v1.SourceController},
				{From: v1.PhasePending, To: v1.PhaseAwaitingPayment, Reason: v1.ReasonAwaitingPayment, Source: v1.SourceController}},
			"Normal AwaitingPayment (new) -> Pending -> AwaitingPayment (source controller, outTradeNo OTN1)"},
		{"notification", "a notification's transition names the notification",
			[]v1.Transition{{From: v1.PhaseAwaitingPayment, To: v1.PhasePaid, Reason: v1.ReasonPaid, Source: v1.SourceNotification, NotificationID: "evt_1"}},
			"Normal Paid AwaitingPayment -> Paid (source notification, notification evt_1, outTradeNo OTN1)"},
		{"failure", "a failed payment is a Warning: someone may have to talk to the customer",
			[]v1.Transition{{From: v1.PhaseAwaitingPayment, To: v1.PhaseFailed, Reason: v1.ReasonFailed, Source: v1.SourceQuery}},
			"Warning Failed AwaitingPayment -> Failed (source query, outTradeNo OTN1)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := events.NewFakeRecorder(10)
			o := order()
			o.Status.OutTradeNo = "OTN1"
			before := testutil.ToFloat64(metrics.OrderTransitions.WithLabelValues("AwaitingPayment", "Paid"))
			Emitter{Recorder: rec}.Transitions(o, tt.ts)
			var got []string
			for len(rec.Events) > 0 {
				got = append(got, <-rec.Events)
			}
			switch {
			case tt.want == "" && len(got) != 0:
				t.Errorf("%s: got Events %q, want none", tt.why, got)
			case tt.want != "" && (len(got) != 1 || got[0] != tt.want):
				t.Errorf("%s: got Events %q, want exactly %q", tt.why, got, tt.want)
			}
			after := testutil.ToFloat64(metrics.OrderTransitions.WithLabelValues("AwaitingPayment", "Paid"))
			wantDelta := 0.0
			for _, tr := range tt.ts {
				if tr.From == v1.PhaseAwaitingPayment && tr.To == v1.PhasePaid {
					wantDelta++
				}
			}
			if after-before != wantDelta {
				t.Errorf("%s: AwaitingPayment->Paid counter moved by %v, want %v", tt.why, after-before, wantDelta)
			}
		})
	}
}
