package line

// persistedEvents is how many of the last events the state file keeps, so a
// client reconnecting with ?since= after a restart is replayed them
// (events.Bus.Recent and Restore).
const persistedEvents = 64
