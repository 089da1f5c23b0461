package controllers

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/kubepay/kubepay/api/v1alpha1"
)

func TestQueryScheduleDoublesToMaxWithJitter(t *testing.T) {
	var s querySchedule
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	initial, maxInterval := 30*time.Second, 4*time.Minute
	next := s.start("uid", now, initial)
	if d := next.Sub(now); d < 24*time.Second || d > 36*time.Second {
		t.Fatalf("first query in %v, want 30s ±20%%", d)
	}
	if due, _ := s.due("uid", now, initial); due {
		t.Fatal("query due at once after create; the first waits one interval")
	}
	// Each query doubles the interval (30s, 60s, 120s, 240s, then capped at 240s).
	want := []time.Duration{60 * time.Second, 120 * time.Second, 240 * time.Second, 240 * time.Second}
	for i, w := range want {
		now = next
		if due, _ := s.due("uid", now, initial); !due {
			t.Fatalf("query %d not due at its scheduled time", i+1)
		}
		next = s.queried("uid", now, initial, maxInterval)
		if d := next.Sub(now); d < w*8/10 || d > w*12/10 {
			t.Fatalf("interval after query %d is %v, want %v ±20%%", i+1, d, w)
		}
	}
	s.forget("uid")
	if due, at := s.due("uid", now, initial); due || at.Sub(now) < 24*time.Second {
		t.Fatalf("a forgotten (or restarted) order must wait an initial interval, got due=%v at %v", due, at.Sub(now))
	}
}

func TestOutTradeNo(t *testing.T) {
	tests := []struct {
		name   string
		order  v1.PaymentOrder
		prefix string
		want   string
	}{
		{"spec.orderID is the merchant's own reference and wins",
			v1.PaymentOrder{ObjectMeta: metav1.ObjectMeta{UID: "0b7e4c1a-1d2e-4f5a-8b9c-0d1e2f3a4b5c"}, Spec: v1.PaymentOrderSpec{OrderID: "ORDER-1001"}}, "", "ORDER-1001"},
		{"without it the UID, minus dashes, fits every provider's 32-character limit",
			v1.PaymentOrder{ObjectMeta: metav1.ObjectMeta{UID: "0b7e4c1a-1d2e-4f5a-8b9c-0d1e2f3a4b5c"}}, "", "0b7e4c1a1d2e4f5a8b9c0d1e2f3a4b5c"},
		{"the provider's prefix keeps namespaces sharing a merchant account apart",
			v1.PaymentOrder{ObjectMeta: metav1.ObjectMeta{UID: "0b7e4c1a-1d2e-4f5a-8b9c-0d1e2f3a4b5c"}, Spec: v1.PaymentOrderSpec{OrderID: "ORDER-1001"}}, "shopA_", "shopA_ORDER-1001"},
		{"with a prefix the UID part is cut so the whole still fits 32",
			v1.PaymentOrder{ObjectMeta: metav1.ObjectMeta{UID: "0b7e4c1a-1d2e-4f5a-8b9c-0d1e2f3a4b5c"}}, "shopA_", "shopA_0b7e4c1a1d2e4f5a8b9c0d1e2f"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := OutTradeNo(&tt.order, tt.prefix)
			if got != tt.want || len(got) > 32 {
				t.Fatalf("OutTradeNo = %q, want %q (at most 32 chars)", got, tt.want)
			}
			if again := OutTradeNo(&tt.order, tt.prefix); again != got {
				t.Fatal("OutTradeNo is not stable across calls")
			}
		})
	}
}
