package mqtt

import (
	"strings"
)

// Topics names every topic of one sipphone instance.
type Topics struct {
	Prefix          string // e.g. "sipphone"
	DiscoveryPrefix string // e.g. "homeassistant"
}

// Status is the availability topic: retained "online", last will "offline".
func (t Topics) Status() string { return t.Prefix + "/status" }

// State is a line's retained state topic.
func (t Topics) State(line string) string { return t.Prefix + "/line/" + Level(line) + "/state" }

// Event is a line's event topic (every event, not retained).
func (t Topics) Event(line string) string { return t.Prefix + "/line/" + Level(line) + "/event" }

// Key is a line's key topic, read by Home Assistant's event entity.
func (t Topics) Key(line string) string { return t.Prefix + "/line/" + Level(line) + "/key" }

// Command is a line's command topic for cmd ("ring", "hangup", "announce").
func (t Topics) Command(line, cmd string) string {
	return t.Prefix + "/line/" + Level(line) + "/" + cmd + "/set"
}

// CommandFilter is the subscription matching every line's commands.
func (t Topics) CommandFilter() string { return t.Prefix + "/line/+/+/set" }

// HAStatus is Home Assistant's birth/will topic.
func (t Topics) HAStatus() string { return t.DiscoveryPrefix + "/status" }

// Discovery is the device discovery topic of node.
func (t Topics) Discovery(node string) string {
	return t.DiscoveryPrefix + "/device/" + node + "/config"
}

// parseCommand splits a command topic into line id and command name.
func (t Topics) parseCommand(topic string) (line, cmd string, ok bool) {
	rest, ok := strings.CutPrefix(topic, t.Prefix+"/line/")
	if !ok {
		return "", "", false
	}
	parts := strings.Split(rest, "/")
	if len(parts) != 3 || parts[2] != "set" || parts[0] == "" {
		return "", "", false
	}
	return parts[0], parts[1], true
}

// nodeID makes s usable as a discovery node id or unique id: letters,
// digits, '_' and '-'; anything else becomes '_'.
func nodeID(s string) string {
	b := []byte(s)
	for i, c := range b {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '-':
		default:
			b[i] = '_'
		}
	}
	return string(b)
}

// Level makes a line id usable as one topic level: the wildcards + and #,
// the separator / and NUL become '_' (a line known by a SIP user such as
// "+4930123" would otherwise be refused by the broker).
func Level(id string) string {
	if !strings.ContainsAny(id, "+#/\x00") {
		return id
	}
	return strings.Map(func(r rune) rune {
		switch r {
		case '+', '#', '/', 0:
			return '_'
		}
		return r
	}, id)
}
