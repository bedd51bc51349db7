package auth

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// ParseTrustedProxies reads a list of proxy addresses and networks
// separated by commas or spaces ("10.0.0.0/8, 192.0.2.7, fd00::/8"); a bare
// address is a network of one. An empty list is none.
func ParseTrustedProxies(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' }) {
		var p netip.Prefix
		if strings.Contains(f, "/") {
			var err error
			if p, err = netip.ParsePrefix(f); err != nil {
				return nil, fmt.Errorf("trusted proxy %q: not an address or a network in CIDR notation", f)
			}
			if p.Addr().Is4In6() {
				p = netip.PrefixFrom(p.Addr().Unmap(), max(0, p.Bits()-96))
			}
		} else {
			a, err := netip.ParseAddr(f)
			if err != nil || a.Zone() != "" {
				return nil, fmt.Errorf("trusted proxy %q: not an address or a network in CIDR notation", f)
			}
			a = a.Unmap()
			p = netip.PrefixFrom(a, a.BitLen())
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// ClientAddr returns the address of the client that sent r. It is the
// peer's address (r.RemoteAddr) unless the peer is one of the trusted
// proxies: then X-Forwarded-For is read from the right (the hop nearest
// to doorlog) leftwards, past every trusted proxy, and the first address
// that is not one is the client. Entries further left were written by the
// client itself and are never believed. An unreadable entry stops the walk
// at the last address read. The zero Addr means the peer's address could
// not be read (not a TCP connection).
func ClientAddr(r *http.Request, trusted []netip.Prefix) netip.Addr {
	addr := parseHost(r.RemoteAddr)
	if !addr.IsValid() || !isTrusted(addr, trusted) {
		return addr
	}
	hops := r.Header.Values("X-Forwarded-For")
	for i := len(hops) - 1; i >= 0; i-- {
		parts := strings.Split(hops[i], ",")
		for j := len(parts) - 1; j >= 0; j-- {
			a := parseHost(strings.TrimSpace(parts[j]))
			if !a.IsValid() {
				return addr
			}
			addr = a
			if !isTrusted(a, trusted) {
				return a
			}
		}
	}
	return addr
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// parseHost reads an address with or without a port ("192.0.2.1",
// "192.0.2.1:443", "[2001:db8::1]:443", "2001:db8::1"), without its zone
// and with an IPv4 address mapped into IPv6 unmapped.
func parseHost(s string) netip.Addr {
	if a, err := netip.ParseAddr(s); err == nil {
		return a.WithZone("").Unmap()
	}
	host, _, err := net.SplitHostPort(s)
	if err != nil {
		return netip.Addr{}
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return a.WithZone("").Unmap()
}

// addressKey is the key a client address is throttled and its events
// capped by: an IPv4 address itself, and for IPv6 its /64, which is what
// one subscriber gets (a client picks any address inside it at will).
func addressKey(a netip.Addr) string {
	switch {
	case !a.IsValid():
		return "unknown"
	case a.Is4():
		return a.String()
	}
	return netip.PrefixFrom(a, 64).Masked().String()
}
