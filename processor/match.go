package processor

import (
	"bytes"
	"fmt"
	"regexp"
	"regexp/syntax"
)

// matcher tests a line against a regular expression. Patterns that are
// plain or anchored literals ("ERROR", "^DEBUG", "done$", "^a|^b") are
// matched with bytes functions, without the regexp engine.
type matcher struct {
	re       *regexp.Regexp
	kind     int // what the literals are tested with
	literals [][]byte
}

const (
	matchRegexp = iota
	matchContains
	matchPrefix
	matchSuffix
	matchEqual
)

func compileMatcher(expr string) (*matcher, error) {
	re, err := regexp.Compile(expr)
	if err != nil {
		return nil, err
	}
	m := &matcher{re: re}
	tree, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		return m, nil
	}
	tree = tree.Simplify()
	alts := []*syntax.Regexp{tree}
	if tree.Op == syntax.OpAlternate {
		alts = tree.Sub
	}
	kind := -1
	var lits [][]byte
	for _, a := range alts {
		k, lit, ok := literalShape(a)
		if !ok || (kind >= 0 && k != kind) {
			return m, nil
		}
		kind = k
		lits = append(lits, lit)
	}
	m.kind, m.literals = kind, lits
	return m, nil
}

// compileMatchers compiles the expressions of a list key (include_lines).
func compileMatchers(key string, exprs []string) ([]*matcher, error) {
	var ms []*matcher
	for i, re := range exprs {
		m, err := compileMatcher(re)
		if err != nil {
			return nil, fmt.Errorf("%s[%d]: %w", key, i, err)
		}
		ms = append(ms, m)
	}
	return ms, nil
}

// literalShape recognises lit, ^lit, lit$ and ^lit$ (case-sensitive).
func literalShape(r *syntax.Regexp) (int, []byte, bool) {
	lit := func(r *syntax.Regexp) ([]byte, bool) {
		if r.Op != syntax.OpLiteral || r.Flags&syntax.FoldCase != 0 {
			return nil, false
		}
		return []byte(string(r.Rune)), true
	}
	if b, ok := lit(r); ok {
		return matchContains, b, true
	}
	if r.Op != syntax.OpConcat {
		return 0, nil, false
	}
	sub := r.Sub
	begin := len(sub) > 0 && sub[0].Op == syntax.OpBeginText
	end := len(sub) > 0 && sub[len(sub)-1].Op == syntax.OpEndText
	if begin {
		sub = sub[1:]
	}
	if end {
		sub = sub[:len(sub)-1]
	}
	if len(sub) != 1 || (!begin && !end) {
		return 0, nil, false
	}
	b, ok := lit(sub[0])
	if !ok {
		return 0, nil, false
	}
	switch {
	case begin && end:
		return matchEqual, b, true
	case begin:
		return matchPrefix, b, true
	}
	return matchSuffix, b, true
}

// match reports whether line matches.
func (m *matcher) match(line []byte) bool {
	if m.kind == matchRegexp {
		return m.re.Match(line)
	}
	for _, l := range m.literals {
		var ok bool
		switch m.kind {
		case matchContains:
			ok = bytes.Contains(line, l)
		case matchPrefix:
			ok = bytes.HasPrefix(line, l)
		case matchSuffix:
			ok = bytes.HasSuffix(line, l)
		case matchEqual:
			ok = bytes.Equal(line, l)
		}
		if ok {
			return true
		}
	}
	return false
}

// anyMatch reports whether any of ms matches line.
func anyMatch(ms []*matcher, line []byte) bool {
	for _, m := range ms {
		if m.match(line) {
			return true
		}
	}
	return false
}
