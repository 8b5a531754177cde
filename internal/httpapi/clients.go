package httpapi

import (
	"sync"
	"sync/atomic"
	"time"
)

// Clients tracks the open WebSocket connections for diagnostics and
// metrics.
type Clients struct {
	// mu guards m and the limits and counts of limits.go.
	mu sync.Mutex
	m  map[*clientEntry]struct{}
	// max and perAddr bound the connections; open and byAddr count them.
	max, perAddr int
	open         int
	byAddr       map[string]int
	// Dropped counts event clients disconnected for being too slow.
	Dropped atomic.Uint64
	// Refused counts connections refused at a limit (limits.go).
	Refused atomic.Uint64
}

type clientEntry struct {
	info  ClientInfo
	queue func() int
	drops func() uint64
}

// ClientInfo describes one WebSocket connection.
type ClientInfo struct {
	Kind       string    `json:"kind" enum:"events,audio"`
	Peer       string    `json:"peer"`
	Since      time.Time `json:"since"`
	Types      []string  `json:"types,omitempty" doc:"Event types subscribed to (empty: all)"`
	Lines      []string  `json:"lines,omitempty" doc:"Lines subscribed to (empty: all)"`
	StreamID   string    `json:"stream_id,omitempty"`
	QueueDepth int       `json:"queue_depth" doc:"Events or audio chunks waiting to be sent"`
	Dropped    uint64    `json:"dropped" doc:"Audio chunks dropped because the client was slow"`
}

// NewClients returns an empty registry.
func NewClients() *Clients { return &Clients{m: map[*clientEntry]struct{}{}} }

// add registers a connection; the returned func removes it.
func (c *Clients) add(info ClientInfo, queue func() int, drops func() uint64) func() {
	if c == nil {
		return func() {}
	}
	e := &clientEntry{info: info, queue: queue, drops: drops}
	c.mu.Lock()
	c.m[e] = struct{}{}
	c.mu.Unlock()
	return func() {
		c.mu.Lock()
		delete(c.m, e)
		c.mu.Unlock()
	}
}

// List returns the open connections.
func (c *Clients) List() []ClientInfo {
	c.mu.Lock()
	entries := make([]*clientEntry, 0, len(c.m))
	for e := range c.m {
		entries = append(entries, e)
	}
	c.mu.Unlock()
	out := make([]ClientInfo, 0, len(entries))
	for _, e := range entries {
		info := e.info
		if e.queue != nil {
			info.QueueDepth = e.queue()
		}
		if e.drops != nil {
			info.Dropped = e.drops()
		}
		out = append(out, info)
	}
	return out
}

// Count returns the number of open connections.
func (c *Clients) Count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}
