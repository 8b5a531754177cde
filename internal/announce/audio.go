package announce

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/hajimehoshi/go-mp3"

	"github.com/sip-phone-api/sipphone"
	"github.com/sip-phone-api/sipphone/internal/dsp"
)

// MaxAudio is the longest message played (one repetition).
const MaxAudio = 120 * time.Second

// decode reads a WAV or MP3 file into 8 kHz mono samples.
func decode(b []byte, maxBytes int64) ([]int16, error) {
	var pcm []int16
	rate := 0
	switch {
	case len(b) >= 12 && string(b[0:4]) == "RIFF" && string(b[8:12]) == "WAVE":
		w, err := dsp.ReadWAVLimit(bytes.NewReader(b), maxBytes)
		if err != nil {
			return nil, invalid("audio: %v", err)
		}
		pcm, rate = w.Samples, w.SampleRate
	case isMP3(b):
		var err error
		if pcm, rate, err = decodeMP3(b); err != nil {
			return nil, invalid("audio: MP3: %v", err)
		}
	default:
		return nil, invalid("audio is neither a WAV nor an MP3 file")
	}
	if len(pcm) == 0 {
		return nil, invalid("audio holds no samples")
	}
	if d := time.Duration(len(pcm)) * time.Second / time.Duration(rate); d > MaxAudio {
		return nil, invalid("audio plays %v; at most %v can be announced", d.Round(time.Millisecond), MaxAudio)
	}
	if rate != 8000 {
		var err error
		if pcm, err = dsp.Resample(pcm, rate, 8000); err != nil {
			return nil, invalid("audio: %v", err)
		}
	}
	return pcm, nil
}

// isMP3 recognises an ID3 tag or an MPEG audio frame sync.
func isMP3(b []byte) bool {
	if len(b) >= 3 && string(b[:3]) == "ID3" {
		return true
	}
	return len(b) >= 2 && b[0] == 0xFF && b[1]&0xE0 == 0xE0
}

// decodeMP3 decodes to mono at the file's rate (go-mp3 yields 16-bit
// little-endian stereo).
func decodeMP3(b []byte) ([]int16, int, error) {
	d, err := mp3.NewDecoder(bytes.NewReader(b))
	if err != nil {
		return nil, 0, err
	}
	raw, err := io.ReadAll(io.LimitReader(d, int64(MaxAudio/time.Second+1)*int64(d.SampleRate())*4))
	if err != nil {
		return nil, 0, err
	}
	pcm := make([]int16, len(raw)/4)
	for i := range pcm {
		l := int16(binary.LittleEndian.Uint16(raw[4*i:]))
		r := int16(binary.LittleEndian.Uint16(raw[4*i+2:]))
		pcm[i] = int16((int32(l) + int32(r)) / 2)
	}
	return pcm, d.SampleRate(), nil
}

// hostPolicy decides which hosts audio_url may name.
type hostPolicy struct {
	names    map[string]bool // lower-case hostnames
	prefixes []netip.Prefix  // IP addresses (as /32, /128) and CIDRs
}

// newHostPolicy reads allowed_url_hosts entries; none means the
// addresses of this machine's interfaces.
func newHostPolicy(entries []string) (hostPolicy, error) {
	p := hostPolicy{names: map[string]bool{}}
	if len(entries) == 0 {
		addrs, err := net.InterfaceAddrs()
		if err != nil {
			return p, err
		}
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok {
				if ip, ok := netip.AddrFromSlice(n.IP); ok {
					ip = ip.Unmap()
					p.prefixes = append(p.prefixes, netip.PrefixFrom(ip, ip.BitLen()))
				}
			}
		}
		return p, nil
	}
	for _, e := range entries {
		if pr, err := netip.ParsePrefix(e); err == nil {
			p.prefixes = append(p.prefixes, pr.Masked())
		} else if ip, err := netip.ParseAddr(e); err == nil {
			p.prefixes = append(p.prefixes, netip.PrefixFrom(ip.Unmap(), ip.Unmap().BitLen()))
		} else {
			p.names[strings.ToLower(strings.TrimSuffix(e, "."))] = true
		}
	}
	return p, nil
}

func (p hostPolicy) ipAllowed(ip netip.Addr) bool {
	ip = ip.Unmap()
	for _, pr := range p.prefixes {
		if pr.Contains(ip) {
			return true
		}
	}
	return false
}

func (p hostPolicy) nameAllowed(host string) bool {
	return p.names[strings.ToLower(strings.TrimSuffix(host, "."))]
}

// dial connects only to allowed hosts: a host allowed by name, or an IP
// address (given or resolved) inside an allowed address or CIDR. Checking
// at dial time covers redirects and DNS answers that change.
func (p hostPolicy) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	var d net.Dialer
	if p.nameAllowed(host) {
		return d.DialContext(ctx, network, addr)
	}
	var ips []netip.Addr
	if ip, err := netip.ParseAddr(host); err == nil {
		ips = []netip.Addr{ip}
	} else if ips, err = net.DefaultResolver.LookupNetIP(ctx, "ip", host); err != nil {
		return nil, err
	}
	for _, ip := range ips {
		if p.ipAllowed(ip) {
			return d.DialContext(ctx, network, net.JoinHostPort(ip.String(), port))
		}
	}
	return nil, fmt.Errorf("%w: host %s is not in announce.allowed_url_hosts", errNotAllowed, host)
}

var errNotAllowed = errors.New("not allowed")

// fetcher downloads audio_url.
type fetcher struct {
	policy   hostPolicy
	client   *http.Client
	maxBytes int64
}

func newFetcher(p hostPolicy, timeout time.Duration, maxBytes int64) *fetcher {
	tr := &http.Transport{DialContext: p.dial, Proxy: nil, TLSHandshakeTimeout: timeout, ResponseHeaderTimeout: timeout, MaxIdleConns: 1, IdleConnTimeout: time.Second}
	return &fetcher{policy: p, maxBytes: maxBytes, client: &http.Client{
		Transport: tr, Timeout: timeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 5 {
				return errors.New("more than 5 redirects")
			}
			if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
				return fmt.Errorf("redirect to a %s URL", req.URL.Scheme)
			}
			return nil // the dialer refuses hosts outside the allow-list
		},
	}}
}

// get downloads u within the size and time limits.
func (f *fetcher) get(ctx context.Context, raw string) ([]byte, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, invalid("audio_url %q is not an http:// or https:// URL", raw)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, invalid("audio_url: %v", err)
	}
	req.Header.Set("Accept", "audio/wav, audio/x-wav, audio/mpeg")
	res, err := f.client.Do(req)
	if err != nil {
		if errors.Is(err, errNotAllowed) {
			return nil, invalid("audio_url: %v; add it there to allow it", err)
		}
		return nil, invalid("audio_url: download failed: %v", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, invalid("audio_url: the server answered %s", res.Status)
	}
	b, err := io.ReadAll(io.LimitReader(res.Body, f.maxBytes+1))
	if err != nil {
		return nil, invalid("audio_url: download failed: %v", err)
	}
	if int64(len(b)) > f.maxBytes {
		return nil, invalid("audio_url: the file is larger than announce.max_download_bytes (%d)", f.maxBytes)
	}
	return b, nil
}

func (f *fetcher) close() { f.client.CloseIdleConnections() }

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{sipphone.ErrInvalid}, args...)...)
}
