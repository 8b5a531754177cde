package app

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/sip-phone-api/sipphone/internal/apitoken"
	"github.com/sip-phone-api/sipphone/internal/config"
	"github.com/sip-phone-api/sipphone/internal/peers"
)

// otherHost is a client on another address than the server's: curl run in
// a network namespace of the test's own, joined to the host by a veth pair
// in a private /30 (10.213.77.0/30: .1 the host end, .2 the client).
type otherHost struct {
	t        *testing.T
	ns, curl string
}

const (
	otherHostServerIP = "10.213.77.1"
	otherHostClientIP = "10.213.77.2"
)

// onOtherHostNet makes the API listen on the host end of the veth pair.
func onOtherHostNet(c *config.Config) { c.Server.APIHost = otherHostServerIP }

func newOtherHost(t *testing.T) *otherHost {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("a client on another address needs a network namespace: run the tests as root (ip netns add)")
	}
	ipBin, err := exec.LookPath("ip")
	if err != nil {
		t.Skip("a client on another address needs the ip command (apt install iproute2)")
	}
	curl := peers.Require(t, "curl", "curl")
	id := os.Getpid() % 100000
	ns, hostEnd, nsEnd := fmt.Sprintf("sipphone-t%d", id), fmt.Sprintf("spth%d", id), fmt.Sprintf("sptn%d", id)
	ip := func(args ...string) error {
		if out, err := exec.Command(ipBin, args...).CombinedOutput(); err != nil {
			return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
		return nil
	}
	if err := ip("netns", "add", ns); err != nil {
		t.Skipf("cannot create a network namespace here: %v", err)
	}
	t.Cleanup(func() { ip("netns", "delete", ns) })
	if err := ip("link", "add", hostEnd, "type", "veth", "peer", "name", nsEnd); err != nil {
		t.Skipf("cannot create a veth pair here: %v", err)
	}
	t.Cleanup(func() { ip("link", "delete", hostEnd) }) // removes both ends
	for _, args := range [][]string{
		{"link", "set", nsEnd, "netns", ns},
		{"addr", "add", otherHostServerIP + "/30", "dev", hostEnd},
		{"link", "set", hostEnd, "up"},
		{"-n", ns, "addr", "add", otherHostClientIP + "/30", "dev", nsEnd},
		{"-n", ns, "link", "set", nsEnd, "up"},
	} {
		if err := ip(args...); err != nil {
			t.Fatal(err)
		}
	}
	return &otherHost{t: t, ns: ns, curl: curl}
}

// get fetches url from the other host with an optional bearer token and
// returns the status and body.
func (o *otherHost) get(url, token string) (int, string) {
	o.t.Helper()
	args := []string{"netns", "exec", o.ns, o.curl, "-sS", "--max-time", "20", "-w", "\n%{http_code}"}
	if token != "" {
		args = append(args, "-H", "Authorization: Bearer "+token)
	}
	out, err := exec.Command("ip", append(args, url)...).CombinedOutput()
	if err != nil {
		o.t.Fatalf("curl from the other host: %v: %s", err, out)
	}
	s := string(out) // the body, then a line with the status
	i := strings.LastIndexByte(s, '\n')
	body, code := s[:max(i, 0)], s[i+1:]
	var n int
	fmt.Sscan(code, &n)
	return n, body
}

// TestTokenByDefaultExceptLoopback: with no token configured, the server
// generates one, clients elsewhere need it (401 saying how to get it),
// clients on loopback do not; api.auth none opens, api.auth token closes
// loopback too.
func TestTokenByDefaultExceptLoopback(t *testing.T) {
	o := newOtherHost(t)
	s := startServerWith(t, "", "", onOtherHostNet)
	url := "http://" + s.RESTAddr().String()
	code, body := o.get(url+"/status", "")
	if code != 401 || !strings.Contains(body, "sipphone token") || !strings.Contains(body, `"detail"`) {
		t.Fatalf("GET /status from another address without a token = %d %s, want 401 saying how to get the token", code, body)
	}
	tokFile := apitoken.Path(s.state)
	fi, err := os.Stat(tokFile)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file %s: %v %v, want mode 0600", tokFile, err, fi)
	}
	tok, err := apitoken.Read(tokFile)
	if err != nil {
		t.Fatal(err)
	}
	if code, body := o.get(url+"/status", tok); code != 200 {
		t.Fatalf("GET /status with the generated token = %d %s", code, body)
	}
	if code, _ := o.get(url+"/openapi.json", ""); code != 200 {
		t.Fatalf("the API description is not public: %d", code)
	}
	// The token survives a restart.
	s.stop()
	r := startServerWith(t, "", s.state, onOtherHostNet)
	if code, body := o.get("http://"+r.RESTAddr().String()+"/status", tok); code != 200 {
		t.Fatalf("the token changed across a restart: %d %s", code, body)
	}
	r.stop()

	open := startServerWith(t, "api: {auth: none}\n", "", onOtherHostNet)
	if code, body := o.get("http://"+open.RESTAddr().String()+"/status", ""); code != 200 || !strings.Contains(body, `"auth":"disabled"`) {
		t.Fatalf("api.auth none: %d %s", code, body)
	}
}

func TestLoopbackNeedsNoTokenUnlessAuthToken(t *testing.T) {
	s := startServer(t, "", "")
	if code := s.do("GET", "/status", "", nil); code != 200 || !strings.Contains(s.lastBody, `"auth":"enabled"`) {
		t.Fatalf("GET /status from loopback with the generated token = %d %s", code, s.lastBody)
	}
	p := startServer(t, "api: {auth: token}\n", "")
	if code := p.do("GET", "/status", "", nil); code != 401 {
		t.Fatalf("api.auth token: loopback without a token = %d, want 401", code)
	}
	tok, err := apitoken.Read(apitoken.Path(p.state))
	if err != nil {
		t.Fatal(err)
	}
	if code := p.doAuth("GET", "/status", "", tok, nil); code != 200 {
		t.Fatalf("api.auth token: loopback with the token = %d", code)
	}
}
