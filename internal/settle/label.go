package settle

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	v1 "github.com/kubepay/kubepay/api/v1alpha1"
)

// A settled order (terminal, no refund in flight, no late payment left to give back) carries the
// label kubepay.io/settled=true and no finalizer, and the manager's cache leaves it out: memory
// follows the orders that can still move money, not history. The rare paths that need a settled
// order (a late duplicate notification, a refund) read it from the API server.
//
// The order of writes is what keeps it safe: whoever makes a settled order unsettled again (a late
// payment, a refund reservation) writes that to status first and only then unlabels it, so the
// controller, which labels from the status' content, can never label it back in between.

// IsLabelledSettled reports whether the order carries the settled label.
func IsLabelledSettled(o *v1.PaymentOrder) bool { return o.Labels[v1.LabelSettled] == "true" }

// MarkSettled labels a settled order and drops its finalizer in one patch (with the order's
// resourceVersion): nothing is open at the provider, so its deletion needs no controller. It
// reports whether it wrote.
func MarkSettled(ctx context.Context, c client.Client, o *v1.PaymentOrder) (bool, error) {
	if Unsettled(o) || (IsLabelledSettled(o) && !controllerutil.ContainsFinalizer(o, v1.Finalizer)) {
		return false, nil
	}
	patch := client.MergeFromWithOptions(o.DeepCopy(), client.MergeFromWithOptimisticLock{})
	if o.Labels == nil {
		o.Labels = map[string]string{}
	}
	o.Labels[v1.LabelSettled] = "true"
	controllerutil.RemoveFinalizer(o, v1.Finalizer)
	if err := c.Patch(ctx, o, patch); err != nil {
		return false, fmt.Errorf("labelling settled PaymentOrder %s/%s: %w", o.Namespace, o.Name, err)
	}
	return true, nil
}

// Reopen is MarkSettled undone, for an order whose status (just written) makes it unsettled: the
// label goes and the finalizer comes back, so the controller sees it again and deletion waits
// for it. Conflicts re-read from reader (the order is not cached while labelled) and try again.
func Reopen(ctx context.Context, c client.Client, reader client.Reader, o *v1.PaymentOrder) error {
	for attempt := 0; ; attempt++ {
		if !IsLabelledSettled(o) || !Unsettled(o) {
			return nil
		}
		patch := client.MergeFromWithOptions(o.DeepCopy(), client.MergeFromWithOptimisticLock{})
		delete(o.Labels, v1.LabelSettled)
		controllerutil.AddFinalizer(o, v1.Finalizer)
		err := c.Patch(ctx, o, patch)
		if err == nil || apierrors.IsNotFound(err) {
			return nil
		}
		if !apierrors.IsConflict(err) || attempt >= 5 {
			return fmt.Errorf("reopening settled PaymentOrder %s/%s: %w", o.Namespace, o.Name, err)
		}
		fresh := &v1.PaymentOrder{}
		if err := reader.Get(ctx, client.ObjectKeyFromObject(o), fresh); err != nil {
			return client.IgnoreNotFound(err)
		}
		*o = *fresh
	}
}

// GetOrder reads an order through the cache, and from the API server when the cache does not
// hold it (settled orders are not cached).
func GetOrder(ctx context.Context, c client.Client, reader client.Reader, key client.ObjectKey, o *v1.PaymentOrder) error {
	err := c.Get(ctx, key, o)
	if apierrors.IsNotFound(err) && reader != nil {
		return reader.Get(ctx, key, o)
	}
	return err
}
