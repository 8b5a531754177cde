package mqtt

import (
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/sip-phone-api/sipphone"
)

// platformRules are the keys Home Assistant's MQTT platforms require
// (home-assistant.io integrations/<platform>.mqtt: "required" variables,
// plus the enum sensor's options and the event entity's event_types).
var platformRules = map[string][]string{
	"binary_sensor": {"state_topic"},
	"sensor":        {"state_topic"},
	"event":         {"state_topic", "event_types"},
	"siren":         {"command_topic"},
	"button":        {"command_topic"},
}

var idRe = regexp.MustCompile(`^[a-zA-Z0-9_-]+$`)

// validateDevice checks one device discovery payload against the schema
// rules of Home Assistant's MQTT device discovery and returns the
// components' unique ids.
func validateDevice(t *testing.T, topics Topics, topic string, b []byte) []string {
	t.Helper()
	m := regexp.MustCompile(`^` + regexp.QuoteMeta(topics.DiscoveryPrefix) + `/device/([^/]+)/config$`).FindStringSubmatch(topic)
	if m == nil || !idRe.MatchString(m[1]) {
		t.Fatalf("discovery topic %q is not <prefix>/device/<node_id>/config with node_id of [a-zA-Z0-9_-]", topic)
	}
	var p map[string]any
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatalf("%s: not JSON: %v", topic, err)
	}
	dev, _ := p["dev"].(map[string]any)
	if dev == nil {
		t.Fatalf("%s: no dev", topic)
	}
	ids, _ := dev["ids"].([]any)
	if len(ids) == 0 {
		t.Fatalf("%s: dev.ids is empty", topic)
	}
	if name, _ := dev["name"].(string); name == "" {
		t.Fatalf("%s: dev.name is empty", topic)
	}
	o, _ := p["o"].(map[string]any)
	if name, _ := o["name"].(string); name == "" {
		t.Fatalf("%s: o.name is required for device discovery", topic)
	}
	cmps, _ := p["cmps"].(map[string]any)
	if len(cmps) == 0 {
		t.Fatalf("%s: cmps is empty", topic)
	}
	var uids []string
	for key, v := range cmps {
		if !idRe.MatchString(key) {
			t.Errorf("%s: component key %q has characters outside [a-zA-Z0-9_-]", topic, key)
		}
		c, _ := v.(map[string]any)
		platform, _ := c["p"].(string)
		rules, ok := platformRules[platform]
		if !ok {
			t.Errorf("%s: component %s: platform %q", topic, key, platform)
			continue
		}
		uid, _ := c["unique_id"].(string)
		if uid == "" {
			t.Errorf("%s: component %s has no unique_id", topic, key)
		}
		uids = append(uids, uid)
		for _, k := range rules {
			if _, ok := c[k]; !ok {
				if _, inherited := p[k]; !inherited {
					t.Errorf("%s: %s component %s lacks %s", topic, platform, key, k)
				}
			}
		}
		if platform == "event" {
			if et, _ := c["event_types"].([]any); len(et) == 0 {
				t.Errorf("%s: event component %s: event_types is empty", topic, key)
			}
		}
		if c["device_class"] == "enum" {
			if opts, _ := c["options"].([]any); len(opts) == 0 {
				t.Errorf("%s: enum sensor %s has no options", topic, key)
			}
		}
		if platform == "siren" {
			if tones, ok := c["available_tones"].([]any); ok && len(tones) == 0 {
				t.Errorf("%s: siren %s: available_tones is empty", topic, key)
			}
		}
		for k, v := range c {
			if s, ok := v.(string); ok && strings.HasSuffix(k, "_topic") && strings.ContainsAny(s, "+#") {
				t.Errorf("%s: %s.%s %q contains a wildcard", topic, key, k, s)
			}
		}
	}
	return uids
}

