package jitter

import (
	"testing"
)

func constant(n int, v int16) []int16 {
	f := make([]int16, n)
	for i := range f {
		f[i] = v
	}
	return f
}

func TestConcealer(t *testing.T) {
	tests := []struct {
		name   string
		good   []int16 // nil: no good frame
		frames int     // 160-sample frames concealed
		// want[i] is sample i of the concealed stretch, checked at the listed indices.
		want map[int]int16
	}{
		{
			name: "repeats the last frame with falling gain", good: constant(160, 1000), frames: 4,
			want: map[int]int16{0: 1000, 159: 668, 160: 666, 319: 335, 320: 333, 479: 2, 480: 0, 639: 0},
		},
		{
			name: "silence without a good frame", frames: 2,
			want: map[int]int16{0: 0, 100: 0, 319: 0},
		},
		{
			name: "a short frame is repeated cyclically", good: []int16{100, 200, 300, 400}, frames: 1,
			want: map[int]int16{0: 100, 1: 199, 4: 99, 7: 394},
		},
		{
			name: "negative samples keep their sign", good: constant(160, -2000), frames: 1,
			want: map[int]int16{0: -2000, 120: -1500},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := NewConcealer(8000)
			if tc.good != nil {
				c.Good(tc.good)
			}
			out := make([]int16, 160*tc.frames)
			for i := range tc.frames {
				c.Conceal(out[160*i : 160*(i+1)])
			}
			for i, want := range tc.want {
				if out[i] != want {
					t.Errorf("sample %d = %d, want %d", i, out[i], want)
				}
			}
			for i := 1; i < len(out); i++ {
				if abs(out[i]) > abs(out[i-1]) && tc.good != nil && len(tc.good) == 160 {
					t.Fatalf("gain rose at sample %d: %d after %d", i, out[i], out[i-1])
				}
			}
		})
	}
}

func abs(v int16) int16 {
	if v < 0 {
		return -v
	}
	return v
}

func TestConcealerGoodFrameRestoresGain(t *testing.T) {
	c := NewConcealer(8000)
	c.Good(constant(160, 1000))
	out := make([]int16, 160*4)
	c.Conceal(out) // faded to silence
	c.Good(constant(160, 500))
	c.Conceal(out[:160])
	if out[0] != 500 {
		t.Errorf("first concealed sample after a good frame = %d, want 500", out[0])
	}
	c.Reset()
	c.Conceal(out[:160])
	if out[0] != 0 {
		t.Errorf("after Reset: %d, want silence", out[0])
	}
}

func TestConcealerDoesNotAllocate(t *testing.T) {
	c := NewConcealer(8000)
	good := constant(160, 1000)
	out := make([]int16, 160)
	c.Good(good)
	if allocs := testing.AllocsPerRun(100, func() {
		c.Good(good)
		c.Conceal(out)
		c.Conceal(out)
	}); allocs != 0 {
		t.Errorf("%v allocations, want 0", allocs)
	}
}

func BenchmarkConceal(b *testing.B) {
	c := NewConcealer(8000)
	c.Good(constant(160, 1000))
	out := make([]int16, 160)
	b.ReportAllocs()
	for b.Loop() {
		c.Good(out)
		c.Conceal(out)
	}
}
