package syslog

// rfc5424 parses "TIMESTAMP SP HOSTNAME SP APP-NAME SP PROCID SP MSGID SP
// STRUCTURED-DATA [SP MSG]" at b[i:], after "<PRI>1 ".
//
// A control character (below 0x20, or 0x7F) in HOSTNAME, APP-NAME, PROCID
// or MSGID is reported, the field kept as it is, and the parse goes on;
// field lengths and other characters are not checked beyond what delimits
// the fields. A bad timestamp is reported and skipped; any other error
// stops the parse and leaves the rest of the input in m.Message.
func (s *state) rfc5424(i int) {
	b, m := s.b, s.m
	m.Format = RFC5424

	e := tokenEnd(b, i)
	if e-i != 1 || b[i] != '-' {
		dt, end, ok := parseRFC3339(b, i)
		switch {
		case !ok || end != e:
			s.setErr("rfc5424: invalid timestamp at byte %d: want YYYY-MM-DDThh:mm:ss[.frac](Z|+hh:mm|-hh:mm)", i)
		case dt.check() != "":
			s.setErr("rfc5424: invalid timestamp at byte %d: %s", i, dt.check())
		default:
			m.Timestamp = s.p.time(&dt, s.received)
		}
	}
	i = e

	fields := [...]struct {
		name string
		dst  *string
	}{
		{"HOSTNAME", &m.Hostname},
		{"APP-NAME", &m.AppName},
		{"PROCID", &m.ProcID},
		{"MSGID", &m.MsgID},
	}
	for _, f := range fields {
		if i >= len(b) {
			s.setErr("rfc5424: missing %s at byte %d", f.name, i)
			m.Message = b[i:]
			return
		}
		i++ // the space tokenEnd stopped at
		e, ctl := fieldEnd(b, i)
		if e == i {
			s.setErr("rfc5424: empty %s at byte %d", f.name, i)
			m.Message = b[i:]
			return
		}
		if ctl >= 0 {
			// RFC 5424 allows only printable US-ASCII here; a control
			// character is a broken or a forged header. The field is
			// kept as sent, and the parse goes on.
			s.setErr("rfc5424: control character %s in %s at byte %d", quoteByte(b[ctl]), f.name, ctl)
		}
		*f.dst = s.field(i, e)
		i = e
	}

	if i+1 >= len(b) {
		s.setErr("rfc5424: missing STRUCTURED-DATA at byte %d", len(b))
		m.Message = b[len(b):]
		return
	}
	i++
	switch b[i] {
	case '-':
		i++
	case '[':
		var ok bool
		if i, ok = s.structuredData(i); !ok {
			return
		}
	default:
		s.setErr("rfc5424: invalid structured data at byte %d: want '[' or '-', got %s", i, quoteByte(b[i]))
		m.Message = b[i:]
		return
	}

	switch {
	case i == len(b):
	case b[i] != ' ':
		s.setErr("rfc5424: invalid structured data at byte %d: want space or end after it, got %s", i, quoteByte(b[i]))
	default:
		i++
		if len(b)-i >= 3 && b[i] == 0xEF && b[i+1] == 0xBB && b[i+2] == 0xBF {
			i += 3
		}
	}
	m.Message = b[i:]
}

// structuredData parses one or more SD-ELEMENTs at b[i:] (b[i] == '[')
// and returns the index after them. On error it reports it, keeps the
// elements before the bad one, sets m.Message to the input from the bad
// element on and returns false.
func (s *state) structuredData(i int) (int, bool) {
	b, m := s.b, s.m
	for i < len(b) && b[i] == '[' {
		start := i
		sd := m.StructuredData
		n := len(sd)
		if n < cap(sd) {
			sd = sd[:n+1]
		} else {
			sd = append(sd, SDElement{})
		}
		el := &sd[n]
		el.Params = el.Params[:0]

		i++
		j := i
		for j < len(b) && class[b[j]]&cSDName != 0 {
			j++
		}
		if j == i {
			return s.sdError(start, j, "empty SD-ID")
		}
		el.ID = s.view(i, j)
		i = j
		for {
			if i >= len(b) {
				return s.sdError(start, i, "missing ']'")
			}
			if b[i] == ']' {
				i++
				break
			}
			if b[i] != ' ' {
				return s.sdError(start, i, "want ' ' or ']', got "+quoteByte(b[i]))
			}
			i++
			j = i
			for j < len(b) && class[b[j]]&cSDName != 0 {
				j++
			}
			if j == i {
				return s.sdError(start, i, "empty PARAM-NAME")
			}
			name := s.view(i, j)
			if j >= len(b) || b[j] != '=' {
				return s.sdError(start, j, "missing '=' after PARAM-NAME")
			}
			j++
			if j >= len(b) || b[j] != '"' {
				return s.sdError(start, j, "missing '\"' before PARAM-VALUE")
			}
			j++
			v := j
			// A backslash escapes the next byte as far as finding the
			// closing quote is concerned; unescape decides what it means.
			for j < len(b) && b[j] != '"' {
				if b[j] == '\\' {
					j++
				}
				j++
			}
			if j >= len(b) {
				return s.sdError(start, v-1, "unterminated PARAM-VALUE")
			}
			el.Params = append(el.Params, SDParam{Name: name, Value: s.view(v, j)})
			i = j + 1
		}
		m.StructuredData = sd
	}
	return i, true
}

// sdError reports a structured data error found at b[at] in the element
// starting at b[start].
func (s *state) sdError(start, at int, what string) (int, bool) {
	s.setErr("rfc5424: invalid structured data at byte %d: %s", at, what)
	s.m.Message = s.b[start:]
	return start, false
}

// fieldEnd returns the index of the first space at or after i, or len(b),
// and the index of the first control character before it, or -1.
func fieldEnd(b []byte, i int) (end, ctl int) {
	for i < len(b) && b[i] > ' ' && b[i] != 0x7f {
		i++
	}
	if i == len(b) || b[i] == ' ' {
		return i, -1
	}
	return tokenEnd(b, i), i
}
