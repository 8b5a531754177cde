package app

import "net/netip"

// tcpNetwork is the network to listen on for host: "tcp4" for an IPv4
// address (0.0.0.0 means every IPv4 interface, as the configuration says,
// not IPv6 too), "tcp" otherwise ("::" is every interface, IPv6 and IPv4).
func tcpNetwork(host string) string {
	if a, err := netip.ParseAddr(host); err == nil && a.Is4() {
		return "tcp4"
	}
	return "tcp"
}
