package mqtt

import (
	"errors"
	"testing"
	"time"

	"github.com/sip-phone-api/sipphone"
)

// recorder is a Lines that records calls (the command parser's unit tests;
// the end-to-end tests in internal/app use the real line owner).
type recorder struct {
	rings   []RingOptions
	stopped int
}

func (r *recorder) Status() []sipphone.LineStatus { return nil }
func (r *recorder) Ring(_ string, o RingOptions) (string, string, error) {
	r.rings = append(r.rings, o)
	return "r", "l", nil
}
func (r *recorder) StopRing(string) (string, error) { r.stopped++; return "l", nil }
func (r *recorder) Hangup(string) (string, error)   { return "l", nil }

func TestRingPayloads(t *testing.T) {
	for _, tc := range []struct {
		payload string
		want    *RingOptions
		stop    bool
		bad     bool
	}{
		{payload: "", want: &RingOptions{}},
		{payload: "ON", want: &RingOptions{}},
		{payload: "OFF", stop: true},
		{payload: `{"state":"OFF"}`, stop: true},
		{payload: `{"caller_id":{"name":"Front Door","number":"5551234"},"pattern":"ring3","timeout_s":20}`,
			want: &RingOptions{CallerID: sipphone.CallerID{Name: "Front Door", Number: "5551234"}, Pattern: "ring3", Timeout: 20 * time.Second}},
		{payload: `{"state":"ON","tone":"ring3","duration":20}`, want: &RingOptions{Pattern: "ring3", Timeout: 20 * time.Second}},
		{payload: `{"caller_id":"100"}`, want: &RingOptions{CallerID: sipphone.CallerID{Number: "100"}}},
		{payload: `{"caller_id":`, bad: true},
		{payload: `ring please`, bad: true},
		{payload: `{"caller_id":{"number":"12 34"}}`, bad: true},
		{payload: `{"timeout_s":-1}`, bad: true},
		{payload: `{"state":"maybe"}`, bad: true},
	} {
		r := &recorder{}
		c := &Client{lines: r}
		err := c.ring("phone1", []byte(tc.payload))
		switch {
		case tc.bad:
			if !errors.Is(err, sipphone.ErrInvalid) {
				t.Errorf("%q: err %v, want ErrInvalid", tc.payload, err)
			}
			if s, _ := problem(err); s != 422 {
				t.Errorf("%q: status %d, want 422", tc.payload, s)
			}
		case err != nil:
			t.Errorf("%q: %v", tc.payload, err)
		case tc.stop:
			if r.stopped != 1 || len(r.rings) != 0 {
				t.Errorf("%q: stopped %d rings %v", tc.payload, r.stopped, r.rings)
			}
		default:
			if len(r.rings) != 1 || r.rings[0] != *tc.want {
				t.Errorf("%q: rings %+v, want %+v", tc.payload, r.rings, *tc.want)
			}
		}
	}
}
