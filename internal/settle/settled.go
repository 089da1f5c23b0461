package settle

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	v1 "github.com/kubepay/kubepay/api/v1alpha1"
)

// A settled order (terminal, no refund in flight, no late payment left to give back) has
// status.settled=true, and the manager's cache selects status.settled!=true: memory follows the
// orders that can still move money, not history. OrderHealth sets the field in every status
// write, so the write that settles an order (the Paid notification, the booked refund) is also
// the one that takes it out of every replica's cache, and the one that reopens it (a late
// payment, a refund reservation) brings it back: no second write per payment. The rare paths that
// need a settled order (a late duplicate notification, a refund) read it from the API server.
//
// A settled order keeps its finalizer: removing it would be a second write per payment. When a
// settled order is deleted, controllers.SettledRelease (a watch of settled orders that keeps
// nothing in memory) removes it, since nothing is open at the provider.

// Reopen gives an order whose status (just written) makes it unsettled its finalizer back when it
// has none: orders settled by a kubepay from before status.settled lost theirs when they settled.
// Conflicts re-read from reader (the order may not be cached yet) and try again.
func Reopen(ctx context.Context, c client.Client, reader client.Reader, o *v1.PaymentOrder) error {
	for attempt := 0; ; attempt++ {
		if !Unsettled(o) || !o.DeletionTimestamp.IsZero() || controllerutil.ContainsFinalizer(o, v1.Finalizer) {
			return nil
		}
		patch := client.MergeFromWithOptions(o.DeepCopy(), client.MergeFromWithOptimisticLock{})
		controllerutil.AddFinalizer(o, v1.Finalizer)
		err := c.Patch(ctx, o, patch)
		if err == nil || apierrors.IsNotFound(err) {
			return nil
		}
		if !apierrors.IsConflict(err) || attempt >= 5 {
			return fmt.Errorf("giving reopened PaymentOrder %s/%s its finalizer back: %w", o.Namespace, o.Name, err)
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
