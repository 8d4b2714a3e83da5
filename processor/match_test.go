package processor

import (
	"regexp"
	"testing"
)

func TestMatcher(t *testing.T) {
	lines := []string{"", "ERROR boom", "an ERROR here", "DEBUG x", "done", "not done", "error lower", "a\nb", "^literal"}
	for _, tc := range []struct {
		expr string
		kind int
	}{
		{"ERROR", matchContains},
		{"^DEBUG", matchPrefix},
		{"done$", matchSuffix},
		{"^done$", matchEqual},
		{"^DEBUG|^ERROR", matchPrefix},
		{"ERROR|done", matchContains},
		{`\^literal`, matchContains},
		{"(?i)error", matchRegexp},
		{"^DEBUG|done$", matchRegexp},
		{`^\s`, matchRegexp},
		{"(?m)^b", matchRegexp},
		{"E.ROR", matchRegexp},
	} {
		m, err := compileMatcher(tc.expr)
		if err != nil {
			t.Fatal(err)
		}
		if m.kind != tc.kind {
			t.Errorf("%q: kind %d, want %d", tc.expr, m.kind, tc.kind)
		}
		re := regexp.MustCompile(tc.expr)
		for _, l := range lines {
			if got, want := m.match([]byte(l)), re.MatchString(l); got != want {
				t.Errorf("%q on %q = %v, regexp says %v", tc.expr, l, got, want)
			}
		}
	}
}
