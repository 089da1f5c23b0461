package controllers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/metadata"

	v1 "github.com/kubepay/kubepay/api/v1alpha1"
	"github.com/kubepay/kubepay/internal/shard"
)

// SettledRelease lets deleted settled orders go. A settled order keeps its finalizer (taking it
// off when the order settles would be a second write per payment) but is not in the manager's
// cache, so the order controller never sees its deletion. SettledRelease watches settled orders
// (status.settled=true) as metadata only and keeps none of them: memory does not grow with
// history. When one carries a deletionTimestamp it removes the finalizer, on that version only:
// a settled order has nothing open at the provider, and if the order changed since (a refund
// reserved on it reopens it), the patch fails and the order controller, which then caches it,
// finalizes it instead.
//
// It runs on the leader. On start, and whenever the watch cannot resume, it lists the settled
// orders page by page, releasing those being deleted, then watches from that list's version.
type SettledRelease struct {
	Metadata metadata.Interface
	Share    shard.Share
	Log      logr.Logger
	// Backoff between failed lists or watches; one second when zero.
	Backoff time.Duration
}

var paymentOrdersResource = schema.GroupVersionResource{Group: v1.GroupVersion.Group, Version: v1.GroupVersion.Version, Resource: "paymentorders"}

// NeedLeaderElection makes SettledRelease run on the leader only.
func (*SettledRelease) NeedLeaderElection() bool { return true }

// Start watches each namespace of the share (all of them when the share names none) until ctx ends.
func (r *SettledRelease) Start(ctx context.Context) error {
	namespaces := r.Share.Namespaces
	if len(namespaces) == 0 {
		namespaces = []string{metav1.NamespaceAll}
	}
	backoff := r.Backoff
	if backoff <= 0 {
		backoff = time.Second
	}
	var wg sync.WaitGroup
	for _, ns := range namespaces {
		wg.Go(func() {
			wait.UntilWithContext(ctx, func(ctx context.Context) {
				if err := r.listAndWatch(ctx, ns); err != nil && ctx.Err() == nil {
					r.Log.Error(err, "watching settled PaymentOrders for deletions; listing again", "namespace", ns)
				}
			}, backoff)
		})
	}
	wg.Wait()
	return nil
}

func (r *SettledRelease) options() metav1.ListOptions {
	o := metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector(v1.FieldSettled, "true").String()}
	if sel := r.Share.Selector; sel != nil && !sel.Empty() {
		o.LabelSelector = sel.String()
	}
	return o
}

// listAndWatch lists the settled orders of ns, releasing those being deleted, then watches from
// the list's version until the watch ends. A watch that ended normally (the API server closes
// them after a while) resumes from the last version seen; an expired version lists again.
func (r *SettledRelease) listAndWatch(ctx context.Context, ns string) error {
	client := r.Metadata.Resource(paymentOrdersResource).Namespace(ns)
	opts := r.options()
	opts.Limit = 500
	rv := ""
	var failed error
	for {
		page, err := client.List(ctx, opts)
		if err != nil {
			return fmt.Errorf("listing settled PaymentOrders in %q: %w", ns, err)
		}
		if rv == "" {
			rv = page.ResourceVersion // every page is of the first page's snapshot
		}
		for i := range page.Items {
			if err := r.release(ctx, &page.Items[i]); err != nil {
				failed = err
			}
		}
		if page.Continue == "" {
			break
		}
		opts.Continue = page.Continue
	}
	if failed != nil {
		return failed // list again after the backoff
	}
	for {
		opts := r.options()
		opts.ResourceVersion, opts.AllowWatchBookmarks = rv, true
		w, err := client.Watch(ctx, opts)
		if err != nil {
			return fmt.Errorf("watching settled PaymentOrders in %q: %w", ns, err)
		}
		rv, err = r.drain(ctx, w, rv)
		w.Stop()
		if err != nil || ctx.Err() != nil {
			return err
		}
	}
}

// drain handles a watch's events until it ends, returning the last version seen; an error event
// (an expired version, mostly) ends it with an error, so the caller lists again.
func (r *SettledRelease) drain(ctx context.Context, w watch.Interface, rv string) (string, error) {
	for {
		select {
		case <-ctx.Done():
			return rv, nil
		case ev, ok := <-w.ResultChan():
			if !ok {
				return rv, nil
			}
			if ev.Type == watch.Error {
				return rv, fmt.Errorf("watch of settled PaymentOrders ended: %w", apierrors.FromObject(ev.Object))
			}
			m, ok := ev.Object.(*metav1.PartialObjectMetadata)
			if !ok {
				continue
			}
			rv = m.ResourceVersion
			if ev.Type == watch.Added || ev.Type == watch.Modified {
				if err := r.release(ctx, m); err != nil {
					return rv, err // the list that follows finds the order again
				}
			}
		}
	}
}

// release removes kubepay's finalizer from a settled order being deleted, if the order is still
// the version seen. A conflict is not a failure: a newer version exists, which the watch brings
// (or, if it reopened the order, the order controller handles). Other failures are returned, so
// the caller lists again and retries.
func (r *SettledRelease) release(ctx context.Context, m *metav1.PartialObjectMetadata) error {
	if m.DeletionTimestamp.IsZero() || !r.Share.HasNamespace(m.Namespace) {
		return nil
	}
	keep := make([]string, 0, len(m.Finalizers))
	for _, f := range m.Finalizers {
		if f != v1.Finalizer {
			keep = append(keep, f)
		}
	}
	if len(keep) == len(m.Finalizers) {
		return nil
	}
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"finalizers": keep, "resourceVersion": m.ResourceVersion}})
	if err != nil {
		return fmt.Errorf("building the finalizer patch of deleted settled PaymentOrder %s/%s: %w", m.Namespace, m.Name, err)
	}
	_, err = r.Metadata.Resource(paymentOrdersResource).Namespace(m.Namespace).Patch(ctx, m.Name, types.MergePatchType, patch, metav1.PatchOptions{})
	switch {
	case err == nil:
		r.Log.V(1).Info("released deleted settled PaymentOrder", "order", m.Namespace+"/"+m.Name)
		return nil
	case apierrors.IsNotFound(err), apierrors.IsConflict(err), errors.Is(err, context.Canceled):
		return nil
	default:
		return fmt.Errorf("removing the finalizer of deleted settled PaymentOrder %s/%s: %w", m.Namespace, m.Name, err)
	}
}
