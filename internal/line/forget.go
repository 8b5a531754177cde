package line

import (
	"fmt"
	"slices"

	"github.com/sip-phone-api/sipphone"
)

// DeleteLine forgets a line learned from REGISTER: it leaves /lines and
// /status and the state file. A configured line cannot be deleted
// (ErrInvalid: remove it from the configuration), nor a line with a ring or
// call (ErrLineBusy). A line still registered is unregistered first (reason
// "deleted"); if the adapter registers again it comes back as a new line.
func (m *Manager) DeleteLine(id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if id == "" {
		return fmt.Errorf("%w: name the line to delete", sipphone.ErrInvalid)
	}
	l, err := m.resolve(id)
	if err != nil {
		return err
	}
	switch {
	case l.configured:
		return fmt.Errorf("%w: line %q is configured; remove it from the configuration's lines to forget it", sipphone.ErrInvalid, l.id)
	case l.cur != nil && l.cur.ring != nil:
		return fmt.Errorf("%w: line %q is ringing; stop the ring first (DELETE /lines/%s/ring)", sipphone.ErrLineBusy, l.id, l.id)
	case l.cur != nil:
		return fmt.Errorf("%w: line %q has a call; hang up first (POST /lines/%s/hangup)", sipphone.ErrLineBusy, l.id, l.id)
	}
	if l.reg != nil {
		m.unregisterLocked(l, "deleted")
	}
	if l.expiry != nil {
		l.expiry.Stop()
		l.expiry = nil
	}
	m.lines = slices.DeleteFunc(m.lines, func(x *lineState) bool { return x == l })
	delete(m.byID, l.id)
	if m.byUser[l.user] == l {
		delete(m.byUser, l.user)
	}
	m.log.Info("line deleted", "line", l.id, "user", l.user)
	m.markDirty()
	return nil
}
