package webhook

import (
	"context"
	"errors"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/kubepay/kubepay/api/v1alpha1"
	"github.com/kubepay/kubepay/internal/index"
	"github.com/kubepay/kubepay/internal/resolver"
)

var errUnknownRefund = errors.New("no PaymentRefund with this refund number")

// findRefund finds the refund a notification is about: by the status.outRefundNo index in the
// provider's namespace, falling back to the API server (a selectable field) when the cache does
// not have it yet, and only among refunds of orders of the provider the notification came
// through. A refund whose status does not carry its number yet (the notification overtook the
// status write) is unknown for now: the provider's retry finds it.
func (s *Server) findRefund(ctx context.Context, rp *resolver.Resolved, outRefundNo string) (*v1.PaymentRefund, error) {
	ns := rp.Spec.Namespace
	if outRefundNo == "" {
		return nil, fmt.Errorf("%w: refund notification carries no refund number", errMismatch)
	}
	list := &v1.PaymentRefundList{}
	if err := s.Client.List(ctx, list, client.InNamespace(ns), client.MatchingFields{index.RefundOutRefundNo: outRefundNo}); err != nil {
		return nil, fmt.Errorf("looking up PaymentRefund with outRefundNo %s in %s: %w", outRefundNo, ns, err)
	}
	if len(list.Items) == 0 && s.APIReader != nil {
		opts := append([]client.ListOption{client.InNamespace(ns), client.MatchingFields{index.RefundOutRefundNo: outRefundNo}}, s.Share.ListOptions()...)
		if err := s.APIReader.List(ctx, list, opts...); err != nil {
			return nil, fmt.Errorf("looking up PaymentRefund with outRefundNo %s in %s from the API server: %w", outRefundNo, ns, err)
		}
	}
	for i := range list.Items {
		ref := &list.Items[i]
		if !s.Share.Has(ref) {
			continue
		}
		order := &v1.PaymentOrder{}
		key := client.ObjectKey{Namespace: ref.Namespace, Name: ref.Spec.OrderRef.Name}
		err := s.Client.Get(ctx, key, order)
		if apierrors.IsNotFound(err) && s.APIReader != nil {
			err = s.APIReader.Get(ctx, key, order)
		}
		if err != nil {
			return nil, fmt.Errorf("reading PaymentOrder %s of PaymentRefund %s/%s: %w", key, ref.Namespace, ref.Name, err)
		}
		if order.UsesProvider(rp.Spec) {
			return ref, nil
		}
	}
	return nil, fmt.Errorf("%w: outRefundNo %s in namespace %s at PaymentProvider %s", errUnknownRefund, outRefundNo, ns, rp.Spec.Name)
}
