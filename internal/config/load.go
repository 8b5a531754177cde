package config

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"
)

// maxFileSize bounds the configuration file; anything larger is surely the
// wrong file.
const maxFileSize = 1 << 20

// defaultPath is DefaultPath; tests point it elsewhere.
var defaultPath = DefaultPath

// Load returns the validated configuration. The file is flagPath if set,
// else the one named by SIP_PHONE_CONFIG, else DefaultPath when it exists,
// else none (built-in defaults). A file named by the flag or the variable
// must exist. Environment overrides (see [Config.ApplyEnv]) apply on top of
// the file, then derived defaults, then [Config.Validate].
//
// getenv is usually os.Getenv; nil means an empty environment. On error the
// returned error joins *Error values, one per problem.
func Load(flagPath string, getenv func(string) string) (*Config, error) {
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	path, from := flagPath, ""
	if path == "" {
		if path = getenv("SIP_PHONE_CONFIG"); path != "" {
			from = " named by SIP_PHONE_CONFIG"
		}
	}
	if path == "" {
		switch _, err := os.Stat(defaultPath); {
		case err == nil:
			path = defaultPath
		case !errors.Is(err, fs.ErrNotExist):
			return nil, fmt.Errorf("read config: %w", err)
		}
	}

	var c *Config
	if path == "" {
		d := Default()
		c = &d
	} else {
		data, err := readFile(path)
		if err != nil {
			return nil, fmt.Errorf("read config%s: %w", from, err)
		}
		if c, err = decode(data, path); err != nil {
			return nil, err
		}
	}
	envErr := c.ApplyEnv(getenv)
	c.finish()
	if c.Server.StateFile == "" {
		c.Server.StateFile = DefaultStateFile(getenv)
	}
	if err := joinErrors(envErr, c.Validate()); err != nil {
		return nil, err
	}
	return c, nil
}

// readFile reads at most maxFileSize bytes of path.
func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("%s: larger than %d bytes; is this the configuration file?", path, maxFileSize)
	}
	return data, nil
}

