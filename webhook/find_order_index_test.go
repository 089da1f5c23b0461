package webhook_test

import (
	"fmt"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/kubepay/kubepay/api/v1alpha1"
	"github.com/kubepay/kubepay/internal/index"
	"github.com/kubepay/kubepay/internal/testenv"
	"github.com/kubepay/kubepay/internal/testfixture"
	"github.com/kubepay/kubepay/providers/sandbox/gateway"
)

// TestCachedLookupByOutTradeNo: the manager's cache finds an open order by its out_trade_no in its
// namespace through the index alone. The callback server falls back to the API server when the
// cache finds nothing, which would hide a broken index: every notification would still apply,
// each at the cost of a LIST.
func TestCachedLookupByOutTradeNo(t *testing.T) {
	f := testfixture.New(t, env, gateway.Options{}, noQuery)
	f.Order("indexed", "4.00", "CNY", 30*time.Minute)
	o := f.WaitPhase("indexed", v1.PhaseAwaitingPayment, 30*time.Second)
	lookup := func(ns string) (*v1.PaymentOrderList, error) {
		list := &v1.PaymentOrderList{}
		err := mgr.GetClient().List(t.Context(), list, client.InNamespace(ns), client.MatchingFields{index.OrderOutTradeNo: o.Status.OutTradeNo})
		return list, err
	}
	testenv.Eventually(t, 10*time.Second, func() (bool, string) {
		list, err := lookup(o.Namespace)
		if err != nil {
			return false, err.Error()
		}
		return len(list.Items) == 1 && list.Items[0].UID == o.UID, fmt.Sprintf("the cache found %d orders with outTradeNo %s in %s", len(list.Items), o.Status.OutTradeNo, o.Namespace)
	})
	if list, err := lookup("elsewhere"); err != nil || len(list.Items) != 0 {
		t.Errorf("lookup in another namespace: %d orders, %v; want none", len(list.Items), err)
	}
}
