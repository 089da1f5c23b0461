package webhook

import (
	"fmt"
	"testing"
	"time"
)

func TestSourceKey(t *testing.T) {
	tests := []struct {
		remoteAddr, want string
		why              string
	}{
		{"192.0.2.7:443", "192.0.2.7/32", "an IPv4 sender is its address"},
		{"[2001:db8:1:2:3:4:5:6]:443", "2001:db8:1:2::/64", "an IPv6 sender is its /64: a host usually has the whole /64"},
		{"[2001:db8:1:2:ffff:ffff:ffff:ffff]:1", "2001:db8:1:2::/64", "any address in the same /64 is the same sender"},
		{"[2001:db8:1:3::1]:443", "2001:db8:1:3::/64", "the next /64 is another sender"},
		{"[::ffff:192.0.2.7]:443", "192.0.2.7/32", "an IPv4-mapped address (dual-stack listener) is the IPv4 sender"},
		{"[fe80::1%eth0]:443", "fe80::/64", "the zone is not part of the sender"},
		{"[::1]:443", "::/64", "IPv6 loopback"},
		{"192.0.2.7", "192.0.2.7/32", "an address without a port still keys by address"},
		{"not-an-address", "unparsable", "garbage shares one key, so it cannot mint budgets"},
		{"", "unparsable", "so does nothing"},
	}
	for _, tt := range tests {
		if got := sourceKey(tt.remoteAddr); got != tt.want {
			t.Errorf("sourceKey(%q) = %q, want %q: %s", tt.remoteAddr, got, tt.want, tt.why)
		}
	}
}

// spendAll spends source's budget until it is refused and returns how many failures it allowed.
func spendAll(b *failureBudget, remoteAddr string, now time.Time) int {
	for n := 0; ; n++ {
		if ok, _ := b.spend(sourceKey(remoteAddr), now); !ok {
			return n
		}
	}
}

// TestFailureBudgetKeyedBy64: an IPv6 sender cannot escape its budget by changing the low 64 bits
// of its address; a sender in another /64, or an IPv4 sender, keeps its own.
func TestFailureBudgetKeyedBy64(t *testing.T) {
	now := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	b := newFailureBudget(0.001, 5) // no refill within the test
	if n := spendAll(b, "[2001:db8:1:2::1]:1000", now); n != 5 {
		t.Fatalf("first address of 2001:db8:1:2::/64 allowed %d failures, want the burst of 5", n)
	}
	for i := range 100 {
		addr := fmt.Sprintf("[2001:db8:1:2:%x:%x::%x]:1000", i, i*7, i+1)
		if ok, _ := b.spend(sourceKey(addr), now); ok {
			t.Fatalf("%s was allowed a failure after its /64's budget was spent: a new /128 must not be a new budget", addr)
		}
	}
	for _, other := range []string{"[2001:db8:1:3::1]:1000", "192.0.2.7:1000"} {
		if n := spendAll(b, other, now); n != 5 {
			t.Errorf("%s allowed %d failures, want its own burst of 5", other, n)
		}
	}
	ok, retry := b.spend(sourceKey("192.0.2.7:1"), now)
	if ok || retry < time.Second || retry > time.Minute {
		t.Errorf("spent budget: allowed=%v retryAfter=%v, want refused with Retry-After within [1s, 1m]", ok, retry)
	}
}

// TestFailureBudgetMemoryBounded: past maxBudgetSources tracked senders, new ones share one
// budget instead of growing the map without bound (an IPv6 /32 holds 2^32 /64s).
func TestFailureBudgetMemoryBounded(t *testing.T) {
	now := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	b := newFailureBudget(0.001, 1)
	for i := range maxBudgetSources + 1000 {
		b.spend(fmt.Sprintf("2001:db8:%x:%x::/64", i>>16, i&0xffff), now)
	}
	if n := len(b.buckets); n > maxBudgetSources+1 {
		t.Fatalf("%d budgets tracked, want at most %d (+1 shared overflow)", n, maxBudgetSources+1)
	}
	// Idle budgets are swept, making room again.
	b.spend("192.0.2.1/32", now.Add(budgetIdle+2*time.Minute))
	if n := len(b.buckets); n != 1 {
		t.Errorf("%d budgets left after every other went idle for %v, want 1", n, budgetIdle)
	}
}
