package stripe

import (
	"fmt"
	"math"

	"github.com/kubepay/kubepay/internal/money"
)

// Stripe's API does not always count a currency's minor units as ISO 4217 (and kubepay's money
// package) do: some currencies it treats as zero-decimal (UGX, BIF, ...), ISK stays two-decimal
// in its API although only whole krónur may be charged, and three-decimal amounts must end in 0.
// Sending kubepay's minor units unconverted would charge 100 times too much or too little, so
// every amount crossing the API goes through toStripeAmount or fromStripeAmount, which refuse
// rather than round.

// stripeZeroDecimal lists the currencies Stripe's API counts in whole units.
var stripeZeroDecimal = map[string]bool{
	"BIF": true, "CLP": true, "DJF": true, "GNF": true, "JPY": true, "KMF": true, "KRW": true, "MGA": true,
	"PYG": true, "RWF": true, "UGX": true, "VND": true, "VUV": true, "XAF": true, "XOF": true, "XPF": true,
}

// stripeThreeDecimal lists the currencies Stripe's API counts in thousandths, last digit 0.
var stripeThreeDecimal = map[string]bool{"BHD": true, "JOD": true, "KWD": true, "OMR": true, "TND": true}

// stripeExponent is the number of decimals of an upper-case currency in Stripe's API.
func stripeExponent(currency string) int {
	switch {
	case stripeZeroDecimal[currency]:
		return 0
	case stripeThreeDecimal[currency]:
		return 3
	}
	return 2
}

// toStripeAmount converts kubepay minor units to Stripe's amount for the same money.
func toStripeAmount(minor int64, currency string) (int64, error) {
	amount, err := rescale(minor, money.Exponent(currency), stripeExponent(currency))
	if err != nil {
		return 0, fmt.Errorf("amount %d minor units of %s cannot be expressed in Stripe's units: %w", minor, currency, err)
	}
	if stripeThreeDecimal[currency] && amount%10 != 0 {
		return 0, fmt.Errorf("amount %d minor units of %s: Stripe requires the last of three decimals to be 0", minor, currency)
	}
	return amount, nil
}

// fromStripeAmount converts a Stripe amount to kubepay minor units for the same money.
func fromStripeAmount(amount int64, currency string) (int64, error) {
	minor, err := rescale(amount, stripeExponent(currency), money.Exponent(currency))
	if err != nil {
		return 0, fmt.Errorf("amount %d of %s from Stripe has no exact kubepay amount: %w", amount, currency, err)
	}
	return minor, nil
}

// rescale moves v from `from` decimals to `to` decimals, exactly or not at all.
func rescale(v int64, from, to int) (int64, error) {
	if v < 0 {
		return 0, fmt.Errorf("negative amount")
	}
	for ; from < to; from++ {
		if v > math.MaxInt64/10 {
			return 0, fmt.Errorf("amount overflows")
		}
		v *= 10
	}
	for ; from > to; from-- {
		if v%10 != 0 {
			return 0, fmt.Errorf("it would need rounding")
		}
		v /= 10
	}
	return v, nil
}
