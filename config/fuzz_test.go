package config

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse checks that no input makes the decoder panic, and that a config
// it accepts validates again unchanged.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.yml")
	for _, file := range files {
		data, _ := os.ReadFile(file)
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse("fuzz.yml", data, testEnv)
		if err == nil {
			if err := cfg.Validate("fuzz.yml"); err != nil {
				t.Fatalf("accepted config fails validation: %v", err)
			}
		}
	})
}
