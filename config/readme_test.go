package config

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// Every YAML example in the README that is a whole configuration (starts
// with inputs:) loads without an error.
func TestREADMEExamples(t *testing.T) {
	data, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(string(data), -1)
	n := 0
	for _, b := range blocks {
		if !strings.HasPrefix(b[1], "inputs:") {
			continue
		}
		n++
		lookup := func(string) (string, bool) { return "x", true }
		if _, err := Parse("README.md block", []byte(b[1]), lookup); err != nil {
			t.Errorf("README example %d:\n%s\n%v", n, b[1], err)
		}
	}
	if n < 3 {
		t.Fatalf("found %d examples, want at least 3", n)
	}
}
