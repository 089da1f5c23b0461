package providers

import (
	"fmt"
	"net/http"
	"sort"
	"sync"
	"time"
)

// Config is what a constructor gets: the PaymentProvider's spec fields and its Secret's data.
type Config struct {
	// Namespace and Name of the PaymentProvider, for error messages.
	Namespace, Name string
	Endpoint        string
	AppID           string
	MerchantID      string
	// Secret is the credentials Secret's data. Constructors copy what they need and never log it.
	Secret map[string][]byte
	// HTTPClient is used for provider calls; nil means a client with sane timeouts.
	HTTPClient *http.Client
	// Now is the clock for timestamp checks; nil means time.Now. Tests inject a fixed clock.
	Now func() time.Time
}

// Clock returns c.Now or time.Now.
func (c Config) Clock() func() time.Time {
	if c.Now != nil {
		return c.Now
	}
	return time.Now
}

// Client returns c.HTTPClient or a default client with a 15 s overall timeout.
func (c Config) Client() *http.Client {
	if c.HTTPClient != nil {
		return c.HTTPClient
	}
	return &http.Client{Timeout: 15 * time.Second}
}

// SecretValue returns the named key of the Secret, or an ErrCredentials error naming the key
// (never its value) and the provider.
func (c Config) SecretValue(key string) ([]byte, error) {
	v, ok := c.Secret[key]
	if !ok || len(v) == 0 {
		return nil, fmt.Errorf("%w: PaymentProvider %s/%s: credentials Secret has no %q key", ErrCredentials, c.Namespace, c.Name, key)
	}
	return v, nil
}

// InvalidSecret is the ErrCredentials error for a Secret key that is present but does not
// parse; err must describe the value's structure only, never the value.
func (c Config) InvalidSecret(key string, err error) error {
	return fmt.Errorf("%w: PaymentProvider %s/%s: credentials Secret key %q: %w", ErrCredentials, c.Namespace, c.Name, key, err)
}

// Constructor builds a Provider from a Config; it validates the credentials and returns an
// ErrCredentials error when they are missing or do not parse.
type Constructor func(Config) (Provider, error)

var (
	mu           sync.RWMutex
	constructors = map[string]Constructor{}
)

// Register makes a provider type available; provider packages call it from init.
func Register(providerType string, c Constructor) {
	mu.Lock()
	defer mu.Unlock()
	if _, dup := constructors[providerType]; dup {
		panic("providers: Register called twice for " + providerType)
	}
	constructors[providerType] = c
}

// New builds the provider of the given type.
func New(providerType string, cfg Config) (Provider, error) {
	mu.RLock()
	c, ok := constructors[providerType]
	mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("%w: PaymentProvider %s/%s: type %q is not registered (known: %v)", ErrCredentials, cfg.Namespace, cfg.Name, providerType, Types())
	}
	return c(cfg)
}

// Types lists the registered provider types.
func Types() []string {
	mu.RLock()
	defer mu.RUnlock()
	out := make([]string, 0, len(constructors))
	for t := range constructors {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}
