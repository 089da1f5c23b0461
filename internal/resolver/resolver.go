// Package resolver turns a PaymentProvider name into a ready providers.Provider: it reads the
// PaymentProvider and its credentials Secret (from the manager's cache) and builds the
// implementation once per (provider UID, spec generation, Secret resourceVersion), so keys are parsed when they
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
	// ErrProviderNotFound reports a PaymentProvider that does not exist (yet).
	ErrProviderNotFound = errors.New("provider not found")
	// ErrSecretNotFound reports a credentials Secret that does not exist or lacks the kubepay.io/credentials=true label.
	ErrSecretNotFound = errors.New("credentials Secret not found")
)

// ClusterRoute is the path segment of ClusterPaymentProviders' notify URLs. A namespace is a DNS
// label and cannot contain "_", so it can never be mistaken for one.
const ClusterRoute = "_cluster"

// NotifyPath is the callback server's route for a provider; namespace "" is a
// ClusterPaymentProvider.
func NotifyPath(namespace, name string) string {
	if namespace == "" {
		namespace = ClusterRoute
	}
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
	// Built is the UID of the PaymentProvider the implementation was built for.
	Built types.UID
	// Remembered is true when the credentials Secret is gone and Provider was built from it
	// earlier (ResolveForClose only).
	Remembered bool
}

// Resolver builds providers from the cluster's PaymentProviders and Secrets.
type Resolver struct {
	// Reader is normally the manager's cached client.
	Reader client.Reader
	// Configure, when set, adjusts the Config before construction (tests inject clocks and HTTP clients).
	Configure func(*providers.Config)
	// ClusterSecretNamespace is where ClusterPaymentProviders' credentials Secrets live: the
	// manager's namespace.
	ClusterSecretNamespace string

	mu    sync.Mutex
	built map[types.NamespacedName]entry
}

// entry is one built provider. A PaymentProvider deleted and re-created under the same name
// restarts at generation 1 and may reuse its Secret unchanged: the UID is what tells them apart.
type entry struct {
	uid           types.UID
	generation    int64
	secretVersion string
	provider      providers.Provider
}

// Resolve returns the named provider, building it when its spec or Secret changed; namespace ""
// names a ClusterPaymentProvider. Errors wrap ErrProviderNotFound, ErrSecretNotFound or
// providers.ErrCredentials and name the object.
func (r *Resolver) Resolve(ctx context.Context, namespace, name string) (*Resolved, error) {
	key := types.NamespacedName{Namespace: namespace, Name: name}
	pp, err := r.provider(ctx, key)
	if err != nil {
		return nil, err
	}
	secret, err := r.secret(ctx, key, pp)
	if err != nil {
		return nil, err
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	if e, ok := r.built[key]; ok && e.uid == pp.UID && e.generation == pp.Generation && e.secretVersion == secret.ResourceVersion {
		return &Resolved{Spec: pp, Provider: e.provider, Built: e.uid}, nil
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
	r.built[key] = entry{uid: pp.UID, generation: pp.Generation, secretVersion: secret.ResourceVersion, provider: impl}
	return &Resolved{Spec: pp, Provider: impl, Built: pp.UID}, nil
}

// ResolveForClose is Resolve for closing and querying payments that already exist: when the
// credentials Secret is gone (a namespace being deleted deletes it at once) it falls back to the
// client built from it earlier for the same PaymentProvider, so open payments can still be
// closed. Never use it to create a payment: deleted credentials may have been revoked on purpose.
func (r *Resolver) ResolveForClose(ctx context.Context, namespace, name string) (*Resolved, error) {
	rp, err := r.Resolve(ctx, namespace, name)
	if err == nil || !errors.Is(err, ErrSecretNotFound) {
		return rp, err
	}
	key := types.NamespacedName{Namespace: namespace, Name: name}
	pp, getErr := r.provider(ctx, key)
	if getErr != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if e, ok := r.built[key]; ok && e.uid == pp.UID && e.generation == pp.Generation {
		return &Resolved{Spec: pp, Provider: e.provider, Built: e.uid, Remembered: true}, nil
	}
	return nil, err
}

// provider reads the PaymentProvider key names, or the ClusterPaymentProvider when key has no
// namespace (seen as a PaymentProvider without one).
func (r *Resolver) provider(ctx context.Context, key types.NamespacedName) (*v1.PaymentProvider, error) {
	kind := v1.KindPaymentProvider
	var err error
	pp := &v1.PaymentProvider{}
	if key.Namespace == "" {
		kind = v1.KindClusterPaymentProvider
		cpp := &v1.ClusterPaymentProvider{}
		if err = r.Reader.Get(ctx, key, cpp); err == nil {
			pp = cpp.AsPaymentProvider()
		}
	} else {
		err = r.Reader.Get(ctx, key, pp)
	}
	if err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("%w: %s %s", ErrProviderNotFound, kind, key)
		}
		return nil, fmt.Errorf("reading %s %s: %w", kind, key, err)
	}
	return pp, nil
}

// secret reads the provider's credentials Secret and refuses one kubepay must not use.
func (r *Resolver) secret(ctx context.Context, key types.NamespacedName, pp *v1.PaymentProvider) (*corev1.Secret, error) {
	ns := key.Namespace
	if ns == "" {
		ns = r.ClusterSecretNamespace
	}
	secretKey := types.NamespacedName{Namespace: ns, Name: pp.Spec.CredentialsSecretRef.Name}
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
	return secret, nil
}
