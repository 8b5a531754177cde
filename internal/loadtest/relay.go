package loadtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// relayPath is the relay's WebSocket endpoint: one connection per call.
const relayPath = "/relay"

// serveRelay runs the bare relay until ctx ends. It listens on 127.0.0.1,
// writes "relay ADDR\n" to stdout once it accepts connections, and serves
// relayPath: per WebSocket client one UDP socket, whose port is the first
// (text) message; each datagram's RTP payload is then sent as-is as one
// binary frame. Nothing else: no jitter buffer, no decoding, no copies
// beyond the socket reads, so it is the floor of what moving a call's
// audio from UDP to a WebSocket costs on this machine.
func serveRelay(ctx context.Context, stdout io.Writer) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("relay: listen: %w", err)
	}
	var wg sync.WaitGroup
	mux := http.NewServeMux()
	mux.HandleFunc(relayPath, func(w http.ResponseWriter, r *http.Request) {
		wg.Add(1)
		defer wg.Done()
		relayCall(w, r)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second,
		BaseContext: func(net.Listener) context.Context { return ctx }} // cancels hijacked connections too
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	fmt.Fprintf(stdout, "relay %s\n", ln.Addr())
	select {
	case <-ctx.Done():
	case err := <-errc:
		return fmt.Errorf("relay: %w", err)
	}
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	srv.Shutdown(sctx)
	wg.Wait()
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("relay: %w", err)
	}
	return nil
}

// relayCall serves one call: UDP in, the RTP payload out as a frame.
func relayCall(w http.ResponseWriter, r *http.Request) {
	c, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	defer c.CloseNow()
	u, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		c.Close(websocket.StatusInternalError, "no UDP socket")
		return
	}
	defer u.Close()
	ctx := c.CloseRead(r.Context()) // done when the client closes or the relay stops
	stop := context.AfterFunc(ctx, func() { u.Close() })
	defer stop()
	port := strconv.Itoa(u.LocalAddr().(*net.UDPAddr).Port)
	if err := c.Write(ctx, websocket.MessageText, []byte(port)); err != nil {
		return
	}
	buf := make([]byte, 1500)
	for {
		n, err := u.Read(buf)
		if err != nil {
			return
		}
		p, ok := rtpPayload(buf[:n])
		if !ok {
			continue
		}
		if err := c.Write(ctx, websocket.MessageBinary, p); err != nil {
			return
		}
	}
}

// rtpPayload returns the payload of an RTP packet (RFC 3550 section 5.1:
// fixed header, CSRC list, header extension, padding), without copying.
func rtpPayload(b []byte) ([]byte, bool) {
	if len(b) < 12 || b[0]>>6 != 2 {
		return nil, false
	}
	off := 12 + 4*int(b[0]&0x0F)
	if b[0]&0x10 != 0 { // extension: 4-byte header with its length in words
		if len(b) < off+4 {
			return nil, false
		}
		off += 4 + 4*(int(b[off+2])<<8|int(b[off+3]))
	}
	end := len(b)
	if b[0]&0x20 != 0 && end > 0 {
		end -= int(b[end-1])
	}
	if off > end {
		return nil, false
	}
	return b[off:end], true
}
