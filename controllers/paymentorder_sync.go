package controllers

import (
	"context"
	"errors"
	"fmt"
	"time"

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

// orderSync is one reconcile's work on one order: it computes the new status in memory through the
// state machine, and Reconcile writes it once at the end, only when it changed.
type orderSync struct {
	r      *PaymentOrderReconciler
	order  *v1.PaymentOrder
	status v1.PaymentOrderStatus
	now    time.Time
	// applied lists the transitions of this reconcile, for Events and metrics after the write.
	applied []v1.Transition
	// warnings are Events to emit after the write (rejections, irreconcilable payments).
	warnings []warning
}

type warning struct{ reason, message string }

// Reconcile moves one PaymentOrder forward.
func (r *PaymentOrderReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	order := &v1.PaymentOrder{}
	if err := r.Client.Get(ctx, req.NamespacedName, order); err != nil {
		if apierrors.IsNotFound(err) {
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, fmt.Errorf("reading PaymentOrder %s: %w", req.NamespacedName, err)
	}
	if !order.DeletionTimestamp.IsZero() {
		return r.finalize(ctx, order)
	}
	if !controllerutil.ContainsFinalizer(order, v1.Finalizer) {
		patch := client.MergeFromWithOptions(order.DeepCopy(), client.MergeFromWithOptimisticLock{})
		controllerutil.AddFinalizer(order, v1.Finalizer)
		if err := r.Client.Patch(ctx, order, patch); err != nil {
			return ctrl.Result{}, fmt.Errorf("adding finalizer to PaymentOrder %s: %w", req.NamespacedName, err)
		}
		// The patch's own watch event brings the order back. Going on now would leave that event
		// to find a cache older than the status written below: an idempotent but needless second
		// create and a conflicting write, measured at a third of orders under load.
		return ctrl.Result{}, nil
	}
	if order.Status.Phase.Terminal() {
		r.queries.forget(order.UID)
		return r.settled(ctx, order)
	}

	s := &orderSync{r: r, order: order, status: *order.Status.DeepCopy(), now: r.now()}
	result, syncErr := s.run(ctx)
	if err := s.writeStatus(ctx); err != nil {
		if apierrors.IsConflict(err) {
			// Someone (usually the callback server) wrote first; the watch brings the new version.
			ctrl.LoggerFrom(ctx).V(1).Info("status write conflicted, will re-decide on the new version")
			return ctrl.Result{RequeueAfter: time.Second}, nil
		}
		return ctrl.Result{}, fmt.Errorf("writing status of PaymentOrder %s: %w", req.NamespacedName, err)
	}
	if s.status.Phase.Terminal() {
		r.queries.forget(order.UID)
	}
	return result, syncErr
}

// run decides this reconcile. A returned error is retryable and goes through the rate limiter.
func (s *orderSync) run(ctx context.Context) (ctrl.Result, error) {
	rp, err := s.r.Resolver.Resolve(ctx, s.order.ProviderNamespace(), s.order.Spec.ProviderRef.Name)
	if err != nil {
		return s.providerUnavailable(ctx, err)
	}
	if s.status.Phase == "" {
		if done, err := s.initialize(ctx, rp); done || err != nil {
			return ctrl.Result{}, err
		}
	}
	if s.status.ExpiresAt != nil && !s.now.Before(s.status.ExpiresAt.Time) {
		return s.expire(ctx, rp)
	}
	switch s.status.Phase {
	case v1.PhasePending:
		return s.create(ctx, rp)
	case v1.PhaseAwaitingPayment:
		return s.poll(ctx, rp)
	}
	return ctrl.Result{}, nil
}

// initialize derives the fields every later step relies on and claims the out_trade_no, before
// any provider call. It reports true when the order can go no further: its amount does not
// convert (the CRD's rules should have prevented it), its out_trade_no breaks the providers' rules,
// or another order of the provider holds it already.
func (s *orderSync) initialize(ctx context.Context, rp *resolver.Resolved) (bool, error) {
	minor, err := money.ToMinor(s.order.Spec.Amount, s.order.Spec.Currency)
	if err != nil || minor <= 0 {
		s.setCondition(metav1.ConditionFalse, v1.ReasonInvalidAmount, fmt.Sprintf("amount %q %s cannot be taken: %v", s.order.Spec.Amount, s.order.Spec.Currency, err))
		return true, nil
	}
	otn := OutTradeNo(s.order, rp.Spec.Spec.OutTradeNoPrefix)
	if why := validOutTradeNo(otn); why != "" {
		s.apply(statemachine.Event{Type: statemachine.CreateRejected, Source: v1.SourceController, At: s.now,
			Reason: v1.ReasonInvalidOrderID, Message: why})
		return true, nil
	}
	holder, err := s.r.claim(ctx, s.order, otn)
	if err != nil {
		return true, err
	}
	if holder.uid != string(s.order.UID) {
		// Never touch the holder's payment: no create, no query, no close, no outTradeNo in status
		// (so notifications keep finding the holder alone).
		s.apply(statemachine.Event{Type: statemachine.CreateRejected, Source: v1.SourceController, At: s.now,
			Reason: v1.ReasonDuplicateOrderID,
			Message: fmt.Sprintf("out_trade_no %s is already used by PaymentOrder %s/%s at PaymentProvider %s; give this order another spec.orderID",
				otn, s.order.Namespace, holder.name, s.order.Spec.ProviderRef.Name)})
		return true, nil
	}
	expiresAfter := 30 * time.Minute
	if s.order.Spec.ExpiresAfter != nil {
		expiresAfter = s.order.Spec.ExpiresAfter.Duration
	}
	// From the creation time, not from now: a re-run derives the same expiry.
	s.apply(statemachine.Event{
		Type: statemachine.Initialized, Source: v1.SourceController, At: s.now, Reason: v1.ReasonCreating,
		OutTradeNo: otn, AmountMinor: minor,
		ExpiresAt: s.order.CreationTimestamp.Add(expiresAfter),
	})
	return false, nil
}

// providerUnavailable records why the provider cannot be used and waits: the order does not fail,
// and the watches on PaymentProviders and Secrets bring it back as soon as they are fixed.
func (s *orderSync) providerUnavailable(ctx context.Context, err error) (ctrl.Result, error) {
	reason := reasonFor(err)
	if s.setCondition(metav1.ConditionFalse, reason, err.Error()) {
		s.warnings = append(s.warnings, warning{reason, err.Error()})
	}
	ctrl.LoggerFrom(ctx).Info("payment provider unavailable, waiting", "reason", reason, "error", err.Error())
	return ctrl.Result{}, fmt.Errorf("PaymentOrder %s/%s: %w", s.order.Namespace, s.order.Name, err)
}

// create asks the provider for the payment, keyed on outTradeNo: after a crash between this call
// and the status write, the same key returns the same payment, never a second one.
func (s *orderSync) create(ctx context.Context, rp *resolver.Resolved) (ctrl.Result, error) {
	o := s.order
	meta := map[string]string{v1.MetadataNamespace: o.Namespace, v1.MetadataName: o.Name}
	for k, v := range o.Spec.Metadata {
		meta[k] = string(v)
	}
	amount, err := money.FromMinor(s.status.AmountMinor, o.Spec.Currency)
	if err != nil {
		return ctrl.Result{}, fmt.Errorf("PaymentOrder %s/%s: formatting amount: %w", o.Namespace, o.Name, err)
	}
	p, err := rp.Provider.Create(ctx, providers.Order{
		Namespace: o.Namespace, Name: o.Name, OutTradeNo: s.status.OutTradeNo,
		AmountMinor: s.status.AmountMinor, Amount: amount, Currency: o.Spec.Currency, Channel: o.Spec.Channel,
		Subject: o.Spec.Subject, Description: o.Spec.Description, ReturnURL: o.Spec.ReturnURL,
		NotifyURL: resolver.NotifyURL(rp.Spec), ExpiresAt: s.status.ExpiresAt.Time, Metadata: meta,
		PayerClientIP: o.Spec.PayerClientIP,
	})
	if err != nil {
		// Refused credentials are the account's problem, not the order's: wait for the Secret
		// to be fixed (its watch brings the order back) instead of failing the order for good.
		if providers.IsRetryable(err) || errors.Is(err, providers.ErrCredentials) {
			return s.retryableError("create", err)
		}
		s.apply(statemachine.Event{Type: statemachine.CreateRejected, Source: v1.SourceController, At: s.now,
			Reason: v1.ReasonProviderRejected, Message: fmt.Sprintf("the provider refused the payment: %v", err)})
		return ctrl.Result{}, nil
	}
	s.apply(statemachine.Event{Type: statemachine.Created, Source: v1.SourceController, At: s.now,
		ProviderPaymentID: p.ID, PaymentURL: p.PaymentURL, PaymentExpiresAt: p.ExpiresAt, Reason: v1.ReasonAwaitingPayment,
		Message: "payment created at the provider; the customer pays at status.paymentURL"})
	// A replayed create may find the payment already settled.
	s.applyPayment(p, v1.SourceController)
	next := s.r.queries.start(o.UID, s.now, queryInitial(rp.Spec))
	return s.requeueBy(next), nil
}

// poll queries the provider when the schedule says so, catching notifications that never came.
func (s *orderSync) poll(ctx context.Context, rp *resolver.Resolved) (ctrl.Result, error) {
	initial, maxInterval := queryInitial(rp.Spec), queryMax(rp.Spec)
	due, next := s.r.queries.due(s.order.UID, s.now, initial)
	if !due {
		return s.requeueBy(next), nil
	}
	p, err := rp.Provider.Query(ctx, s.status.OutTradeNo, s.status.ProviderPaymentID)
	next = s.r.queries.queried(s.order.UID, s.now, initial, maxInterval)
	if err != nil {
		ctrl.LoggerFrom(ctx).Info("query failed, will query again", "next", next, "error", err.Error())
		return s.requeueBy(next), nil
	}
	s.applyPayment(p, v1.SourceQuery)
	return s.requeueBy(next), nil
}

// expire settles an order at expiresAt: one last query (a payment that just succeeded becomes
// Paid, never Expired), then close at the provider so nobody can pay it any more, then Expired.
func (s *orderSync) expire(ctx context.Context, rp *resolver.Resolved) (ctrl.Result, error) {
	p, err := rp.Provider.Query(ctx, s.status.OutTradeNo, s.status.ProviderPaymentID)
	switch {
	case err == nil:
		if s.applyPayment(p, v1.SourceQuery) {
			return ctrl.Result{}, nil
		}
	case errors.Is(err, providers.ErrNotFound):
		// Never created (e.g. the provider was down until expiry): nothing to pay, nothing to close.
	default:
		return s.retryableError("query", err)
	}
	message := "not paid by expiresAt; closed at the provider"
	err = rp.Provider.Close(ctx, s.status.OutTradeNo, s.status.ProviderPaymentID)
	switch {
	case err == nil, errors.Is(err, providers.ErrNotFound):
	case errors.Is(err, providers.ErrPayableUntilExpiry):
		// Nothing to close (Alipay page/wap: the buyer never opened the link): the link itself
		// is what stays payable, until the expiry kubepay gave the provider.
		deadline := s.status.ExpiresAt.Time
		if s.status.PaymentExpiresAt != nil {
			deadline = s.status.PaymentExpiresAt.Time
		}
		if s.now.Before(deadline) {
			return ctrl.Result{RequeueAfter: deadline.Sub(s.now) + time.Second}, nil
		}
		message = "not paid by expiresAt; the provider never saw the payment and its link has expired"
	default:
		// ErrAlreadyPaid lands here too: paid between the query and the close, so the retry's
		// query finds it paid and the order becomes Paid, never Expired.
		return s.retryableError("close", err)
	}
	s.apply(statemachine.Event{Type: statemachine.ExpiryReached, Source: v1.SourceController, At: s.now,
		Reason: v1.ReasonExpired, Message: message})
	return ctrl.Result{}, nil
}

// applyPayment feeds the provider's view of the payment to the state machine and reports whether
// it settled the order.
func (s *orderSync) applyPayment(p providers.Payment, source v1.TransitionSource) bool {
	probe := s.order.DeepCopy()
	probe.Status = s.status
	ev, ok, err := settle.Decide(probe, nil, settle.FromPayment(p, source), s.now)
	if err != nil {
		// The provider's record disagrees with the order: never settle it on that.
		s.warnings = append(s.warnings, warning{v1.ReasonNotificationRejected, err.Error()})
		return false
	}
	if !ok {
		return false
	}
	s.apply(ev)
	return s.status.Phase.Terminal()
}

// apply runs the state machine; an event it refuses becomes a warning, never a phase change.
func (s *orderSync) apply(ev statemachine.Event) {
	next, changed, err := statemachine.Next(s.status, ev)
	if err != nil {
		reason := v1.ReasonIrreconcilable
		if errors.Is(err, statemachine.ErrTooManyLatePayments) {
			reason = v1.ReasonLatePayment
		}
		s.warnings = append(s.warnings, warning{reason, err.Error()})
		return
	}
	if changed {
		s.applied = append(s.applied, next.History[len(next.History)-1])
		s.status = next
	}
}

// retryableError records why a provider call failed and returns the error, so the rate limiter
// retries with backoff.
func (s *orderSync) retryableError(op string, err error) (ctrl.Result, error) {
	reason, msg := providerFailure(op, err)
	if s.setCondition(metav1.ConditionFalse, reason, msg) {
		s.warnings = append(s.warnings, warning{reason, msg})
	}
	return ctrl.Result{}, fmt.Errorf("PaymentOrder %s/%s: %w", s.order.Namespace, s.order.Name, err)
}

// setCondition sets Ready and reports whether it changed (so Events are emitted once per cause).
func (s *orderSync) setCondition(status metav1.ConditionStatus, reason, message string) bool {
	return meta.SetStatusCondition(&s.status.Conditions, metav1.Condition{
		Type: v1.ConditionReady, Status: status, Reason: reason, Message: message,
		LastTransitionTime: metav1.NewTime(s.now), ObservedGeneration: s.order.Generation,
	})
}

// requeueBy asks to come back at t, or at expiry when that is sooner.
func (s *orderSync) requeueBy(t time.Time) ctrl.Result {
	if s.status.Phase.Terminal() {
		return ctrl.Result{}
	}
	if s.status.ExpiresAt != nil && s.status.ExpiresAt.Time.Before(t) {
		t = s.status.ExpiresAt.Time
	}
	return ctrl.Result{RequeueAfter: max(t.Sub(s.now), 10*time.Millisecond)}
}

func queryInitial(p *v1.PaymentProvider) time.Duration {
	if q := p.Spec.Query; q != nil && q.InitialInterval != nil && q.InitialInterval.Duration > 0 {
		return q.InitialInterval.Duration
	}
	return DefaultQueryInitial
}

func queryMax(p *v1.PaymentProvider) time.Duration {
	if q := p.Spec.Query; q != nil && q.MaxInterval != nil && q.MaxInterval.Duration > 0 {
		return max(q.MaxInterval.Duration, queryInitial(p))
	}
	return max(DefaultQueryMax, queryInitial(p))
}

// settled looks after a terminal order: unwanted money (late payments) still needs kubepay, to
// create the refunds that give it back. An order with nothing left to do normally left the cache
// in the write that settled it (status.settled); one that did not (settled by a kubepay from
// before that field) gets it written here, once.
func (r *PaymentOrderReconciler) settled(ctx context.Context, order *v1.PaymentOrder) (ctrl.Result, error) {
	status := *order.Status.DeepCopy()
	changed := false
	if len(order.Status.LatePayments) > 0 {
		var err error
		if changed, err = r.refundUnwanted(ctx, order, &status); err != nil {
			return ctrl.Result{}, err
		}
	}
	if !changed && (settle.Unsettled(order) || order.Status.Settled) {
		return ctrl.Result{}, nil
	}
	settle.OrderHealth(order, &status, r.now())
	updated := order.DeepCopy()
	updated.Status = status
	if err := r.Client.Status().Update(ctx, updated); err != nil {
		if apierrors.IsConflict(err) {
			return ctrl.Result{RequeueAfter: time.Second}, nil
		}
		return ctrl.Result{}, fmt.Errorf("writing the status of terminal PaymentOrder %s/%s (late-payment refunds, settled): %w", order.Namespace, order.Name, err)
	}
	return ctrl.Result{}, nil
}

// providerFailure names a provider call failure worth waiting out: refused credentials (only the
// Secret can fix them) or anything retryable.
func providerFailure(op string, err error) (reason, message string) {
	if errors.Is(err, providers.ErrCredentials) {
		return v1.ReasonCredentialsInvalid, fmt.Sprintf("the provider refused the credentials at %s; waiting for the Secret to be fixed: %v", op, err)
	}
	return v1.ReasonProviderError, fmt.Sprintf("provider %s failed, retrying with backoff: %v", op, err)
}
