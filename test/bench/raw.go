package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/kubepay/kubepay/api/v1alpha1"
	"github.com/kubepay/kubepay/internal/testenv"
)

const rawNamespace = "bench-raw"

// raw measures the ceiling: the same API work kubepay does per order (create + one status write;
// one optimistic-lock status merge-patch per notification) with nothing else in the path.
func (b *bench) raw(ctx context.Context, createPerS, patchPerS *float64, cpu *rawCPU) error {
	c := b.env.Client
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: rawNamespace}}); err != nil {
		return err
	}
	objs := make([]*v1.PaymentOrder, b.orders)
	cpu0 := b.cpuSeconds(ctx)
	start := time.Now()
	err := parallel(b.orders, b.conc, func(i int) error {
		o := order(rawNamespace, fmt.Sprintf("order-%05d", i))
		if err := c.Create(ctx, o); err != nil {
			return err
		}
		exp := metav1.NewTime(time.Now().Add(time.Hour))
		o.Status = v1.PaymentOrderStatus{Phase: v1.PhaseAwaitingPayment, OutTradeNo: fmt.Sprintf("RAW%08d", i), AmountMinor: 1000,
			ProviderPaymentID: fmt.Sprintf("pay_raw_%d", i), PaymentURL: "http://127.0.0.1/checkout/x", ExpiresAt: &exp}
		objs[i] = o
		return c.Status().Update(ctx, o)
	})
	if err != nil {
		return fmt.Errorf("raw creates: %w", err)
	}
	*createPerS = perSecond(b.orders, time.Since(start))
	cpu1 := b.cpuSeconds(ctx)
	cpu.Create = cpuMillisPer(cpu0, cpu1, b.orders)

	start = time.Now()
	err = parallel(b.orders, b.conc, func(i int) error {
		o := objs[i]
		patch := client.MergeFromWithOptions(o.DeepCopy(), client.MergeFromWithOptimisticLock{})
		paid := metav1.Now()
		o.Status.Phase, o.Status.PaidAt, o.Status.PaidAmount = v1.PhasePaid, &paid, "10.00"
		o.Status.LastNotification = &v1.NotificationRef{ID: fmt.Sprintf("evt_raw_%d", i), Type: "payment.succeeded", ReceivedAt: paid}
		o.Status.History = append(o.Status.History, v1.Transition{Time: paid, From: v1.PhaseAwaitingPayment, To: v1.PhasePaid, Source: v1.SourceNotification})
		return c.Status().Patch(ctx, o, patch)
	})
	if err != nil {
		return fmt.Errorf("raw status patches: %w", err)
	}
	*patchPerS = perSecond(b.orders, time.Since(start))
	cpu.StatusPatch = cpuMillisPer(cpu1, b.cpuSeconds(ctx), b.orders)
	fmt.Printf("  raw create+status %.0f/s (CPU ms each %v), raw status patch %.0f/s (CPU ms each %v)\n", *createPerS, cpu.Create, *patchPerS, cpu.StatusPatch)

	// Out of the way before kubepay starts, so its cache and controller see only its own orders.
	if err := c.DeleteAllOf(ctx, &v1.PaymentOrder{}, client.InNamespace(rawNamespace)); err != nil {
		return err
	}
	return waitEmpty(ctx, b.env, rawNamespace)
}

// rawCPU is what the raw writes cost in CPU, milliseconds per order by process.
type rawCPU struct {
	// Create is a create plus a status write; StatusPatch one status merge-patch.
	Create      map[string]float64 `json:"create_and_status_write"`
	StatusPatch map[string]float64 `json:"status_patch"`
}

func waitEmpty(ctx context.Context, env *testenv.Env, ns string) error {
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		list := &v1.PaymentOrderList{}
		if err := env.Client.List(ctx, list, client.InNamespace(ns)); err != nil {
			return err
		}
		if len(list.Items) == 0 {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("orders in %s were not deleted", ns)
}

func order(ns, name string) *v1.PaymentOrder {
	return &v1.PaymentOrder{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: v1.PaymentOrderSpec{
			ProviderRef: v1.ProviderReference{Name: "sandbox"}, Amount: "10.00", Currency: "CNY",
			Channel: "sandbox", Subject: "bench", ExpiresAfter: &metav1.Duration{Duration: time.Hour},
		},
	}
}

// parallel runs fn(0..n-1) on conc workers and returns the first error.
func parallel(n, conc int, fn func(i int) error) error {
	next := make(chan int)
	var once sync.Once
	var first error
	var wg sync.WaitGroup
	for range conc {
		wg.Go(func() {
			for i := range next {
				if err := fn(i); err != nil {
					once.Do(func() { first = err })
				}
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	return first
}
