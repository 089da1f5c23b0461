// Command sandbox-gateway runs kubepay's simulated payment gateway for demos and benchmarks.
// Run it with --help for the flags.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/kubepay/kubepay/providers/sandbox/gateway"
)

func main() {
	cfg, err := parseFlags(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "sandbox-gateway: %v\n", err)
		os.Exit(2)
	}
	level, _ := parseLevel(cfg.logLevel)
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg, log); err != nil {
		log.Error("sandbox gateway failed", "err", err)
		os.Exit(1)
	}
}

// run serves until ctx ends, then shuts down gracefully: stop accepting, finish requests, stop
// notification delivery and flush the state file.
func run(ctx context.Context, cfg config, log *slog.Logger) error {
	opts, err := cfg.options()
	if err != nil {
		return err
	}
	opts.Logger = log
	g, err := gateway.New(opts)
	if err != nil {
		return err
	}
	defer func() {
		if err := g.Close(); err != nil {
			log.Error("close sandbox gateway", "err", err)
		}
	}()
	l, err := net.Listen("tcp", cfg.bindAddress)
	if err != nil {
		return fmt.Errorf("listen on --bind-address %s: %w", cfg.bindAddress, err)
	}
	// Written once the port is bound, so scripts may wait for the file as a readiness signal.
	if cfg.publicKeyOut != "" {
		if err := os.WriteFile(cfg.publicKeyOut, g.PublicKeyPEM(), 0o644); err != nil {
			_ = l.Close() // never served: the write error is the one to report
			return fmt.Errorf("write --public-key-out: %w", err)
		}
	}
	srv := &http.Server{
		Handler:           g.Handler(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	// Keys are counted, never logged.
	log.Info("sandbox gateway listening", "address", l.Addr().String(), "publicURL", cfg.publicURL,
		"apiKeys", len(cfg.apiKeys), "stateFile", cfg.stateFile, "timeScale", cfg.timeScale,
		"duplicates", cfg.duplicates, "dropFirst", cfg.dropFirst, "dropRatio", cfg.dropRatio,
		"reorder", cfg.reorder, "delay", cfg.delay, "refundDelay", cfg.refundDelay, "seed", cfg.seed)
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(l) }()
	select {
	case err := <-serveErr:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shut down HTTP server: %w", err)
	}
	if err := <-serveErr; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("--log-level %q must be debug, info, warn or error", s)
	}
	return l, nil
}
