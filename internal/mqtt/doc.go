// Package mqtt connects sipphone to an MQTT broker: it publishes each line's
// state (retained), events and key presses, takes ring, hang-up and announce
// commands, and describes the lines to Home Assistant by MQTT device
// discovery.
//
// The client never blocks the phone: events are read from a bounded
// subscription, published by one goroutine of the client's own, and
// dropped (and counted) while the broker is away. Retained state is
// recomputed from the lines' status on every (re)connection, so no state
// change is lost across a broker outage.
//
// The package depends only on the domain types of package sipphone and on
// the small interfaces declared here ([Lines], [Events], [Announcer]).
package mqtt
