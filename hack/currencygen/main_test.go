package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestGeneratedFilesAreCurrent: the Go table and the CRD rules in the repository are exactly what
// the generator makes from the list in the repository. A list replaced without regenerating, or a
// generated line edited by hand, fails here with the file to regenerate.
func TestGeneratedFilesAreCurrent(t *testing.T) {
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	if err := run(root, out); err != nil {
		t.Fatalf("generating from %s: %v", listPath, err)
	}
	for _, p := range []string{goPath, typesPath} {
		want, err := os.ReadFile(filepath.Join(out, p))
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(root, p))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is stale relative to %s: run `go generate ./internal/money`, then `make manifests`\n%s", p, listPath, firstDifference(got, want))
		}
	}
}

// firstDifference names the first line where the repository's file and the generated one differ.
func firstDifference(got, want []byte) string {
	g, w := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
	for i := 0; i < max(len(g), len(w)); i++ {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			return fmt.Sprintf("line %d:\n in the repository: %.200s\n generated:         %.200s", i+1, gl, wl)
		}
	}
	return "files differ"
}

// entry is one CcyNtry of a test list.
func entry(country, code, minor string) string {
	return "<CcyNtry><CtryNm>" + country + "</CtryNm><CcyNm>x</CcyNm><Ccy>" + code + "</Ccy><CcyNbr>1</CcyNbr><CcyMnrUnts>" + minor + "</CcyMnrUnts></CcyNtry>"
}

func xmlList(published string, entries ...string) string {
	return `<?xml version="1.0" encoding="UTF-8"?><ISO_4217 Pblshd="` + published + `"><CcyTbl>` + strings.Join(entries, "") + `</CcyTbl></ISO_4217>`
}

func TestParseList(t *testing.T) {
	tests := []struct {
		name    string
		xml     string
		minor   map[string]int
		noMinor []string
		wantErr string
	}{
		{"a code shared by countries is listed once",
			xmlList("2026-01-01", entry("A", "EUR", "2"), entry("B", "EUR", "2"), entry("C", "JPY", "0")),
			map[string]int{"EUR": 2, "JPY": 0}, nil, ""},
		{"N.A. codes are kept apart: there is no minor unit to count an amount in",
			xmlList("2026-01-01", entry("A", "USD", "2"), entry("ZZ01", "XAU", "N.A."), entry("ZZ02", "XXX", "N.A.")),
			map[string]int{"USD": 2}, []string{"XAU", "XXX"}, ""},
		{"an entry without a code names no currency (Antarctica)",
			xmlList("2026-01-01", entry("A", "USD", "2"), "<CcyNtry><CtryNm>ANTARCTICA</CtryNm><CcyNm>No universal currency</CcyNm></CcyNtry>"),
			map[string]int{"USD": 2}, nil, ""},
		{"four decimals are within what the CRD and int64 allow",
			xmlList("2026-01-01", entry("CHILE", "CLF", "4")),
			map[string]int{"CLF": 4}, nil, ""},
		{"one code with two minor units is a broken list, not a choice to make silently",
			xmlList("2026-01-01", entry("A", "EUR", "2"), entry("B", "EUR", "3")),
			nil, nil, "EUR has minor unit \"3\" for B but \"2\" elsewhere"},
		{"five decimals would need a wider amount pattern and could overflow int64",
			xmlList("2026-01-01", entry("A", "ABC", "5")),
			nil, nil, "ABC has minor unit \"5\""},
		{"a minor unit that is neither a number nor N.A. is refused",
			xmlList("2026-01-01", entry("A", "ABC", "two")),
			nil, nil, "ABC has minor unit \"two\""},
		{"a code that is not three upper-case letters is refused",
			xmlList("2026-01-01", entry("A", "usd", "2")),
			nil, nil, "code \"usd\""},
		{"the publication date is recorded, so it must be there",
			xmlList("", entry("A", "USD", "2")),
			nil, nil, "publication date"},
		{"a list with no payable currency is not list one",
			xmlList("2026-01-01", entry("ZZ01", "XAU", "N.A.")),
			nil, nil, "no currency with a minor unit"},
		{"not XML", "{}", nil, nil, "not an ISO 4217 list"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := parseList(strings.NewReader(tt.xml))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parseList error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(l.Minor) != fmt.Sprint(tt.minor) || fmt.Sprint(l.NoMinor) != fmt.Sprint(tt.noMinor) {
				t.Errorf("parseList = %v, N.A. %v; want %v, N.A. %v", l.Minor, l.NoMinor, tt.minor, tt.noMinor)
			}
			if l.Published != "2026-01-01" {
				t.Errorf("Published = %q", l.Published)
			}
		})
	}
}

