package harvester

import (
	"unicode/utf8"

	"github.com/logship/logship/fileid"
	"github.com/logship/logship/internal/textenc"
	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/unicode"
	"golang.org/x/text/transform"
)

// Encoding is how a file's bytes become UTF-8 text. The zero value is UTF-8.
type Encoding struct {
	name string
	// utf16 files are split on the two-byte newline; a byte-order mark at
	// the file's start decides the byte order, BigEndian otherwise.
	utf16, bigEndian bool
	enc              encoding.Encoding // nil for UTF-8
}

// ErrEncoding is returned by LookupEncoding for names it does not know.
var ErrEncoding = textenc.ErrUnknown

// LookupEncoding returns the encoding of a name (see textenc.Lookup).
func LookupEncoding(name string) (Encoding, error) {
	n, err := textenc.Lookup(name)
	if err != nil {
		return Encoding{}, err
	}
	return Encoding{name: n.Name, utf16: n.UTF16, bigEndian: n.BigEndian, enc: n.Enc}, nil
}

// At is a position at off known only by its offset: its check is that a
// newline ends there, or for UTF-16 (whose newline is not the byte '\n')
// only that the file reaches it.
func (e Encoding) At(off int64) fileid.Position {
	if e.utf16 {
		return fileid.Position{Offset: off, TailLen: fileid.TailUnchecked}
	}
	return fileid.Position{Offset: off, TailLen: fileid.TailNewline}
}

// UTF16 reports whether lines end with UTF-16's two-byte newline.
func (e Encoding) UTF16() bool { return e.utf16 }

// String is the encoding's name.
func (e Encoding) String() string {
	if e.name == "" {
		return "utf-8"
	}
	return e.name
}

// decoder turns raw lines into UTF-8; one per harvester.
type decoder struct {
	t   transform.Transformer // nil for UTF-8
	buf []byte                // decoded text
	fix []byte                // text with invalid UTF-8 replaced
}

func (e Encoding) decoder(bigEndian bool) *decoder {
	switch {
	case e.utf16 && bigEndian:
		return &decoder{t: unicode.UTF16(unicode.BigEndian, unicode.IgnoreBOM).NewDecoder()}
	case e.utf16:
		return &decoder{t: unicode.UTF16(unicode.LittleEndian, unicode.IgnoreBOM).NewDecoder()}
	case e.enc != nil:
		return &decoder{t: e.enc.NewDecoder()}
	}
	return &decoder{}
}

// decode returns line as valid UTF-8, and whether bytes had to be replaced
// by U+FFFD. The result may point into line or into the decoder's buffer,
// valid until the next call.
func (d *decoder) decode(line []byte) ([]byte, bool) {
	if d.t != nil {
		d.t.Reset()
		out := d.buf[:cap(d.buf)]
		if len(out) < 2*len(line)+8 {
			out = make([]byte, 2*len(line)+8)
		}
		nDst := 0
		src := line
		for {
			nd, ns, err := d.t.Transform(out[nDst:], src, true)
			nDst += nd
			src = src[ns:]
			if err == transform.ErrShortDst {
				out = append(out[:nDst], make([]byte, len(src)*3+8)...)
				out = out[:cap(out)]
				continue
			}
			if err != nil { // not expected of x/text's decoders, which replace
				out = append(out[:nDst], "\uFFFD"...)
				nDst = len(out)
			}
			break
		}
		d.buf = out[:0]
		line = out[:nDst]
	}
	if utf8.Valid(line) {
		return line, false
	}
	fix := d.fix[:0]
	for len(line) > 0 {
		r, size := utf8.DecodeRune(line)
		if r == utf8.RuneError && size == 1 {
			fix = append(fix, "\uFFFD"...)
		} else {
			fix = append(fix, line[:size]...)
		}
		line = line[size:]
	}
	d.fix = fix
	return fix, true
}
