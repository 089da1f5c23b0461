package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/kubepay/kubepay/internal/localrun"
)

// service is one process the soak crashes and restarts: the same binary, arguments and addresses
// every time, so a restart looks to its peers exactly like the old process coming back. Each start
// gets its own log (name.log, name-2.log, ...) so the log of the process that was killed survives.
type service struct {
	name, bin string
	args      []string
	// ready are the URLs that answer 200 once the process serves.
	ready []string

	mu     sync.Mutex
	proc   *localrun.Proc
	starts int
	// killed is set while a deliberate kill is in progress, so it is not mistaken for a crash.
	killed, stopped bool
	// crashes records processes that ended without being told to: a finding, never chaos.
	crashes []string
}

// start runs a new process and waits until it serves.
func (s *service) start(ctx context.Context, dir string) error {
	s.mu.Lock()
	s.starts++
	logName := s.name
	if s.starts > 1 {
		logName = fmt.Sprintf("%s-%d", s.name, s.starts)
	}
	p, err := localrun.Start(dir, logName, s.bin, s.args...)
	if err != nil {
		s.mu.Unlock()
		return err
	}
	s.proc, s.killed = p, false
	s.mu.Unlock()
	for _, u := range s.ready {
		if err := localrun.WaitHTTP(ctx, p, u, 90*time.Second); err != nil {
			return err
		}
	}
	return nil
}

// kill ends the process with SIGKILL, as a node or OOM kill would: no graceful shutdown, no
// lease release, no final state write.
func (s *service) kill() {
	s.mu.Lock()
	p := s.proc
	s.killed = true
	s.mu.Unlock()
	p.Kill()
}

// stop ends the process gracefully at the end of the run; later calls do nothing.
func (s *service) stop() {
	s.mu.Lock()
	p := s.proc
	if s.stopped {
		p = nil
	}
	s.killed, s.stopped = true, true
	s.mu.Unlock()
	p.Stop()
}

// checkCrash records the current process if it ended on its own.
func (s *service) checkCrash() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc != nil && !s.killed && s.proc.Exited() {
		s.crashes = append(s.crashes, fmt.Sprintf("%s exited by itself; see %s", s.name, s.proc.Log))
		s.killed = true
	}
}
