// Package contractcheck validates JSON values against the schemas of the
// served OpenAPI document (JSON Schema 2020-12, the dialect of OpenAPI 3.1):
// examples against their schemas, and real WebSocket messages against the
// schemas of x-websockets. It is used by tests.
package contractcheck

import (
	"bytes"
	"fmt"
	"strings"
	"sync"

	"github.com/pb33f/jsonschema/v6"
)

const docURL = "mem:///openapi.json"

// Document is an OpenAPI document whose schemas values are checked against.
type Document struct {
	c *jsonschema.Compiler
	// mu guards compiled; the compiler is not safe for concurrent use.
	mu       sync.Mutex
	compiled map[string]*jsonschema.Schema
}

// New parses an OpenAPI 3.1 document (JSON).
func New(openapiJSON []byte) (*Document, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(openapiJSON))
	if err != nil {
		return nil, fmt.Errorf("the OpenAPI document is not JSON: %w", err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	if err := c.AddResource(docURL, doc); err != nil {
		return nil, err
	}
	return &Document{c: c, compiled: map[string]*jsonschema.Schema{}}, nil
}

// Validate checks the JSON value against the schema at pointer (a JSON
// pointer into the document, e.g. "#/components/schemas/RingBody").
func (d *Document) Validate(pointer string, value []byte) error {
	d.mu.Lock()
	sch, ok := d.compiled[pointer]
	if !ok {
		var err error
		if sch, err = d.c.Compile(docURL + pointer); err != nil {
			d.mu.Unlock()
			return fmt.Errorf("schema %s: %w", pointer, err)
		}
		d.compiled[pointer] = sch
	}
	d.mu.Unlock()
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(value))
	if err != nil {
		return fmt.Errorf("not JSON: %w", err)
	}
	if err := sch.Validate(v); err != nil {
		return fmt.Errorf("%s does not match %s: %v", abbreviate(value), pointer, err)
	}
	return nil
}

// Pointer escapes one JSON pointer token (a path such as /lines/{id}).
func Pointer(token string) string {
	return strings.ReplaceAll(strings.ReplaceAll(token, "~", "~0"), "/", "~1")
}

func abbreviate(b []byte) string {
	if len(b) > 300 {
		return string(b[:300]) + "..."
	}
	return string(b)
}
