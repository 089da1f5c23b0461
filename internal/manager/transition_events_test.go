package manager

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/kubepay/kubepay/api/v1alpha1"
	"github.com/kubepay/kubepay/internal/metrics"
	"github.com/kubepay/kubepay/internal/scheme"
	"github.com/kubepay/kubepay/internal/testenv"
)

// libraryRecorder stands for client-go's recorder: it records the reasons it was given.
type libraryRecorder struct {
	mu      sync.Mutex
	reasons []string
}

func (r *libraryRecorder) Eventf(_, _ runtime.Object, _, reason, _, _ string, _ ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reasons = append(r.reasons, reason)
}

// createRecorder is the API server as the sink sees it: it answers each Create with the next
// error of errs (nil once they run out) and keeps what it was given.
type createRecorder struct {
	client.Writer
	mu      sync.Mutex
	errs    []error
	created []*eventsv1.Event
	calls   int
}

func (c *createRecorder) Create(_ context.Context, obj client.Object, _ ...client.CreateOption) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls++
	if len(c.errs) > 0 {
		err := c.errs[0]
		c.errs = c.errs[1:]
		if err != nil {
			return err
		}
	}
	c.created = append(c.created, obj.(*eventsv1.Event))
	return nil
}

func (c *createRecorder) snapshot() (int, []*eventsv1.Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls, append([]*eventsv1.Event(nil), c.created...)
}

func order() *v1.PaymentOrder {
	return &v1.PaymentOrder{
		TypeMeta:   metav1.TypeMeta{APIVersion: v1.GroupVersion.String(), Kind: "PaymentOrder"},
		ObjectMeta: metav1.ObjectMeta{Name: "coffee", Namespace: "shop", UID: "u-1"},
	}
}

// TestTransitionRecorderRoutesEvents: only Normal transition Events bypass the library (they
// never repeat, so its series cache is only memory for them); Warnings and other Normal Events
// keep the library's folding of repeats.
func TestTransitionRecorderRoutesEvents(t *testing.T) {
	for _, tc := range []struct {
		name, eventtype, action string
		toSink                  bool
		why                     string
	}{
		{"transition", corev1.EventTypeNormal, v1.ActionTransition, true, "one per phase change: written directly"},
		{"warning", corev1.EventTypeWarning, v1.ActionNotification, false, "a rejected notification repeats: the library folds the repeats"},
		{"normal reconcile", corev1.EventTypeNormal, v1.ActionReconcile, false, "retention's count repeats every round: the library"},
		{"warning with the transition action", corev1.EventTypeWarning, v1.ActionTransition, false, "only Normal transitions are unique"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lib := &libraryRecorder{}
			sink := newTransitionSink(&createRecorder{}, logr.Discard())
			rec := newTransitionRecorder(lib, sink, scheme.New(), "kubepay-controller")
			rec.Eventf(order(), nil, tc.eventtype, "SomeReason", tc.action, "note %d", 1)
			if got := len(sink.queue) == 1; got != tc.toSink {
				t.Errorf("%s: queued for the sink %v, want %v (%s)", tc.name, got, tc.toSink, tc.why)
			}
			if got := len(lib.reasons) == 1; got == tc.toSink {
				t.Errorf("%s: given to the library %v, want %v (%s)", tc.name, got, !tc.toSink, tc.why)
			}
		})
	}
}

