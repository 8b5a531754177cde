package mqtt

import (
	"bytes"
	"encoding/json"
	"strings"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/sip-phone-api/sipphone"
)

// command runs one command message on the worker. A failure is published
// as an error event on the line's event topic.
func (c *Client) command(m paho.Message) {
	topic := m.Topic()
	line, cmd, ok := c.topics.parseCommand(topic)
	if !ok {
		return
	}
	// The topic level may be a line id with wildcards replaced.
	for _, l := range c.lines.Status() {
		if l.ID != line && Level(l.ID) == line {
			line = l.ID
			break
		}
	}
	p := m.Payload()
	if len(p) > maxPayload {
		c.publishError(line, cmd, topic, invalid("the payload has %d bytes; at most %d are accepted", len(p), maxPayload))
		return
	}
	var err error
	switch cmd {
	case "ring":
		err = c.ring(line, p)
	case "hangup":
		_, err = c.lines.Hangup(line)
	case "announce":
		if c.announce == nil {
			err = invalid("announce is not available on this server")
			break
		}
		// Fetching the audio may take seconds: not on the worker.
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			if err := c.announce.Announce(line, p); err != nil {
				c.publishError(line, cmd, topic, err)
			}
		}()
	case "connect":
		err = c.connect(line, p)
	default:
		err = invalid("unknown command %q; the commands are ring/set, hangup/set, announce/set and connect/set", cmd)
	}
	if err != nil {
		c.publishError(line, cmd, topic, err)
	}
}

// connect serves connect/set: a JSON connect request (url or twiml_url,
// protocol, parameters, hangup_on_close) bridges the line's call to a
// voice bot; an empty payload or OFF ends the bridge.
func (c *Client) connect(line string, p []byte) error {
	if c.cfg.Connector == nil {
		return invalid("voice bots are not available on this server")
	}
	switch strings.ToUpper(strings.TrimSpace(string(p))) {
	case "", "OFF":
		return c.cfg.Connector.Disconnect(line)
	}
	return c.cfg.Connector.Connect(line, p)
}

// ringCommand is the payload of ring/set: sipphone's own fields, or Home
// Assistant's siren fields (state, tone, duration).
type ringCommand struct {
	CallerID json.RawMessage `json:"caller_id"`
	Pattern  string          `json:"pattern"`
	TimeoutS float64         `json:"timeout_s"`
	State    string          `json:"state"`
	Tone     json.RawMessage `json:"tone"`
	Duration float64         `json:"duration"`
}

// ring rings or stops a ring. Payloads: empty or ON (ring with defaults),
// OFF (stop), or a JSON object.
func (c *Client) ring(line string, p []byte) error {
	p = bytes.TrimSpace(p)
	switch strings.ToUpper(string(p)) {
	case "", "ON", "PRESS":
		_, _, err := c.lines.Ring(line, RingOptions{})
		return err
	case "OFF":
		_, err := c.lines.StopRing(line)
		return err
	}
	var rc ringCommand
	dec := json.NewDecoder(bytes.NewReader(p))
	if err := dec.Decode(&rc); err != nil {
		return invalid("ring/set payload is not a JSON object like {\"caller_id\":{\"name\":\"Door\",\"number\":\"100\"},\"pattern\":\"ring3\",\"timeout_s\":20} or ON/OFF: %v", err)
	}
	switch strings.ToUpper(rc.State) {
	case "OFF":
		_, err := c.lines.StopRing(line)
		return err
	case "", "ON":
	default:
		return invalid("state %q: use ON or OFF", rc.State)
	}
	o := RingOptions{Pattern: rc.Pattern}
	if len(rc.Tone) > 0 && o.Pattern == "" {
		var tone string
		if err := json.Unmarshal(rc.Tone, &tone); err != nil {
			var n json.Number
			if json.Unmarshal(rc.Tone, &n) != nil {
				return invalid("tone must be a ring pattern name")
			}
			tone = "ring" + n.String()
		}
		o.Pattern = tone
	}
	cid, err := parseCallerID(rc.CallerID)
	if err != nil {
		return err
	}
	o.CallerID = cid
	t := rc.TimeoutS
	if t == 0 {
		t = rc.Duration
	}
	if t < 0 || t > 600 {
		return invalid("timeout_s %v is out of range (1 to 600 seconds)", t)
	}
	o.Timeout = time.Duration(t * float64(time.Second))
	_, _, err = c.lines.Ring(line, o)
	return err
}

// parseCallerID reads {"name":..,"number":..} or a bare number string.
func parseCallerID(raw json.RawMessage) (sipphone.CallerID, error) {
	var cid sipphone.CallerID
	if len(raw) == 0 || string(raw) == "null" {
		return cid, nil
	}
	if raw[0] == '"' {
		if err := json.Unmarshal(raw, &cid.Number); err != nil {
			return cid, invalid("caller_id: %v", err)
		}
	} else if err := json.Unmarshal(raw, &cid); err != nil {
		return cid, invalid("caller_id must be {\"name\":..,\"number\":..}: %v", err)
	}
	if len(cid.Name) > 64 {
		return cid, invalid("caller_id.name is longer than 64 characters")
	}
	if len(cid.Number) > 32 {
		return cid, invalid("caller_id.number is longer than 32 characters")
	}
	for _, r := range cid.Number {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || strings.ContainsRune("*#+._-", r)) {
			return cid, invalid("caller_id.number %q may hold only digits, letters and *#+._-", cid.Number)
		}
	}
	for _, r := range cid.Name {
		if r < 0x20 || r == 0x7f {
			return cid, invalid("caller_id.name may not contain control characters")
		}
	}
	return cid, nil
}
