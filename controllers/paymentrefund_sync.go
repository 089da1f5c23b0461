package controllers

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	v1 "github.com/kubepay/kubepay/api/v1alpha1"
	"github.com/kubepay/kubepay/internal/money"
	"github.com/kubepay/kubepay/internal/resolver"
	"github.com/kubepay/kubepay/internal/settle"
	"github.com/kubepay/kubepay/internal/statemachine"
	"github.com/kubepay/kubepay/providers"
)

// maxRefundNo is the longest refund number every provider takes (WeChat Pay's and Alipay's 64).
const maxRefundNo = 64

// RefundNo is a refund's merchant number at a provider with the given outTradeNoPrefix: the
// prefix, then spec.refundID or the UID without dashes. Like OutTradeNo it depends only on the
// object, so every attempt sends the same idempotency key.
func RefundNo(r *v1.PaymentRefund, prefix string) string {
	if r.Spec.RefundID != "" {
		return prefix + r.Spec.RefundID
	}
	return prefix + strings.ReplaceAll(string(r.UID), "-", "")
}

// refundSync is one reconcile's work on one refund: status changes in memory, one write.
type refundSync struct {
	r        *PaymentRefundReconciler
	refund   *v1.PaymentRefund
	status   v1.PaymentRefundStatus
	now      time.Time
	applied  []v1.RefundTransition
	warnings []warning
}

// Reconcile moves one PaymentRefund forward.
func (r *PaymentRefundReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	ref := &v1.PaymentRefund{}
	if err := r.Client.Get(ctx, req.NamespacedName, ref); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !ref.DeletionTimestamp.IsZero() {
		return r.finalizeRefund(ctx, ref)
	}
	if !controllerutil.ContainsFinalizer(ref, v1.Finalizer) {
		patch := client.MergeFromWithOptions(ref.DeepCopy(), client.MergeFromWithOptimisticLock{})
		controllerutil.AddFinalizer(ref, v1.Finalizer)
		if err := r.Client.Patch(ctx, ref, patch); err != nil {
			return ctrl.Result{}, fmt.Errorf("adding finalizer to PaymentRefund %s: %w", req.NamespacedName, err)
		}
		// As for orders: the patch's own event brings the refund back with a current cache.
		return ctrl.Result{}, nil
	}
	return r.sync(ctx, ref)
}

// sync runs the refund's step, writes its status once, then counts a settled refund on the order.
func (r *PaymentRefundReconciler) sync(ctx context.Context, ref *v1.PaymentRefund) (ctrl.Result, error) {
	s := &refundSync{r: r, refund: ref, status: *ref.Status.DeepCopy(), now: r.now()}
	result, syncErr := s.run(ctx)
	if err := s.writeStatus(ctx); err != nil {
		if apierrors.IsConflict(err) {
			return ctrl.Result{RequeueAfter: time.Second}, nil
		}
		return ctrl.Result{}, fmt.Errorf("writing status of PaymentRefund %s/%s: %w", ref.Namespace, ref.Name, err)
	}
	if ref.Status.Phase.Terminal() {
		r.queries.forget(ref.UID)
		if err := r.book(ctx, ref); err != nil {
			return ctrl.Result{}, err
		}
	}
	return result, syncErr
}

// run decides this reconcile; a returned error is retried with backoff.
func (s *refundSync) run(ctx context.Context) (ctrl.Result, error) {
	if s.status.Phase.Terminal() {
		return ctrl.Result{}, nil
	}
	order := &v1.PaymentOrder{}
	if err := settle.GetOrder(ctx, s.r.Client, s.r.APIReader, client.ObjectKey{Namespace: s.refund.Namespace, Name: s.refund.Spec.OrderRef.Name}, order); err != nil {
		if !apierrors.IsNotFound(err) {
			return ctrl.Result{}, fmt.Errorf("reading the order of PaymentRefund %s/%s: %w", s.refund.Namespace, s.refund.Name, err)
		}
		if s.status.Phase == v1.RefundProcessing {
			// An order cannot finish deleting while its refund is in flight; a missing one was
			// removed by hand. Nothing can be asked without its provider.
			s.setCondition(metav1.ConditionFalse, v1.ReasonOrderNotFound, "the order of this refund in flight is gone; its provider cannot be asked")
			return ctrl.Result{}, nil
		}
		s.reject(v1.ReasonOrderNotFound, fmt.Sprintf("PaymentOrder %s/%s does not exist", s.refund.Namespace, s.refund.Spec.OrderRef.Name))
		return ctrl.Result{}, nil
	}
	rp, err := s.r.Resolver.ResolveForClose(ctx, order.ProviderNamespace(), order.Spec.ProviderRef.Name)
	if err != nil {
		reason := reasonFor(err)
		if s.setCondition(metav1.ConditionFalse, reason, err.Error()) {
			s.warnings = append(s.warnings, warning{reason, err.Error()})
		}
		return ctrl.Result{}, fmt.Errorf("PaymentRefund %s/%s: %w", s.refund.Namespace, s.refund.Name, err)
	}
	if s.status.Phase == "" {
		if done, err := s.accept(ctx, order, rp); done || err != nil {
			return ctrl.Result{}, err
		}
	}
	switch s.status.Phase {
	case v1.RefundPending:
		return s.send(ctx, order, rp)
	case v1.RefundProcessing:
		return s.poll(ctx, order, rp)
	}
	return ctrl.Result{}, nil
}

