package gateway_test

import (
	"crypto/rand"
	"crypto/rsa"
	"strings"
	"testing"
	"time"

	"github.com/kubepay/kubepay/providers/sandbox/gateway"
	"github.com/kubepay/kubepay/providers/sandbox/gatewaytest"
)

func TestNewRejectsInvalidOptions(t *testing.T) {
	t.Parallel()
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	valid := func() gateway.Options {
		return gateway.Options{APIKeys: []string{"sk_ok"}, SigningKey: gatewaytest.SigningKey()}
	}
	tests := []struct {
		name   string
		change func(*gateway.Options)
		want   string
	}{
		{"a gateway nobody can call is useless", func(o *gateway.Options) { o.APIKeys = nil }, "API key"},
		{"an empty key would match a bare Bearer", func(o *gateway.Options) { o.APIKeys = []string{""} }, "API key #1"},
		{"the public URL must be absolute", func(o *gateway.Options) { o.PublicBaseURL = "/relative" }, "public base URL"},
		{"weak signing keys are refused", func(o *gateway.Options) { o.SigningKey = small }, "1024 bits"},
		{"time cannot run backwards", func(o *gateway.Options) { o.TimeScale = -1 }, "time scale"},
		{"retry delays are not negative", func(o *gateway.Options) { o.RetrySchedule = []time.Duration{-time.Second} }, "retry schedule"},
		{"a ratio is a fraction", func(o *gateway.Options) { o.DropRatio = 1.5 }, "drop ratio"},
		{"negative chaos counts are mistakes", func(o *gateway.Options) { o.DropFirst = -1 }, "drop-first"},
		{"a negative delay is a mistake", func(o *gateway.Options) { o.Delay = -time.Second }, "delay"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := valid()
			tc.change(&o)
			g, err := gateway.New(o)
			if err == nil {
				_ = g.Close()
				t.Fatal("New succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "sk_ok") {
				t.Errorf("error %q leaks an API key", err)
			}
		})
	}
}
