package index

import (
	"context"
	"slices"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/kubepay/kubepay/api/v1alpha1"
)

// recordingCache is a cache as Setup sees it: it keeps the indexers given to its informers, and
// the fields given to IndexField.
type recordingCache struct {
	cache.Cache
	indexers map[string]toolscache.Indexers
	fields   []string
}

type recordingInformer struct {
	cache.Informer
	kind string
	c    *recordingCache
}

func (c *recordingCache) GetInformer(_ context.Context, obj client.Object, _ ...cache.InformerGetOption) (cache.Informer, error) {
	return recordingInformer{kind: kindOf(obj), c: c}, nil
}

func (c *recordingCache) IndexField(_ context.Context, obj client.Object, field string, _ client.IndexerFunc) error {
	c.fields = append(c.fields, kindOf(obj)+" "+field)
	return nil
}

func (i recordingInformer) AddIndexers(ix toolscache.Indexers) error {
	if i.c.indexers[i.kind] == nil {
		i.c.indexers[i.kind] = toolscache.Indexers{}
	}
	for name, f := range ix {
		i.c.indexers[i.kind][name] = f
	}
	return nil
}

func kindOf(obj client.Object) string {
	switch obj.(type) {
	case *v1.PaymentOrder:
		return "PaymentOrder"
	case *v1.PaymentRefund:
		return "PaymentRefund"
	default:
		return "other"
	}
}

// TestNumbersIndexedPerNamespaceOnly: an out_trade_no or refund number gets one key per object,
// in the format controller-runtime's cache reads for MatchingFields in a namespace; the second,
// cross-namespace key IndexField would add costs memory per cached order and nothing reads it.
func TestNumbersIndexedPerNamespaceOnly(t *testing.T) {
	c := &recordingCache{indexers: map[string]toolscache.Indexers{}}
	if err := Setup(t.Context(), c); err != nil {
		t.Fatal(err)
	}
	order := &v1.PaymentOrder{ObjectMeta: metav1.ObjectMeta{Name: "coffee", Namespace: "shop"}}
	order.Status.OutTradeNo = "OTN-1"
	refund := &v1.PaymentRefund{ObjectMeta: metav1.ObjectMeta{Name: "back", Namespace: "shop"}}
	refund.Status.OutRefundNo = "ORN-1"
	for _, tc := range []struct {
		kind, field string
		obj         client.Object
		want        []string
	}{
		{"PaymentOrder", OrderOutTradeNo, order, []string{"shop/OTN-1"}},
		{"PaymentRefund", RefundOutRefundNo, refund, []string{"shop/ORN-1"}},
		{"PaymentOrder", OrderOutTradeNo, &v1.PaymentOrder{ObjectMeta: metav1.ObjectMeta{Name: "new", Namespace: "shop"}}, []string{}},
		// A PaymentProvider's orders are listed in its namespace only.
		{"PaymentOrder", OrderProvider, &v1.PaymentOrder{ObjectMeta: metav1.ObjectMeta{Name: "coffee", Namespace: "shop"},
			Spec: v1.PaymentOrderSpec{ProviderRef: v1.ProviderReference{Name: "sandbox"}}}, []string{"shop/sandbox"}},
		// A ClusterPaymentProvider's orders are listed across all namespaces only.
		{"PaymentOrder", OrderProvider, &v1.PaymentOrder{ObjectMeta: metav1.ObjectMeta{Name: "coffee", Namespace: "shop"},
			Spec: v1.PaymentOrderSpec{ProviderRef: v1.ProviderReference{Kind: v1.KindClusterPaymentProvider, Name: "global"}}}, []string{"__all_namespaces/_cluster/global"}},
	} {
		f := c.indexers[tc.kind]["field:"+tc.field]
		if f == nil {
			t.Fatalf("%s: no informer index field:%s (registered: %v)", tc.kind, tc.field, c.indexers[tc.kind])
		}
		got, err := f(tc.obj)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("%s %s: keys %q, %v; want %q", tc.kind, tc.obj.GetName(), got, err, tc.want)
		}
	}
	for _, f := range c.fields {
		if f == "PaymentOrder "+OrderOutTradeNo || f == "PaymentRefund "+RefundOutRefundNo || f == "PaymentOrder "+OrderProvider {
			t.Errorf("%s also indexed with IndexField, which doubles its keys", f)
		}
	}
}
