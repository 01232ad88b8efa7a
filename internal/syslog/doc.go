// Package syslog parses the header of one syslog message, whose transport
// framing the input has already removed, into a Message.
//
// It is on the ingest hot path: Parse makes at most one allocation per
// message in the common case (a copy of the header bytes that the string
// fields share; see Message for lifetime rules), reuses the Message's
// structured-data slices, and never panics, whatever the bytes.
//
// # Accepted shapes
//
// RFC 5424, recognised by "<PRI>1 " followed by '-' or a digit:
//
//	<37>1 2026-11-27T23:39:24.007406+00:00 vm app - ID47 [timeQuality tzKnown="1"][meta@32473 src="10.0.0.1"] msg
//	<190>1 2026-11-27T23:39:58.280926+00:00 vm nginx-access - - - {"time_local":"..."}
//
// with NILVALUEs ("-") for any header field, fractional seconds, "Z" or a
// numeric offset (a missing offset is taken as local time), any number of
// SD elements whose param values may contain \" \\ and \] escapes, and an
// optional UTF-8 BOM before MSG, which is removed. A control character
// (below 0x20, or 0x7F) in HOSTNAME, APP-NAME, PROCID or MSGID sets Err
// and the field is kept as sent; field lengths and other characters are
// not checked beyond what delimits the fields. "<PRI>" followed by a
// VERSION other than 1 (one to three digits, then a space and "-" or
// "YYYY-") is Format RFC5424 with Err set and the rest of the input as MSG: the
// fields of a version RFC 5424 does not define are not guessed at.
//
// RFC 3164 (BSD), any other message that starts with a valid PRI:
//
//	<190>Nov 27 23:39:14 vm nginx: {...}          nginx's syslog output
//	<13>Nov  7 03:09:14 host app[123]: msg        space-padded day, TAG[pid]
//	<13>Nov 27 23:39:14 nginx: msg                no HOSTNAME
//	<34>2026-11-27T23:39:14.123+01:00 host app[12]: msg   RFC 3339 date (rsyslog's RSYSLOG_ForwardFormat)
//	<13>Nov 27 2026 23:39:14 host app: msg        date with a year
//	<13>Nov 27 23:39:14.123 host app: msg         fractional seconds
//	<189>52: *Mar  1 18:46:11.123: %LINK-3-UPDOWN: msg   Cisco counter, '*' or '.' prefix, ':' after the date
//	                                              (the %FACILITY-SEVERITY-MNEMONIC becomes AppName)
//	<13>Nov 27 23:39:14 2001:db8::1 app: msg      IPv6 host (also in brackets)
//	<13> Nov 27 23:39:14 host app: msg            a space after the PRI (network gear, scripts)
//	<13>Nov 27 23:39:14 host                      the header ends after the HOSTNAME
//	<189>Nov 27 23:39:14 rtr: %SYS-5-CONFIG_I: msg  Cisco: HOSTNAME glued to ':' (or "rtr : ") before a mnemonic
//	<189>52: rtr: *Nov 27 23:39:14: %SYS-5-CONFIG_I: msg  Cisco counter and origin HOSTNAME
//	<14>Nov 27 23:39:14 EXCH01 MSExchange CmdletLogs[1234]: msg   nxlog: a TAG with spaces
//	<13>hello                                     PRI only: no date, all of it is MSG
//
// The token after the date is the HOSTNAME when it looks like a host name
// or an IP address, also when it is the last token; one that ends with ':'
// or contains '[' is the TAG, and the host is missing, except for the Cisco
// shapes above. The TAG is split into AppName and ProcID ("app[123]:",
// "app:", "app[123]"). A word without ':' or "[pid]" is not a TAG but the
// start of MSG: "<13>Nov 27 23:39:14 host app msg" has no TAG, unlike in
// rsyslog, which would take "app" for one and so the first word of every
// message without a TAG. A TAG may contain spaces only in the shape nxlog's
// to_syslog_bsd writes a Windows event's SourceName: words separated by
// single spaces ending in a numeric "[pid]" and ':' ("Service Control
// Manager[600]: "), within 128 bytes; "user alice logged in: ok" is MSG.
// Without a recognisable date after the PRI (or after one space), everything
// after it is MSG (RFC 3164 section 4.3.3).
//
// A bad timestamp sets Err and leaves Timestamp zero, but the rest of the
// header is still parsed: in RFC 5424 any malformed TIMESTAMP field, in
// RFC 3164 a date of the right shape with fields out of range (Nov 31,
// hour 25); an RFC 3164 text that does not have a date's shape is simply
// MSG. Any other RFC 5424 error, except a control character in a header
// field, stops the parse.
//
// Anything else is Unknown: m.Message is the whole input and only a leading
// date (BSD or RFC 3339) is looked for, as in "Nov 27 23:39:14 host app:
// msg" from a log file. A malformed PRI ("<999>", "<abc>", "<>") sets Err
// and the message is Unknown. Invalid UTF-8 is carried through as bytes.
//
// With Parser.FileLines, a message without PRI that starts with a date is
// instead read as RFC 3164 with DefaultPriority (13, user.notice, what
// rsyslog assumes) and Message.PriorityAssumed set: the lines of
// /var/log/messages and /var/log/auth.log, also with rsyslog's
// high-precision RFC 3339 dates.
//
// # Time zones and the year
//
// Timestamps with an offset are exact. Those without one (every BSD date)
// are read in Parser.Location. A BSD date without a year gets the latest
// year that puts it at most a month after the arrival time passed to
// Parse: senders log the past, so a message dated Dec 31 23:59:59 that
// arrives on Jan 1 00:00:05 belongs to the previous year, one dated Jun 4
// that arrives (or is replayed from a file) on Dec 6 to the same year, one
// dated a few seconds or days in the future because of clock skew stays
// in the arrival's year, and Feb 29 goes to the last leap year.
package syslog
