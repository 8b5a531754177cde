package config

import (
	"strings"
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Duration
		wantErr string
	}{
		{in: "30s", want: 30 * time.Second},
		{in: "5m", want: 5 * time.Minute},
		{in: "1h30m", want: 90 * time.Minute},
		{in: "500ms", want: 500 * time.Millisecond},
		{in: "30", want: 30 * time.Second},
		{in: " 0 ", want: 0},
		{in: "-5", want: -5 * time.Second},
		{in: "2 days", want: 48 * time.Hour},
		{in: "1 day", want: 24 * time.Hour},
		{in: "1day", want: 24 * time.Hour},
		{in: "12 hours", want: 12 * time.Hour},
		{in: "1.5 hours", want: 90 * time.Minute},
		{in: "2 Weeks", want: 14 * 24 * time.Hour},
		{in: "45 sec", want: 45 * time.Second},
		{in: "250 milliseconds", want: 250 * time.Millisecond},
		{in: "", wantErr: "is not a duration"},
		{in: "day", wantErr: "is not a duration"},
		{in: "3 fortnights", wantErr: "is not a duration"},
		{in: "1.2.3 s", wantErr: "is not a duration"},
		{in: "99999999999999999999", wantErr: "out of range"},
		{in: "9999999999999", wantErr: "out of range"},
		{in: "999999999 weeks", wantErr: "out of range"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseDuration(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseDuration(%q) = %v, %v; want error containing %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || time.Duration(got) != tt.want {
				t.Fatalf("ParseDuration(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestDurationString(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0:                       "0s",
		5 * time.Second:         "5s",
		5 * time.Minute:         "5m",
		90 * time.Minute:        "1h30m",
		24 * time.Hour:          "24h",
		time.Hour + time.Second: "1h0m1s",
		60 * time.Millisecond:   "60ms",
		-30 * time.Second:       "-30s",
	} {
		if got := Duration(d).String(); got != want {
			t.Errorf("Duration(%v).String() = %q, want %q", time.Duration(d), got, want)
		}
		// What String writes, ParseDuration reads.
		if back, err := ParseDuration(Duration(d).String()); err != nil || time.Duration(back) != d {
			t.Errorf("ParseDuration(%q) = %v, %v", Duration(d).String(), back, err)
		}
	}
}

func TestRotationAndRetention(t *testing.T) {
	tests := []struct {
		rotation  string
		period    time.Duration
		size      int64
		retention string
		keep      time.Duration
	}{
		{"", 0, 0, "", 0},
		{"1 day", 24 * time.Hour, 0, "30 days", 30 * 24 * time.Hour},
		{"1h", time.Hour, 0, "1 week", 7 * 24 * time.Hour},
		{"100MB", 0, 100_000_000, "12h", 12 * time.Hour},
		{"10 MiB", 0, 10 << 20, "", 0},
		{"512kb", 0, 512_000, "", 0},
		{"1.5 GiB", 0, 3 << 29, "", 0},
		{"often", 0, 0, "forever", 0}, // invalid: off (Validate reports it)
	}
	for _, tt := range tests {
		t.Run(tt.rotation, func(t *testing.T) {
			l := Logging{Rotation: tt.rotation, Retention: tt.retention}
			period, size := l.RotationPeriod()
			if period != tt.period || size != tt.size {
				t.Errorf("RotationPeriod() = %v, %d; want %v, %d", period, size, tt.period, tt.size)
			}
			if got := l.RetentionPeriod(); got != tt.keep {
				t.Errorf("RetentionPeriod() = %v, want %v", got, tt.keep)
			}
		})
	}
}
