// Package webhook is the notification callback server: it receives the providers' signed
// asynchronous notifications, verifies them, and applies them to PaymentOrder status exactly once.
//
// It runs on every replica (not only the leader): providers deliver to whichever replica the
// Service picks, and the optimistic lock on resourceVersion, not leadership, is what makes a
// notification apply once.
package webhook

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kubepay/kubepay/internal/resolver"
	"github.com/kubepay/kubepay/internal/shard"
)

// Limits of the callback server. Providers' notifications are a few KiB; anything near these
// limits is abuse or a misconfiguration.
const (
	MaxBodyBytes      = 1 << 20
	MaxHeaderBytes    = 16 << 10
	ReadHeaderTimeout = 5 * time.Second
	ReadTimeout       = 15 * time.Second
	WriteTimeout      = 30 * time.Second
	IdleTimeout       = 90 * time.Second
	ShutdownTimeout   = 20 * time.Second
)

// Server is the callback server, run by the manager as a Runnable.
type Server struct {
	// Addr is the listen address (--notify-bind-address).
	Addr string
	// CertDir, when set, holds tls.crt and tls.key and the server speaks HTTPS. The files are
	// watched: a renewed certificate is served from the next connection on (see tls.go).
	CertDir string
	// Client reads orders through the cache (field index status.outTradeNo) and writes status.
	Client client.Client
	// APIReader reads around the cache: after a write conflict, and when the cache does not have
	// the order yet.
	APIReader client.Reader
	// Share is this install's part of the cluster: notifications for other namespaces are not
	// its to answer, and reads around the cache stay inside it.
	Share    shard.Share
	Resolver *resolver.Resolver
	Recorder events.EventRecorder
	Log      logr.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// RateLimit and RateBurst are each source's failure budget: requests that fail before or
	// during verification, per second and in a burst, per IPv4 address or IPv6 /64 (0: the
	// defaults). Beyond it failures are answered 429 and logged in aggregate. Requests that
	// verify never spend it and are never refused by it (see handleNotify).
	RateLimit float64
	RateBurst int
	// MaxConcurrentVerifications bounds signature verifications under way at once (0:
	// GOMAXPROCS, at least 2); VerifyWait is how long a request waits for one before the answer
	// is 503 (0: DefaultVerifyWait).
	MaxConcurrentVerifications int
	VerifyWait                 time.Duration
	// RefusalLogInterval is the period of the aggregated refusal log lines (0:
	// DefaultRefusalLogInterval).
	RefusalLogInterval time.Duration

	// listening receives the bound address once the listener is up (tests use port 0).
	listening     chan string
	listeningOnce sync.Once

	inflightOnce sync.Once
	inflightSet  *inflight

	// The flood defence's state, shared by every request: see handleNotify.
	limitsOnce  sync.Once
	gateSet     *verifyGate
	budgetSet   *failureBudget
	refusalsSet *refusalLog
}

// recentNotifications bounds the per-replica memory of recorded notifications (about 100 bytes each).
const recentNotifications = 65536

func (s *Server) inflight() *inflight {
	s.inflightOnce.Do(func() { s.inflightSet = newInflight(recentNotifications) })
	return s.inflightSet
}

func (s *Server) limits() {
	s.limitsOnce.Do(func() {
		s.gateSet = newVerifyGate(s.MaxConcurrentVerifications)
		s.budgetSet = newFailureBudget(s.RateLimit, s.RateBurst)
		s.refusalsSet = newRefusalLog(s.Log, s.RefusalLogInterval, nil)
	})
}

func (s *Server) gate() *verifyGate      { s.limits(); return s.gateSet }
func (s *Server) budget() *failureBudget { s.limits(); return s.budgetSet }
func (s *Server) refusals() *refusalLog  { s.limits(); return s.refusalsSet }
func (s *Server) verifyWait() time.Duration {
	if s.VerifyWait > 0 {
		return s.VerifyWait
	}
	return DefaultVerifyWait
}

// NeedLeaderElection is false: every replica serves callbacks.
func (s *Server) NeedLeaderElection() bool { return false }

// Handler returns the routes: POST /notify/{namespace}/{provider} and GET /healthz.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /notify/{namespace}/{provider}", s.handleNotify)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok"))
	})
	return mux
}

// Addresses returns a channel that receives the bound address when the server is listening.
func (s *Server) Addresses() <-chan string {
	s.listeningOnce.Do(func() { s.listening = make(chan string, 1) })
	return s.listening
}

// Start serves until ctx ends, then shuts down gracefully: in-flight notifications finish (and
// are acknowledged only if recorded); new ones are refused and will be retried by the provider.
func (s *Server) Start(ctx context.Context) error {
	s.Addresses()
	srv := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: ReadHeaderTimeout,
		ReadTimeout:       ReadTimeout,
		WriteTimeout:      WriteTimeout,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    MaxHeaderBytes,
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	l, err := net.Listen("tcp", s.Addr)
	if err != nil {
		return fmt.Errorf("callback server: listen on %s: %w", s.Addr, err)
	}
	if s.CertDir != "" {
		cfg, err := s.watchCertificate(ctx)
		if err != nil {
			_ = l.Close() // never served; the key pair error is the one to report
			return err
		}
		srv.TLSConfig = cfg
		l = tls.NewListener(l, srv.TLSConfig)
	}
	s.Log.Info("callback server listening", "address", l.Addr().String(), "tls", s.CertDir != "")
	select {
	case s.listening <- l.Addr().String():
	default:
	}

	// The aggregated refusal lines are written every interval, and once more after the last
	// request has been answered.
	logCtx, stopLog := context.WithCancel(context.Background())
	logDone := make(chan struct{})
	go func() { s.refusals().run(logCtx); close(logDone) }()
	defer func() { stopLog(); <-logDone }()

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	select {
	case err := <-errc:
		return fmt.Errorf("callback server: %w", err)
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		return fmt.Errorf("callback server: shutdown: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func (s *Server) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}
