// Package testlines writes log files of numbered, fixed-length lines and
// checks, on the Kafka side and in the registry, that each arrived and that
// no offset ran ahead of delivery. Fixed length makes an offset a line count.
package testlines

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// LineLen is the length of every line, newline included.
const LineLen = 64

// Line is line i of file f, without its newline.
func Line(f, i int) string {
	s := fmt.Sprintf("file=%03d seq=%08d ", f, i)
	return s + strings.Repeat("x", LineLen-1-len(s))
}

// Parse returns the file and sequence number of a line made by Line.
func Parse(s string) (f, i int, ok bool) {
	n, err := fmt.Sscanf(s, "file=%d seq=%d ", &f, &i)
	return f, i, err == nil && n == 2 && len(s) == LineLen-1
}

// Append writes lines [from, to) of file f to path.
func Append(t testing.TB, path string, f, from, to int) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	fh, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriterSize(fh, 1<<16)
	for i := from; i < to; i++ {
		w.WriteString(Line(f, i))
		w.WriteByte('\n')
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := fh.Close(); err != nil {
		t.Fatal(err)
	}
}

// Seen counts arrivals per (file, seq).
type Seen struct {
	Count map[[2]int]int
	Dups  int
	Bad   int // values that are not lines made by Line
}

// NewSeen returns an empty Seen.
func NewSeen() *Seen { return &Seen{Count: make(map[[2]int]int)} }

// Add records one arrived line.
func (s *Seen) Add(line string) {
	f, i, ok := Parse(line)
	if !ok {
		s.Bad++
		return
	}
	k := [2]int{f, i}
	if s.Count[k] > 0 {
		s.Dups++
	}
	s.Count[k]++
}

// Distinct is how many different lines arrived.
func (s *Seen) Distinct() int { return len(s.Count) }

// Missing lists up to 10 of the lines [0, n) of each of files that did not arrive.
func (s *Seen) Missing(files, n int) []string {
	var out []string
	for f := range files {
		for i := range n {
			if s.Count[[2]int{f, i}] == 0 {
				out = append(out, fmt.Sprintf("file %d line %d", f, i))
				if len(out) == 10 {
					return out
				}
			}
		}
	}
	return out
}

// registryEntry is what these helpers read of a registry entry.
type registryEntry struct {
	Path   string `json:"path"`
	Inode  uint64 `json:"inode"`
	Offset int64  `json:"offset"`
}

// readRegistry returns a registry file's entries; a missing file has none.
func readRegistry(t testing.TB, path string) []registryEntry {
	t.Helper()
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Files []registryEntry `json:"files"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatalf("registry %s is not valid JSON: %v", path, err)
	}
	return doc.Files
}

// RegistryOffsets reads a registry file and returns each path's offset. A
// missing file yields an empty map.
func RegistryOffsets(t testing.TB, path string) map[string]int64 {
	t.Helper()
	files := readRegistry(t, path)
	out := make(map[string]int64, len(files))
	for _, f := range files {
		out[f.Path] = f.Offset
	}
	return out
}

// RegistryOffsetOf returns the registry's offset for the file now at path,
// found by its inode (a rotated file's entry keeps the path it was opened
// under); false when the registry has none.
func RegistryOffsetOf(t testing.TB, registry, path string) (int64, bool) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	ino := fi.Sys().(*syscall.Stat_t).Ino
	for _, f := range readRegistry(t, registry) {
		if f.Inode == ino {
			return f.Offset, true
		}
	}
	return 0, false
}

// AppendRaw appends s to path as it is.
func AppendRaw(t testing.TB, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}
