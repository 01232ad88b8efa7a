package input

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"strconv"
)

// socketDrops returns the kernel's drop count for the UDP socket with the
// given inode, from /proc/net/udp and /proc/net/udp6.
func socketDrops(inode uint64) (uint64, error) {
	for _, name := range []string{"/proc/net/udp", "/proc/net/udp6"} {
		f, err := os.Open(name)
		if err != nil {
			continue
		}
		n, found, err := parseProcNetUDP(f, inode)
		f.Close()
		if err != nil {
			return 0, fmt.Errorf("input: parse %s: %w", name, err)
		}
		if found {
			return n, nil
		}
	}
	return 0, fmt.Errorf("input: udp socket inode %d not found in /proc/net", inode)
}

// parseProcNetUDP finds the socket with the given inode in the text of
// /proc/net/udp or /proc/net/udp6 and returns its drops column.
func parseProcNetUDP(r io.Reader, inode uint64) (drops uint64, found bool, err error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	const inodeCol, dropsCol = 9, 12
	first := true
	want := strconv.AppendUint(nil, inode, 10)
	for sc.Scan() {
		if first { // header
			first = false
			continue
		}
		fields := bytes.Fields(sc.Bytes())
		if len(fields) <= dropsCol || !bytes.Equal(fields[inodeCol], want) {
			continue
		}
		n, err := strconv.ParseUint(string(fields[dropsCol]), 10, 64)
		if err != nil {
			return 0, false, fmt.Errorf("drops column %q: %w", fields[dropsCol], err)
		}
		return n, true, nil
	}
	return 0, false, sc.Err()
}

// hostRcvbufErrors returns the host-wide count of UDP datagrams dropped for
// a full receive buffer (IPv4 and IPv6).
func hostRcvbufErrors() (uint64, error) {
	var total uint64
	f, err := os.Open("/proc/net/snmp")
	if err != nil {
		return 0, fmt.Errorf("input: %w", err)
	}
	n, err := parseSNMP(f, "Udp:", "RcvbufErrors")
	f.Close()
	if err != nil {
		return 0, fmt.Errorf("input: parse /proc/net/snmp: %w", err)
	}
	total += n
	if f, err := os.Open("/proc/net/snmp6"); err == nil {
		n, err := parseSNMP6(f, "Udp6RcvbufErrors")
		f.Close()
		if err == nil {
			total += n
		}
	}
	return total, nil
}

// parseSNMP reads a value from /proc/net/snmp, where each protocol has a
// line of names followed by a line of values, both starting with prefix.
func parseSNMP(r io.Reader, prefix, name string) (uint64, error) {
	sc := bufio.NewScanner(r)
	var names [][]byte
	for sc.Scan() {
		line := sc.Bytes()
		if !bytes.HasPrefix(line, []byte(prefix)) {
			continue
		}
		fields := bytes.Fields(line[len(prefix):])
		if names == nil {
			names = make([][]byte, len(fields))
			for i, f := range fields {
				names[i] = bytes.Clone(f)
			}
			continue
		}
		for i, f := range names {
			if string(f) == name && i < len(fields) {
				return strconv.ParseUint(string(fields[i]), 10, 64)
			}
		}
		return 0, fmt.Errorf("%s %s not found", prefix, name)
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("%s %s not found", prefix, name)
}

// parseSNMP6 reads a "Name value" line from /proc/net/snmp6.
func parseSNMP6(r io.Reader, name string) (uint64, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		fields := bytes.Fields(sc.Bytes())
		if len(fields) == 2 && string(fields[0]) == name {
			return strconv.ParseUint(string(fields[1]), 10, 64)
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("%s not found", name)
}