// accept derives the refund's amount and number and claims the number before any provider call.
func (s *refundSync) accept(ctx context.Context, order *v1.PaymentOrder, rp *resolver.Resolved) (bool, error) {
	minor, err := money.ToMinor(s.refund.Spec.Amount, order.Spec.Currency)
	if err != nil || minor <= 0 {
		s.reject(v1.ReasonInvalidAmount, fmt.Sprintf("amount %q cannot be refunded in %s: %v", s.refund.Spec.Amount, order.Spec.Currency, err))
		return true, nil
	}
	number := RefundNo(s.refund, rp.Spec.Spec.OutTradeNoPrefix)
	if len(number) > maxRefundNo {
		s.reject(v1.ReasonInvalidOrderID, fmt.Sprintf("refund number %q (outTradeNoPrefix and refundID) is %d characters; providers take at most %d", number, len(number), maxRefundNo))
		return true, nil
	}
	holder, err := claimer{s.r.Client, s.r.APIReader}.claim(ctx, claimOutRefundNo, scopeOf(order, s.r.ClusterNamespace), number, s.refund, "PaymentRefund")
	if err != nil {
		return true, err
	}
	if holder.uid != string(s.refund.UID) {
		s.reject(v1.ReasonDuplicateRefundID, fmt.Sprintf("refund number %s is already used by PaymentRefund %s/%s at PaymentProvider %s; give this refund another spec.refundID",
			number, s.refund.Namespace, holder.name, order.Spec.ProviderRef.Name))
		return true, nil
	}
	s.apply(statemachine.RefundEvent{Type: statemachine.RefundAccepted, Source: v1.SourceController, At: s.now,
		OutRefundNo: number, AmountMinor: minor, Currency: order.Spec.Currency, Reason: v1.ReasonRefundRequested,
		Message: "reserving the amount on the order, then asking the provider"})
	return false, nil
}

// send reserves the amount on the order, then asks the provider, keyed on the refund number: a
// repeat after a crash returns the same refund, never a second one.
func (s *refundSync) send(ctx context.Context, order *v1.PaymentOrder, rp *resolver.Resolved) (ctrl.Result, error) {
	order, err := s.r.reserve(ctx, order, s.refund, s.status)
	switch {
	case errors.Is(err, statemachine.ErrOrderNotPaid):
		s.reject(v1.ReasonOrderNotPaid, err.Error())
		return ctrl.Result{}, nil
	case errors.Is(err, statemachine.ErrExceedsRefundable), errors.Is(err, statemachine.ErrTooManyRefunds):
		s.reject(v1.ReasonExceedsRefundable, err.Error())
		return ctrl.Result{}, nil
	case err != nil:
		return ctrl.Result{}, err
	}
	res, err := rp.Provider.Refund(ctx, s.request(order, rp))
	if err != nil {
		if providers.IsRetryable(err) || errors.Is(err, providers.ErrCredentials) {
			return s.providerError("refund", err)
		}
		reason := v1.ReasonProviderRejected
		if errors.Is(err, providers.ErrRefundExceedsPayment) {
			reason = v1.ReasonExceedsRefundable
		}
		s.reject(reason, fmt.Sprintf("the provider refused the refund: %v", err))
		return ctrl.Result{}, nil
	}
	s.applyFact(settle.FromRefund(res, v1.SourceController))
	if s.status.Phase == v1.RefundPending {
		// The provider answered without a state it names; treat it as processing.
		s.apply(statemachine.RefundEvent{Type: statemachine.RefundSent, Source: v1.SourceController, At: s.now,
			ProviderRefundID: res.ID, Reason: v1.ReasonRefundProcessing, Message: "the provider accepted the refund; its result comes later"})
	}
	if s.status.Phase.Terminal() {
		return ctrl.Result{}, nil
	}
	next := s.r.queries.start(s.refund.UID, s.now, refundQueryInitial(rp.Spec))
	return ctrl.Result{RequeueAfter: max(next.Sub(s.now), 10*time.Millisecond)}, nil
}

// poll queries the provider when the schedule says so, catching refund notifications that never
// came.
func (s *refundSync) poll(ctx context.Context, order *v1.PaymentOrder, rp *resolver.Resolved) (ctrl.Result, error) {
	initial := refundQueryInitial(rp.Spec)
	due, next := s.r.queries.due(s.refund.UID, s.now, initial)
	if !due {
		return ctrl.Result{RequeueAfter: max(next.Sub(s.now), 10*time.Millisecond)}, nil
	}
	res, err := rp.Provider.QueryRefund(ctx, s.request(order, rp))
	next = s.r.queries.queried(s.refund.UID, s.now, initial, queryMax(rp.Spec))
	if err != nil {
		ctrl.LoggerFrom(ctx).Info("refund query failed, will query again", "next", next, "error", err.Error())
	} else {
		s.applyFact(settle.FromRefund(res, v1.SourceQuery))
	}
	if s.status.Phase.Terminal() {
		return ctrl.Result{}, nil
	}
	return ctrl.Result{RequeueAfter: max(next.Sub(s.now), 10*time.Millisecond)}, nil
}

