// Package charset decodes the character sets senders write in besides
// UTF-8 (GBK, GB18030, Big5: older Chinese Windows servers and their log
// shippers) into UTF-8, and finds the bytes that are invalid in them.
//
// Decoding happens where records are parsed, never at the input: the
// journal keeps the bytes exactly as they were received.
package charset

import (
	"bytes"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/encoding/traditionalchinese"
	"golang.org/x/text/transform"
)

// Charset is a character set. The zero value is UTF-8.
type Charset uint8

// The character sets an input can declare.
const (
	UTF8 Charset = iota
	// GBK is Code Page 936 (GBK with the euro sign at 0x80), what Chinese
	// Windows calls ANSI.
	GBK
	// GB18030 is GBK extended with four-byte sequences, which cover all of
	// Unicode.
	GB18030
	// Big5 is traditional Chinese (Taiwan, Hong Kong), with the HKSCS
	// extensions of the WHATWG encoding standard.
	Big5
)

// names are the charsets' names in configurations, in order.
var names = [...]string{UTF8: "utf-8", GBK: "gbk", GB18030: "gb18030", Big5: "big5"}

// Names lists the names Lookup knows, in order.
func Names() []string { return names[:] }

// Lookup returns the charset with the given name (case does not matter;
// "utf8" is UTF-8 too). "" is UTF-8, the default.
func Lookup(name string) (Charset, error) {
	switch n := strings.ToLower(name); n {
	case "", "utf8":
		return UTF8, nil
	default:
		for c, s := range names {
			if s == n {
				return Charset(c), nil
			}
		}
	}
	return UTF8, fmt.Errorf("unknown charset %q (known: %s)", name, strings.Join(names[:], ", "))
}

// String returns the charset's name as people write it: "UTF-8", "GBK",
// "GB18030", "Big5". Lookup reads it back.
func (c Charset) String() string {
	switch c {
	case UTF8:
		return "UTF-8"
	case GBK:
		return "GBK"
	case GB18030:
		return "GB18030"
	case Big5:
		return "Big5"
	}
	return fmt.Sprintf("Charset(%d)", uint8(c))
}

// decoders are the charsets' decoders (nil for UTF-8). They keep no
// state, so one serves every caller.
var decoders = [...]transform.Transformer{
	GBK:     simplifiedchinese.GBK.NewDecoder(),
	GB18030: simplifiedchinese.GB18030.NewDecoder(),
	Big5:    traditionalchinese.Big5.NewDecoder(),
}

func (c Charset) decoder() transform.Transformer {
	if int(c) < len(decoders) {
		return decoders[c]
	}
	return nil
}

// replacement is U+FFFD in UTF-8, what decoders put for invalid bytes.
const replacement = "\uFFFD"

// gb18030FFFD is U+FFFD encoded in GB18030: a valid sequence.
const gb18030FFFD = "\x84\x31\xa4\x37"

// Decode appends the UTF-8 text of src to dst. Bytes that are invalid in
// the charset (a lead byte without its trail, a code with no character)
// become U+FFFD, the rest decodes normally after them. bad is the offset in
// src of the first invalid byte, -1 when there is none.
//
// For UTF-8 it appends src with each run of invalid bytes replaced by one
// U+FFFD, as strings.ToValidUTF8 does.
func (c Charset) Decode(dst, src []byte) (out []byte, bad int) {
	t := c.decoder()
	if t == nil {
		return appendValidUTF8(dst, src)
	}
	start := len(dst)
	// Chinese text takes 1.5 times its bytes in UTF-8 (2 bytes become 3),
	// ASCII the same; the loop grows dst when that is not enough.
	dst = grow(dst, len(src)+len(src)/2+8)
	for s := src; ; {
		nDst, nSrc, err := t.Transform(dst[len(dst):cap(dst)], s, true)
		dst = dst[:len(dst)+nDst]
		s = s[nSrc:]
		if err != transform.ErrShortDst {
			break // nil: with atEOF, short source is not reported
		}
		// At most 3 bytes of UTF-8 per byte (an invalid byte is U+FFFD).
		dst = grow(dst, 3*len(s)+8)
	}
	return dst, c.firstBad(t, dst[start:], src)
}

