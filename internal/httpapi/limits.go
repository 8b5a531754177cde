package httpapi

import (
	"fmt"
	"net/http"
	"net/netip"
)

// Default WebSocket connection limits (api.max_clients and
// api.max_clients_per_address).
const (
	DefaultMaxClients           = 200
	DefaultMaxClientsPerAddress = 32
)

// SetLimits bounds the open WebSocket connections (events and audio), in
// all and per client address; 0 means the default. Call before serving.
func (c *Clients) SetLimits(total, perAddress int) {
	if total <= 0 {
		total = DefaultMaxClients
	}
	if perAddress <= 0 {
		perAddress = DefaultMaxClientsPerAddress
	}
	c.mu.Lock()
	c.max, c.perAddr = total, perAddress
	c.mu.Unlock()
}

// admit takes a connection slot for r before the WebSocket upgrade, or
// answers 503 at once (counted in Refused) when the server or the client's
// address is at its limit. The returned func gives the slot back.
func (c *Clients) admit(w http.ResponseWriter, r *http.Request) (func(), bool) {
	if c == nil {
		return func() {}, true
	}
	addr := r.RemoteAddr
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		addr = ap.Addr().Unmap().String()
	}
	c.mu.Lock()
	if c.max == 0 {
		c.max, c.perAddr = DefaultMaxClients, DefaultMaxClientsPerAddress
	}
	var refusal string
	switch {
	case c.open >= c.max:
		refusal = fmt.Sprintf("the server has %d WebSocket connections, its limit (api.max_clients); close idle ones or raise the limit", c.open)
	case c.byAddr[addr] >= c.perAddr:
		refusal = fmt.Sprintf("%s has %d WebSocket connections open, the limit per address (api.max_clients_per_address); close idle ones", addr, c.byAddr[addr])
	default:
		c.open++
		if c.byAddr == nil {
			c.byAddr = map[string]int{}
		}
		c.byAddr[addr]++
	}
	c.mu.Unlock()
	if refusal != "" {
		c.Refused.Add(1)
		w.Header().Set("Retry-After", "5")
		problem(w, http.StatusServiceUnavailable, refusal)
		return nil, false
	}
	return func() {
		c.mu.Lock()
		c.open--
		if c.byAddr[addr]--; c.byAddr[addr] <= 0 {
			delete(c.byAddr, addr)
		}
		c.mu.Unlock()
	}, true
}
