// Package textenc resolves the names of the text encodings logship reads
// files in. It is shared by the configuration, which checks a name, and
// the harvester, which decodes with what it names.
package textenc

import (
	"errors"
	"fmt"
	"strings"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/htmlindex"
	"golang.org/x/text/encoding/ianaindex"
	"golang.org/x/text/encoding/unicode"
)

// ErrUnknown is returned by Lookup for names it does not know or refuses.
var ErrUnknown = errors.New("unknown encoding")

// Named is what a name resolves to.
type Named struct {
	// Name is the name as looked up, lower-cased; "utf-8" for UTF-8.
	Name string
	// UTF16 files are split on the two-byte newline; BigEndian is the
	// byte order without a byte-order mark.
	UTF16, BigEndian bool
	// Enc decodes any other encoding; nil for UTF-8 and UTF-16.
	Enc encoding.Encoding
}

// Lookup resolves a name such as utf-8, utf-16le, utf-16be, utf-16 (byte
// order from the byte-order mark, little endian without one), latin1,
// windows-1252, shift_jis, gbk: the IANA and WHATWG names golang.org/x/text
// knows. Encodings that are not ASCII-compatible, other than UTF-16, are
// refused: their lines cannot be found by '\n'.
func Lookup(name string) (Named, error) {
	n := strings.ToLower(strings.TrimSpace(name))
	switch n {
	case "", "utf-8", "utf8":
		return Named{Name: "utf-8"}, nil
	case "utf-16le", "utf-16", "utf16", "utf16le":
		return Named{Name: n, UTF16: true}, nil
	case "utf-16be", "utf16be":
		return Named{Name: n, UTF16: true, BigEndian: true}, nil
	}
	enc, err := ianaindex.IANA.Encoding(n)
	if err != nil || enc == nil {
		enc, err = htmlindex.Get(n)
	}
	if err != nil || enc == nil {
		return Named{}, fmt.Errorf("%w %q", ErrUnknown, name)
	}
	// A newline must be the byte '\n' and nothing else: check that the
	// encoding decodes it as such.
	if out, err := enc.NewDecoder().Bytes([]byte("a\nb")); err != nil || string(out) != "a\nb" {
		return Named{}, fmt.Errorf("%w %q: not ASCII-compatible", ErrUnknown, name)
	}
	if enc == unicode.UTF8 || enc == encoding.Nop {
		return Named{Name: "utf-8"}, nil
	}
	return Named{Name: n, Enc: enc}, nil
}
