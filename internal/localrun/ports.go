package localrun

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
)

// FreeAddrs returns n distinct loopback host:port addresses that were free a moment ago. Callers
// that restart a process on the same address (make soak) pick addresses once, up front, instead of
// letting each process bind port 0. Every listener is held until all n are chosen, so the kernel
// cannot hand out the same port twice.
//
// The ports come from below the kernel's ephemeral range when they can: a port from the range
// (what binding port 0 gives) can be taken, between this check and the process binding it, as the
// source port of any outgoing connection (the manager's own to the API server did, once, in a
// soak run).
func FreeAddrs(n int) ([]string, error) {
	addrs := make([]string, 0, n)
	var held []net.Listener
	defer func() {
		for _, l := range held {
			// Held only to keep the port from being handed out twice; nothing was served.
			_ = l.Close()
		}
	}()
	low, high := belowEphemeral()
	for range n {
		l, err := listenBelow(low, high)
		if err != nil {
			return nil, fmt.Errorf("finding a free loopback port: %w", err)
		}
		held = append(held, l)
		addrs = append(addrs, l.Addr().String())
	}
	return addrs, nil
}

// listenBelow listens on a random free port in [low, high), or on port 0 when none is found.
func listenBelow(low, high int) (net.Listener, error) {
	for range 50 {
		port := low + rand.IntN(high-low)
		if l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port))); err == nil {
			return l, nil
		}
	}
	return net.Listen("tcp", "127.0.0.1:0")
}

// belowEphemeral is the range of ports to pick from: from 20000 (above the well-known and most
// registered services) to the start of the ephemeral range (32768 on Linux by default).
func belowEphemeral() (low, high int) {
	low, high = 20000, 32768
	raw, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return low, high
	}
	if f := strings.Fields(string(raw)); len(f) == 2 {
		if start, err := strconv.Atoi(f[0]); err == nil && start > low+1000 {
			high = start
		}
	}
	return low, high
}
