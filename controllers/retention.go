package controllers

import (
	"context"
	"fmt"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	v1 "github.com/kubepay/kubepay/api/v1alpha1"
	"github.com/kubepay/kubepay/internal/metrics"
	"github.com/kubepay/kubepay/internal/settle"
)

// retain deletes, for every provider with spec.retention.settledOrderTTL, its settled orders (and
// their refunds) that settled longer ago than the TTL. An order that is not settled by its content
// (a refund in flight, a late payment to give back) is never deleted, whatever status.settled
// says, and the delete is conditional on the version read, so an order that changed meanwhile stays.
func (h *Housekeeper) retain(ctx context.Context) error {
	type target struct {
		obj      client.Object
		ns, name string
		ttl      time.Duration
	}
	var targets []target
	pps := &v1.PaymentProviderList{}
	if err := h.Client.List(ctx, pps); err != nil {
		return fmt.Errorf("listing PaymentProviders: %w", err)
	}
	for i := range pps.Items {
		if r := pps.Items[i].Spec.Retention; r != nil && r.SettledOrderTTL != nil {
			targets = append(targets, target{&pps.Items[i], pps.Items[i].Namespace, pps.Items[i].Name, r.SettledOrderTTL.Duration})
		}
	}
	cpps := &v1.ClusterPaymentProviderList{}
	if err := h.Client.List(ctx, cpps); err != nil {
		return fmt.Errorf("listing ClusterPaymentProviders: %w", err)
	}
	for i := range cpps.Items {
		if r := cpps.Items[i].Spec.Retention; r != nil && r.SettledOrderTTL != nil {
			targets = append(targets, target{&cpps.Items[i], "", cpps.Items[i].Name, r.SettledOrderTTL.Duration})
		}
	}
	for _, t := range targets {
		orders, refunds, err := h.retainFor(ctx, t.ns, t.name, t.ttl)
		if orders > 0 {
			settle.Emitter{Recorder: h.Recorder}.Normal(t.obj, v1.ReasonRetentionDeleted, v1.ActionReconcile,
				fmt.Sprintf("deleted %d settled PaymentOrder(s) and %d PaymentRefund(s) settled more than %s ago", orders, refunds, t.ttl))
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// retainFor deletes the expired settled orders of one provider ("" namespace: a cluster one).
func (h *Housekeeper) retainFor(ctx context.Context, ns, provider string, ttl time.Duration) (orders, refunds int, err error) {
	key := v1.ProviderIndexKey(ns, provider)
	cutoff := h.now().Add(-ttl)
	base := []client.ListOption{client.InNamespace(ns), client.MatchingFields{v1.FieldSettled: "true"}, client.Limit(500)}
	if sel := h.Share.Selector; sel != nil && !sel.Empty() {
		base = append(base, client.MatchingLabelsSelector{Selector: sel})
	}
	opts := base
	for {
		list := &v1.PaymentOrderList{}
		if err := h.APIReader.List(ctx, list, opts...); err != nil {
			return orders, refunds, fmt.Errorf("listing settled orders of provider %s: %w", key, err)
		}
		page := pageRefunds{reader: h.APIReader}
		var due []expired
		for i := range list.Items {
			o := &list.Items[i]
			settled := meta.FindStatusCondition(o.Status.Conditions, v1.ConditionSettled)
			if !h.Share.Has(o) || o.ProviderIndexKey() != key || settle.Unsettled(o) || settled == nil || settled.LastTransitionTime.After(cutoff) {
				continue
			}
			refs, err := page.of(ctx, o)
			if err != nil {
				return orders, refunds, fmt.Errorf("listing refunds of PaymentOrder %s/%s: %w", o.Namespace, o.Name, err)
			}
			due = append(due, expired{o, refs})
		}
		o, r, err := h.deleteAll(ctx, due)
		orders, refunds = orders+o, refunds+r
		if err != nil {
			return orders, refunds, err
		}
		if list.Continue == "" {
			return orders, refunds, nil
		}
		opts = append(base[:len(base):len(base)], client.Continue(list.Continue))
	}
}

// pageRefunds lists each namespace's refunds once per page of orders, not once per order: a LIST
// read around the cache is a consistent read, which the API server answers only once its cache
// has caught up with etcd, about 100 ms on a resource nobody writes (PaymentRefunds, mostly).
// Listed per order, that capped retention near 10 deletions a second. The list is at least as
// new as the page of orders it serves, so it holds every refund of those orders as read; one
// created later changes its order's status first, and the order's delete, conditional on the
// version read, then fails and the next round decides again.
type pageRefunds struct {
	reader client.Reader
	byNS   map[string][]v1.PaymentRefund
}

// of returns the refunds of order o.
func (p *pageRefunds) of(ctx context.Context, o *v1.PaymentOrder) ([]*v1.PaymentRefund, error) {
	refs, ok := p.byNS[o.Namespace]
	if !ok {
		list := &v1.PaymentRefundList{}
		if err := p.reader.List(ctx, list, client.InNamespace(o.Namespace)); err != nil {
			return nil, err
		}
		if p.byNS == nil {
			p.byNS = map[string][]v1.PaymentRefund{}
		}
		refs = list.Items
		p.byNS[o.Namespace] = refs
	}
	var out []*v1.PaymentRefund
	for i := range refs {
		if refs[i].Spec.OrderRef.Name == o.Name {
			out = append(out, &refs[i])
		}
	}
	return out, nil
}

// retentionWorkers is how many orders retention deletes at once: each deletion is a few
// sequential requests, so one at a time would leave the API server mostly waiting on round trips.
const retentionWorkers = 4

// expired is a settled order past its TTL and its refunds, as read.
type expired struct {
	order   *v1.PaymentOrder
	refunds []*v1.PaymentRefund
}

// deleteAll deletes a page's expired orders, retentionWorkers at a time, and counts what went.
func (h *Housekeeper) deleteAll(ctx context.Context, due []expired) (orders, refunds int, err error) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, retentionWorkers)
	for _, e := range due {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			n, deleted, derr := h.deleteOrder(ctx, e.order, e.refunds)
			mu.Lock()
			defer mu.Unlock()
			refunds += n
			if deleted {
				orders++
			}
			if derr != nil && err == nil {
				err = derr
			}
		})
	}
	wg.Wait()
	return orders, refunds, err
}