// TestRenderRules pins the shape of the CEL rules on a small list: refusing unknown codes, one
// branch per exponent other than 2, 2 as the default.
func TestRenderRules(t *testing.T) {
	l := list{Published: "2026-01-01", Minor: map[string]int{"USD": 2, "JPY": 0, "KWD": 3, "CLF": 4}, NoMinor: []string{"XAU", "XXX"}}
	want := []string{
		`// +kubebuilder:validation:XValidation:rule="self.currency in ['CLF','JPY','KWD','USD']",message="currency must be an ISO 4217 code with a minor unit (ISO 4217 list one of 2026-01-01); codes without one, such as XAU or XXX, cannot be paid",fieldPath=".currency"`,
		`// +kubebuilder:validation:XValidation:rule="self.currency in ['JPY'] ? !self.amount.contains('.') : (self.currency in ['KWD'] ? self.amount.matches('^[0-9]+([.][0-9]{1,3})?$') : (self.currency in ['CLF'] ? self.amount.matches('^[0-9]+([.][0-9]{1,4})?$') : self.amount.matches('^[0-9]+([.][0-9]{1,2})?$')))",message="amount has more decimal places than ISO 4217 gives the currency: 0 for JPY; 3 for KWD; 4 for CLF; 2 for every other currency",fieldPath=".amount"`,
	}
	got := renderRules(l)
	for i := range want {
		if i >= len(got) || got[i] != want[i] {
			t.Errorf("rule %d:\n got %v\nwant %s", i, got, want[i])
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d rules, want %d", len(got), len(want))
	}
	// With only two-decimal currencies there is no branch at all.
	only2 := renderRules(list{Published: "2026-01-01", Minor: map[string]int{"USD": 2}})
	if !strings.Contains(only2[1], `rule="self.amount.matches('^[0-9]+([.][0-9]{1,2})?$')"`) {
		t.Errorf("rule for a list of two-decimal currencies: %s", only2[1])
	}
}

func TestRewriteRules(t *testing.T) {
	rules := []string{"// +rule one", "// +rule two"}
	tests := []struct {
		name, src, want, wantErr string
	}{
		{"the block's old lines are replaced, everything else kept",
			"a\n" + rulesBegin + "\n// +old\n" + rulesEnd + "\n\n// Doc.\ntype T struct{}\n",
			"a\n" + rulesBegin + "\n// +rule one\n// +rule two\n" + rulesEnd + "\n\n// Doc.\ntype T struct{}\n", ""},
		{"an empty block is filled",
			rulesBegin + "\n" + rulesEnd + "\n",
			rulesBegin + "\n// +rule one\n// +rule two\n" + rulesEnd + "\n", ""},
		{"without the block there is nowhere to write", "type T struct{}\n", "", "no generated currency rules block"},
		{"an END before BEGIN is refused", rulesEnd + "\n" + rulesBegin + "\n", "", "END currency rules line"},
		{"two BEGIN lines are refused", rulesBegin + "\n" + rulesBegin + "\n" + rulesEnd + "\n", "", "appears twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := rewriteRules([]byte(tt.src), rules)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("rewriteRules error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("rewriteRules =\n%s\nwant\n%s", got, tt.want)
			}
			again, err := rewriteRules(got, rules)
			if err != nil || !bytes.Equal(again, got) {
				t.Errorf("a second run changed the file: %v\n%s", err, again)
			}
		})
	}
}
