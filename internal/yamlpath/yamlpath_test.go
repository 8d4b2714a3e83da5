package yamlpath

import (
	"testing"

	"gopkg.in/yaml.v3"
)

// However the path is written, Take finds it, removes it, and leaves the
// rest; emptied mappings go.
func TestTake(t *testing.T) {
	for _, tc := range []struct{ doc, path, want, left string }{
		{"a: {b: {c: 1}}\nx: 2\n", "a.b.c", "1", "x: 2\n"},
		{"a.b.c: 1\nx: 2\n", "a.b.c", "1", "x: 2\n"},
		{"a.b: {c: 1, d: 3}\n", "a.b.c", "1", "a.b: {d: 3}\n"},
		{"a: {b.c: 1}\n", "a.b.c", "1", "{}\n"},
		{"a.b.c: 1\na.b.d: 2\nx: 3\n", "a.b", "c: 1\nd: 2\n", "x: 3\n"},
		{"a.b: {c: 1}\na.b.d: 2\n", "a.b", "c: 1\nd: 2\n", "{}\n"},
		{"a: {b: 1}\n", "a.c", "", "a: {b: 1}\n"},
	} {
		var doc yaml.Node
		if err := yaml.Unmarshal([]byte(tc.doc), &doc); err != nil {
			t.Fatal(err)
		}
		root := doc.Content[0]
		_, val := Take(root, tc.path)
		got := ""
		if val != nil {
			b, _ := yaml.Marshal(val)
			got = string(b)
			if val.Kind == yaml.ScalarNode {
				got = val.Value
			}
		}
		left, _ := yaml.Marshal(root)
		if got != tc.want || string(left) != tc.left {
			t.Errorf("Take(%q, %q) = %q leaving %q, want %q leaving %q", tc.doc, tc.path, got, left, tc.want, tc.left)
		}
	}
}
