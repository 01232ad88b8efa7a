package vlstore

import (
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Chinese search.
//
// The engine splits text into words at every character that is not a
// letter, a digit or '_', and a word filter matches whole words only. Han
// characters are letters and Chinese is written without spaces, so a run
// of Chinese text is one word to the engine: "用户张伟登录失败" is a single
// word, and the filter 张伟 does not find it.
//
// rewriteHan gives Chinese the word boundaries it has: a Han character is
// a word on its own. It rewrites each word, phrase and prefix filter of a
// query whose text contains a Han character into filters that the engine
// runs exactly so: a substring filter (*"张伟"*), and where the text
// starts or ends with a letter or digit that is not Han, a regular
// expression that keeps the word boundary there (张伟abc matches
// "用户张伟abc登录" and not "张伟abcd"). Everything else is left as it
// is: filters without Han characters, exact (=), regular expression (~),
// range and function filters (in, i, seq, contains_all, ...), field names,
// and the pipes' arguments. The filters of `| filter` (`| where`) pipes and
// of `if (...)` conditions are rewritten like the query's own.
//
// The substring filter reads every value of the field in the time range
// (the engine's bloom filters hold whole words, which a substring does not
// name); docs/benchmarks.md has what that costs against indexing
// character pairs at ingest.

// rewriteHan returns q with its word, phrase and prefix filters that
// contain Han characters made to match inside runs of Chinese text; q
// itself when it has none.
func rewriteHan(q string) string {
	if !hasHan(q) {
		return q
	}
	r := hanRewriter{src: q, toks: lexLogsQL(q)}
	r.query()
	if len(r.edits) == 0 {
		return q
	}
	var b strings.Builder
	last := 0
	for _, e := range r.edits {
		b.WriteString(q[last:e.start])
		b.WriteString(e.text)
		last = e.end
	}
	b.WriteString(q[last:])
	return b.String()
}

// hasHan reports whether s contains a Han character.
func hasHan(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return strings.IndexFunc(s[i:], isHan) >= 0
		}
	}
	return false
}

func isHan(r rune) bool { return r >= 0x2E80 && unicode.Is(unicode.Han, r) }

// isWordRune reports whether the engine counts r as part of a word
// (lib/logstorage isTokenRune).
func isWordRune(r rune) bool {
	if r < utf8.RuneSelf {
		return r == '_' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9'
	}
	return unicode.IsLetter(r) || unicode.IsDigit(r)
}

// Parts of the regular expression of a Han filter whose text starts or
// ends with a non-Han letter or digit: the edge of a word there (the
// engine's word characters, with Han characters counted as words of their
// own).
const (
	wordStart = `(?:^|[^\pL\p{Nd}_]|\p{Han})`
	wordEnd   = `(?:$|[^\pL\p{Nd}_]|\p{Han})`
)

// hanFilter returns the filters that find text, a word or phrase with a
// Han character, with Han characters as words of their own; prefix is for
// a prefix filter (text*), which has no end.
func hanFilter(text string, prefix bool) string {
	first, _ := utf8.DecodeRuneInString(text)
	last, _ := utf8.DecodeLastRuneInString(text)
	start := isWordRune(first) && !isHan(first)
	end := !prefix && isWordRune(last) && !isHan(last)
	sub := "*" + strconv.Quote(text) + "*"
	if !start && !end {
		return sub
	}
	re := regexp.QuoteMeta(text)
	if start {
		re = wordStart + re
	}
	if end {
		re += wordEnd
	}
	// The substring filter first: the expression runs only on the values
	// it let through.
	return "(" + sub + " ~" + strconv.Quote(re) + ")"
}

// lexToken is a token of LogsQL as the engine's lexer reads it.
type lexToken struct {
	start, end int    // of its text in the query
	text       string // unquoted
	quoted     bool
	space      bool // whitespace came before it
}

