package webhook

import "net/netip"

// sourceKey is the sender a request is accounted to: its IPv4 address (/32), or its IPv6 /64.
//
// An IPv6 host is normally given a whole /64 (SLAAC, privacy addresses, a /64 per container), so
// one sender can use 2^64 addresses: keyed by /128, every request could come from a fresh address
// with a fresh budget. A /64 is what one site gets; keying by it gives one sender one budget. An
// IPv4-mapped IPv6 address (::ffff:a.b.c.d, what a dual-stack listener reports for IPv4 peers) is
// the IPv4 address it maps.
//
// The key is the connection's peer address. Behind an ingress that is the ingress, for everyone;
// forwarded-for headers are not used because anyone can set them. That is why nothing keyed on
// the source may ever refuse a request that verifies (see notify_handler.go).
func sourceKey(remoteAddr string) string {
	addr, err := netip.ParseAddrPort(remoteAddr)
	var ip netip.Addr
	if err == nil {
		ip = addr.Addr()
	} else if ip, err = netip.ParseAddr(remoteAddr); err != nil {
		// net/http always has ip:port for TCP peers; anything else shares one key, so that
		// garbage cannot mint budgets.
		return "unparsable"
	}
	ip = ip.Unmap().WithZone("")
	bits := 64
	if ip.Is4() {
		bits = 32
	}
	return netip.PrefixFrom(ip, bits).Masked().String()
}
