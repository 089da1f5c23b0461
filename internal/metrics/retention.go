package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

// RetentionDeleted counts what retention (spec.retention.settledOrderTTL) deleted, by kind
// (order, refund): history leaving etcd should be visible, never silent.
var RetentionDeleted = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "kubepay_retention_deleted_total",
	Help: "Settled PaymentOrders and their PaymentRefunds deleted by retention, by kind (order, refund).",
}, []string{"kind"})

func init() {
	ctrlmetrics.Registry.MustRegister(RetentionDeleted)
}