// is reports whether t is one of the keywords (unquoted, any case).
func (t *lexToken) is(keywords ...string) bool {
	if t.quoted {
		return false
	}
	for _, k := range keywords {
		if strings.EqualFold(t.text, k) {
			return true
		}
	}
	return false
}

// word reports whether t is an unquoted word (letters, digits, '_').
func (t *lexToken) word() bool {
	if t.quoted || t.text == "" {
		return false
	}
	for _, r := range t.text {
		if !isWordRune(r) {
			return false
		}
	}
	return true
}

// lexLogsQL splits q into tokens the way the engine's lexer does
// (lib/logstorage parser.go, nextToken): words, quoted strings ("...",
// `...`, '...'), the operators =~, !~ and !=, and single characters;
// whitespace and # comments separate them.
func lexLogsQL(q string) []lexToken {
	var toks []lexToken
	pos := 0
	for pos < len(q) {
		t := lexToken{}
		s := q[pos:]
		r, size := utf8.DecodeRuneInString(s)
		if r != utf8.RuneError {
			for {
				for unicode.IsSpace(r) {
					t.space = true
					s = s[size:]
					r, size = utf8.DecodeRuneInString(s)
				}
				if r != '#' {
					break
				}
				if i := strings.IndexByte(s, '\n'); i >= 0 {
					s = s[i+1:]
				} else {
					s = ""
				}
				r, size = utf8.DecodeRuneInString(s)
			}
		}
		if s == "" {
			break
		}
		t.start = len(q) - len(s)
		n := 0
		for rr, sz := r, size; n < len(s) && isWordRune(rr); {
			n += sz
			rr, sz = utf8.DecodeRuneInString(s[n:])
		}
		switch {
		case r == utf8.RuneError:
			n = size
		case n > 0:
		case r == '"' || r == '`':
			n = 1
			if p, err := strconv.QuotedPrefix(s); err == nil {
				if u, err := strconv.Unquote(p); err == nil {
					n, t.text, t.quoted = len(p), u, true
				}
			}
		case r == '\'':
			n = 1
			var b []byte
			i := 1
			for i < len(s) && s[i] != '\'' {
				c, _, tail, err := strconv.UnquoteChar(s[i:], '\'')
				if err != nil {
					b = nil
					break
				}
				b = utf8.AppendRune(b, c)
				i = len(s) - len(tail)
			}
			if i < len(s) && s[i] == '\'' {
				n, t.text, t.quoted = i+1, string(b), true
			}
		case r == '=' && strings.HasPrefix(s[1:], "~"),
			r == '!' && (strings.HasPrefix(s[1:], "~") || strings.HasPrefix(s[1:], "=")):
			n = 2
		default:
			n = size
		}
		t.end = t.start + n
		if !t.quoted {
			t.text = s[:n]
		}
		toks = append(toks, t)
		pos = t.end
	}
	return toks
}

// filterFuncs are the filters written name(args), whose arguments are
// left alone (lib/logstorage parseFilterGeneric), and options(...).
var filterFuncs = []string{"contains_all", "contains_any", "json_array_contains_any", "contains_common_case",
	"eq_field", "equals_common_case", "exact", "i", "in", "ipv4_range", "ipv6_range", "le_field", "len_range",
	"lt_field", "pattern_match", "pattern_match_full", "pattern_match_prefix", "pattern_match_suffix",
	"range", "re", "seq", "string_range", "value_type", "options"}