// Parse reads a YAML configuration from data, fills defaults and validates
// it. It ignores the environment. source names the data in errors (and
// becomes Config.Source); an empty document yields the defaults.
func Parse(data []byte, source string) (*Config, error) {
	c, err := decode(data, source)
	if err != nil {
		return nil, err
	}
	c.finish()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// DefaultStateFile returns $XDG_STATE_HOME/sipphone/state.json, else
// $HOME/.local/state/sipphone/state.json, else "" (relative values are
// ignored, as the XDG base directory specification requires).
func DefaultStateFile(getenv func(string) string) string {
	if d := getenv("XDG_STATE_HOME"); filepath.IsAbs(d) {
		return filepath.Join(d, "sipphone", "state.json")
	}
	if h := getenv("HOME"); filepath.IsAbs(h) {
		return filepath.Join(h, ".local", "state", "sipphone", "state.json")
	}
	return ""
}

// envVar is one environment override.
type envVar struct {
	name string
	key  string // dotted key it overrides
	int  func(c *Config) *int
	str  func(c *Config) *string
}

// envVars are the overrides ApplyEnv reads, in order (API_TOKEN is
// handled on its own).
var envVars = []envVar{
	{name: "SIP_SERVER_HOST", key: "server.sip_host", str: func(c *Config) *string { return &c.Server.SIPHost }},
	{name: "SIP_SERVER_PORT", key: "server.sip_port", int: func(c *Config) *int { return &c.Server.SIPPort }},
	{name: "API_HOST", key: "server.api_host", str: func(c *Config) *string { return &c.Server.APIHost }},
	{name: "API_PORT", key: "server.rest_port", int: func(c *Config) *int { return &c.Server.RESTPort }},
	{name: "WS_PORT", key: "server.websocket_port", int: func(c *Config) *int { return &c.Server.WebSocketPort }},
	{name: "SIP_PHONE_STATE", key: "server.state_file", str: func(c *Config) *string { return &c.Server.StateFile }},
	{name: "RTP_PORT_MIN", key: "audio.rtp_ports.min", int: func(c *Config) *int { return &c.Audio.RTPPorts.Min }},
	{name: "RTP_PORT_MAX", key: "audio.rtp_ports.max", int: func(c *Config) *int { return &c.Audio.RTPPorts.Max }},
	{name: "LOG_LEVEL", key: "logging.level", str: func(c *Config) *string { return &c.Logging.Level }},
	mqttEnvVars[0], mqttEnvVars[1], mqttEnvVars[2], // MQTT_URL, MQTT_USERNAME, MQTT_PASSWORD (mqtt.go)
	{name: "API_AUTH", key: "api.auth", str: func(c *Config) *string { return &c.API.Auth }},
}

// ApplyEnv overrides values from the environment. An empty variable counts
// as unset.
//
//	SIP_SERVER_HOST  server.sip_host         API_HOST      server.api_host
//	SIP_SERVER_PORT  server.sip_port         API_PORT      server.rest_port
//	WS_PORT          server.websocket_port   LOG_LEVEL     logging.level
//	RTP_PORT_MIN     audio.rtp_ports.min     RTP_PORT_MAX  audio.rtp_ports.max
//	SIP_PHONE_STATE  server.state_file
//	API_TOKEN        api.tokens: adds (or replaces) the token named "env"
//	MQTT_URL         mqtt.url                MQTT_USERNAME mqtt.username
//	MQTT_PASSWORD    mqtt.password
//	API_AUTH         api.auth (auto, token, none)
//
// A value that cannot be parsed is an *Error naming the key and the
// variable; range checks are left to Validate, whose errors then name the
// variable too.
func (c *Config) ApplyEnv(getenv func(string) string) error {
	if getenv == nil {
		return nil
	}
	env := maps.Clone(c.origin.env)
	if env == nil {
		env = map[string]string{}
	}
	var errs []error
	for _, ev := range envVars {
		raw := getenv(ev.name)
		if raw == "" {
			continue
		}
		v := strings.TrimSpace(raw)
		switch {
		case ev.int != nil:
			n, err := strconv.Atoi(v)
			if err != nil {
				errs = append(errs, &Error{Key: ev.key, Msg: fmt.Sprintf("%s=%q is not an integer", ev.name, raw)})
				continue
			}
			*ev.int(c) = n
		case ev.name == "LOG_LEVEL":
			*ev.str(c) = strings.ToLower(v)
		default:
			*ev.str(c) = v
		}
		env[ev.key] = ev.name
	}
	if tok := getenv("API_TOKEN"); tok != "" {
		i := len(c.API.Tokens)
		for j, t := range c.API.Tokens {
			if t.Name == "env" {
				i = j
				break
			}
		}
		tokens := append([]Token(nil), c.API.Tokens...)
		if i == len(tokens) {
			tokens = append(tokens, Token{Name: "env"})
		}
		tokens[i].Token = tok
		c.API.Tokens = tokens
		env[fmt.Sprintf("api.tokens[%d]", i)] = "API_TOKEN"
	}
	c.origin.env = env
	return errors.Join(errs...)
}

// finish fills the defaults that depend on other values and stores
// case-insensitive values in their canonical case.
func (c *Config) finish() {
	patterns := DefaultRingPatterns()
	maps.Copy(patterns, c.HT802.RingPatterns)
	c.HT802.RingPatterns = patterns

	// An empty list reads the same as an absent one.
	if len(c.Lines) == 0 {
		c.Lines = nil
	}
	if len(c.API.Tokens) == 0 {
		c.API.Tokens = nil
	}
	if len(c.API.Origins) == 0 {
		c.API.Origins = nil
	}
	if len(c.HT802.Host.Entries) == 0 {
		c.HT802.Host.Entries = nil
	}
	if len(c.Announce.AllowedURLHosts) == 0 {
		c.Announce.AllowedURLHosts = nil
	}

	c.Audio.Codec = canonicalCodec(c.Audio.Codec)
	c.Logging.Level = strings.ToLower(c.Logging.Level)
	c.Logging.Format = strings.ToLower(c.Logging.Format)
	if c.Server.SIPTransports != nil {
		ts := make([]string, len(c.Server.SIPTransports))
		for i, t := range c.Server.SIPTransports {
			ts[i] = strings.ToLower(t)
		}
		c.Server.SIPTransports = ts
	}

	// A file that changes the sample rate but not the chunk size means 20 ms
	// chunks at that rate, not 320 bytes.
	if c.origin.has("audio.sample_rate") && !c.origin.has("audio.buffer_size") {
		if perMS := bytesPerMS(c.Audio.SampleRate); perMS > 0 {
			c.Audio.BufferSize = 20 * perMS
		}
	}

	cr := c.HT802.Credentials
	for i := range c.Lines {
		l := &c.Lines[i]
		if l.ID == "" {
			l.ID = l.User
		}
		if l.AuthUser == "" {
			l.AuthUser = l.User
		}
		if l.Password == "" && cr.Username != "" && cr.Username == l.AuthUser {
			l.Password = cr.Password
		}
	}
}

// has reports whether key was written in the file or set by the environment.
func (o origin) has(key string) bool {
	_, inFile := o.lines[key]
	_, inEnv := o.env[key]
	return inFile || inEnv
}

// decode parses data over the defaults without filling derived defaults or
// validating. Unknown keys, misplaced kinds and undecodable values are
// reported with FILE:LINE and the dotted key.
func decode(data []byte, source string) (c *Config, err error) {
	d := Default()
	d.HT802.RingPatterns = nil // finish merges the file's patterns over the defaults
	d.Source = source
	c = &d
	if len(data) > maxFileSize {
		return nil, &Error{File: source, Msg: fmt.Sprintf("larger than %d bytes", maxFileSize)}
	}
	w := &walker{file: source, lines: map[string]int{}, byPos: map[pos]string{}, byLine: map[int]string{}}
	defer func() {
		// The YAML library is not ours; a panic on hostile input must not
		// take the program down.
		if r := recover(); r != nil {
			c, err = nil, &Error{File: source, Msg: fmt.Sprintf("cannot parse YAML: %v", r)}
		}
	}()

	f, perr := parser.ParseBytes(data, 0, parser.AllowDuplicateMapKey())
	if perr != nil {
		return nil, w.fromYAML(perr)
	}
	var body ast.Node
	for _, doc := range f.Docs {
		b := docBody(doc)
		if b == nil {
			continue
		}
		if body != nil {
			return nil, w.errAt(b, "", "only one YAML document is allowed")
		}
		body = b
	}
	c.origin.lines = w.lines
	if body == nil {
		return c, nil
	}
	if _, ok := body.(ast.MapNode); !ok {
		return nil, w.errAt(body, "", "expected a mapping of sections (server, ht802, audio, logging, api, lines), got %s", describe(body))
	}
	w.walk(body, reflect.TypeFor[Config](), "")
	if len(w.errs) > 0 {
		return nil, errors.Join(w.errs...)
	}
	if err := yaml.NodeToValue(body, c, yaml.Strict()); err != nil {
		return nil, w.fromYAML(err)
	}
	return c, nil
}

// docBody returns the content of a document, nil when it has none.
func docBody(doc *ast.DocumentNode) ast.Node {
	if doc == nil || doc.Body == nil {
		return nil
	}
	switch doc.Body.(type) {
	case *ast.NullNode, *ast.CommentGroupNode, *ast.CommentNode:
		return nil
	}
	return doc.Body
}

// pos is a token position.
type pos struct{ line, col int }

// walker checks a YAML tree against the Config type before decoding, so
// every unknown key (not just the first) is reported with its dotted path
// and line, and records where each key was written.
type walker struct {
	file   string
	lines  map[string]int // dotted key -> line of the key
	byPos  map[pos]string // key or value token -> dotted key
	byLine map[int]string // line -> deepest dotted key written on it
	errs   []error
}

var (
	durationType = reflect.TypeFor[Duration]()
	addrListType = reflect.TypeFor[AddrList]()
)

// note records that key was written at tk.
func (w *walker) note(key string, tk *token.Token) {
	if tk == nil || key == "" {
		return
	}
	line := tk.Position.Line
	if _, ok := w.lines[key]; !ok {
		w.lines[key] = line
	}
	w.byPos[pos{line, tk.Position.Column}] = key
	if len(key) > len(w.byLine[line]) {
		w.byLine[line] = key
	}
}

// keyAt returns the dotted key written at tk, or the deepest one on its line.
func (w *walker) keyAt(tk *token.Token) string {
	if k, ok := w.byPos[pos{tk.Position.Line, tk.Position.Column}]; ok {
		return k
	}
	return w.byLine[tk.Position.Line]
}

// errAt returns an *Error located at node n.
func (w *walker) errAt(n ast.Node, key, format string, args ...any) *Error {
	e := &Error{File: w.file, Key: key, Msg: fmt.Sprintf(format, args...)}
	if tk := n.GetToken(); tk != nil {
		e.Line = tk.Position.Line
	}
	return e
}

func (w *walker) fail(n ast.Node, key, format string, args ...any) {
	w.errs = append(w.errs, w.errAt(n, key, format, args...))
}

// walk checks node n against type t at dotted path key.
func (w *walker) walk(n ast.Node, t reflect.Type, key string) {
	for {
		switch x := n.(type) {
		case *ast.AnchorNode:
			n = x.Value
			continue
		case *ast.TagNode:
			n = x.Value
			continue
		}
		break
	}
	switch n.(type) {
	case nil, *ast.NullNode, *ast.AliasNode:
		// Null keeps the default; aliases are checked by the decoder.
		return
	}
	if t == durationType || t == addrListType {
		if seq, ok := n.(*ast.SequenceNode); ok {
			for i, v := range seq.Values {
				w.note(fmt.Sprintf("%s[%d]", key, i), v.GetToken())
			}
		}
		return // their UnmarshalYAML checks the rest
	}
	switch t.Kind() {
	case reflect.Struct:
		m, ok := n.(ast.MapNode)
		if !ok {
			w.fail(n, key, "expected a mapping, got %s", describe(n))
			return
		}
		w.mapping(m, key, func(name string) (reflect.Type, bool) {
			f, ok := fieldByTag(t, name)
			return f.Type, ok
		}, tagNames(t))
	case reflect.Map:
		m, ok := n.(ast.MapNode)
		if !ok {
			w.fail(n, key, "expected a mapping, got %s", describe(n))
			return
		}
		w.mapping(m, key, func(string) (reflect.Type, bool) { return t.Elem(), true }, nil)
	case reflect.Slice:
		seq, ok := n.(*ast.SequenceNode)
		if !ok {
			w.fail(n, key, "expected a list, got %s", describe(n))
			return
		}
		for i, v := range seq.Values {
			child := fmt.Sprintf("%s[%d]", key, i)
			w.note(child, v.GetToken())
			w.walk(v, t.Elem(), child)
		}
	case reflect.String:
		w.scalarString(n, key)
	case reflect.Int:
		switch x := n.(type) {
		case *ast.IntegerNode:
		case *ast.StringNode:
			if !isDigits(x.Value) {
				w.fail(n, key, "expected an integer, got %s", describe(n))
			}
		default:
			w.fail(n, key, "expected an integer, got %s", describe(n))
		}
	case reflect.Bool:
		if _, ok := n.(*ast.BoolNode); !ok {
			w.fail(n, key, "expected true or false, got %s", describe(n))
		}
	}
}

// mapping walks the entries of a YAML mapping at key. field returns the type
// of an entry's value, or false for an unknown name; known lists the names
// for suggestions (nil for free-form maps).
func (w *walker) mapping(m ast.MapNode, key string, field func(string) (reflect.Type, bool), known []string) {
	seen := map[string]int{}
	it := m.MapRange()
	for it.Next() {
		k := it.Key()
		if k.IsMergeKey() {
			continue
		}
		name := keyName(k)
		child := name
		if key != "" {
			child = key + "." + name
		}
		line := 0
		if tk := k.GetToken(); tk != nil {
			line = tk.Position.Line
		}
		if first, dup := seen[name]; dup {
			w.fail(k, child, "duplicate key (first written on line %d)", first)
			continue
		}
		seen[name] = line
		ft, ok := field(name)
		if !ok {
			msg := "unknown key"
			if s := suggest(name, key, known); s != "" {
				msg += " (did you mean " + s + "?)"
			}
			w.fail(k, child, "%s", msg)
			continue
		}
		w.note(child, k.GetToken())
		if v := it.Value(); v != nil {
			w.note(child, v.GetToken())
			w.walk(v, ft, child)
		}
	}
}

// scalarString accepts a string, or a number or boolean whose text is kept
// exactly by the decoder; anything else (a password written 0123 would
// become "83") must be quoted.
func (w *walker) scalarString(n ast.Node, key string) {
	switch x := n.(type) {
	case *ast.StringNode, *ast.LiteralNode:
		return
	case *ast.IntegerNode:
		if fmt.Sprint(x.Value) == x.Token.Value {
			return
		}
	case *ast.FloatNode:
		if fmt.Sprint(x.Value) == x.Token.Value {
			return
		}
	case *ast.BoolNode:
		if strconv.FormatBool(x.Value) == x.Token.Value {
			return
		}
	case *ast.MappingNode, *ast.MappingValueNode, *ast.SequenceNode:
		w.fail(n, key, "expected a string, got %s", describe(n))
		return
	}
	tk := n.GetToken()
	text := ""
	if tk != nil {
		text = tk.Value
	}
	w.fail(n, key, "%s is not read as written; quote it: %q", text, text)
}

// fromYAML turns an error of the YAML library into an *Error at its token.
func (w *walker) fromYAML(err error) error {
	var ye interface {
		GetToken() *token.Token
		GetMessage() string
	}
	if !errors.As(err, &ye) || ye.GetToken() == nil {
		return &Error{File: w.file, Msg: err.Error()}
	}
	tk := ye.GetToken()
	msg := ye.GetMessage()
	var te *yaml.TypeError
	var oe *yaml.OverflowError
	var ue *yaml.UnknownFieldError
	switch {
	case errors.As(err, &te):
		msg = fmt.Sprintf("expected %s, got %q", kindName(te.DstType), tk.Value)
	case errors.As(err, &oe):
		msg = fmt.Sprintf("%s is out of range", oe.SrcNum)
	case errors.As(err, &ue):
		msg = strings.Replace(ue.Message, "unknown field", "unknown key", 1)
	}
	return &Error{File: w.file, Line: tk.Position.Line, Key: w.keyAt(tk), Msg: msg}
}

// kindName names what a Go type expects in YAML words.
func kindName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Bool:
		return "true or false"
	case reflect.String:
		return "a string"
	case reflect.Slice:
		return "a list"
	case reflect.Struct, reflect.Map:
		return "a mapping"
	}
	return t.String()
}

