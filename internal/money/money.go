// Package money converts between decimal amount strings and integer minor units per ISO 4217,
// refusing any amount that would need rounding: a payment system must never silently change a price.
package money

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// The exponent tables must match the CEL rule on PaymentOrderSpec (api/v1alpha1); a test checks it.
var (
	// ZeroDecimal lists currencies with no minor unit.
	ZeroDecimal = []string{"JPY", "KRW", "VND", "CLP", "ISK", "PYG", "XAF", "XOF"}
	// ThreeDecimal lists currencies with a thousandth minor unit.
	ThreeDecimal = []string{"KWD", "BHD", "OMR", "JOD", "TND", "IQD", "LYD"}
)

// ErrInvalidAmount is wrapped by every parse error so callers can classify it.
var ErrInvalidAmount = errors.New("invalid amount")

// Exponent is the number of minor-unit digits of an upper-case ISO 4217 currency code; codes not
// in the tables above have 2, as most currencies do.
func Exponent(currency string) int {
	for _, c := range ZeroDecimal {
		if c == currency {
			return 0
		}
	}
	for _, c := range ThreeDecimal {
		if c == currency {
			return 3
		}
	}
	return 2
}

// ValidCurrency reports whether s looks like an ISO 4217 code (three upper-case letters).
func ValidCurrency(s string) bool {
	if len(s) != 3 {
		return false
	}
	for _, r := range s {
		if r < 'A' || r > 'Z' {
			return false
		}
	}
	return true
}

// ToMinor parses a non-negative decimal string ("10.5", "10.50") into minor units of currency.
// It refuses signs, exponents, spaces, empty parts and more fractional digits than the currency has.
func ToMinor(amount, currency string) (int64, error) {
	if !ValidCurrency(currency) {
		return 0, fmt.Errorf("%w: currency %q is not an upper-case ISO 4217 code", ErrInvalidAmount, currency)
	}
	exp := Exponent(currency)
	whole, frac, hasDot := strings.Cut(amount, ".")
	if whole == "" || (hasDot && frac == "") || !digits(whole) || !digits(frac) {
		return 0, fmt.Errorf("%w: %q is not a plain decimal number", ErrInvalidAmount, amount)
	}
	if len(frac) > exp {
		return 0, fmt.Errorf("%w: %q %s has %d decimal places, %s allows %d", ErrInvalidAmount, amount, currency, len(frac), currency, exp)
	}
	frac += strings.Repeat("0", exp-len(frac))
	v, err := strconv.ParseUint(whole+frac, 10, 63)
	if err != nil || v > math.MaxInt64 {
		return 0, fmt.Errorf("%w: %q %s is too large", ErrInvalidAmount, amount, currency)
	}
	return int64(v), nil
}

// FromMinor formats minor units as a decimal string with exactly the currency's digits ("10.50").
func FromMinor(minor int64, currency string) (string, error) {
	if minor < 0 {
		return "", fmt.Errorf("%w: negative minor amount %d", ErrInvalidAmount, minor)
	}
	if !ValidCurrency(currency) {
		return "", fmt.Errorf("%w: currency %q is not an upper-case ISO 4217 code", ErrInvalidAmount, currency)
	}
	exp := Exponent(currency)
	s := strconv.FormatInt(minor, 10)
	if exp == 0 {
		return s, nil
	}
	if len(s) <= exp {
		s = strings.Repeat("0", exp-len(s)+1) + s
	}
	return s[:len(s)-exp] + "." + s[len(s)-exp:], nil
}

// Equal reports whether two decimal strings denote the same amount in currency ("10.5" == "10.50").
func Equal(a, b, currency string) bool {
	x, err := ToMinor(a, currency)
	if err != nil {
		return false
	}
	y, err := ToMinor(b, currency)
	return err == nil && x == y
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