// deleteOrder deletes a settled order's terminal refunds, then the order, if it is still the
// version read: first its finalizer goes, in a patch conditional on that version (a settled order
// has nothing open at the provider), then the order, conditional on its UID and the patched
// version. Two writes, and the order is gone when they return; deleting it with its finalizer
// would leave SettledRelease a third. An order reopened between the two (a refund reserved on
// it) fails the delete and gets its finalizer back from whoever reopened it (settle.Reopen).
func (h *Housekeeper) deleteOrder(ctx context.Context, o *v1.PaymentOrder, refs []*v1.PaymentRefund) (int, bool, error) {
	n := 0
	for _, r := range refs {
		if !r.Status.Phase.Terminal() {
			continue
		}
		if err := h.Client.Delete(ctx, r, client.Preconditions{UID: &r.UID}); err != nil && !apierrors.IsNotFound(err) {
			return n, false, fmt.Errorf("deleting PaymentRefund %s/%s of a retained order: %w", r.Namespace, r.Name, err)
		}
		n++
		metrics.RetentionDeleted.WithLabelValues("refund").Inc()
	}
	if controllerutil.ContainsFinalizer(o, v1.Finalizer) {
		patch := client.MergeFromWithOptions(o.DeepCopy(), client.MergeFromWithOptimisticLock{})
		controllerutil.RemoveFinalizer(o, v1.Finalizer)
		err := h.Client.Patch(ctx, o, patch)
		switch {
		case apierrors.IsConflict(err), apierrors.IsNotFound(err):
			return n, false, nil // changed or gone meanwhile: the next round decides again
		case err != nil:
			return n, false, fmt.Errorf("removing the finalizer of settled PaymentOrder %s/%s before deleting it: %w", o.Namespace, o.Name, err)
		}
	}
	err := h.Client.Delete(ctx, o, client.Preconditions{UID: &o.UID, ResourceVersion: &o.ResourceVersion})
	switch {
	case apierrors.IsConflict(err), apierrors.IsNotFound(err):
		return n, false, nil
	case err != nil:
		return n, false, fmt.Errorf("deleting settled PaymentOrder %s/%s: %w", o.Namespace, o.Name, err)
	}
	metrics.RetentionDeleted.WithLabelValues("order").Inc()
	return n, true, nil
}
