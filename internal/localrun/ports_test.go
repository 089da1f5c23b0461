package localrun

import (
	"net"
	"strconv"
	"testing"
)

// TestFreeAddrsBelowTheEphemeralRange: the addresses are distinct, bindable, and outside the
// range the kernel hands outgoing connections their source ports from, which once took a soak's
// callback port between the choice and the bind.
func TestFreeAddrsBelowTheEphemeralRange(t *testing.T) {
	low, high := belowEphemeral()
	addrs, err := FreeAddrs(20)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, a := range addrs {
		if seen[a] {
			t.Errorf("%s handed out twice in %v", a, addrs)
		}
		seen[a] = true
		_, p, _ := net.SplitHostPort(a)
		port, _ := strconv.Atoi(p)
		if port < low || port >= high {
			t.Errorf("%s outside [%d, %d): an outgoing connection may take it", a, low, high)
		}
		l, err := net.Listen("tcp", a)
		if err != nil {
			t.Errorf("%s is not free: %v", a, err)
			continue
		}
		_ = l.Close()
	}
}
