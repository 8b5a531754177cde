package app

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestREADMELogQuotesArePrinted: every log message the README's
// Troubleshooting section quotes is one the program prints, so a user can
// search the log for it.
func TestREADMELogQuotesArePrinted(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	start, end := strings.Index(readme, "## Troubleshooting"), strings.Index(readme, "## Development")
	if start < 0 || end < start {
		t.Fatal("README has no Troubleshooting section before Development")
	}
	var source strings.Builder
	for _, dir := range []string{"../../internal", "../../cmd"} {
		filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() && strings.HasSuffix(p, ".go") && !strings.HasSuffix(p, "_test.go") {
				b, _ := os.ReadFile(p)
				source.Write(b)
			}
			return nil
		})
	}
	// A quoted log message: capitalised, several words, not an HTTP request.
	quote := regexp.MustCompile("`([A-Z][^`]*? [^`]* [^`]*)`")
	request := regexp.MustCompile(`^(GET|POST|PUT|DELETE|PATCH) /`)
	checked := 0
	for _, m := range quote.FindAllStringSubmatch(readme[start:end], -1) {
		msg := strings.Join(strings.Fields(m[1]), " ") // the README wraps lines
		if request.MatchString(msg) {
			continue
		}
		checked++
		if !strings.Contains(source.String(), msg) {
			t.Errorf("the README quotes the log message %q, which the program does not print", msg)
		}
	}
	if checked < 3 {
		t.Fatalf("only %d log quotes found in the Troubleshooting section: the test lost its grip", checked)
	}
}
