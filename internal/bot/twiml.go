package bot

import (
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// twimlRequest is the voice webhook request Twilio would make for the call.
type twimlRequest struct {
	CallSID, AccountSID, From, To, Direction string
}

// fetchTwiML POSTs Twilio's voice webhook form fields to u and follows
// <Connect><Stream url> with its <Parameter name value> elements. Any
// other verb or noun is an error naming it.
func fetchTwiML(ctx context.Context, client *http.Client, u string, r twimlRequest) (streamURL string, params map[string]string, err error) {
	form := url.Values{
		"CallSid": {r.CallSID}, "AccountSid": {r.AccountSID}, "From": {r.From}, "To": {r.To},
		"CallStatus": {"in-progress"}, "Direction": {r.Direction}, "ApiVersion": {"2010-04-01"},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		return "", nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := client.Do(req)
	if err != nil {
		return "", nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", nil, err
	}
	if resp.StatusCode/100 != 2 {
		return "", nil, fmt.Errorf("twiml_url answered %s", resp.Status)
	}
	return parseTwiML(body)
}

type twimlNode struct {
	XMLName  xml.Name
	Attrs    []xml.Attr  `xml:",any,attr"`
	Children []twimlNode `xml:",any"`
}

func (n twimlNode) attr(name string) string {
	for _, a := range n.Attrs {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

// parseTwiML accepts exactly <Response><Connect><Stream url="wss://...">
// [<Parameter name value/>...]</Stream></Connect></Response>.
func parseTwiML(body []byte) (string, map[string]string, error) {
	var root twimlNode
	if err := xml.Unmarshal(body, &root); err != nil {
		return "", nil, fmt.Errorf("the TwiML is not XML: %v", err)
	}
	if root.XMLName.Local != "Response" {
		return "", nil, fmt.Errorf("the TwiML's root is <%s>, not <Response>", root.XMLName.Local)
	}
	unsupported := func(what string) error {
		return fmt.Errorf("unsupported TwiML: %s; only <Connect><Stream url> with <Parameter> elements is supported", what)
	}
	var streamURL string
	params := map[string]string{}
	for _, verb := range root.Children {
		if verb.XMLName.Local != "Connect" {
			return "", nil, unsupported("<" + verb.XMLName.Local + ">")
		}
		for _, noun := range verb.Children {
			if noun.XMLName.Local != "Stream" {
				return "", nil, unsupported("<Connect><" + noun.XMLName.Local + ">")
			}
			if streamURL != "" {
				return "", nil, unsupported("a second <Stream>")
			}
			streamURL = noun.attr("url")
			for _, p := range noun.Children {
				if p.XMLName.Local != "Parameter" {
					return "", nil, unsupported("<Stream><" + p.XMLName.Local + ">")
				}
				if p.attr("name") != "" {
					params[p.attr("name")] = p.attr("value")
				}
			}
		}
	}
	if streamURL == "" {
		return "", nil, fmt.Errorf("the TwiML has no <Connect><Stream url=...>")
	}
	if err := checkURL("<Stream url>", streamURL, "ws", "wss"); err != nil {
		return "", nil, err
	}
	return streamURL, params, nil
}
