package dissect

import (
	"errors"
	"maps"
	"strings"
	"testing"
)

func run(p *Pattern, s string) (map[string]string, error) {
	got := map[string]string{}
	err := p.Dissect(s, func(k, v string) { got[k] = v })
	return got, err
}

func TestDissect(t *testing.T) {
	for _, tc := range []struct {
		tok, in string
		want    map[string]string // nil: no match
	}{
		{"%{ts} [%{level}] %{msg}", "2026-11-21T12:00:00Z [WARN] disk almost full: 91%", map[string]string{"ts": "2026-11-21T12:00:00Z", "level": "WARN", "msg": "disk almost full: 91%"}},
		{"%{ip} - %{} [%{ts}] \"%{method} %{path} %{?proto}\" %{status} %{size}", `10.0.0.1 - - [21/Nov/2026:12:00:00 +0000] "GET /index.html HTTP/1.1" 200 512`, map[string]string{"ip": "10.0.0.1", "ts": "21/Nov/2026:12:00:00 +0000", "method": "GET", "path": "/index.html", "status": "200", "size": "512"}},
		{"%{level->} %{msg}", "INFO     started", map[string]string{"level": "INFO", "msg": "started"}},
		{"%{+name} %{+name} %{age}", "Ada Lovelace 36", map[string]string{"name": "Ada Lovelace", "age": "36"}},
		{"%{name} %{+name}: %{rest}", "Ada Lovelace: x", map[string]string{"name": "Ada Lovelace", "rest": "x"}},
		{"<%{pri}>%{msg}", "<13>hello", map[string]string{"pri": "13", "msg": "hello"}},
		{"<%{pri}>%{msg}", "13>hello", nil},
		{"%{a},%{b}", "no comma", nil},
		{"%{a},%{b}.", "x,y", nil},
		{"%{a} %{b}", "x ", map[string]string{"a": "x", "b": ""}},
	} {
		p, err := Parse(tc.tok)
		if err != nil {
			t.Fatalf("%q: %v", tc.tok, err)
		}
		got, err := run(p, tc.in)
		if tc.want == nil {
			if !errors.Is(err, ErrNoMatch) || len(got) != 0 {
				t.Errorf("%q on %q = %v, %v; want ErrNoMatch and nothing", tc.tok, tc.in, got, err)
			}
			continue
		}
		if err != nil || !maps.Equal(got, tc.want) {
			t.Errorf("%q on %q = %v, %v; want %v", tc.tok, tc.in, got, err, tc.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for tok, want := range map[string]string{
		"no keys":       "has no %{key}",
		"%{a":           "unclosed",
		"%{a}%{b}":      "no text between",
		"%{a} %{b%{c}}": "invalid key",
	} {
		if _, err := Parse(tok); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%q) = %v, want an error with %q", tok, err, want)
		}
	}
}

// FuzzDissect: never a panic; a match's values put back between the
// delimiters give the input again (for patterns without padding or appends).
func FuzzDissect(f *testing.F) {
	f.Add("%{a} [%{b}] %{c}", "x [y] z")
	f.Add("<%{pri}>%{+m} %{+m}", "<1>a b")
	f.Add("%{a->},%{b}", ",,,,")
	f.Fuzz(func(t *testing.T, tok, in string) {
		p, err := Parse(tok)
		if err != nil {
			return
		}
		got, err := run(p, in)
		if err != nil {
			return
		}
		for _, fl := range p.fields {
			if fl.pad || fl.append || fl.skip {
				return
			}
		}
		var b strings.Builder
		b.WriteString(p.prefix)
		seen := map[string]bool{}
		for _, fl := range p.fields {
			if seen[fl.key] {
				return // a key twice: the last value wins
			}
			seen[fl.key] = true
			b.WriteString(got[fl.key])
			b.WriteString(fl.delim)
		}
		if b.String() != in {
			t.Fatalf("%q on %q gave %v, which rebuilds %q", tok, in, got, b.String())
		}
	})
}
