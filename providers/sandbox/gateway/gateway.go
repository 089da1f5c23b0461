// Package gateway is the sandbox payment gateway: a real HTTP server that behaves like a hosted
// payment provider (idempotent creates, a checkout page, signed asynchronous notifications retried
// on Alipay's schedule) and can misbehave on purpose (duplicates, drops, reordering, delays).
// kubepay's demo runs against it and every test and benchmark uses it as the external system.
package gateway

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"
)

// Gateway is one sandbox gateway. Its methods are safe for concurrent use.
type Gateway struct {
	opts      Options
	log       *slog.Logger
	key       *rsa.PrivateKey
	publicPEM []byte
	chaos     *chaos
	sched     *scheduler
	handler   http.Handler
	// ownClient is set when the notification client is the gateway's own, closed with it.
	ownClient bool

	// mu guards the store: payments, refunds, idempotency records, deliveries and counters.
	mu           sync.Mutex
	payments     map[string]*record
	paymentOrder []string // payment ids in creation order, for stable stats and state files
	idempotency  map[string]idempotencyRecord
	refunds      map[string]*refundRecord
	refundOrder  []string // refund ids in creation order
	refundIdem   map[string]refundIdempotency
	deliveries   []*delivery
	deliveryByID map[string]*delivery
	counters     counters
	stateGen     uint64

	persist persister

	ctx       context.Context
	cancel    context.CancelFunc
	workers   sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

// counters are the create and refund statistics; they are persisted with the state.
type counters struct {
	CreatesTotal         int64 `json:"creates_total"`
	CreateReplaysTotal   int64 `json:"create_replays_total"`
	CreateConflictsTotal int64 `json:"create_conflicts_total"`
	RefundsCreatedTotal  int64 `json:"refunds_created_total,omitempty"`
	RefundReplaysTotal   int64 `json:"refund_replays_total,omitempty"`
	RefundConflictsTotal int64 `json:"refund_conflicts_total,omitempty"`
	RefundRefusalsTotal  int64 `json:"refund_refusals_total,omitempty"`
}

// New builds a gateway, loading Options.StateFile when it exists, and starts its notification
// workers. Call Close to stop them.
func New(opts Options) (*Gateway, error) {
	ownClient := opts.HTTPClient == nil
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	g := &Gateway{
		opts:         opts,
		ownClient:    ownClient,
		log:          opts.Logger,
		chaos:        newChaos(opts),
		sched:        newScheduler(),
		payments:     map[string]*record{},
		idempotency:  map[string]idempotencyRecord{},
		refunds:      map[string]*refundRecord{},
		refundIdem:   map[string]refundIdempotency{},
		deliveryByID: map[string]*delivery{},
		persist:      persister{path: opts.StateFile},
	}
	st, err := loadState(opts.StateFile)
	if err != nil {
		return nil, err
	}
	g.key = opts.SigningKey
	if st != nil {
		if err := g.restore(st); err != nil {
			return nil, err
		}
	}
	if g.key == nil {
		if g.key, err = rsa.GenerateKey(rand.Reader, MinKeyBits); err != nil {
			return nil, fmt.Errorf("generate sandbox gateway signing key: %w", err)
		}
	}
	if bits := g.key.N.BitLen(); bits < MinKeyBits {
		return nil, fmt.Errorf("sandbox gateway signing key from state file %s has %d bits, at least %d are required", opts.StateFile, bits, MinKeyBits)
	}
	if g.publicPEM, err = publicKeyPEM(&g.key.PublicKey); err != nil {
		return nil, err
	}
	// Write the state once now, so that a generated key is durable before any notification is
	// signed with it.
	g.mu.Lock()
	gen, data, err := g.snapshotLocked()
	g.mu.Unlock()
	if err == nil {
		err = g.persist.write(gen, data)
	}
	if err != nil {
		return nil, err
	}
	g.handler = g.routes()
	g.ctx, g.cancel = context.WithCancel(context.Background())
	g.startDelivery()
	g.log.Info("sandbox gateway ready", "payments", len(g.payments), "refunds", len(g.refunds), "pendingDeliveries", g.pendingCount(), "stateFile", opts.StateFile)
	return g, nil
}

// Handler returns the gateway's HTTP API, checkout pages included.
func (g *Gateway) Handler() http.Handler { return g.handler }

// PublicKeyPEM returns the notification verification key as a PEM "PUBLIC KEY" (PKIX) block.
func (g *Gateway) PublicKeyPEM() []byte { return append([]byte(nil), g.publicPEM...) }

// Close stops notification delivery, waits for in-flight attempts to end (an attempt interrupted
// by Close is not counted and is made again after a restart) and writes the state a last time.
// It is safe to call more than once.
func (g *Gateway) Close() error {
	g.closeOnce.Do(func() {
		g.cancel()
		g.workers.Wait()
		if g.ownClient {
			g.opts.HTTPClient.CloseIdleConnections()
		}
		g.mu.Lock()
		gen, data, err := g.snapshotLocked()
		g.mu.Unlock()
		if err == nil {
			err = g.persist.write(gen, data)
		}
		g.closeErr = err
		g.log.Info("sandbox gateway stopped", "pendingDeliveries", g.pendingCount())
	})
	return g.closeErr
}

// now is the business clock, in UTC to the second as gateways report times.
func (g *Gateway) now() time.Time { return g.opts.Now().UTC().Truncate(time.Second) }

// newID returns prefix followed by 24 random hex digits. crypto/rand keeps ids unique across
// restarts and runs, which a seeded RNG would not.
func newID(prefix string) string {
	b := make([]byte, 12)
	_, _ = rand.Read(b) // never fails: crypto/rand.Read aborts the program instead
	return prefix + hex.EncodeToString(b)
}
