package sipphone

import (
	"encoding/json"
	"testing"
)

func TestRingStartCarriesNullCallerIDAndPattern(t *testing.T) {
	b, err := json.Marshal(Event{Type: EventRingStart, Line: "l1", RingID: "r1"})
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"caller_id", "pattern"} {
		v, ok := m[k]
		if !ok || v != nil {
			t.Errorf("ring_start without %s: want %q: null, got %s", k, k, b)
		}
	}
	if m["ring_id"] != "r1" || m["line"] != "l1" || m["type"] != "ring_start" {
		t.Errorf("common fields lost: %s", b)
	}

	b, _ = json.Marshal(&Event{Type: EventRingStart, CallerID: &CallerID{Number: "100"}, Pattern: "ring3"})
	var got Event
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if got.CallerID == nil || got.CallerID.Number != "100" || got.Pattern != "ring3" {
		t.Errorf("ring_start with values: %s", b)
	}

	// Other events keep omitting empty fields.
	b, _ = json.Marshal(Event{Type: EventOnHook, Line: "l1"})
	m = nil
	json.Unmarshal(b, &m)
	if _, ok := m["caller_id"]; ok {
		t.Errorf("on_hook carries caller_id: %s", b)
	}
	if _, ok := m["pattern"]; ok {
		t.Errorf("on_hook carries pattern: %s", b)
	}
}
