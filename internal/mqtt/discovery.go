package mqtt

import (
	"encoding/json"
	"strings"

	"github.com/sip-phone-api/sipphone"
)

// KeyEventTypes are the event types of a line's key entity: the sixteen
// DTMF keys and a hook flash.
var KeyEventTypes = []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "*", "#", "A", "B", "C", "D", "flash"}

// LineStates are the options of the line state enum sensor.
var LineStates = []string{
	string(sipphone.StateUnregistered), string(sipphone.StateOnHook), string(sipphone.StateRinging),
	string(sipphone.StateOffHook), string(sipphone.StateUnknown),
}

// projectURL is the origin URL shown by Home Assistant.
const projectURL = "https://github.com/sip-phone-api/sipphone"

// discovery builds Home Assistant device discovery payloads.
type discovery struct {
	topics   Topics
	instance string // node id of the hub device, e.g. "sipphone"
	version  string
	patterns []string // ring pattern names, sorted
}

// hubNode is the node id of the sipphone instance's own device.
func (d discovery) hubNode() string { return nodeID(d.instance) }

// lineNode is the node id of a line's device.
func (d discovery) lineNode(line string) string { return nodeID(d.instance + "_" + line) }

func (d discovery) origin() map[string]any {
	return map[string]any{"name": "sipphone", "sw": d.version, "url": projectURL}
}

// hub is the discovery payload of the instance itself: a device the line
// devices are connected through, with the MQTT connection as a sensor.
func (d discovery) hub() []byte {
	n := d.hubNode()
	p := map[string]any{
		"dev": map[string]any{"ids": []string{n}, "name": "sipphone", "mf": "sipphone", "mdl": "SIP server", "sw": d.version},
		"o":   d.origin(),
		"cmps": map[string]any{
			n + "_connection": map[string]any{
				"p": "binary_sensor", "unique_id": n + "_connection", "name": "Connection",
				"device_class": "connectivity", "entity_category": "diagnostic",
				"state_topic": d.topics.Status(), "payload_on": "online", "payload_off": "offline",
			},
		},
	}
	b, _ := json.Marshal(p)
	return b
}

// line is the discovery payload of one line's device.
func (d discovery) line(l sipphone.LineStatus) []byte {
	n := d.lineNode(l.ID)
	name := l.DisplayName
	if name == "" {
		name = "Phone " + l.ID
	}
	dev := map[string]any{"ids": []string{n}, "name": name, "via_device": d.hubNode(), "sw": d.version}
	mf, mdl := model(l.UserAgent)
	if mf != "" {
		dev["mf"] = mf
	}
	if mdl != "" {
		dev["mdl"] = mdl
	}
	state := d.topics.State(l.ID)
	cmps := map[string]any{
		n + "_hook": map[string]any{
			"p": "binary_sensor", "unique_id": n + "_hook", "name": "Handset",
			"state_topic": state, "payload_on": "ON", "payload_off": "OFF", "icon": "mdi:phone-classic",
			"value_template": "{{ 'ON' if value_json.off_hook == true else ('OFF' if value_json.off_hook == false else 'None') }}",
		},
		n + "_state": map[string]any{
			"p": "sensor", "unique_id": n + "_state", "name": "Line state",
			"device_class": "enum", "options": LineStates,
			"state_topic": state, "value_template": "{{ value_json.state }}",
		},
		n + "_registered": map[string]any{
			"p": "binary_sensor", "unique_id": n + "_registered", "name": "Registered",
			"device_class": "connectivity", "entity_category": "diagnostic",
			"state_topic": state, "payload_on": "ON", "payload_off": "OFF",
			"value_template": "{{ 'ON' if value_json.registered else 'OFF' }}",
		},
		n + "_last_dialed": map[string]any{
			"p": "sensor", "unique_id": n + "_last_dialed", "name": "Last dialed", "icon": "mdi:dialpad",
			"state_topic": state, "value_template": "{{ value_json.last_dialed | default('') }}",
		},
		n + "_keys": map[string]any{
			"p": "event", "unique_id": n + "_keys", "name": "Keys", "icon": "mdi:dialpad",
			"state_topic": d.topics.Key(l.ID), "event_types": KeyEventTypes,
		},
		n + "_ring": map[string]any{
			"p": "siren", "unique_id": n + "_ring", "name": "Ring", "icon": "mdi:phone-ring",
			"command_topic": d.topics.Command(l.ID, "ring"), "state_topic": state,
			"state_value_template": "{{ 'ON' if value_json.state == 'ringing' else 'OFF' }}",
			"available_tones":      d.patterns, "support_duration": true, "support_volume_set": false,
		},
		n + "_hangup": map[string]any{
			"p": "button", "unique_id": n + "_hangup", "name": "Hang up", "icon": "mdi:phone-hangup",
			"command_topic": d.topics.Command(l.ID, "hangup"), "payload_press": "PRESS",
		},
	}
	p := map[string]any{
		"dev": dev, "o": d.origin(), "cmps": cmps,
		"availability_topic": d.topics.Status(), "payload_available": "online", "payload_not_available": "offline",
		"qos": 1,
	}
	b, _ := json.Marshal(p)
	return b
}

// model derives manufacturer and model from a User-Agent like
// "Grandstream HT802 1.0.43.11".
func model(ua string) (mf, mdl string) {
	f := strings.Fields(ua)
	switch {
	case len(f) >= 2 && strings.EqualFold(f[0], "grandstream"):
		return "Grandstream", f[1]
	case len(f) >= 1:
		return "", f[0]
	}
	return "", ""
}
