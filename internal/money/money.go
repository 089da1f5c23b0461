// Package money converts between decimal amount strings and integer minor units per ISO 4217,
// refusing any amount that would need rounding: a payment system must never silently change a price.
//
// The currency table (currencies_gen.go) is generated from ISO 4217 list one, kept with its source
// in iso4217/; the PaymentOrder CRD's currency rules are generated from the same list, so an order
// the API server accepts is one this package converts, and the other way round.
package money

//go:generate go run ../../hack/currencygen

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// ErrInvalidAmount is wrapped by every parse error so callers can classify it.
var ErrInvalidAmount = errors.New("invalid amount")

// MinorUnits is the number of minor-unit digits ISO 4217 gives an upper-case currency code, and
// false for a code the list does not have or gives no minor unit ("N.A.": XAU, XXX, ...).
func MinorUnits(currency string) (int, bool) {
	d, ok := minorUnits[currency]
	return d, ok
}

// Exponent is MinorUnits without the verdict, for callers that checked ValidCurrency first; for
// any other code it returns 2, the most common exponent.
func Exponent(currency string) int {
	if d, ok := minorUnits[currency]; ok {
		return d
	}
	return 2
}

// ValidCurrency reports whether s is an upper-case ISO 4217 code with a minor unit: one an amount
// can be counted in.
func ValidCurrency(s string) bool {
	_, ok := minorUnits[s]
	return ok
}

// Currencies lists every code ValidCurrency accepts, sorted.
func Currencies() []string { return slices.Clone(currencies) }

// ToMinor parses a non-negative decimal string ("10.5", "10.50") into minor units of currency.
// It refuses signs, exponents, spaces, empty parts and more fractional digits than the currency has.
func ToMinor(amount, currency string) (int64, error) {
	if !ValidCurrency(currency) {
		return 0, fmt.Errorf("%w: currency %q is not an upper-case ISO 4217 code with a minor unit", ErrInvalidAmount, currency)
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
		return "", fmt.Errorf("%w: currency %q is not an upper-case ISO 4217 code with a minor unit", ErrInvalidAmount, currency)
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