// pipeNames are the engine's pipes (lib/logstorage pipe.go), which a
// filter pipe without the word filter may not start with.
var pipeNames = []string{"block_stats", "blocks_count", "coalesce", "collapse_nums", "copy", "cp", "decolorize",
	"del", "delete", "drop", "drop_empty_fields", "extract", "extract_regexp", "eval", "facets", "field_names",
	"field_values", "fields", "filter", "first", "format", "generate_sequence", "hash", "join", "json_array_concat",
	"json_array_len", "head", "keep", "last", "len", "limit", "math", "mv", "offset", "order", "pack_json",
	"pack_logfmt", "query_stats", "rename", "replace", "replace_regexp", "rm", "running_stats", "sample",
	"set_stream_fields", "skip", "sort", "split", "stats", "stats_remote", "stream_context", "time_add", "top",
	"total_stats", "union", "uniq", "unpack_json", "unpack_logfmt", "unpack_syslog", "unpack_words", "unroll", "where"}

// glue are the characters that join words into one unquoted phrase
// (lib/logstorage glueCompoundTokens): foo-bar, a.b, 10.0.0.1:443.
var glue = []string{"+", "-", "/", ":", ".", "$"}

// edit replaces q[start:end] with text.
type edit struct {
	start, end int
	text       string
}

// hanRewriter finds the word, phrase and prefix filters of a query: a
// reader of LogsQL's filter syntax that follows the engine's parser
// (parseFilterOr and below) only as far as telling them apart from field
// names, operators' values and functions' arguments needs.
type hanRewriter struct {
	src   string
	toks  []lexToken
	i     int
	edits []edit
}

func (r *hanRewriter) tok(i int) *lexToken {
	if i < len(r.toks) {
		return &r.toks[i]
	}
	return &lexToken{start: len(r.src), end: len(r.src), space: true}
}

// adjacent reports whether token i follows the one before it without
// whitespace.
func (r *hanRewriter) adjacent(i int) bool { return i < len(r.toks) && !r.toks[i].space }

// query reads the query's filters, then its pipes.
func (r *hanRewriter) query() {
	r.filters(0, false)
	for r.i < len(r.toks) {
		// r.toks[r.i] is a "|" outside parentheses: a pipe follows.
		r.i++
		t := r.tok(r.i)
		switch {
		case t.is("filter", "where"):
			r.i++
			r.filters(0, false)
		case t.is(pipeNames...) || t.is("by", "("):
			r.pipe()
		case t.quoted || !t.word() || t.is("not") || r.fieldName():
			// A filter pipe without the word filter (isLikelyFilterPipe).
			r.filters(0, false)
		default:
			r.pipe()
		}
	}
}

// fieldName reports whether a field name and ':' come next.
func (r *hanRewriter) fieldName() bool {
	i := r.i
	defer func() { r.i = i }()
	r.phrase(false)
	return r.i > i && r.tok(r.i).is(":")
}

// pipe skips a pipe's arguments up to the next "|" outside parentheses,
// reading the filters of its if (...) conditions.
func (r *hanRewriter) pipe() {
	for r.i < len(r.toks) {
		t := r.tok(r.i)
		switch {
		case t.is("|"):
			return
		case t.is("if", "case") && r.tok(r.i+1).is("("):
			r.i += 2
			r.filters(1, false)
		case t.is("(", "[", "{"):
			r.skipGroup()
		default:
			r.i++
		}
	}
}

// skipGroup skips from an opening bracket past its closing one. Ranges
// mix them ([a, b), so any closing bracket closes any opening one.
func (r *hanRewriter) skipGroup() {
	depth := 0
	for ; r.i < len(r.toks); r.i++ {
		t := r.tok(r.i)
		switch {
		case t.is("(", "[", "{"):
			depth++
		case t.is(")", "]", "}"):
			if depth--; depth == 0 {
				r.i++
				return
			}
		}
	}
}

// filters reads filters joined by and, or, not and parentheses, up to a
// "|" outside parentheses (depth 0) or past the ")" that closes depth 1.
// field tells whether a field name applies to them (name:(...)).
func (r *hanRewriter) filters(depth int, field bool) {
	for r.i < len(r.toks) {
		t := r.tok(r.i)
		switch {
		case t.is("|") && depth == 0:
			return
		case t.is(")", "]"):
			r.i++
			if depth > 0 {
				return
			}
		case t.is("and", "or", "not", "-", "!", ",", ";"):
			r.i++
		default:
			r.one(field)
		}
	}
}

