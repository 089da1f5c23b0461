package controllers

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	v1 "github.com/kubepay/kubepay/api/v1alpha1"
	"github.com/kubepay/kubepay/internal/index"
	"github.com/kubepay/kubepay/internal/resolver"
	"github.com/kubepay/kubepay/internal/settle"
	"github.com/kubepay/kubepay/providers"
)

// Reconcile keeps the provider's finalizer and Ready condition true to what it can do.
func (r *PaymentProviderReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	obj, pp, err := r.get(ctx, req.NamespacedName)
	if err != nil || obj == nil {
		return ctrl.Result{}, err
	}
	if !pp.DeletionTimestamp.IsZero() {
		return r.finalizeProvider(ctx, obj, pp)
	}
	if !controllerutil.ContainsFinalizer(obj, v1.FinalizerInUse) {
		patch := client.MergeFromWithOptions(obj.DeepCopyObject().(client.Object), client.MergeFromWithOptimisticLock{})
		controllerutil.AddFinalizer(obj, v1.FinalizerInUse)
		if err := r.Client.Patch(ctx, obj, patch); err != nil {
			return ctrl.Result{}, fmt.Errorf("adding finalizer to %s %s: %w", r.kind(), req.NamespacedName, err)
		}
	}
	cond, requeue := r.check(ctx, pp)
	return conflictRequeue(requeue, r.writeStatus(ctx, obj, pp, cond))
}

// get reads the provider this reconciler serves, and its PaymentProvider view (a
// ClusterPaymentProvider has no namespace); nil when it is gone.
func (r *PaymentProviderReconciler) get(ctx context.Context, key client.ObjectKey) (client.Object, *v1.PaymentProvider, error) {
	if r.Cluster {
		cpp := &v1.ClusterPaymentProvider{}
		if err := r.Client.Get(ctx, key, cpp); err != nil {
			return nil, nil, client.IgnoreNotFound(err)
		}
		return cpp, cpp.AsPaymentProvider(), nil
	}
	pp := &v1.PaymentProvider{}
	if err := r.Client.Get(ctx, key, pp); err != nil {
		return nil, nil, client.IgnoreNotFound(err)
	}
	return pp, pp, nil
}

// setStatus puts status on the real object behind a view.
func setStatus(obj client.Object, status v1.PaymentProviderStatus) {
	switch o := obj.(type) {
	case *v1.PaymentProvider:
		o.Status = status
	case *v1.ClusterPaymentProvider:
		o.Status = status
	}
}

func (r *PaymentProviderReconciler) kind() string {
	if r.Cluster {
		return v1.KindClusterPaymentProvider
	}
	return v1.KindPaymentProvider
}

// errStatusConflict: the status write lost to another writer; the next reconcile decides again
// on the new version (a status-only change does not pass the generation predicate by itself).
var errStatusConflict = errors.New("status write conflicted")

func conflictRequeue(res ctrl.Result, err error) (ctrl.Result, error) {
	if errors.Is(err, errStatusConflict) {
		return ctrl.Result{RequeueAfter: time.Second}, nil
	}
	return res, err
}

// check asks the provider, with an authenticated call, whether it accepts the credentials: Ready
// means a payment could be created now, not only that the keys parse.
func (r *PaymentProviderReconciler) check(ctx context.Context, pp *v1.PaymentProvider) (metav1.Condition, ctrl.Result) {
	cond := metav1.Condition{Type: v1.ConditionReady, Status: metav1.ConditionFalse, ObservedGeneration: pp.Generation}
	interval := r.VerifyInterval
	if interval <= 0 {
		interval = DefaultVerifyInterval
	}
	rp, err := r.Resolver.Resolve(ctx, pp.Namespace, pp.Name)
	if err != nil {
		// The Secret's watch brings the provider back when it is fixed.
		cond.Reason, cond.Message = reasonFor(err), err.Error()
		if errors.Is(err, resolver.ErrProviderNotFound) {
			cond.Reason = v1.ReasonProviderNotReady
		}
		return cond, ctrl.Result{}
	}
	err = rp.Provider.Verify(ctx)
	switch {
	case err == nil:
		cond.Status, cond.Reason = metav1.ConditionTrue, v1.ReasonAuthenticated
		cond.Message = "the provider accepted an authenticated call with these credentials"
		return cond, ctrl.Result{RequeueAfter: interval}
	case errors.Is(err, providers.ErrCredentials):
		cond.Reason, cond.Message = v1.ReasonCredentialsInvalid, fmt.Sprintf("the provider refused the credentials: %v", err)
		return cond, ctrl.Result{RequeueAfter: interval}
	}
	cond.Reason, cond.Message = v1.ReasonProviderUnreachable, fmt.Sprintf("the credentials could not be checked: %v", err)
	return cond, ctrl.Result{RequeueAfter: min(time.Minute, interval)}
}

