package rfc4733

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pion/rtp"
)

// sippPcapDir holds the RFC 2833 captures shipped with sipp (Debian
// package sip-tester): one key press per file, sent as a start packet,
// six updates 20 ms apart and three end packets.
const sippPcapDir = "/usr/share/sip-tester"

// pcapPacket is one RTP packet read from a capture.
type pcapPacket struct {
	at  time.Time
	pkt rtp.Packet
}

// readPcap reads the UDP/IPv4/Ethernet RTP packets of a classic pcap file
// (https://www.tcpdump.org/manpages/pcap-savefile.5.html). Other frames are
// skipped; a truncated file is an error.
func readPcap(data []byte) ([]pcapPacket, error) {
	if len(data) < 24 {
		return nil, errors.New("pcap: short global header")
	}
	var order binary.ByteOrder
	nanos := false
	switch binary.LittleEndian.Uint32(data) {
	case 0xa1b2c3d4:
		order = binary.LittleEndian
	case 0xa1b23c4d:
		order, nanos = binary.LittleEndian, true
	case 0xd4c3b2a1:
		order = binary.BigEndian
	case 0x4d3cb2a1:
		order, nanos = binary.BigEndian, true
	default:
		return nil, fmt.Errorf("pcap: bad magic % x", data[:4])
	}
	if link := order.Uint32(data[20:24]); link != 1 {
		return nil, fmt.Errorf("pcap: link type %d, want 1 (Ethernet)", link)
	}
	var out []pcapPacket
	for rest := data[24:]; len(rest) > 0; {
		if len(rest) < 16 {
			return nil, errors.New("pcap: short record header")
		}
		sec, frac := order.Uint32(rest[0:4]), order.Uint32(rest[4:8])
		incl := int(order.Uint32(rest[8:12]))
		if len(rest) < 16+incl {
			return nil, errors.New("pcap: short record")
		}
		frame := rest[16 : 16+incl]
		rest = rest[16+incl:]
		if !nanos {
			frac *= 1000
		}
		payload, ok := udpPayload(frame)
		if !ok {
			continue
		}
		var p pcapPacket
		p.at = time.Unix(int64(sec), int64(frac))
		if err := p.pkt.Unmarshal(payload); err != nil {
			return nil, fmt.Errorf("pcap: rtp: %w", err)
		}
		out = append(out, p)
	}
	return out, nil
}

// udpPayload returns the UDP payload of an Ethernet II frame carrying
// IPv4 (with an optional 802.1Q tag).
func udpPayload(frame []byte) ([]byte, bool) {
	if len(frame) < 14 {
		return nil, false
	}
	etherType, ip := binary.BigEndian.Uint16(frame[12:14]), frame[14:]
	if etherType == 0x8100 && len(frame) >= 18 {
		etherType, ip = binary.BigEndian.Uint16(frame[16:18]), frame[18:]
	}
	if etherType != 0x0800 || len(ip) < 20 || ip[0]>>4 != 4 {
		return nil, false
	}
	ihl := int(ip[0]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(ip[2:4]))
	if ip[9] != 17 || ihl < 20 || total < ihl+8 || len(ip) < total {
		return nil, false
	}
	udp := ip[ihl:total]
	ulen := int(binary.BigEndian.Uint16(udp[4:6]))
	if ulen < 8 || ulen > len(udp) {
		return nil, false
	}
	return udp[8:ulen], true
}

// TestSippCaptures replays the real RFC 2833 packets of sipp's captures:
// each file must give exactly one press of its key, 280 ms long, ended by
// its end packets, with the retransmitted end packets dropped.
func TestSippCaptures(t *testing.T) {
	files := []struct {
		name  string
		digit byte
	}{
		{"dtmf_2833_0.pcap", '0'}, {"dtmf_2833_1.pcap", '1'}, {"dtmf_2833_2.pcap", '2'},
		{"dtmf_2833_3.pcap", '3'}, {"dtmf_2833_4.pcap", '4'}, {"dtmf_2833_5.pcap", '5'},
		{"dtmf_2833_6.pcap", '6'}, {"dtmf_2833_7.pcap", '7'}, {"dtmf_2833_8.pcap", '8'},
		{"dtmf_2833_9.pcap", '9'}, {"dtmf_2833_pound.pcap", '#'}, {"dtmf_2833_star.pcap", '*'},
	}
	if _, err := os.Stat(filepath.Join(sippPcapDir, files[0].name)); err != nil {
		msg := "sipp's RFC 2833 captures not found in " + sippPcapDir + "; install them with: sudo apt-get install sip-tester"
		if os.Getenv("SIPPHONE_REQUIRE_PEERS") == "1" {
			t.Fatal(msg + " (SIPPHONE_REQUIRE_PEERS=1)")
		}
		t.Skip(msg)
	}
	const wantDuration = 280 * time.Millisecond // 2240 units at 8 kHz in every file
	for _, f := range files {
		t.Run(f.name, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(sippPcapDir, f.name))
			if err != nil {
				t.Fatal(err)
			}
			pkts, err := readPcap(data)
			if err != nil {
				t.Fatal(err)
			}
			if len(pkts) != 10 {
				t.Fatalf("%d RTP packets, want 10 (start, 6 updates, 3 ends)", len(pkts))
			}
			r := NewReceiver(8000)
			var events []Event
			emit := func(e Event) { events = append(events, e) }
			for _, p := range pkts {
				r.Packet(p.pkt.Timestamp, p.pkt.Marker, p.pkt.Payload, p.at, emit)
			}
			last := pkts[len(pkts)-1].at
			r.Tick(last.Add(MaxTimeout), emit)

			if len(events) != 2 || events[0].Kind != Start || events[1].Kind != End {
				t.Fatalf("events %+v, want one start and one end", events)
			}
			end := events[1]
			if end.Digit != f.digit || end.Flash || end.Timeout {
				t.Errorf("end event %+v, want digit %q ended by its end packet", end, f.digit)
			}
			if end.Duration != wantDuration {
				t.Errorf("duration %v, want %v", end.Duration, wantDuration)
			}
			if end.TS != pkts[0].pkt.Timestamp || events[0].TS != end.TS {
				t.Errorf("press timestamp %d/%d, want %d", events[0].TS, end.TS, pkts[0].pkt.Timestamp)
			}
			if end.Volume != 10 {
				t.Errorf("volume %d, want 10 (-10 dBm0)", end.Volume)
			}
			if s := r.Stats(); s.Presses != 1 || s.Duplicates != 2 || s.Malformed+s.Ignored+s.Stale != 0 {
				t.Errorf("stats %+v, want 1 press and the 2 repeated end packets as duplicates", s)
			}
		})
	}
}
