package api

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// Hosts decides which Host headers requests may carry.
//
// A web page that a browser on this machine opens can point its own name
// at 127.0.0.1 (DNS rebinding) and then read Vigil's answers, /metrics
// for one, as if they were its own: the browser sends the page's name as
// Host. Answering only the names Vigil is meant to be reached by stops
// that. Allowed are IP literals of loopback and of this machine's
// addresses, localhost, the host of the listen address, and the names
// configured; "*" among them allows any Host.
type Hosts struct {
	any    bool
	names  map[string]bool // lower case, without a trailing dot; IPs in netip form
	listen netip.Addr      // the listen address's IP, if it has one
	// local lists this machine's addresses: net.InterfaceAddrs.
	local func() ([]net.Addr, error)
}

// NewHosts returns the Hosts of a server listening on listenAddr
// (host:port) that also answers to the names in allowed.
func NewHosts(listenAddr string, allowed []string) (*Hosts, error) {
	h := &Hosts{names: map[string]bool{}, local: net.InterfaceAddrs}
	for _, name := range allowed {
		if name == "*" {
			h.any = true
			continue
		}
		n := normalizeHost(name)
		if n == "" || strings.ContainsAny(n, ":/ ") && !isIP(n) {
			return nil, fmt.Errorf("%q is not a host name or IP address (no port, no scheme)", name)
		}
		h.names[n] = true
	}
	if host, _, err := net.SplitHostPort(listenAddr); err == nil && host != "" {
		if ip, err := netip.ParseAddr(host); err == nil {
			h.listen = ip.Unmap()
		} else {
			h.names[normalizeHost(host)] = true
		}
	}
	return h, nil
}

// Allow reports whether a request's Host (with or without a port) is one
// the server answers to.
func (h *Hosts) Allow(hostport string) bool {
	if h.any {
		return true
	}
	host := hostport
	if hh, _, err := net.SplitHostPort(hostport); err == nil {
		host = hh
	}
	host = normalizeHost(host)
	if ip, err := netip.ParseAddr(host); err == nil {
		return h.allowIP(ip.Unmap().WithZone(""))
	}
	return host == "localhost" || host != "" && h.names[host]
}

func (h *Hosts) allowIP(ip netip.Addr) bool {
	if ip.IsLoopback() || ip == h.listen || h.names[ip.String()] {
		return true
	}
	addrs, err := h.local()
	if err != nil {
		return false
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if la, ok := netip.AddrFromSlice(n.IP); ok && la.Unmap() == ip {
				return true
			}
		}
	}
	return false
}

// normalizeHost lower-cases a host, drops IPv6 brackets and a trailing
// dot, and writes IP addresses in one form.
func normalizeHost(s string) string {
	s = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(s)), ".")
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		s = s[1 : len(s)-1]
	}
	if ip, err := netip.ParseAddr(s); err == nil {
		return ip.Unmap().WithZone("").String()
	}
	return s
}

func isIP(s string) bool {
	_, err := netip.ParseAddr(s)
	return err == nil
}
