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
	goleak.VerifyTestMain(m)
}
