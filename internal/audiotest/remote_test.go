package audiotest

import (
	"context"
	"testing"
	"time"
)

// TestRemoteRunLeavesNoLine runs against a running server (--api) as a user
// would, and checks that the test phone's line is gone afterwards: neither
// registered nor listed, so nothing can ring a phantom phone.
func TestRemoteRunLeavesNoLine(t *testing.T) {
	a, stop, err := startServer(Options{Codec: "PCMU"}.withDefaults(), "")
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rep, err := Run(ctx, Options{API: "http://" + a.RESTAddr().String(), SIP: a.SIP.UDPAddr().String(), Local: "127.0.0.1", Rates: []int{8000}})
	if err != nil {
		t.Fatalf("audiotest against a running server: %v", err)
	}
	if rep.Line == "" {
		t.Fatal("the report names no line")
	}
	for _, l := range a.Lines.Status() {
		if l.User == DefaultUser {
			t.Fatalf("line %+v left behind after the test", l)
		}
	}
}
