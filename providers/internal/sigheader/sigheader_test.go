package sigheader

import (
	"encoding/hex"
	"strings"
	"testing"
)

var hexRules = Rules{Name: "Test-Signature", MaxLen: 256, MaxV1: 2, CanonicalT: true, EmptyValues: true, SkipBadV1: true,
	V1Form: "hex", V1: func(v string) ([]byte, bool) { b, err := hex.DecodeString(v); return b, err == nil && len(b) == 2 }}

var strictRules = Rules{Name: "Test-Signature", MaxLen: 256, MaxV1: 2, V1Form: "hex",
	V1: func(v string) ([]byte, bool) { b, err := hex.DecodeString(v); return b, err == nil }}

func TestParse(t *testing.T) {
	tests := []struct {
		name   string
		rules  Rules
		header string
		wantT  int64
		wantV1 int
		ok     bool
	}{
		{"t and one v1", strictRules, "t=1700000000,v1=abcd", 1700000000, 1, true},
		{"two v1 let a sender roll its key", strictRules, "t=1,v1=ab,v1=cd", 1, 2, true},
		{"unknown schemes are ignored", strictRules, "t=1,v0=zz,v1=ab", 1, 1, true},
		{"spaces around elements are tolerated", strictRules, " t=1 , v1=ab ", 1, 1, true},
		{"missing header", strictRules, "", 0, 0, false},
		{"no t", strictRules, "v1=ab", 0, 0, false},
		{"two t: which one was signed?", strictRules, "t=1,t=2,v1=ab", 0, 0, false},
		{"no v1", strictRules, "t=1", 0, 0, false},
		{"negative t", strictRules, "t=-1,v1=ab", 0, 0, false},
		{"t beyond int64 digits", strictRules, "t=9999999999999999999,v1=ab", 0, 0, false},
		{"element without =", strictRules, "t=1,v1", 0, 0, false},
		{"empty value is malformed without EmptyValues", strictRules, "t=1,v0=,v1=ab", 0, 0, false},
		{"bad v1 refuses the header without SkipBadV1", strictRules, "t=1,v1=zz", 0, 0, false},
		{"too many v1 bound the work of an unauthenticated sender", strictRules, "t=1,v1=ab,v1=ab,v1=ab", 0, 0, false},
		{"over MaxLen", strictRules, "t=1,v1=" + strings.Repeat("a", 300), 0, 0, false},
		{"leading zeros in t are refused under CanonicalT", hexRules, "t=01,v1=abcd", 0, 0, false},
		{"leading zeros are fine without CanonicalT", strictRules, "t=01,v1=ab", 1, 1, true},
		{"a bad v1 is skipped under SkipBadV1, the good one kept", hexRules, "t=1,v1=zz,v1=abcd", 1, 1, true},
		{"only bad v1 under SkipBadV1 is no signature", hexRules, "t=1,v1=zz", 0, 0, false},
		{"empty values allowed under EmptyValues", hexRules, "t=1,v0=,v1=abcd", 1, 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := tt.rules.Parse(tt.header)
			if (err == nil) != tt.ok {
				t.Fatalf("Parse(%q) error = %v, want ok=%v", tt.header, err, tt.ok)
			}
			if tt.ok && (h.T != tt.wantT || len(h.V1) != tt.wantV1) {
				t.Fatalf("Parse(%q) = t %d, %d v1; want t %d, %d v1", tt.header, h.T, len(h.V1), tt.wantT, tt.wantV1)
			}
		})
	}
}
