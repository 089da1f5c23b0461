package main

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		check   func(config) bool
		wantErr string
	}{
		{"defaults make a working demo gateway", nil, func(c config) bool {
			return c.bindAddress == "127.0.0.1:8090" && c.publicURL == "http://127.0.0.1:8090" &&
				reflect.DeepEqual(c.apiKeys, []string{defaultAPIKey}) && c.timeScale == 1 && c.duplicates == 1 && c.dropRatio == 1
		}, ""},
		{"--api-key repeats and takes comma lists", []string{"--api-key", "a,b", "--api-key=c"}, func(c config) bool {
			return reflect.DeepEqual(c.apiKeys, []string{"a", "b", "c"})
		}, ""},
		{"a wildcard bind address gets a dialable public URL", []string{"--bind-address", ":9000"}, func(c config) bool {
			return c.publicURL == "http://127.0.0.1:9000"
		}, ""},
		{"an explicit public URL wins", []string{"--bind-address", "0.0.0.0:9000", "--public-url", "https://pay.example"}, func(c config) bool {
			return c.publicURL == "https://pay.example"
		}, ""},
		{"chaos flags are read", []string{"--duplicates", "3", "--drop-first", "2", "--drop-ratio", "0.5", "--reorder", "--delay", "20ms", "--seed", "9", "--time-scale", "0.001"}, func(c config) bool {
			return c.duplicates == 3 && c.dropFirst == 2 && c.dropRatio == 0.5 && c.reorder && c.delay.Milliseconds() == 20 && c.seed == 9 && c.timeScale == 0.001
		}, ""},
		{"--refund-delay is read, negative meaning refunds are settled by hand", []string{"--refund-delay", "-1s"}, func(c config) bool {
			o, err := c.options()
			return err == nil && c.refundDelay == -time.Second && o.RefundDelay == -time.Second
		}, ""},
		{"time cannot stand still", []string{"--time-scale", "0"}, nil, "--time-scale"},
		{"at least one copy is sent", []string{"--duplicates", "0"}, nil, "--duplicates"},
		{"a ratio is a fraction", []string{"--drop-ratio", "2"}, nil, "--drop-ratio"},
		{"log levels are checked", []string{"--log-level", "loud"}, nil, "--log-level"},
		{"stray arguments are mistakes", []string{"extra"}, nil, "unexpected arguments"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parseFlags(tc.args, &bytes.Buffer{})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one mentioning %s", err, tc.wantErr)
				}
				return
			}
			if err != nil || !tc.check(c) {
				t.Fatalf("parseFlags(%q) = %+v, %v", tc.args, c, err)
			}
		})
	}
}

func TestHelpDocumentsEveryFlagWithoutSecrets(t *testing.T) {
	var out bytes.Buffer
	if _, err := parseFlags([]string{"--help"}, &out); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("--help: %v", err)
	}
	for _, name := range []string{"bind-address", "public-url", "api-key", "state-file", "time-scale", "duplicates", "drop-first", "drop-ratio", "reorder", "delay", "refund-delay", "seed", "signing-key-file", "public-key-out"} {
		if !strings.Contains(out.String(), "-"+name+" ") && !strings.Contains(out.String(), "-"+name+"\n") {
			t.Errorf("--help does not document --%s", name)
		}
	}
	// The test aids must be findable from --help: they are how a test reproduces late payments
	// and settles refunds.
	for _, aid := range []string{`"late":true`, "/v1/refunds/{id}/complete", "/v1/payments/{id}/refunds"} {
		if !strings.Contains(out.String(), aid) {
			t.Errorf("--help does not document %s", aid)
		}
	}
}

func TestSigningKeyFile(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, _ := x509.MarshalPKCS8PrivateKey(key)
	dir := t.TempDir()
	files := map[string][]byte{
		"pkcs1.pem": pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}),
		"pkcs8.pem": pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}),
		"bad.pem":   []byte("not a key"),
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"pkcs1.pem", "pkcs8.pem"} {
		o, err := config{signingKeyFile: filepath.Join(dir, name)}.options()
		if err != nil || o.SigningKey == nil || !o.SigningKey.Equal(key) {
			t.Errorf("%s: %v; want the key loaded", name, err)
		}
	}
	if _, err := (config{signingKeyFile: filepath.Join(dir, "bad.pem")}).options(); err == nil {
		t.Error("a file without a PEM key was accepted")
	}
}