// TestTransitionEventFields: the Event written reads as the library's would, so kubectl describe
// and the tests that list Events see no difference.
func TestTransitionEventFields(t *testing.T) {
	sink := newTransitionSink(&createRecorder{}, logr.Discard())
	rec := newTransitionRecorder(&libraryRecorder{}, sink, scheme.New(), "kubepay-callback")
	rec.Eventf(order(), nil, corev1.EventTypeNormal, v1.ReasonPaid, v1.ActionTransition, "paid %s", strings.Repeat("é", 600))
	ev := <-sink.queue
	checks := []struct {
		ok   bool
		what string
	}{
		{ev.Namespace == "shop" && strings.HasPrefix(ev.Name, "coffee."), "named <object>.<time> in the object's namespace"},
		{ev.Regarding.Kind == "PaymentOrder" && ev.Regarding.Name == "coffee" && ev.Regarding.UID == "u-1", "regarding the order, with its UID"},
		{ev.Type == corev1.EventTypeNormal && ev.Reason == v1.ReasonPaid && ev.Action == v1.ActionTransition, "type, reason and action as given"},
		{ev.ReportingController == "kubepay-callback" && strings.HasPrefix(ev.ReportingInstance, "kubepay-callback-"), "reporting controller and instance as client-go names them"},
		{!ev.EventTime.IsZero(), "an event time (required by events.k8s.io/v1)"},
		{len(ev.Note) <= maxNote && utf8.ValidString(ev.Note) && strings.HasPrefix(ev.Note, "paid é"), "the note cut to the API's 1 KiB, on a character boundary"},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("%s: got %+v", c.what, ev)
		}
	}
}

// TestTransitionSinkWrites: the sink retries what the API server may not repeat, gives up on what
// it will, and never blocks the payment path: a full queue drops and counts.
func TestTransitionSinkWrites(t *testing.T) {
	unavailable := apierrors.NewServiceUnavailable("etcd leader changed")
	forbidden := apierrors.NewForbidden(schema.GroupResource{Group: "events.k8s.io", Resource: "events"}, "x", errors.New("no"))
	for _, tc := range []struct {
		name      string
		errs      []error
		wantCalls int
		written   bool
		why       string
	}{
		{"first try", nil, 1, true, "the usual case"},
		{"transient then written", []error{unavailable}, 2, true, "a 503 may pass on the next try"},
		{"transient every time", []error{unavailable, unavailable, unavailable}, transitionAttempts, false, "bounded: an Event is not worth more"},
		{"forbidden", []error{forbidden}, 1, false, "RBAC will refuse again: no retry"},
		{"already exists", []error{apierrors.NewAlreadyExists(schema.GroupResource{Resource: "events"}, "x")}, 1, false, "written by an earlier try whose answer was lost"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			api := &createRecorder{errs: tc.errs}
			sink := newTransitionSink(api, logr.Discard())
			sink.retry = time.Millisecond
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan struct{})
			go func() { _ = sink.Start(ctx); close(done) }()
			defer func() { cancel(); <-done }()
			sink.enqueue(&eventsv1.Event{ObjectMeta: metav1.ObjectMeta{Name: "e", Namespace: "shop"}})
			testenv.Eventually(t, 10*time.Second, func() (bool, string) {
				calls, _ := api.snapshot()
				return calls == tc.wantCalls, ""
			})
			calls, created := api.snapshot()
			if calls != tc.wantCalls || (len(created) == 1) != tc.written {
				t.Errorf("%s: %d creates, written %v; want %d, %v (%s)", tc.name, calls, len(created) == 1, tc.wantCalls, tc.written, tc.why)
			}
		})
	}
}

// TestTransitionSinkDropsWhenFull: with nobody writing, the queue fills and the next Event is
// dropped at once and counted, instead of holding up the reconcile or notification emitting it.
func TestTransitionSinkDropsWhenFull(t *testing.T) {
	sink := newTransitionSink(&createRecorder{}, logr.Discard())
	before := testutil.ToFloat64(metrics.TransitionEventsDropped)
	for range transitionQueue + 3 {
		sink.enqueue(&eventsv1.Event{ObjectMeta: metav1.ObjectMeta{Name: "e", Namespace: "shop"}})
	}
	if got := testutil.ToFloat64(metrics.TransitionEventsDropped) - before; got != 3 || len(sink.queue) != transitionQueue {
		t.Errorf("queue %d of %d, %v dropped; want it full and 3 dropped", len(sink.queue), transitionQueue, got)
	}
}
