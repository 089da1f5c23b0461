package resolver

import (
	"context"
	"errors"
	"net/http"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	v1 "github.com/kubepay/kubepay/api/v1alpha1"
	"github.com/kubepay/kubepay/internal/scheme"
	"github.com/kubepay/kubepay/providers"
)

// countingProvider counts constructions, to prove keys are parsed once per Secret version.
type countingProvider struct{ providers.Provider }

func (countingProvider) Type() string                                  { return "counting" }
func (countingProvider) Ack(http.ResponseWriter, error)                {}
func (c countingProvider) Close(context.Context, string, string) error { return nil }

var built int

func init() {
	providers.Register("counting", func(cfg providers.Config) (providers.Provider, error) {
		if _, err := cfg.SecretValue("key"); err != nil {
			return nil, err
		}
		built++
		return countingProvider{}, nil
	})
}

func objects(labelled bool, data map[string][]byte) (*v1.PaymentProvider, *corev1.Secret) {
	pp := &v1.PaymentProvider{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "p", Generation: 1},
		Spec:       v1.PaymentProviderSpec{Type: "counting", CredentialsSecretRef: v1.LocalObjectReference{Name: "s"}, CallbackBaseURL: "https://pay.example/"},
	}
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "s", ResourceVersion: "1"}, Data: data}
	if labelled {
		s.Labels = map[string]string{v1.LabelCredentials: "true"}
	}
	return pp, s
}

// The fake client is enough here: this is a pure unit of lookup and caching; the envtest suites
// prove the same resolver against a real API server.
func TestResolve(t *testing.T) {
	tests := []struct {
		name    string
		objs    func() []any
		wantErr error
	}{
		{"no PaymentProvider: the order waits for it", func() []any { return nil }, ErrProviderNotFound},
		{"a Secret without the credentials label is never used", func() []any {
			pp, s := objects(false, map[string][]byte{"key": []byte("x")})
			return []any{pp, s}
		}, ErrSecretNotFound},
		{"a Secret without the provider's key is invalid credentials", func() []any {
			pp, s := objects(true, map[string][]byte{"other": []byte("x")})
			return []any{pp, s}
		}, providers.ErrCredentials},
		{"a labelled Secret with its keys resolves", func() []any {
			pp, s := objects(true, map[string][]byte{"key": []byte("x")})
			return []any{pp, s}
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := fake.NewClientBuilder().WithScheme(scheme.New())
			for _, o := range tt.objs() {
				switch o := o.(type) {
				case *v1.PaymentProvider:
					b = b.WithObjects(o)
				case *corev1.Secret:
					b = b.WithObjects(o)
				}
			}
			r := &Resolver{Reader: b.Build()}
			_, err := r.Resolve(context.Background(), "shop", "p")
			if (tt.wantErr == nil) != (err == nil) || (tt.wantErr != nil && !errors.Is(err, tt.wantErr)) {
				t.Fatalf("Resolve error = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestResolveBuildsOncePerSecretVersion(t *testing.T) {
	pp, s := objects(true, map[string][]byte{"key": []byte("x")})
	c := fake.NewClientBuilder().WithScheme(scheme.New()).WithObjects(pp, s).Build()
	r := &Resolver{Reader: c}
	before := built
	for range 3 {
		if _, err := r.Resolve(context.Background(), "shop", "p"); err != nil {
			t.Fatal(err)
		}
	}
	if built-before != 1 {
		t.Fatalf("provider built %d times for one Secret version, want 1", built-before)
	}
	s.Data["key"] = []byte("rotated")
	if err := c.Update(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Resolve(context.Background(), "shop", "p"); err != nil {
		t.Fatal(err)
	}
	if built-before != 2 {
		t.Fatalf("a rotated Secret must rebuild the provider (built %d times)", built-before)
	}
}

// TestResolveRebuildsForARecreatedProvider: a PaymentProvider deleted and created again under the
// same name starts at generation 1 again and may reuse the same Secret; only its UID tells it
// apart, and its endpoint or merchant may differ, so it must never get the old one's client.
func TestResolveRebuildsForARecreatedProvider(t *testing.T) {
	pp, s := objects(true, map[string][]byte{"key": []byte("x")})
	pp.UID = "first"
	c := fake.NewClientBuilder().WithScheme(scheme.New()).WithObjects(pp, s).Build()
	r := &Resolver{Reader: c}
	if _, err := r.Resolve(context.Background(), "shop", "p"); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(context.Background(), pp); err != nil {
		t.Fatal(err)
	}
	again, _ := objects(true, nil)
	again.UID, again.Spec.Endpoint = "second", "https://other-gateway.example"
	if err := c.Create(context.Background(), again); err != nil {
		t.Fatal(err)
	}
	got, err := r.Resolve(context.Background(), "shop", "p")
	if err != nil {
		t.Fatal(err)
	}
	if got.Spec.UID != "second" || got.Built != "second" {
		t.Fatalf("re-created provider resolved to a client built for UID %q, want %q", got.Built, "second")
	}
}

// TestResolveForCloseRemembersDeletedCredentials: deleting a namespace deletes the Secret at once
// while orders still have payments to close; the client built before keeps them closable.
func TestResolveForCloseRemembersDeletedCredentials(t *testing.T) {
	pp, s := objects(true, map[string][]byte{"key": []byte("x")})
	c := fake.NewClientBuilder().WithScheme(scheme.New()).WithObjects(pp, s).Build()
	r := &Resolver{Reader: c}
	if _, err := r.Resolve(context.Background(), "shop", "p"); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Resolve(context.Background(), "shop", "p"); !errors.Is(err, ErrSecretNotFound) {
		t.Fatalf("Resolve after the Secret is gone: %v, want ErrSecretNotFound (no new payment on deleted credentials)", err)
	}
	got, err := r.ResolveForClose(context.Background(), "shop", "p")
	if err != nil || !got.Remembered {
		t.Fatalf("ResolveForClose after the Secret is gone: remembered=%v err=%v, want the remembered client", got != nil && got.Remembered, err)
	}
	fresh := &Resolver{Reader: c}
	if _, err := fresh.ResolveForClose(context.Background(), "shop", "p"); !errors.Is(err, ErrSecretNotFound) {
		t.Fatalf("a resolver that never built the provider cannot remember it: %v", err)
	}
}

func TestNotifyURL(t *testing.T) {
	pp, _ := objects(true, nil)
	if got, want := NotifyURL(pp), "https://pay.example/notify/shop/p"; got != want {
		t.Fatalf("NotifyURL = %q, want %q (trailing slash of callbackBaseURL trimmed)", got, want)
	}
	pp.Spec.CallbackBaseURL = ""
	if got := NotifyURL(pp); got != "" {
		t.Fatalf("NotifyURL without callbackBaseURL = %q, want empty", got)
	}
}
