package webhook_test

import (
	"fmt"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/kubepay/kubepay/api/v1alpha1"
	"github.com/kubepay/kubepay/internal/index"
	"github.com/kubepay/kubepay/internal/testenv"
	"github.com/kubepay/kubepay/internal/testfixture"
	"github.com/kubepay/kubepay/providers/sandbox/gateway"
)

// TestCachedLookups: the manager's cache finds an open order through kubepay's one-key indexes
// (internal/index), which build controller-runtime's key format themselves. By out_trade_no in its
// namespace: the callback server falls back to the API server when the cache finds nothing, which
// would hide a broken index (every notification would still apply, each at the cost of a LIST).
// By provider: in the namespace for a PaymentProvider, across all namespaces for a
// ClusterPaymentProvider (a provider's change requeues its orders; its deletion waits for them).
func TestCachedLookups(t *testing.T) {
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

	byProvider := func(ns, key string) func() (bool, string) {
		return func() (bool, string) {
			list := &v1.PaymentOrderList{}
			if err := mgr.GetClient().List(t.Context(), list, client.InNamespace(ns), client.MatchingFields{index.OrderProvider: key}); err != nil {
				return false, err.Error()
			}
			for _, got := range list.Items {
				if got.Namespace == f.NS && got.Spec.ProviderRef == o.Spec.ProviderRef {
					return true, ""
				}
			}
			return false, fmt.Sprintf("the cache found %d orders of provider %s in namespace %q, none of them %s/%s", len(list.Items), key, ns, f.NS, o.Name)
		}
	}
	testenv.Eventually(t, 10*time.Second, byProvider(o.Namespace, o.ProviderIndexKey()))

	// An order of a ClusterPaymentProvider (which need not exist: the order waits, cached).
	o = &v1.PaymentOrder{
		ObjectMeta: metav1.ObjectMeta{Namespace: f.NS, Name: "of-a-cluster-provider"},
		Spec: v1.PaymentOrderSpec{ProviderRef: v1.ProviderReference{Kind: v1.KindClusterPaymentProvider, Name: "nowhere"},
			Amount: "4.00", Currency: "CNY", Channel: "sandbox", Subject: "index"},
	}
	if err := env.Client.Create(t.Context(), o); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, byProvider(metav1.NamespaceAll, o.ProviderIndexKey()))
}
