package stripe_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/kubepay/kubepay/providers"
	"github.com/kubepay/kubepay/providers/stripe"
)

func TestRegistered(t *testing.T) {
	p, err := providers.New("stripe", providers.Config{Namespace: testNS, Name: testProvider, Secret: map[string][]byte{
		stripe.SecretAPIKey: []byte(testAPIKey), stripe.SecretWebhookSecret: []byte(testSecret),
	}})
	if err != nil {
		t.Fatal(err)
	}
	if p.Type() != "stripe" {
		t.Errorf("Type() = %q", p.Type())
	}
}

func TestNewRefusesUnusableConfig(t *testing.T) {
	const leaked = "sk_live_SECRETVALUE"
	good := func() map[string][]byte {
		return map[string][]byte{stripe.SecretAPIKey: []byte(testAPIKey), stripe.SecretWebhookSecret: []byte(testSecret)}
	}
	tests := []struct {
		name     string
		edit     func(map[string][]byte)
		endpoint string
		// credentials: the error wraps providers.ErrCredentials; mention: it names this.
		credentials bool
		mention     string
	}{
		{"without an API key no payment can be created", func(s map[string][]byte) { delete(s, stripe.SecretAPIKey) }, "", true, stripe.SecretAPIKey},
		{"without a webhook secret no event can be verified", func(s map[string][]byte) { delete(s, stripe.SecretWebhookSecret) }, "", true, stripe.SecretWebhookSecret},
		{"a blank webhook secret would verify nothing", func(s map[string][]byte) { s[stripe.SecretWebhookSecret] = []byte(" \n") }, "", true, stripe.SecretWebhookSecret},
		{"a publishable key cannot create sessions", func(s map[string][]byte) { s[stripe.SecretAPIKey] = []byte("pk_live_SECRETVALUE") }, "", true, "publishable"},
		{"a value that is no Stripe key is refused without being echoed", func(s map[string][]byte) { s[stripe.SecretAPIKey] = []byte("SECRETVALUE") }, "", true, stripe.SecretAPIKey},
		{"inner whitespace means a pasted key is broken", func(s map[string][]byte) { s[stripe.SecretAPIKey] = []byte("sk_live_SECRET VALUE") }, "", true, "whitespace"},
		{"an endpoint that is not an absolute http(s) URL is refused", func(map[string][]byte) {}, "ftp://stripe.example", false, "spec.endpoint"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			secret := good()
			tt.edit(secret)
			_, err := stripe.New(providers.Config{Namespace: testNS, Name: testProvider, Endpoint: tt.endpoint, Secret: secret})
			if err == nil {
				t.Fatal("New accepted the config")
			}
			if errors.Is(err, providers.ErrCredentials) != tt.credentials {
				t.Errorf("error %v: wraps ErrCredentials = %v, want %v", err, !tt.credentials, tt.credentials)
			}
			if !strings.Contains(err.Error(), tt.mention) || !strings.Contains(err.Error(), testNS+"/"+testProvider) {
				t.Errorf("error %q does not name %q and the PaymentProvider", err, tt.mention)
			}
			if strings.Contains(err.Error(), "SECRETVALUE") || strings.Contains(err.Error(), leaked) {
				t.Errorf("error %q leaks the secret", err)
			}
		})
	}
}

func TestNewAcceptsTrailingNewlinesAndRestrictedKeys(t *testing.T) {
	// Secrets written with echo end in a newline; restricted keys (rk_) can create sessions too.
	_, err := stripe.New(providers.Config{Namespace: testNS, Name: testProvider, Secret: map[string][]byte{
		stripe.SecretAPIKey: []byte("rk_test_123\n"), stripe.SecretWebhookSecret: []byte("whsec_x\n"), stripe.SecretWebhookSecretNext: []byte(""),
	}})
	if err != nil {
		t.Fatal(err)
	}
}