func TestDiscoveryPayloadsFollowHomeAssistantRules(t *testing.T) {
	topics := Topics{Prefix: "sipphone", DiscoveryPrefix: "homeassistant"}
	d := discovery{topics: topics, instance: "sipphone", version: "1.2.3", patterns: []string{"ring1", "ring3"}}
	lines := []sipphone.LineStatus{
		{ID: "phone1", DisplayName: "Kitchen", UserAgent: "Grandstream HT802 1.0.43.11", State: sipphone.StateOnHook, Registered: true},
		{ID: "phone2", State: sipphone.StateUnregistered},
	}
	seen := map[string]string{}
	check := func(topic string, b []byte) {
		for _, uid := range validateDevice(t, topics, topic, b) {
			if prev, dup := seen[uid]; dup {
				t.Errorf("unique_id %q is used by %s and %s", uid, prev, topic)
			}
			seen[uid] = topic
		}
	}
	check(topics.Discovery(d.hubNode()), d.hub())
	for _, l := range lines {
		check(topics.Discovery(d.lineNode(l.ID)), d.line(l))
	}
	if len(seen) != 1+2*7 {
		t.Fatalf("%d components, want 15", len(seen))
	}

	var p struct {
		Dev  map[string]any            `json:"dev"`
		Cmps map[string]map[string]any `json:"cmps"`
	}
	json.Unmarshal(d.line(lines[0]), &p)
	if p.Dev["mdl"] != "HT802" || p.Dev["mf"] != "Grandstream" || p.Dev["via_device"] != "sipphone" || p.Dev["name"] != "Kitchen" {
		t.Errorf("device %v", p.Dev)
	}
	platforms := map[string]string{}
	for _, c := range p.Cmps {
		platforms[c["unique_id"].(string)] = c["p"].(string)
	}
	want := map[string]string{"sipphone_phone1_hook": "binary_sensor", "sipphone_phone1_state": "sensor",
		"sipphone_phone1_registered": "binary_sensor", "sipphone_phone1_last_dialed": "sensor",
		"sipphone_phone1_keys": "event", "sipphone_phone1_ring": "siren", "sipphone_phone1_hangup": "button"}
	for uid, pl := range want {
		if platforms[uid] != pl {
			t.Errorf("component %s: platform %q, want %q", uid, platforms[uid], pl)
		}
	}
	keys := p.Cmps["sipphone_phone1_keys"]["event_types"].([]any)
	for _, k := range []string{"0", "9", "*", "#", "A", "D", "flash"} {
		if !slices.Contains(keys, any(k)) {
			t.Errorf("event_types lack %q", k)
		}
	}
	if tones := p.Cmps["sipphone_phone1_ring"]["available_tones"].([]any); len(tones) != 2 {
		t.Errorf("available_tones %v", tones)
	}
}

// The templates of the discovery read keys the state payload has.
func TestStateCarriesTemplateKeys(t *testing.T) {
	c := &Client{lastDialed: map[string]string{"phone1": "123"}}
	off := true
	b := c.lineState(sipphone.LineStatus{ID: "phone1", State: sipphone.StateOffHook, OffHook: &off, Registered: true,
		Call: &sipphone.CallStatus{ID: "c1"}})
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]any{"state": "off_hook", "off_hook": true, "registered": true, "last_dialed": "123", "ringing": false} {
		if m[k] != v {
			t.Errorf("state %s = %v, want %v (%s)", k, m[k], v, b)
		}
	}
	if call, _ := m["call"].(map[string]any); call == nil || call["media"] != nil {
		t.Errorf("call %v: want the call without media statistics", m["call"])
	}
}

func TestParseCommandTopic(t *testing.T) {
	tp := Topics{Prefix: "sp", DiscoveryPrefix: "homeassistant"}
	for topic, want := range map[string][2]string{
		"sp/line/phone1/ring/set":     {"phone1", "ring"},
		"sp/line/phone1/hangup/set":   {"phone1", "hangup"},
		"sp/line/phone1/announce/set": {"phone1", "announce"},
		"sp/line/phone1/ring":         {},
		"other/line/phone1/ring/set":  {},
	} {
		l, c, ok := tp.parseCommand(topic)
		if ok != (want[0] != "") || l != want[0] || c != want[1] {
			t.Errorf("%s: %q %q %v, want %v", topic, l, c, ok, want)
		}
	}
}

func TestLineIDsWithWildcards(t *testing.T) {
	tp := Topics{Prefix: "sp", DiscoveryPrefix: "homeassistant"}
	if got := tp.State("+49#30/1"); got != "sp/line/_49_30_1/state" {
		t.Fatalf("state topic %q", got)
	}
	l, c, ok := tp.parseCommand(tp.Command("+49", "ring"))
	if !ok || l != "_49" || c != "ring" {
		t.Fatalf("%q %q %v", l, c, ok)
	}
}
