package rfc4733

import (
	"encoding/binary"
	"testing"
	"time"
)

// FuzzReceiver feeds arbitrary packet sequences to a Receiver and checks
// that it never panics and that its events stay well formed: presses
// alternate Start and End, an End matches its Start, codes are 0-16, and
// every press ends by the final Tick.
//
// The input is a series of records, each
//
//	flags (1 byte) | RTP timestamp (4 bytes, big endian) | n (1 byte) | n payload bytes
//
// where flags bit 0 is the marker bit, bit 1 asks for a Tick before the
// packet and bits 2-7 advance the clock by that many 4 ms steps. The seed
// corpus is in testdata/fuzz/FuzzReceiver.
func FuzzReceiver(f *testing.F) {
	f.Add(fuzzRecord(nil, 0, true, 1000, Payload{Event: 5}))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := NewReceiver(8000)
		now := t0
		var open *Event
		var ends uint64
		emit := func(e Event) {
			if e.Code > MaxCode || e.Digit != Digit(e.Code) || e.Flash != (e.Code == CodeFlash) {
				t.Fatalf("malformed event %+v", e)
			}
			if e.Duration < 0 || e.Volume < 0 || e.Volume > 63 {
				t.Fatalf("event out of range %+v", e)
			}
			switch e.Kind {
			case Start:
				if open != nil {
					t.Fatalf("start %+v while %+v is open", e, *open)
				}
				open = &e
			case End:
				if open == nil {
					t.Fatalf("end %+v without a start", e)
				}
				if e.TS != open.TS || e.Code != open.Code || e.Duration < open.Duration {
					t.Fatalf("end %+v does not match start %+v", e, *open)
				}
				open = nil
				ends++
			default:
				t.Fatalf("event of kind %d", e.Kind)
			}
		}
		for len(data) >= 6 {
			flags, ts, n := data[0], binary.BigEndian.Uint32(data[1:5]), int(data[5])
			data = data[6:]
			n = min(n, len(data))
			payload := data[:n]
			data = data[n:]
			now = now.Add(time.Duration(flags>>2) * 4 * time.Millisecond)
			if flags&2 != 0 {
				r.Tick(now, emit)
			}
			r.Packet(ts, flags&1 != 0, payload, now, emit)
		}
		r.Tick(now.Add(MaxTimeout), emit)
		if open != nil {
			t.Fatalf("press %+v still open after the timeout", *open)
		}
		if s := r.Stats(); s.Presses != ends {
			t.Fatalf("Stats.Presses = %d, %d ends emitted", s.Presses, ends)
		}
	})
}

// fuzzRecord appends one FuzzReceiver input record to b.
func fuzzRecord(b []byte, advanceMS int, marker bool, ts uint32, p Payload) []byte {
	flags := byte(advanceMS/4) << 2
	if marker {
		flags |= 1
	}
	b = append(b, flags)
	b = binary.BigEndian.AppendUint32(b, ts)
	b = append(b, PayloadSize)
	return p.AppendTo(b)
}