// one reads one filter (after its not, if any). field tells whether a
// field name applies to it.
func (r *hanRewriter) one(field bool) {
	t := r.tok(r.i)
	switch {
	case t.is("("):
		r.i++
		r.filters(1, field)
	case t.is("{", "["):
		r.skipGroup()
	case t.is(filterFuncs...) && r.tok(r.i+1).is("("):
		r.i++
		r.skipGroup()
	case t.is(">", "<", "=", "!=", "~", "!~", "=~"):
		// A range, exact or regular expression filter: its value stays.
		r.i++
		if t.is(">", "<") && r.adjacent(r.i) && r.tok(r.i).is("=") {
			r.i++
		}
		r.phrase(true)
		if r.adjacent(r.i) && r.tok(r.i).is("*") {
			r.i++ // =value*
		}
	case t.is("*"):
		// Every event (*), any field (*:...), or a substring (*text*),
		// which stays.
		r.i++
		switch {
		case !field && r.tok(r.i).is(":"):
			r.i++
			r.fieldValue()
		case r.adjacent(r.i) && !r.tok(r.i).is("|", ")", ";"):
			r.phrase(true)
			if r.adjacent(r.i) && r.tok(r.i).is("*") {
				r.i++
			}
		}
	default:
		r.word(field)
	}
}

// fieldValue reads the filter after "name:".
func (r *hanRewriter) fieldValue() {
	for r.i < len(r.toks) && r.tok(r.i).is("not", "-", "!") {
		r.i++
	}
	if r.i < len(r.toks) && !r.tok(r.i).is("|", ")", ";") {
		r.one(true)
	}
}

// word reads a filter that starts with a word or a quoted string: a field
// name and its filter, or a word, phrase or prefix filter, which it
// rewrites when its text has a Han character.
func (r *hanRewriter) word(field bool) {
	first := r.i
	text := r.phrase(field)
	if r.i == first {
		r.i++ // a character that starts no filter; the engine refuses it
		return
	}
	last := r.i - 1
	prefix := false
	if r.adjacent(r.i) && r.tok(r.i).is("*") {
		last = r.i
		r.i++
		prefix = true
	}
	if !field && r.tok(r.i).is(":") {
		r.i++
		r.fieldValue()
		return
	}
	if !hasHan(text) || !utf8.ValidString(text) {
		return
	}
	// The engine wants whitespace or one of these next to a filter
	// (checkPrevAdjacentToken, parseFilterStar); the rewritten filter
	// needs the same.
	if first > 0 && r.adjacent(first) && !r.toks[first-1].is("|", ":", "(", "!", "-") ||
		r.adjacent(r.i) && !r.tok(r.i).is(")", "|", ";") {
		return
	}
	r.edits = append(r.edits, edit{start: r.toks[first].start, end: r.toks[last].end, text: hanFilter(text, prefix)})
}

// phrase reads an unquoted phrase (words and glue characters without
// whitespace between them, lib/logstorage nextCompoundTokenExt) or one
// quoted string, and returns its text; it reads nothing when the current
// token starts neither. colon tells whether ':' joins words (it ends a
// field name otherwise).
func (r *hanRewriter) phrase(colon bool) string {
	if r.i >= len(r.toks) {
		return ""
	}
	if t := r.tok(r.i); t.quoted {
		r.i++
		return t.text
	}
	part := func(t *lexToken) bool {
		return t.word() || t.is(glue...) && (colon || t.text != ":")
	}
	if !part(r.tok(r.i)) {
		return ""
	}
	start := r.i
	r.i++
	for r.adjacent(r.i) && part(r.tok(r.i)) {
		r.i++
	}
	return r.src[r.toks[start].start:r.toks[r.i-1].end]
}
