package config

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/token"
)

// Duration is a time.Duration that YAML writes as "30s", "5m", "1h30m",
// "500ms", "2 days", "12 hours", or a bare integer number of seconds.
type Duration time.Duration

// ParseDuration parses the forms [Duration] accepts from YAML: a Go
// duration ("1h30m"), a number and a unit ("2 days", "1.5 hours"), or a bare
// integer number of seconds ("30").
func ParseDuration(s string) (Duration, error) {
	t := strings.TrimSpace(s)
	if t != "" && isDigits(strings.TrimPrefix(t, "-")) {
		n, err := strconv.ParseInt(t, 10, 64)
		if err != nil || n > math.MaxInt64/int64(time.Second) || n < math.MinInt64/int64(time.Second) {
			return 0, fmt.Errorf("%q is out of range", s)
		}
		return Duration(time.Duration(n) * time.Second), nil
	}
	d, err := parsePeriod(s)
	return Duration(d), err
}

// String formats d like time.Duration without zero trailing units:
// "5m" rather than "5m0s".
func (d Duration) String() string {
	s := time.Duration(d).String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// MarshalYAML writes d as a duration string.
func (d Duration) MarshalYAML() (any, error) {
	return d.String(), nil
}

// UnmarshalYAML reads a duration string or a bare integer number of seconds.
func (d *Duration) UnmarshalYAML(node ast.Node) error {
	switch n := node.(type) {
	case *ast.IntegerNode:
		v, err := ParseDuration(n.GetToken().Value)
		if err != nil {
			return nodeErrorf(node, "%v", err)
		}
		*d = v
		return nil
	case *ast.StringNode:
		v, err := ParseDuration(n.Value)
		if err != nil {
			return nodeErrorf(node, "%v", err)
		}
		*d = v
		return nil
	case *ast.FloatNode:
		return nodeErrorf(node, "%s: seconds must be a whole number; use a unit, e.g. 1500ms", n.GetToken().Value)
	default:
		return nodeErrorf(node, "expected a duration like 30s, 5m or 2 days, got %s", describe(node))
	}
}

// periodUnits are the spelled-out units accepted after a number.
var periodUnits = map[string]time.Duration{
	"ns": time.Nanosecond, "us": time.Microsecond, "µs": time.Microsecond,
	"ms": time.Millisecond, "msec": time.Millisecond, "millisecond": time.Millisecond, "milliseconds": time.Millisecond,
	"s": time.Second, "sec": time.Second, "secs": time.Second, "second": time.Second, "seconds": time.Second,
	"m": time.Minute, "min": time.Minute, "mins": time.Minute, "minute": time.Minute, "minutes": time.Minute,
	"h": time.Hour, "hr": time.Hour, "hrs": time.Hour, "hour": time.Hour, "hours": time.Hour,
	"d": 24 * time.Hour, "day": 24 * time.Hour, "days": 24 * time.Hour,
	"w": 7 * 24 * time.Hour, "wk": 7 * 24 * time.Hour, "week": 7 * 24 * time.Hour, "weeks": 7 * 24 * time.Hour,
}

// errNotPeriod marks a string that is not a period at all (as opposed to an
// out-of-range one), so rotation can try a size instead.
var errNotPeriod = errors.New("not a duration")

// parsePeriod parses a Go duration ("1h30m") or a number and a unit
// ("1 day", "1.5 hours", "30days"). A bare number is rejected.
func parsePeriod(s string) (time.Duration, error) {
	t := strings.TrimSpace(s)
	if d, err := time.ParseDuration(t); err == nil {
		return d, nil
	}
	num, unit := splitNumber(t)
	mult, ok := periodUnits[strings.ToLower(unit)]
	if num == "" || !ok {
		return 0, fmt.Errorf("%q is %w: use e.g. 30s, 5m, 12 hours or 2 days", s, errNotPeriod)
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is %w: use e.g. 30s, 5m, 12 hours or 2 days", s, errNotPeriod)
	}
	v := f * float64(mult)
	if math.Abs(v) >= math.MaxInt64 {
		return 0, fmt.Errorf("%q is out of range", s)
	}
	return time.Duration(v), nil
}

// sizeUnits are the accepted byte-size units, decimal and binary.
var sizeUnits = map[string]int64{
	"b": 1, "byte": 1, "bytes": 1,
	"k": 1000, "kb": 1000, "kib": 1 << 10,
	"mb": 1000 * 1000, "mib": 1 << 20,
	"g": 1000 * 1000 * 1000, "gb": 1000 * 1000 * 1000, "gib": 1 << 30,
	"tb": 1000 * 1000 * 1000 * 1000, "tib": 1 << 40,
}

// parseSize parses a byte size such as "100MB", "10 MiB" or "512 kb".
func parseSize(s string) (int64, error) {
	num, unit := splitNumber(strings.TrimSpace(s))
	mult, ok := sizeUnits[strings.ToLower(unit)]
	if num == "" || !ok {
		return 0, fmt.Errorf("%q is not a size: use e.g. 100MB or 10 MiB", s)
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a size: use e.g. 100MB or 10 MiB", s)
	}
	v := f * float64(mult)
	if v >= math.MaxInt64 {
		return 0, fmt.Errorf("%q is out of range", s)
	}
	return int64(v), nil
}

// parseRotation parses logging.rotation: "" (off), a period or a size.
func parseRotation(s string) (time.Duration, int64, error) {
	if strings.TrimSpace(s) == "" {
		return 0, 0, nil
	}
	d, err := parsePeriod(s)
	if err == nil {
		return d, 0, nil
	}
	if !errors.Is(err, errNotPeriod) {
		return 0, 0, err
	}
	n, serr := parseSize(s)
	if serr != nil {
		return 0, 0, fmt.Errorf("%q is neither a period (1 day, 12 hours, 1h) nor a size (100MB, 10 MiB)", s)
	}
	return 0, n, nil
}

// splitNumber splits "1.5 hours" into "1.5" and "hours". The number may
// have a leading '-' and one '.'; the unit is what follows, spaces trimmed.
func splitNumber(s string) (num, unit string) {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	digits, dot := 0, false
	for ; i < len(s); i++ {
		c := s[i]
		if c >= '0' && c <= '9' {
			digits++
			continue
		}
		if c == '.' && !dot {
			dot = true
			continue
		}
		break
	}
	if digits == 0 {
		return "", s
	}
	return s[:i], strings.TrimSpace(s[i:])
}

// isDigits reports whether s is a non-empty run of ASCII digits.
func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// nodeError is a value error found while decoding a YAML node; the loader
// turns its token into FILE:LINE and a dotted key.
type nodeError struct {
	tok *token.Token
	msg string
}

func nodeErrorf(n ast.Node, format string, args ...any) *nodeError {
	return &nodeError{tok: n.GetToken(), msg: fmt.Sprintf(format, args...)}
}

func (e *nodeError) Error() string {
	if e.tok != nil {
		return fmt.Sprintf("line %d: %s", e.tok.Position.Line, e.msg)
	}
	return e.msg
}

// GetToken returns the token the error is about.
func (e *nodeError) GetToken() *token.Token { return e.tok }

// GetMessage returns the message without position.
func (e *nodeError) GetMessage() string { return e.msg }

// describe names a node's kind and, for scalars, its text: `string "abc"`.
func describe(n ast.Node) string {
	if n == nil {
		return "nothing"
	}
	kind := n.Type().YAMLName()
	switch n.(type) {
	case *ast.MappingNode, *ast.MappingValueNode:
		return "a mapping"
	case *ast.SequenceNode:
		return "a list"
	case *ast.NullNode:
		return "null"
	}
	if tk := n.GetToken(); tk != nil {
		v := tk.Value
		if len(v) > 40 {
			v = v[:40] + "..."
		}
		return fmt.Sprintf("%s %q", kind, v)
	}
	return kind
}