// firstBad returns the offset in src of the first invalid sequence, given
// out, src's complete decoding; -1 when there is none. Only a U+FFFD in out
// can come from one, so the fast path is one search of out.
func (c Charset) firstBad(t transform.Transformer, out, src []byte) int {
	o, s := 0, 0 // out[:o] is the decoding of src[:s]
	for {
		i := bytes.Index(out[o:], []byte(replacement))
		if i < 0 {
			return -1
		}
		// Decoding src into exactly the bytes before this U+FFFD stops at
		// the sequence that produced it (the decoder writes whole
		// characters only). It rewrites the same bytes in place.
		_, n, _ := t.Transform(out[o:o+i], src[s:], true)
		s += n
		o += i + len(replacement)
		if c == GB18030 && bytes.HasPrefix(src[s:], []byte(gb18030FFFD)) {
			s += len(gb18030FFFD) // a real U+FFFD
			continue
		}
		return s
	}
}

// grow makes room for n more bytes in b.
func grow(b []byte, n int) []byte {
	if cap(b)-len(b) >= n {
		return b
	}
	nb := make([]byte, len(b), len(b)+max(n, len(b)))
	copy(nb, b)
	return nb
}

// appendValidUTF8 appends src to dst with each invalid UTF-8 sequence
// replaced by U+FFFD, and returns the offset of the first (-1: none).
func appendValidUTF8(dst, src []byte) ([]byte, int) {
	if utf8.Valid(src) {
		return append(dst, src...), -1
	}
	bad := -1
	for i := 0; i < len(src); {
		r, size := utf8.DecodeRune(src[i:])
		if r == utf8.RuneError && size <= 1 {
			if bad < 0 {
				bad = i
			}
			dst = append(dst, replacement...)
			i++
			// One U+FFFD for a run of invalid bytes, as strings.ToValidUTF8.
			for i < len(src) {
				if r, size := utf8.DecodeRune(src[i:]); r != utf8.RuneError || size > 1 {
					break
				}
				i++
			}
			continue
		}
		dst = append(dst, src[i:i+size]...)
		i += size
	}
	return dst, bad
}

// Text returns src decoded as a string, invalid bytes as U+FFFD: for
// showing a record to people.
func (c Charset) Text(src []byte) string {
	out, _ := c.Decode(nil, src)
	return string(out)
}

// Invalid describes the first invalid byte of a record for
// vigil.parse_error: where it is, and that the exact bytes are kept.
func (c Charset) Invalid(src []byte, bad int) string {
	s := "invalid " + c.String() + " at byte " + fmt.Sprint(bad) +
		"; text shows U+FFFD, vigil.raw_base64 holds the exact bytes"
	if c == GBK && gb18030Four(src[bad:]) {
		s += " (a GB18030 four-byte sequence: the input may need charset gb18030)"
	}
	return s
}

// gb18030Four reports whether b starts with the shape of a GB18030
// four-byte sequence.
func gb18030Four(b []byte) bool {
	return len(b) >= 4 && b[0] >= 0x81 && b[0] <= 0xfe && b[1] >= 0x30 && b[1] <= 0x39 &&
		b[2] >= 0x81 && b[2] <= 0xfe && b[3] >= 0x30 && b[3] <= 0x39
}

// Inputs maps input names (vigil.input) to the charset their senders
// write in (inputs.*.charset). An input it does not name is UTF-8.
type Inputs map[string]Charset

// Of returns the charset of the named input.
func (m Inputs) Of(input string) Charset { return m[input] }

// Text returns a record of the named input as text (see Charset.Text).
func (m Inputs) Text(input string, data []byte) string { return m.Of(input).Text(data) }
