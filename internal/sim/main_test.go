package sim

import (
	"log/slog"
	"testing"

	"github.com/emiago/sipgo/sip"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// sipgo writes a few connection reference-count warnings at shutdown
	// through its package-level logger, which is not injectable; keep the
	// test output clean.
	sip.SetDefaultLogger(slog.New(slog.DiscardHandler))
	goleak.VerifyTestMain(m, sipgoLateConn)
}

// sipgoLateConn ignores the reader of a UDP connection that sipgo's
// transport layer, rarely and only under load, creates while a user agent
// is being closed (a message sent during Close) and closes only when its
// idle timer fires. It belongs to the library's connection pool, not to
// the simulator; everything the simulator starts is still checked.
var sipgoLateConn = goleak.IgnoreAnyFunction("github.com/emiago/sipgo/sip.(*TransportUDP).readUDPConnection")
