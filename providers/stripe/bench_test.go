package stripe_test

import (
	"testing"
	"time"
)

// BenchmarkParseNotification measures the callback server's per-event provider work: signature
// check and parse of a paid checkout.session.completed event, and the refusal of a forged one
// (which must cost no more than the HMACs).
func BenchmarkParseNotification(b *testing.B) {
	now := time.Unix(1_900_000_000, 0)
	c := newClient(b, "", now)
	body := paidEvent("evt_bench", "cs_test_bench", "order-bench", 1250, now).JSON()
	cases := []struct {
		name, header string
		ok           bool
	}{
		{"accepted", sign(body, testSecret, now), true},
		{"accepted_with_next_secret", sign(body, testNext, now), true},
		{"forged", sign(body, "whsec_forged", now), false},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			r := notifyRequest(body, tc.header)
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if _, err := c.ParseNotification(b.Context(), r, body); (err == nil) != tc.ok {
					b.Fatal(err)
				}
			}
		})
	}
}
