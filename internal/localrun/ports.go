package localrun

import (
	"fmt"
	"net"
)

// FreeAddrs returns n distinct loopback host:port addresses that were free a moment ago. Callers
// that restart a process on the same address (make soak) pick addresses once, up front, instead of
// letting each process bind port 0. Every listener is held until all n are chosen, so the kernel
// cannot hand out the same port twice.
func FreeAddrs(n int) ([]string, error) {
	addrs := make([]string, 0, n)
	var held []net.Listener
	defer func() {
		for _, l := range held {
			// Held only to keep the port from being handed out twice; nothing was served.
			_ = l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("finding a free loopback port: %w", err)
		}
		held = append(held, l)
		addrs = append(addrs, l.Addr().String())
	}
	return addrs, nil
}