// keyName returns the text of a mapping key.
func keyName(k ast.MapKeyNode) string {
	if s, ok := k.(*ast.StringNode); ok {
		return s.Value
	}
	if tk := k.GetToken(); tk != nil {
		return tk.Value
	}
	return k.String()
}

// fieldByTag finds the field of struct t whose yaml tag is name.
func fieldByTag(t reflect.Type, name string) (reflect.StructField, bool) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if f.IsExported() && yamlName(f) == name {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

// tagNames lists the yaml names of struct t's fields.
func tagNames(t reflect.Type) []string {
	var names []string
	for i := 0; i < t.NumField(); i++ {
		if f := t.Field(i); f.IsExported() {
			if n := yamlName(f); n != "" {
				names = append(names, n)
			}
		}
	}
	return names
}

// yamlName is the name a field has in YAML, "" when it has none.
func yamlName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	if name == "-" {
		return ""
	}
	return name
}

// suggest proposes a replacement for an unknown key name found at parent:
// the closest sibling by edit distance, else the one place in the
// configuration where a key of that name lives.
func suggest(name, parent string, siblings []string) string {
	lname := strings.ToLower(name)
	best, bestD := "", max(1, len(name)/3)+1
	for _, s := range siblings {
		if d := editDistance(lname, s); d < bestD {
			best, bestD = s, d
		}
	}
	if best != "" {
		return best
	}
	var found []string
	for _, p := range schemaKeys {
		if p[strings.LastIndexByte(p, '.')+1:] == lname && parentKey(p) != parent {
			found = append(found, p)
		}
	}
	if len(found) == 1 {
		return found[0]
	}
	return ""
}

// schemaKeys lists the dotted keys of every struct field reachable from
// Config without going through a list.
var schemaKeys = func() []string {
	var out []string
	var rec func(t reflect.Type, prefix string)
	rec = func(t reflect.Type, prefix string) {
		for _, n := range tagNames(t) {
			p := n
			if prefix != "" {
				p = prefix + "." + n
			}
			out = append(out, p)
			f, _ := fieldByTag(t, n)
			if f.Type.Kind() == reflect.Struct && f.Type != durationType && f.Type != addrListType {
				rec(f.Type, p)
			}
		}
	}
	rec(reflect.TypeFor[Config](), "")
	return out
}()

// editDistance is the optimal string alignment distance between a and b:
// insertions, deletions, substitutions and swaps of neighbours cost 1.
func editDistance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}

// canonicalCodec maps the stream API's spellings (ulaw, alaw; any case) to
// the codec names of SDP (PCMU, PCMA), so either works in audio.codec.
func canonicalCodec(c string) string {
	switch u := strings.ToUpper(c); u {
	case "ULAW", "MULAW", "G711U":
		return "PCMU"
	case "ALAW", "G711A":
		return "PCMA"
	default:
		return u
	}
}