// finalizeProvider lets a deleted provider go only when no unsettled order uses it: their open
// payments need it to be closed, queried or refunded.
func (r *PaymentProviderReconciler) finalizeProvider(ctx context.Context, obj client.Object, pp *v1.PaymentProvider) (ctrl.Result, error) {
	if !controllerutil.ContainsFinalizer(obj, v1.FinalizerInUse) {
		return ctrl.Result{}, nil
	}
	list := &v1.PaymentOrderList{}
	key := v1.ProviderIndexKey(pp.Namespace, pp.Name)
	if err := r.Client.List(ctx, list, client.InNamespace(pp.Namespace), client.MatchingFields{index.OrderProvider: key}); err != nil {
		return ctrl.Result{}, fmt.Errorf("listing orders of deleted %s %s: %w", r.kind(), key, err)
	}
	var users []string
	for i := range list.Items {
		if settle.Unsettled(&list.Items[i]) {
			users = append(users, list.Items[i].Name)
		}
	}
	if len(users) > 0 {
		sort.Strings(users)
		shown := users
		if len(shown) > 5 {
			shown = shown[:5]
		}
		cond := metav1.Condition{Type: v1.ConditionReady, Status: metav1.ConditionFalse, Reason: v1.ReasonInUse, ObservedGeneration: pp.Generation,
			Message: fmt.Sprintf("being deleted; kept while %d unsettled PaymentOrder(s) use it (%s): it goes when they settle", len(users), strings.Join(shown, ", "))}
		// The orders' watch brings the provider back as they settle; the requeue is a safety net.
		return conflictRequeue(ctrl.Result{RequeueAfter: time.Minute}, r.writeStatus(ctx, obj, pp, cond))
	}
	patch := client.MergeFromWithOptions(obj.DeepCopyObject().(client.Object), client.MergeFromWithOptimisticLock{})
	controllerutil.RemoveFinalizer(obj, v1.FinalizerInUse)
	if err := r.Client.Patch(ctx, obj, patch); err != nil && !apierrors.IsNotFound(err) {
		return ctrl.Result{}, fmt.Errorf("removing finalizer of %s %s: %w", r.kind(), key, err)
	}
	return ctrl.Result{}, nil
}

// writeStatus writes notifyURL and the Ready condition when they changed, and tells of a changed
// condition in an Event.
func (r *PaymentProviderReconciler) writeStatus(ctx context.Context, obj client.Object, pp *v1.PaymentProvider, cond metav1.Condition) error {
	status := *pp.Status.DeepCopy()
	status.NotifyURL = resolver.NotifyURL(pp)
	status.ObservedGeneration = pp.Generation
	cond.LastTransitionTime = metav1.NewTime(r.now())
	changed := meta.SetStatusCondition(&status.Conditions, cond)
	if !changed {
		// Same status and reason: keep the message current without an Event.
		if c := meta.FindStatusCondition(status.Conditions, cond.Type); c != nil {
			c.Message = cond.Message
		}
	}
	settle.ProviderHealth(&status.Conditions, pp.Generation, r.now())
	if equality.Semantic.DeepEqual(status, pp.Status) {
		return nil
	}
	setStatus(obj, status)
	if err := r.Client.Status().Update(ctx, obj); err != nil {
		if apierrors.IsConflict(err) {
			return errStatusConflict
		}
		return fmt.Errorf("writing status of %s %s: %w", r.kind(), v1.ProviderIndexKey(pp.Namespace, pp.Name), err)
	}
	if changed {
		typ := corev1.EventTypeNormal
		if cond.Status != metav1.ConditionTrue {
			typ = corev1.EventTypeWarning
		}
		r.Recorder.Eventf(obj, nil, typ, cond.Reason, v1.ActionReconcile, "%s", cond.Message)
	}
	return nil
}
