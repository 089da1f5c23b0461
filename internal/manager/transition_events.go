package manager

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/tools/reference"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/kubepay/kubepay/api/v1alpha1"
	"github.com/kubepay/kubepay/internal/metrics"
)

// Normal transition Events (Created, AwaitingPayment, Paid...) are written by a transitionSink
// instead of client-go's events library. The library keeps every Event it sends for 6 to 12
// minutes, so that a repeat of the same Event becomes a series instead of a new object; a
// transition never repeats, so for these the cache is only memory that follows the transition
// rate (about 1.1 KiB an Event: with it the manager's heap per 10,000 open orders in make bench
// was 45.5 MiB, without it 34). Warnings and every other Event, which do repeat, still go through
// the library.

const (
	// transitionQueue bounds the Events waiting to be written, as the library's broadcaster
	// bounds its own: an Event is not worth holding up a payment for, nor unbounded memory.
	transitionQueue = 1000
	// transitionWriters write in parallel: at saturation an Event create takes as long as any
	// write to the API server, 250 ms and more, and the callback servers apply 100 payments a
	// second on a small control plane; 64 writers keep up with 250 a second at that latency.
	transitionWriters = 64
	// transitionAttempts: a write is retried on errors the API server may not repeat.
	transitionAttempts = 3
	// dropLogEvery spaces the log lines about dropped Events; the metric counts each.
	dropLogEvery = 10 * time.Second
)

// transitionSink writes queued Events to the API server. It runs on every replica, since the
// callback servers emit transitions too.
type transitionSink struct {
	client  client.Writer
	queue   chan *eventsv1.Event
	log     logr.Logger
	retry   time.Duration
	lastLog atomic.Int64
}

func newTransitionSink(c client.Writer, log logr.Logger) *transitionSink {
	return &transitionSink{client: c, queue: make(chan *eventsv1.Event, transitionQueue), log: log, retry: time.Second}
}

// NeedLeaderElection is false: every replica's callback server records what it applied.
func (s *transitionSink) NeedLeaderElection() bool { return false }

// Start writes Events until ctx ends; Events still queued then are dropped, as the process is
// going away.
func (s *transitionSink) Start(ctx context.Context) error {
	var wg sync.WaitGroup
	for range transitionWriters {
		wg.Go(func() {
			for {
				select {
				case <-ctx.Done():
					return
				case ev := <-s.queue:
					s.write(ctx, ev)
				}
			}
		})
	}
	wg.Wait()
	return nil
}

func (s *transitionSink) write(ctx context.Context, ev *eventsv1.Event) {
	for attempt := 1; ; attempt++ {
		err := s.client.Create(ctx, ev)
		switch {
		case err == nil, apierrors.IsAlreadyExists(err):
			return
		case attempt >= transitionAttempts, apierrors.IsInvalid(err), apierrors.IsForbidden(err),
			apierrors.IsNotFound(err), ctx.Err() != nil:
			s.log.Error(err, "transition Event not written", "object", ev.Regarding.Namespace+"/"+ev.Regarding.Name,
				"kind", ev.Regarding.Kind, "reason", ev.Reason, "attempts", attempt)
			return
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Duration(attempt) * s.retry):
		}
	}
}

// enqueue queues ev, or drops it when the queue is full.
func (s *transitionSink) enqueue(ev *eventsv1.Event) {
	select {
	case s.queue <- ev:
	default:
		metrics.TransitionEventsDropped.Inc()
		now := time.Now().UnixNano()
		if last := s.lastLog.Load(); now-last >= int64(dropLogEvery) && s.lastLog.CompareAndSwap(last, now) {
			s.log.Info("transition Events dropped: more waiting than the queue holds (status.history keeps every transition; kubepay_transition_events_dropped_total counts them)",
				"queue", transitionQueue, "object", ev.Regarding.Namespace+"/"+ev.Regarding.Name, "reason", ev.Reason)
		}
	}
}

// transitionRecorder sends Normal transition Events to its sink and every other Event to the
// library's recorder.
type transitionRecorder struct {
	events.EventRecorder
	sink                 *transitionSink
	scheme               *runtime.Scheme
	controller, instance string
	log                  logr.Logger
}

func newTransitionRecorder(rec events.EventRecorder, sink *transitionSink, scheme *runtime.Scheme, controller string) *transitionRecorder {
	// The instance is named as client-go names it, so both kinds of Event read the same.
	host, _ := os.Hostname()
	return &transitionRecorder{EventRecorder: rec, sink: sink, scheme: scheme, controller: controller,
		instance: controller + "-" + host, log: sink.log}
}

func (r *transitionRecorder) Eventf(regarding, related runtime.Object, eventtype, reason, action, note string, args ...any) {
	if eventtype != corev1.EventTypeNormal || action != v1.ActionTransition {
		r.EventRecorder.Eventf(regarding, related, eventtype, reason, action, note, args...)
		return
	}
	ev, err := r.event(regarding, related, reason, action, fmt.Sprintf(note, args...))
	if err != nil {
		r.log.Error(err, "transition Event not recorded", "reason", reason)
		return
	}
	r.sink.enqueue(ev)
}

const (
	// maxNote is the API's limit on an Event's note, in bytes.
	maxNote = 1024
	// maxEventPrefix leaves room in a 253-character name for "." and 16 hex digits of time.
	maxEventPrefix = 253 - 17
)

func (r *transitionRecorder) event(regarding, related runtime.Object, reason, action, note string) (*eventsv1.Event, error) {
	ref, err := reference.GetReference(r.scheme, regarding)
	if err != nil {
		return nil, fmt.Errorf("referencing the object of a %s Event: %w", reason, err)
	}
	var rel *corev1.ObjectReference
	if related != nil {
		if rel, err = reference.GetReference(r.scheme, related); err != nil {
			rel = nil // the Event is still worth having without it
		}
	}
	if len(note) > maxNote {
		note = strings.ToValidUTF8(note[:maxNote], "") // not half a character
	}
	now := time.Now()
	ns := ref.Namespace
	if ns == "" {
		ns = metav1.NamespaceDefault
	}
	name := ref.Name
	if len(name) > maxEventPrefix {
		name = name[:maxEventPrefix]
	}
	return &eventsv1.Event{
		ObjectMeta:          metav1.ObjectMeta{Name: fmt.Sprintf("%s.%x", name, now.UnixNano()), Namespace: ns},
		EventTime:           metav1.NewMicroTime(now),
		ReportingController: r.controller,
		ReportingInstance:   r.instance,
		Action:              action,
		Reason:              reason,
		Regarding:           *ref,
		Related:             rel,
		Note:                note,
		Type:                corev1.EventTypeNormal,
	}, nil
}
