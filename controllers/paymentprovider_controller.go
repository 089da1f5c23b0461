package controllers

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	v1 "github.com/kubepay/kubepay/api/v1alpha1"
	"github.com/kubepay/kubepay/internal/index"
	"github.com/kubepay/kubepay/internal/resolver"
	"github.com/kubepay/kubepay/providers"
)

// PaymentProviderReconciler reports whether a PaymentProvider's credentials load (Ready) and the
// exact notify URL kubepay gives the provider.
type PaymentProviderReconciler struct {
	Client   client.Client
	Resolver ProviderResolver
	Recorder events.EventRecorder
}

// SetupWithManager watches providers and the labelled Secrets they use.
func (r *PaymentProviderReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&v1.PaymentProvider{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.providersForSecret)).
		Named("paymentprovider").
		Complete(r)
}

func (r *PaymentProviderReconciler) providersForSecret(ctx context.Context, obj client.Object) []reconcile.Request {
	list := &v1.PaymentProviderList{}
	if err := r.Client.List(ctx, list, client.InNamespace(obj.GetNamespace()), client.MatchingFields{index.ProviderSecret: obj.GetName()}); err != nil {
		return nil
	}
	reqs := make([]reconcile.Request, 0, len(list.Items))
	for i := range list.Items {
		reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
	}
	return reqs
}

// Reconcile builds the provider from its Secret and records the outcome.
func (r *PaymentProviderReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	pp := &v1.PaymentProvider{}
	if err := r.Client.Get(ctx, req.NamespacedName, pp); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	status := *pp.Status.DeepCopy()
	status.NotifyURL = resolver.NotifyURL(pp)
	status.ObservedGeneration = pp.Generation
	cond := metav1.Condition{Type: v1.ConditionReady, Status: metav1.ConditionTrue, Reason: v1.ReasonCredentialsLoaded,
		Message: "credentials loaded", ObservedGeneration: pp.Generation, LastTransitionTime: metav1.Now()}
	_, err := r.Resolver.Resolve(ctx, pp.Namespace, pp.Name)
	if err != nil {
		cond.Status, cond.Reason, cond.Message = metav1.ConditionFalse, v1.ReasonCredentialsInvalid, err.Error()
		if !errors.Is(err, resolver.ErrSecretNotFound) && !errors.Is(err, providers.ErrCredentials) {
			cond.Reason = v1.ReasonProviderNotReady
		}
	}
	changedCond := meta.SetStatusCondition(&status.Conditions, cond)
	if equality.Semantic.DeepEqual(status, pp.Status) {
		return ctrl.Result{}, nil
	}
	pp.Status = status
	if err := r.Client.Status().Update(ctx, pp); err != nil {
		if apierrors.IsConflict(err) {
			return ctrl.Result{RequeueAfter: time.Second}, nil
		}
		return ctrl.Result{}, fmt.Errorf("writing status of PaymentProvider %s: %w", req.NamespacedName, err)
	}
	if changedCond {
		typ := corev1.EventTypeNormal
		if cond.Status != metav1.ConditionTrue {
			typ = corev1.EventTypeWarning
		}
		r.Recorder.Eventf(pp, nil, typ, cond.Reason, v1.ActionReconcile, "%s", cond.Message)
	}
	return ctrl.Result{}, nil
}
