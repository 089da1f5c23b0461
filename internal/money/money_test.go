package money

import (
	"errors"
	"testing"
)

func TestToMinor(t *testing.T) {
	tests := []struct {
		name     string
		amount   string
		currency string
		want     int64
		wantErr  bool
	}{
		{"two-decimal currency with cents", "10.00", "CNY", 1000, false},
		{"fewer decimals than allowed are padded, not refused", "10.5", "USD", 1050, false},
		{"integer amount in a two-decimal currency", "7", "EUR", 700, false},
		{"smallest unit", "0.01", "CNY", 1, false},
		{"zero parses; positivity is the CRD's and caller's rule", "0", "CNY", 0, false},
		{"rounding is never silent: a third decimal in CNY is an error", "10.001", "CNY", 0, true},
		{"JPY has no minor unit", "1000", "JPY", 1000, false},
		{"JPY with a fraction is refused", "1.5", "JPY", 0, true},
		{"JPY with a trailing dot-zero is still refused (no dot allowed)", "1.0", "JPY", 0, true},
		{"KWD has three decimals", "1.234", "KWD", 1234, false},
		{"KWD with two decimals is padded", "1.23", "KWD", 1230, false},
		{"KWD with four decimals is refused", "1.2345", "KWD", 0, true},
		{"a negative sign is refused", "-1", "CNY", 0, true},
		{"a plus sign is refused", "+1", "CNY", 0, true},
		{"exponent notation is refused", "1e3", "CNY", 0, true},
		{"leading dot is refused", ".5", "CNY", 0, true},
		{"trailing dot is refused", "5.", "CNY", 0, true},
		{"empty string is refused", "", "CNY", 0, true},
		{"spaces are refused", " 1", "CNY", 0, true},
		{"two dots are refused", "1.2.3", "CNY", 0, true},
		{"lower-case currency is refused", "1", "cny", 0, true},
		{"overflow of int64 is refused", "99999999999999999999", "CNY", 0, true},
		{"largest amount that fits", "92233720368547758.07", "USD", 9223372036854775807, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ToMinor(tt.amount, tt.currency)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ToMinor(%q, %q) error = %v, wantErr %v", tt.amount, tt.currency, err, tt.wantErr)
			}
			if err != nil && !errors.Is(err, ErrInvalidAmount) {
				t.Fatalf("ToMinor(%q, %q) error %v does not wrap ErrInvalidAmount", tt.amount, tt.currency, err)
			}
			if got != tt.want {
				t.Fatalf("ToMinor(%q, %q) = %d, want %d", tt.amount, tt.currency, got, tt.want)
			}
		})
	}
}

func TestFromMinor(t *testing.T) {
	tests := []struct {
		name     string
		minor    int64
		currency string
		want     string
		wantErr  bool
	}{
		{"cents keep two digits", 1050, "USD", "10.50", false},
		{"below one unit gets a leading zero", 1, "CNY", "0.01", false},
		{"zero formats with the currency's digits", 0, "EUR", "0.00", false},
		{"zero-decimal currency has no dot", 1000, "JPY", "1000", false},
		{"three-decimal currency", 1234, "KWD", "1.234", false},
		{"three-decimal below one unit", 5, "BHD", "0.005", false},
		{"negative is refused", -1, "USD", "", true},
		{"bad currency is refused", 1, "usd", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := FromMinor(tt.minor, tt.currency)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Fatalf("FromMinor(%d, %q) = %q, %v; want %q, err=%v", tt.minor, tt.currency, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestRoundTrip(t *testing.T) {
	for _, c := range []string{"USD", "JPY", "KWD"} {
		for _, m := range []int64{0, 1, 9, 10, 99, 100, 123456789} {
			s, err := FromMinor(m, c)
			if err != nil {
				t.Fatalf("FromMinor(%d, %s): %v", m, c, err)
			}
			back, err := ToMinor(s, c)
			if err != nil || back != m {
				t.Fatalf("round trip %d %s -> %q -> %d, %v", m, c, s, back, err)
			}
		}
	}
}

func TestEqual(t *testing.T) {
	if !Equal("10.5", "10.50", "USD") {
		t.Error("10.5 and 10.50 USD should be equal")
	}
	if Equal("10.5", "10.51", "USD") {
		t.Error("10.5 and 10.51 USD should differ")
	}
	if Equal("abc", "abc", "USD") {
		t.Error("unparseable amounts are never equal, even to themselves")
	}
}

func FuzzToMinor(f *testing.F) {
	for _, s := range []string{"10.00", "0.01", "1.234", "1e3", "-1", "", "99999999999999999999"} {
		f.Add(s, "USD")
		f.Add(s, "JPY")
		f.Add(s, "KWD")
	}
	f.Fuzz(func(t *testing.T, amount, currency string) {
		m, err := ToMinor(amount, currency)
		if err != nil {
			return
		}
		// Whatever parses must format back to an amount that parses to the same value.
		s, err := FromMinor(m, currency)
		if err != nil {
			t.Fatalf("FromMinor(%d, %q) after ToMinor(%q): %v", m, currency, amount, err)
		}
		if back, err := ToMinor(s, currency); err != nil || back != m {
			t.Fatalf("%q -> %d -> %q -> %d, %v", amount, m, s, back, err)
		}
	})
}
