package iis

import (
	"bytes"
	"fmt"
)

// splitCSV appends the fields of one CSV line to dst and returns it.
//
// Quoting follows RFC 4180 as Exchange writes it: a field in double quotes
// may hold commas, and a doubled quote inside it stands for one quote. A
// quote inside an unquoted field is kept as it is.
//
// A field is a subslice of line (without its quotes), so splitting does not
// allocate, except for a quoted field holding doubled quotes: that one is
// unescaped into buf, which is returned, possibly grown. line is never
// modified.
func splitCSV(dst [][]byte, line, buf []byte) ([][]byte, []byte, error) {
	i := 0
	for {
		if i < len(line) && line[i] == '"' {
			start := i + 1
			j := start
			escaped := false
			for {
				k := bytes.IndexByte(line[j:], '"')
				if k < 0 {
					return dst, buf, fmt.Errorf("column %d: quoted field opened at byte %d is not closed", len(dst)+1, i)
				}
				j += k
				if j+1 < len(line) && line[j+1] == '"' {
					escaped = true
					j += 2
					continue
				}
				break
			}
			field := line[start:j]
			if escaped {
				n := len(buf)
				buf = unquote(buf, field)
				field = buf[n:len(buf):len(buf)]
			}
			dst = append(dst, field)
			j++ // the closing quote
			if j == len(line) {
				return dst, buf, nil
			}
			if line[j] != ',' {
				return dst, buf, fmt.Errorf("column %d: %q after a closing quote at byte %d, want a comma", len(dst), line[j], j)
			}
			i = j + 1
			continue
		}
		k := bytes.IndexByte(line[i:], ',')
		if k < 0 {
			return append(dst, line[i:]), buf, nil
		}
		dst = append(dst, line[i:i+k])
		i += k + 1
	}
}

// unquote appends field to buf with each doubled quote made single.
func unquote(buf, field []byte) []byte {
	for {
		k := bytes.Index(field, []byte(`""`))
		if k < 0 {
			return append(buf, field...)
		}
		buf = append(buf, field[:k+1]...)
		field = field[k+2:]
	}
}
