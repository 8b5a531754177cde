package config

import (
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

func TestAddrListFromYAML(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{"scalar", `ht802: {host: "192.168.1.100"}`, []string{"192.168.1.100"}},
		{"list", "ht802:\n  host:\n    - 192.168.1.100\n    - 10.0.0.0/8\n    - ht802.lan\n    - \"fe80::1\"\n", []string{"192.168.1.100", "10.0.0.0/8", "ht802.lan", "fe80::1"}},
		{"flow list", `ht802: {host: [a.lan, b.lan]}`, []string{"a.lan", "b.lan"}},
		{"empty list", `ht802: {host: []}`, nil},
		{"empty string", `ht802: {host: ""}`, nil},
		{"null", `ht802: {host: }`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustParse(t, tt.in, "")
			if !reflect.DeepEqual(c.HT802.Host.Entries, tt.want) {
				t.Errorf("Entries = %q, want %q", c.HT802.Host.Entries, tt.want)
			}
		})
	}
}

func TestAddrListContains(t *testing.T) {
	a, err := NewAddrList("192.168.1.100", "10.1.0.0/16", "fd00::/8", "ht802.lan")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		ip   string
		want bool
	}{
		{"192.168.1.100", true},
		{"::ffff:192.168.1.100", true}, // IPv4-mapped, as a dual-stack socket reports it
		{"192.168.1.101", false},
		{"10.1.255.3", true},
		{"10.2.0.1", false},
		{"fd12::1", true},
		{"fe80::1", false},
		{"192.168.1.50", false}, // ht802.lan before Resolve matches nothing
	}
	for _, tt := range tests {
		if got := a.Contains(netip.MustParseAddr(tt.ip)); got != tt.want {
			t.Errorf("Contains(%s) = %v, want %v", tt.ip, got, tt.want)
		}
	}
	if a.Contains(netip.Addr{}) {
		t.Error("Contains(invalid) = true")
	}
}

func TestAddrListResolve(t *testing.T) {
	a, err := NewAddrList("192.168.1.100", "ht802.lan", "gone.lan", "empty.lan")
	if err != nil {
		t.Fatal(err)
	}
	var asked []string
	lookup := func(host string) ([]netip.Addr, error) {
		asked = append(asked, host)
		switch host {
		case "ht802.lan":
			return []netip.Addr{netip.MustParseAddr("192.168.1.50"), netip.MustParseAddr("::ffff:192.168.1.51")}, nil
		case "gone.lan":
			return nil, errors.New("no such host")
		}
		return nil, nil
	}
	err = a.Resolve(lookup)
	if !reflect.DeepEqual(asked, []string{"ht802.lan", "gone.lan", "empty.lan"}) {
		t.Errorf("looked up %q; IP entries must not be looked up", asked)
	}
	if err == nil || !strings.Contains(err.Error(), `resolve "gone.lan": no such host`) || !strings.Contains(err.Error(), `resolve "empty.lan": no addresses`) {
		t.Errorf("Resolve error = %v", err)
	}
	for ip, want := range map[string]bool{"192.168.1.50": true, "192.168.1.51": true, "192.168.1.100": true, "192.168.1.52": false} {
		if got := a.Contains(netip.MustParseAddr(ip)); got != want {
			t.Errorf("after Resolve, Contains(%s) = %v, want %v", ip, got, want)
		}
	}
	// A later Resolve replaces the addresses.
	if err := a.Resolve(func(string) ([]netip.Addr, error) { return []netip.Addr{netip.MustParseAddr("192.168.1.60")}, nil }); err != nil {
		t.Fatal(err)
	}
	if a.Contains(netip.MustParseAddr("192.168.1.50")) || !a.Contains(netip.MustParseAddr("192.168.1.60")) {
		t.Error("second Resolve did not replace the first")
	}
}

func TestAddrListEmptyFirstAllows(t *testing.T) {
	var empty AddrList
	ip := netip.MustParseAddr("203.0.113.9")
	if !empty.Empty() || empty.First() != "" || empty.Contains(ip) || !empty.Allows(ip) {
		t.Error("an empty list must be Empty, have no First, contain nothing and allow everything")
	}
	a, _ := NewAddrList("192.168.1.100", "10.0.0.0/8")
	if a.Empty() || a.First() != "192.168.1.100" || a.Allows(ip) || !a.Allows(netip.MustParseAddr("10.9.9.9")) {
		t.Errorf("non-empty list: Empty %v First %q Allows %v", a.Empty(), a.First(), a.Allows(ip))
	}
}

func TestNewAddrListRejects(t *testing.T) {
	for _, e := range []string{"", "1.2.3", "300.1.1.1", "a b", "-x.lan", "1.2.3.4/40", "x..y", strings.Repeat("a", 64) + ".lan"} {
		if _, err := NewAddrList("192.168.1.1", e); err == nil {
			t.Errorf("NewAddrList accepted %q", e)
		}
	}
}

func TestAddrListContainsDoesNotAllocate(t *testing.T) {
	a, _ := NewAddrList("192.168.1.100", "10.0.0.0/8", "fd00::/8", "ht802.lan")
	_ = a.Resolve(func(string) ([]netip.Addr, error) { return []netip.Addr{netip.MustParseAddr("192.168.1.50")}, nil })
	ip := netip.MustParseAddr("192.168.1.50")
	if n := testing.AllocsPerRun(100, func() { a.Contains(ip) }); n != 0 {
		t.Errorf("Contains allocates %v times per call", n)
	}
}

func BenchmarkAddrListContains(b *testing.B) {
	a, _ := NewAddrList("192.168.1.100", "10.0.0.0/8", "fd00::/8", "ht802.lan")
	_ = a.Resolve(func(string) ([]netip.Addr, error) { return []netip.Addr{netip.MustParseAddr("192.168.1.50")}, nil })
	ip := netip.MustParseAddr("192.168.1.50") // matched last: the worst case
	b.ReportAllocs()
	for b.Loop() {
		if !a.Contains(ip) {
			b.Fatal("no match")
		}
	}
}
