package config

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/goccy/go-yaml/ast"
)

// AddrList is a list of IP addresses, CIDR prefixes and hostnames. YAML
// writes it as one scalar or as a list.
//
// IPs and prefixes match at once; hostnames match only the addresses found
// by the last [AddrList.Resolve]. Resolve before sharing the list between
// goroutines: Contains only reads.
type AddrList struct {
	Entries []string

	// nets holds the addresses hostnames resolved to, as single-address
	// prefixes.
	nets []netip.Prefix
}

// NewAddrList returns a list of the given entries, or an error naming the
// first entry that is neither an IP, a CIDR prefix nor a hostname.
func NewAddrList(entries ...string) (AddrList, error) {
	a := AddrList{Entries: append([]string(nil), entries...)}
	for i, e := range a.Entries {
		if err := checkAddrEntry(e); err != nil {
			return AddrList{}, fmt.Errorf("entry %d: %w", i, err)
		}
	}
	return a, nil
}

// UnmarshalYAML accepts a scalar or a list of scalars; each entry must be an
// IP, a CIDR prefix or a hostname.
func (a *AddrList) UnmarshalYAML(node ast.Node) error {
	var entries []string
	switch n := node.(type) {
	case *ast.SequenceNode:
		for _, v := range n.Values {
			s, err := addrScalar(v)
			if err != nil {
				return err
			}
			entries = append(entries, s)
		}
	case *ast.StringNode:
		if n.Value == "" {
			break // host: "" is the empty list
		}
		s, err := addrScalar(node)
		if err != nil {
			return err
		}
		entries = []string{s}
	default:
		s, err := addrScalar(node)
		if err != nil {
			return err
		}
		if s != "" {
			entries = []string{s}
		}
	}
	*a = AddrList{Entries: entries}
	return nil
}

// addrScalar returns the text of one list entry, checked.
func addrScalar(n ast.Node) (string, error) {
	var s string
	switch v := n.(type) {
	case *ast.StringNode:
		s = v.Value
	case *ast.NullNode:
		return "", nil
	default:
		return "", nodeErrorf(n, "expected an IP address, CIDR or hostname, got %s", describe(n))
	}
	if err := checkAddrEntry(s); err != nil {
		return "", nodeErrorf(n, "%v", err)
	}
	return s, nil
}

// MarshalYAML writes one entry as a scalar and several as a list.
func (a AddrList) MarshalYAML() (any, error) {
	switch len(a.Entries) {
	case 0:
		return nil, nil
	case 1:
		return a.Entries[0], nil
	default:
		return a.Entries, nil
	}
}

// Empty reports whether the list has no entries (which ht802.host reads as
// "accept any source").
func (a AddrList) Empty() bool { return len(a.Entries) == 0 }

// First returns the first entry, "" when the list is empty. It is the
// address to probe when no registration tells us where the adapter is.
func (a AddrList) First() string {
	if len(a.Entries) == 0 {
		return ""
	}
	return a.Entries[0]
}

// Contains reports whether ip equals a listed IP, lies in a listed prefix, or
// is an address a listed hostname resolved to. An empty list contains
// nothing; see [AddrList.Allows]. IPv4-mapped IPv6 addresses match their IPv4
// form. Contains does not allocate.
func (a AddrList) Contains(ip netip.Addr) bool {
	if !ip.IsValid() {
		return false
	}
	ip = ip.Unmap().WithZone("")
	for _, e := range a.Entries {
		switch entryKind(e) {
		case kindPrefix:
			if p, err := netip.ParsePrefix(e); err == nil && p.Masked().Contains(ip) {
				return true
			}
		case kindIP:
			if x, err := netip.ParseAddr(e); err == nil && x.Unmap().WithZone("") == ip {
				return true
			}
		}
	}
	for _, p := range a.nets {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// Kinds of list entries.
const (
	kindHost = iota
	kindIP
	kindPrefix
)

// entryKind classifies e without parsing it (a failed parse allocates its
// error): a '/' makes a prefix, a ':' an IPv6 address, only digits and dots
// an IPv4 address, anything else a hostname.
func entryKind(e string) int {
	if e == "" {
		return kindHost
	}
	if strings.IndexByte(e, '/') >= 0 {
		return kindPrefix
	}
	if strings.IndexByte(e, ':') >= 0 {
		return kindIP
	}
	for i := 0; i < len(e); i++ {
		if c := e[i]; c != '.' && (c < '0' || c > '9') {
			return kindHost
		}
	}
	return kindIP
}

// Allows reports whether requests from ip are accepted: the list is empty
// or contains ip.
func (a AddrList) Allows(ip netip.Addr) bool {
	return a.Empty() || a.Contains(ip)
}

// Resolve looks up every hostname entry with lookup (nil uses the system
// resolver) and remembers the addresses for Contains, replacing those of an
// earlier Resolve. Hostnames that fail keep matching nothing; the errors are
// joined and each names its hostname.
func (a *AddrList) Resolve(lookup func(host string) ([]netip.Addr, error)) error {
	if lookup == nil {
		lookup = func(host string) ([]netip.Addr, error) {
			return net.DefaultResolver.LookupNetIP(context.Background(), "ip", host)
		}
	}
	var nets []netip.Prefix
	var errs []error
	for _, e := range a.Entries {
		if entryKind(e) != kindHost {
			continue
		}
		addrs, err := lookup(e)
		if err != nil {
			errs = append(errs, fmt.Errorf("resolve %q: %w", e, err))
			continue
		}
		if len(addrs) == 0 {
			errs = append(errs, fmt.Errorf("resolve %q: no addresses", e))
			continue
		}
		for _, x := range addrs {
			x = x.Unmap().WithZone("")
			if x.IsValid() {
				nets = append(nets, netip.PrefixFrom(x, x.BitLen()))
			}
		}
	}
	a.nets = nets
	return errors.Join(errs...)
}

// checkAddrEntry accepts an IP address, a CIDR prefix or a hostname.
func checkAddrEntry(e string) error {
	switch entryKind(e) {
	case kindPrefix:
		if _, err := netip.ParsePrefix(e); err != nil {
			return fmt.Errorf("%q is not a CIDR prefix like 192.168.1.0/24", e)
		}
	case kindIP:
		if _, err := netip.ParseAddr(e); err != nil {
			return fmt.Errorf("%q is not an IP address, CIDR prefix or hostname", e)
		}
	default:
		if e == "" {
			return errors.New("empty entry")
		}
		if !isHostname(e) {
			return fmt.Errorf("%q is not an IP address, CIDR prefix or hostname", e)
		}
	}
	return nil
}

// isHostname reports whether s is a syntactically valid DNS hostname
// (RFC 1123 labels; a trailing dot is allowed). An all-numeric last label is
// refused, so a mistyped IPv4 address is not taken for a name.
func isHostname(s string) bool {
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > 253 {
		return false
	}
	labels := strings.Split(s, ".")
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return !isDigits(labels[len(labels)-1])
}
