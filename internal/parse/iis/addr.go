package iis

import (
	"bytes"
	"net/netip"

	"github.com/vigil-soc/vigil/internal/parse/format"
)

// Field names this package uses beyond those in package format (ECS names
// where ECS has one).
const (
	fieldSourceAddr    = "source.address"      // a client address that is not an IP
	fieldDestAddr      = "destination.address" // a server address that is not an IP
	fieldSourceNATIP   = "source.nat.ip"       // c-ip when source.ip came from X-Forwarded-For: the proxy or load balancer
	fieldSourceNATPort = "source.nat.port"
	fieldDestDomain    = "destination.domain" // HttpProxy TargetServer: the mailbox server the request was proxied to
	fieldURLDomain     = "url.domain"         // cs-host, HttpProxy UrlHost
	fieldHTTPVersion   = "http.version"
	fieldRequestBytes  = "http.request.bytes"
	fieldRequestID     = "http.request.id" // HttpProxy RequestId
	fieldSubStatus     = "iis.sub_status"
	fieldWin32Status   = "iis.win32_status"
	fieldSiteName      = "iis.site_name"
	fieldAuthType      = "exchange.authentication_type"
	fieldAnchorMailbox = "exchange.anchor_mailbox"
)

// cleanAddr strips what can surround an address in a log field: the
// brackets of "[2001:db8::1]" or "[2001:db8::1]:443", and the Markdown link
// form "[10.0.0.1](http://10.0.0.1)" that logs pasted through chat or wiki
// tools carry (seen in published IIS samples).
func cleanAddr(b []byte) []byte {
	if len(b) < 2 || b[0] != '[' {
		return b
	}
	if k := bytes.Index(b, []byte("](")); k > 0 && b[len(b)-1] == ')' {
		return b[1:k]
	}
	if k := bytes.IndexByte(b, ']'); k > 0 {
		return b[1:k]
	}
	return b
}

// parseIP parses an IP address, dropping an IPv6 zone ("%3": it only means
// something on the host that wrote it) and unmapping IPv4-in-IPv6.
func parseIP(b []byte) (netip.Addr, bool) {
	b = cleanAddr(b)
	if k := bytes.IndexByte(b, '%'); k > 0 {
		b = b[:k]
	}
	if len(b) < 2 || len(b) > 45 {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(transient(b))
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

// isAddr reports whether b is an IP address (in any form parseIP takes).
func isAddr(b []byte) bool {
	_, ok := parseIP(b)
	return ok
}

// internal reports whether a is an address that only a host on the same
// network could have connected from: a load balancer, reverse proxy or the
// Exchange front end proxying to the back end.
func internal(a netip.Addr) bool {
	return a.IsPrivate() || a.IsLoopback() || a.IsLinkLocalUnicast() || a.IsUnspecified()
}

// addIP adds name (an .ip field) with the address in raw in its canonical
// form, or fallback (an .address field) with raw as written when it is not
// an IP. buf is scratch.
func addIP(ev *format.Event, name, fallback string, raw []byte, buf *[]byte) {
	if dash(raw) {
		return
	}
	if a, ok := parseIP(raw); ok {
		addAddr(ev, name, a, raw, buf)
		return
	}
	ev.AddBytes(fallback, raw)
}

// addAddr adds the address a, written as raw in the log, in its canonical
// form (IPv6 compressed, without zone).
func addAddr(ev *format.Event, name string, a netip.Addr, raw []byte, buf *[]byte) {
	*buf = a.AppendTo((*buf)[:0])
	if bytes.Equal(*buf, raw) {
		ev.AddBytes(name, raw)
		return
	}
	ev.AddBytes(name, *buf)
}

// forwardedClient picks the client address from an X-Forwarded-For value
// (as IIS logs it: comma-separated, spaces written as '+').
//
// Entries are appended by each proxy, so only the rightmost ones were
// written by proxies; anything to their left came from the client and may
// be forged. The rule: walking from the right, the first public address is
// the client (it is the address the outermost proxy saw). When every
// address is internal (clients and proxies on the company network), the
// leftmost is the original client.
func forwardedClient(xff []byte) (netip.Addr, bool) {
	var first, public netip.Addr
	for len(xff) > 0 {
		var item []byte
		if k := bytes.IndexByte(xff, ','); k >= 0 {
			item, xff = xff[:k], xff[k+1:]
		} else {
			item, xff = xff, nil
		}
		item = bytes.Trim(item, " +\t\"")
		a, ok := parseIP(item)
		if !ok {
			a, ok = parseIP(stripPort(item))
		}
		if !ok {
			continue // "unknown", obfuscated identifiers, garbage
		}
		if !first.IsValid() {
			first = a
		}
		if !internal(a) {
			public = a // the last public one wins
		}
	}
	if public.IsValid() {
		return public, true
	}
	return first, first.IsValid()
}

// stripPort removes a ":port" from "1.2.3.4:5678" or "[2001:db8::1]:5678".
func stripPort(b []byte) []byte {
	if len(b) > 0 && b[0] == '[' {
		return cleanAddr(b)
	}
	if k := bytes.LastIndexByte(b, ':'); k > 0 && bytes.IndexByte(b, ':') == k {
		return b[:k]
	}
	return b
}

// addClient adds source.ip and source.port from the connection's client
// address (c-ip, c-port) and the X-Forwarded-For value:
//
//   - c-ip public (a direct connection from the internet): source.ip is
//     c-ip. A client may send any X-Forwarded-For it likes, so it is kept
//     only as http.request.forwarded_for and never trusted.
//   - c-ip internal (private, loopback, link-local: a load balancer, a
//     reverse proxy, or the Exchange front end calling the back end) and
//     X-Forwarded-For holds an address: source.ip is the one
//     forwardedClient picks; c-ip and c-port become source.nat.ip and
//     source.nat.port (the address the request reached IIS from).
//
// buf is scratch.
func addClient(ev *format.Event, cip, cport, xff []byte, buf *[]byte) {
	if !dash(xff) {
		ev.Add(format.FieldForwardedFor, unplus(ev, xff, buf))
		c, cok := parseIP(cip)
		if !cok || internal(c) {
			if client, ok := forwardedClient(xff); ok {
				addAddr(ev, format.FieldSourceIP, client, nil, buf)
				if cok {
					addAddr(ev, fieldSourceNATIP, c, cip, buf)
				}
				if cok && digits(cport, 5) {
					ev.AddBytes(fieldSourceNATPort, cport)
				}
				return
			}
		}
	}
	addIP(ev, format.FieldSourceIP, fieldSourceAddr, cip, buf)
	if digits(cport, 5) {
		ev.AddBytes(format.FieldSourcePort, cport)
	}
}
