package events

import "github.com/sip-phone-api/sipphone"

// Recent returns the last n events of the replay buffer, oldest first, so
// they can be kept across a restart (see Restore).
func (b *Bus) Recent(n int) []sipphone.Event {
	b.mu.Lock()
	defer b.mu.Unlock()
	n = min(n, b.size)
	out := make([]sipphone.Event, 0, n)
	for i := b.size - n; i < b.size; i++ {
		out = append(out, b.replay[(b.head+i)%len(b.replay)])
	}
	return out
}

// Restore puts events of a previous run back into the replay buffer, so a
// client reconnecting with ?since= after a restart gets the last events
// (the hangup {reason: shutdown} of a call the shutdown ended) instead of
// a gap. Only events numbered in order and up to the bus's last seq are
// taken; call it before anything is published.
func (b *Bus) Restore(evs []sipphone.Event) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var last uint64
	for _, e := range evs {
		if e.Seq == 0 || e.Seq <= last || e.Seq > b.seq {
			continue
		}
		last = e.Seq
		idx := (b.head + b.size) % len(b.replay)
		if b.size == len(b.replay) {
			b.head = (b.head + 1) % len(b.replay)
		} else {
			b.size++
		}
		b.replay[idx] = e
	}
}