// request is what the provider needs to refund (or look up) this refund.
func (s *refundSync) request(order *v1.PaymentOrder, rp *resolver.Resolved) providers.RefundRequest {
	amount, _ := money.FromMinor(s.status.AmountMinor, order.Spec.Currency)
	req := providers.RefundRequest{
		OutTradeNo: order.Status.OutTradeNo, ProviderPaymentID: order.Status.ProviderPaymentID,
		TransactionID: order.Status.ProviderTransactionID, OutRefundNo: s.status.OutRefundNo, ProviderRefundID: s.status.ProviderRefundID,
		AmountMinor: s.status.AmountMinor, Amount: amount, TotalMinor: order.Status.AmountMinor,
		Currency: order.Spec.Currency, Reason: s.refund.Spec.Reason, NotifyURL: resolver.NotifyURL(rp.Spec),
	}
	if id := s.refund.Spec.LatePaymentID; id != "" {
		req.TransactionID = id
		for _, lp := range order.Status.LatePayments {
			if lp.ID == id {
				req.TotalMinor = lp.AmountMinor
			}
		}
	}
	return req
}

// applyFact feeds a provider answer about the refund to the refund state machine.
func (s *refundSync) applyFact(f settle.RefundFact) {
	probe := s.refund.DeepCopy()
	probe.Status = s.status
	ev, ok, err := settle.DecideRefund(probe, f, s.now)
	if err != nil {
		s.warnings = append(s.warnings, warning{v1.ReasonNotificationRejected, err.Error()})
		return
	}
	if ok {
		s.apply(ev)
	}
	if settle.NoteStuckRefund(&s.status, f, s.refund.Generation, s.now) {
		s.warnings = append(s.warnings, warning{v1.ReasonRefundAbnormal, f.FailureReason})
	}
}

func (s *refundSync) reject(reason, message string) {
	s.apply(statemachine.RefundEvent{Type: statemachine.RefundRejected, Source: v1.SourceController, At: s.now, Reason: reason, Message: message})
}

func (s *refundSync) apply(ev statemachine.RefundEvent) {
	next, changed, err := statemachine.NextRefund(s.status, ev)
	if err != nil {
		s.warnings = append(s.warnings, warning{v1.ReasonIrreconcilable, err.Error()})
		return
	}
	if changed {
		s.applied = append(s.applied, next.History[len(next.History)-1])
		s.status = next
	}
}

func (s *refundSync) providerError(op string, err error) (ctrl.Result, error) {
	reason, msg := providerFailure(op, err)
	if s.setCondition(metav1.ConditionFalse, reason, msg) {
		s.warnings = append(s.warnings, warning{reason, msg})
	}
	return ctrl.Result{}, fmt.Errorf("PaymentRefund %s/%s: %w", s.refund.Namespace, s.refund.Name, err)
}

func (s *refundSync) setCondition(status metav1.ConditionStatus, reason, message string) bool {
	return meta.SetStatusCondition(&s.status.Conditions, metav1.Condition{Type: v1.ConditionReady, Status: status,
		Reason: reason, Message: message, LastTransitionTime: metav1.NewTime(s.now), ObservedGeneration: s.refund.Generation})
}

// writeStatus writes the refund's status once, when it changed, then tells of it.
func (s *refundSync) writeStatus(ctx context.Context) error {
	s.status.ObservedGeneration = s.refund.Generation
	settle.RefundHealth(&s.status, s.refund.Generation, s.now)
	if !equality.Semantic.DeepEqual(s.status, s.refund.Status) {
		before := s.refund.Status
		s.refund.Status = s.status
		if err := s.r.Client.Status().Update(ctx, s.refund); err != nil {
			s.refund.Status = before
			return err
		}
	}
	e := settle.Emitter{Recorder: s.r.Recorder}
	e.EmitRefund(s.refund, s.applied)
	for _, w := range s.warnings {
		e.Warning(s.refund, w.reason, v1.ActionReconcile, w.message)
	}
	s.applied, s.warnings = nil, nil
	return nil
}

// DefaultRefundQueryInitial is the first wait before a refund in flight is queried: refunds take
// longer than payments, and their notification usually arrives first.
const DefaultRefundQueryInitial = time.Minute

func refundQueryInitial(p *v1.PaymentProvider) time.Duration {
	if q := p.Spec.Query; q != nil && q.InitialInterval != nil && q.InitialInterval.Duration > 0 {
		return q.InitialInterval.Duration
	}
	return DefaultRefundQueryInitial
}
