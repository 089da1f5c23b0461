package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/kubepay/kubepay/internal/localrun"
)

// The kill/restart schedule, as fractions of the planned traffic span: the leader dies while
// orders are being created, the gateway while payments and notifications are flowing, and the
// other manager while orders are expiring. Pauses are long enough for retries to pile up and,
// for a leader, for its Lease to run out (a SIGKILLed leader never releases it).
const (
	leaderKillAt  = 0.2
	gatewayKillAt = 0.45
	otherKillAt   = 0.7
	managerPause  = 5 * time.Second
	gatewayPause  = 3 * time.Second
)

// chaosLog records what the schedule did, for the report.
type chaosLog struct {
	mu       sync.Mutex
	lines    []string
	restarts int
	done     bool
	err      error
}

func (l *chaosLog) add(start time.Time, format string, a ...any) {
	line := fmt.Sprintf("t=%5.1fs  ", time.Since(start).Seconds()) + fmt.Sprintf(format, a...)
	l.mu.Lock()
	l.lines = append(l.lines, line)
	l.mu.Unlock()
	fmt.Println("  chaos: " + line)
}

func (l *chaosLog) restarted() {
	l.mu.Lock()
	l.restarts++
	l.mu.Unlock()
}

// state reports whether the schedule has finished, with its error if it failed.
func (l *chaosLog) state() (done bool, restarts int, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.done, l.restarts, l.err
}

// runChaos plays the schedule; a failure to bring a process back ends the soak.
func (s *soak) runChaos(ctx context.Context) {
	l := s.chaos
	defer func() { l.mu.Lock(); l.done = true; l.mu.Unlock() }()
	fail := func(err error) { l.mu.Lock(); l.err = err; l.mu.Unlock() }
	at := func(f float64) error {
		return sleep(ctx, time.Until(s.start.Add(time.Duration(f*float64(s.cfg.span())))))
	}

	if at(leaderKillAt) != nil {
		return
	}
	first, err := s.leader(ctx)
	if err != nil {
		fail(err)
		return
	}
	if err := s.crashManager(ctx, first); err != nil {
		fail(err)
		return
	}
	if at(gatewayKillAt) != nil {
		return
	}
	keyBefore, err := localrun.Get(s.addr.gatewayURL() + "/v1/public-key")
	if err != nil {
		fail(fmt.Errorf("reading the gateway's public key: %w", err))
		return
	}
	l.add(s.start, "SIGKILL %s (pending deliveries in its state file)", s.gateway.name)
	s.gateway.kill()
	if sleep(ctx, gatewayPause) != nil {
		return
	}
	if err := s.gateway.start(ctx, s.dir); err != nil {
		fail(fmt.Errorf("restarting the gateway: %w", err))
		return
	}
	l.restarted()
	if st, err := s.gatewayStats(); err == nil {
		l.add(s.start, "%s restarted from its state file: %d payments, %d deliveries pending", s.gateway.name, st.PaymentsTotal, st.DeliveriesPending)
	}
	// The Secret holds the old public key: a new signing key would fail every notification.
	keyAfter, err := localrun.Get(s.addr.gatewayURL() + "/v1/public-key")
	if err != nil {
		fail(fmt.Errorf("reading the gateway's public key after its restart: %w", err))
		return
	}
	if !bytes.Equal(keyBefore, keyAfter) {
		fail(errors.New("the gateway's signing key did not survive its restart"))
		return
	}
	if at(otherKillAt) != nil {
		return
	}
	// The other one: by now usually the leader, since it took over from the first.
	if err := s.crashManager(ctx, 1-first); err != nil {
		fail(err)
	}
}

// crashManager SIGKILLs manager i, waits, and starts it again.
func (s *soak) crashManager(ctx context.Context, i int) error {
	m := s.managers[i]
	role := "standby"
	if s.isLeader(i) {
		role = "leader"
	}
	s.chaos.add(s.start, "SIGKILL %s (%s)", m.name, role)
	m.kill()
	if err := sleep(ctx, managerPause); err != nil {
		return err
	}
	if err := m.start(ctx, s.dir); err != nil {
		return fmt.Errorf("restarting %s: %w", m.name, err)
	}
	s.chaos.restarted()
	s.chaos.add(s.start, "%s restarted", m.name)
	return nil
}

// leader returns the manager holding the Lease, waiting for a takeover to finish if needed.
func (s *soak) leader(ctx context.Context) (int, error) {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		for i := range s.managers {
			if s.isLeader(i) {
				return i, nil
			}
		}
		if err := sleep(ctx, 500*time.Millisecond); err != nil {
			return 0, err
		}
	}
	return 0, fmt.Errorf("no manager reported leadership within 60s")
}

// isLeader reads controller-runtime's leader_election_master_status from the manager's metrics.
func (s *soak) isLeader(i int) bool {
	v, err := localrun.Metric("http://"+s.addr.metrics[i]+"/metrics", "leader_election_master_status", `name="`+leaseName+`"`)
	return err == nil && v == 1
}
