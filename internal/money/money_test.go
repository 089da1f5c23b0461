package money

import (
	"errors"
	"slices"
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
		{"ABC is three letters but no ISO 4217 code: refused, not guessed at two decimals", "1.00", "ABC", 0, true},
		{"BIF has no minor unit in ISO 4217, so 1.50 would invent centimes", "1.50", "BIF", 0, true},
		{"BIF in whole francs", "150", "BIF", 150, false},
		{"UGX has no minor unit in ISO 4217", "1.5", "UGX", 0, true},
		{"UYI, a fund code, has no minor unit", "100", "UYI", 100, false},
		{"XPF has no minor unit", "1.00", "XPF", 0, true},
		{"IQD has three decimals in ISO 4217", "1.234", "IQD", 1234, false},
		{"CLF has four decimals in ISO 4217", "1.2345", "CLF", 12345, false},
		{"UYW has four decimals; a fifth is refused", "1.23456", "UYW", 0, true},
		{"the largest CRD amount with four decimals fits in int64", "99999999999999.9999", "CLF", 999999999999999999, false},
		{"XAU (gold) has no minor unit, so no minor-unit amount exists", "1", "XAU", 0, true},
		{"XXX means no currency", "1", "XXX", 0, true},
		{"XTS is reserved for testing", "1", "XTS", 0, true},
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
		{"four-decimal currency", 12345, "CLF", "1.2345", false},
		{"BIF has no minor unit", 150, "BIF", "150", false},
		{"an unknown code is refused, not formatted with two decimals", 100, "ABC", "", true},
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
	for _, c := range []string{"USD", "JPY", "KWD", "CLF", "BIF"} {
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

// TestMinorUnitsFollowISO4217: the codes the hand-kept table got wrong, and the codes ISO 4217
// gives no minor unit, each with the reason it is listed.
func TestMinorUnitsFollowISO4217(t *testing.T) {
	tests := []struct {
		code  string
		want  int
		known bool
		why   string
	}{
		{"BIF", 0, true, "Burundi franc: no minor unit (was accepted with two decimals)"},
		{"DJF", 0, true, "Djibouti franc: no minor unit (was two)"},
		{"GNF", 0, true, "Guinean franc: no minor unit (was two)"},
		{"KMF", 0, true, "Comorian franc: no minor unit (was two)"},
		{"RWF", 0, true, "Rwanda franc: no minor unit (was two)"},
		{"UGX", 0, true, "Uganda shilling: no minor unit (was two)"},
		{"UYI", 0, true, "Uruguay peso en unidades indexadas, a fund code: no minor unit (was two)"},
		{"VUV", 0, true, "vatu: no minor unit (was two)"},
		{"XPF", 0, true, "CFP franc: no minor unit (was two)"},
		{"JPY", 0, true, "yen, as before"},
		{"USD", 2, true, "US dollar, as before"},
		{"KWD", 3, true, "Kuwaiti dinar, as before"},
		{"CLF", 4, true, "Unidad de Fomento, a fund code with four decimals"},
		{"UYW", 4, true, "Unidad Previsional, four decimals"},
		{"ABC", 0, false, "not a code at all"},
		{"XAU", 0, false, "gold: N.A. in the list, no smallest unit to count in"},
		{"XDR", 0, false, "SDR: N.A. in the list"},
		{"XXX", 0, false, "the code for no currency"},
		{"XTS", 0, false, "reserved for testing"},
		{"usd", 0, false, "codes are upper case"},
	}
	for _, tt := range tests {
		t.Run(tt.code, func(t *testing.T) {
			got, known := MinorUnits(tt.code)
			if known != tt.known || got != tt.want {
				t.Errorf("MinorUnits(%q) = %d, %v; want %d, %v (%s)", tt.code, got, known, tt.want, tt.known, tt.why)
			}
			if ValidCurrency(tt.code) != tt.known {
				t.Errorf("ValidCurrency(%q) = %v, want %v (%s)", tt.code, !tt.known, tt.known, tt.why)
			}
			if tt.known && Exponent(tt.code) != tt.want {
				t.Errorf("Exponent(%q) = %d, want %d (%s)", tt.code, Exponent(tt.code), tt.want, tt.why)
			}
		})
	}
}

// TestExportedListsMatchTheTable: ZeroDecimal, ThreeDecimal and FourDecimal are views of the
// same table, sorted, and Currencies lists every code once.
func TestExportedListsMatchTheTable(t *testing.T) {
	for want, list := range map[int][]string{0: ZeroDecimal, 3: ThreeDecimal, 4: FourDecimal} {
		if !slices.IsSorted(list) {
			t.Errorf("%d-decimal list is not sorted: %v", want, list)
		}
		for _, c := range list {
			if got, ok := MinorUnits(c); !ok || got != want {
				t.Errorf("%s is in the %d-decimal list but MinorUnits says %d, %v", c, want, got, ok)
			}
		}
	}
	all := Currencies()
	if !slices.IsSorted(all) || len(slices.Compact(slices.Clone(all))) != len(all) {
		t.Fatalf("Currencies() is not sorted and unique: %v", all)
	}
	counts := map[int]int{}
	for _, c := range all {
		d, ok := MinorUnits(c)
		if !ok {
			t.Errorf("Currencies() lists %s, which MinorUnits does not know", c)
		}
		counts[d]++
	}
	if counts[0] != len(ZeroDecimal) || counts[3] != len(ThreeDecimal) || counts[4] != len(FourDecimal) {
		t.Errorf("Currencies() has %v codes per exponent; the lists have 0:%d 3:%d 4:%d", counts, len(ZeroDecimal), len(ThreeDecimal), len(FourDecimal))
	}
}
