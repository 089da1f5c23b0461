// Package resolver turns a PaymentProvider name into a ready providers.Provider: it reads the
// PaymentProvider and its credentials Secret (from the manager's cache) and builds the
// implementation once per (spec generation, Secret resourceVersion), so keys are parsed when they
// change, not on every request. The controller and the callback server share one Resolver.
package resolver

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/kubepay/kubepay/api/v1alpha1"
	"github.com/kubepay/kubepay/providers"
)

var (
	// ErrProviderNotFound: the PaymentProvider does not exist (yet).
	ErrProviderNotFound = errors.New("PaymentProvider not found")
	// ErrSecretNotFound: the credentials Secret does not exist or lacks the kubepay.io/credentials=true label.
	ErrSecretNotFound = errors.New("credentials Secret not found")
)

// NotifyPath is the callback server's route for a provider.
func NotifyPath(namespace, name string) string {
	return "/notify/" + namespace + "/" + name
}

// NotifyURL is the URL given to the provider for the PaymentProvider's notifications.
func NotifyURL(p *v1.PaymentProvider) string {
	if p.Spec.CallbackBaseURL == "" {
		return ""
	}
	return strings.TrimRight(p.Spec.CallbackBaseURL, "/") + NotifyPath(p.Namespace, p.Name)
}

// Resolved is a PaymentProvider with its built implementation.
type Resolved struct {
	Spec     *v1.PaymentProvider
	Provider providers.Provider
}

// Resolver builds providers from the cluster's PaymentProviders and Secrets.
type Resolver struct {
	// Reader is normally the manager's cached client.
	Reader client.Reader
	// Configure, when set, adjusts the Config before construction (tests inject clocks and HTTP clients).
	Configure func(*providers.Config)

	mu    sync.Mutex
	built map[types.NamespacedName]entry
}

type entry struct {
	generation    int64
	secretVersion string
	provider      providers.Provider
}

// Resolve returns the named provider, building it when its spec or Secret changed. Errors wrap
// ErrProviderNotFound, ErrSecretNotFound or providers.ErrCredentials and name the object.
func (r *Resolver) Resolve(ctx context.Context, namespace, name string) (*Resolved, error) {
	key := types.NamespacedName{Namespace: namespace, Name: name}
	pp := &v1.PaymentProvider{}
	if err := r.Reader.Get(ctx, key, pp); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("%w: %s", ErrProviderNotFound, key)
		}
		return nil, fmt.Errorf("reading PaymentProvider %s: %w", key, err)
	}
	secretKey := types.NamespacedName{Namespace: namespace, Name: pp.Spec.CredentialsSecretRef.Name}
	secret := &corev1.Secret{}
	if err := r.Reader.Get(ctx, secretKey, secret); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("%w: Secret %s of PaymentProvider %s (it must exist and be labelled %s=true)", ErrSecretNotFound, secretKey, key, v1.LabelCredentials)
		}
		return nil, fmt.Errorf("reading Secret %s of PaymentProvider %s: %w", secretKey, key, err)
	}
	// The cache only holds labelled Secrets; a direct reader could return others, which kubepay
	// must not use.
	if secret.Labels[v1.LabelCredentials] != "true" {
		return nil, fmt.Errorf("%w: Secret %s of PaymentProvider %s is not labelled %s=true", ErrSecretNotFound, secretKey, key, v1.LabelCredentials)
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	if e, ok := r.built[key]; ok && e.generation == pp.Generation && e.secretVersion == secret.ResourceVersion {
		return &Resolved{Spec: pp, Provider: e.provider}, nil
	}
	cfg := providers.Config{
		Namespace: namespace, Name: name,
		Endpoint: pp.Spec.Endpoint, AppID: pp.Spec.AppID, MerchantID: pp.Spec.MerchantID,
		Secret: secret.Data,
	}
	if r.Configure != nil {
		r.Configure(&cfg)
	}
	impl, err := providers.New(string(pp.Spec.Type), cfg)
	if err != nil {
		return nil, err
	}
	impl = Instrument(impl)
	if r.built == nil {
		r.built = map[types.NamespacedName]entry{}
	}
	r.built[key] = entry{generation: pp.Generation, secretVersion: secret.ResourceVersion, provider: impl}
	return &Resolved{Spec: pp, Provider: impl}, nil
}
