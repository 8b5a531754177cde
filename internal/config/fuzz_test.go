package config

import (
	"errors"
	"os"
	"testing"
)

// FuzzParse checks that Parse never panics, that every failure is a list of
// *Error, and that every success is a valid configuration.
func FuzzParse(f *testing.F) {
	for _, name := range []string{"testdata/original-design.yml", exampleFile} {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data, "fuzz.yml")
		if err != nil {
			if c != nil {
				t.Fatal("Parse returned both a config and an error")
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %T %q holds no *Error", err, err)
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("Parse succeeded but Validate fails: %v", err)
		}
	})
}
