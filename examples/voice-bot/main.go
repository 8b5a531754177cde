// Command voice-bot is a minimal voice bot speaking Twilio's Media
// Streams protocol: it echoes what the caller says, one second later, and
// tells the caller which keys were pressed in the log. Point sipphone at
// it:
//
//	go run ./examples/voice-bot -listen :8765
//	curl -X POST localhost:8000/lines/phone1/connect -d '{"url":"ws://HOST:8765/media"}'
//
// Any Twilio Media Streams server works the same way; this one shows the
// whole protocol in a page.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"log"
	"net/http"
	"time"

	"github.com/coder/websocket"
)

// message is every field of the messages this bot reads and writes.
type message struct {
	Event          string `json:"event"`
	SequenceNumber string `json:"sequenceNumber,omitempty"`
	StreamSid      string `json:"streamSid,omitempty"`
	Start          *struct {
		CallSid          string            `json:"callSid"`
		CustomParameters map[string]string `json:"customParameters"`
		MediaFormat      struct {
			Encoding   string `json:"encoding"`
			SampleRate int    `json:"sampleRate"`
		} `json:"mediaFormat"`
	} `json:"start,omitempty"`
	Media *struct {
		Payload string `json:"payload"`
	} `json:"media,omitempty"`
	DTMF *struct {
		Digit string `json:"digit"`
	} `json:"dtmf,omitempty"`
	Mark *struct {
		Name string `json:"name"`
	} `json:"mark,omitempty"`
}

func main() {
	listen := flag.String("listen", ":8765", "address to listen on")
	delay := flag.Duration("delay", time.Second, "how long after the caller the echo plays")
	flag.Parse()
	http.HandleFunc("/media", func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		echo(r.Context(), c, *delay)
	})
	log.Printf("echo bot listening on %s/media", *listen)
	log.Fatal(http.ListenAndServe(*listen, nil))
}

func echo(ctx context.Context, c *websocket.Conn, delay time.Duration) {
	send := func(m message) {
		b, _ := json.Marshal(m)
		c.Write(ctx, websocket.MessageText, b)
	}
	var sid string
	for {
		_, b, err := c.Read(ctx)
		if err != nil {
			log.Printf("connection ended: %v", err)
			return
		}
		var m message
		if err := json.Unmarshal(b, &m); err != nil {
			log.Printf("not JSON: %v", err)
			return
		}
		switch m.Event {
		case "connected":
			log.Print("sipphone connected")
		case "start":
			sid = m.StreamSid
			log.Printf("call %s started: %s at %d Hz, parameters %v", m.Start.CallSid,
				m.Start.MediaFormat.Encoding, m.Start.MediaFormat.SampleRate, m.Start.CustomParameters)
		case "media":
			// Play the caller's audio back after delay: media messages are
			// queued by sipphone and played at real time.
			payload := m.Media.Payload
			time.AfterFunc(delay, func() {
				send(message{Event: "media", StreamSid: sid, Media: &struct {
					Payload string `json:"payload"`
				}{payload}})
			})
		case "dtmf":
			log.Printf("key %s", m.DTMF.Digit)
			if m.DTMF.Digit == "#" { // barge-in: drop what is queued
				send(message{Event: "clear", StreamSid: sid})
			}
		case "mark":
			log.Printf("mark %s played", m.Mark.Name)
		case "stop":
			log.Print("call ended")
			c.Close(websocket.StatusNormalClosure, "")
			return
		}
	}
}
