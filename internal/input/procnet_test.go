package input

import (
	"os"
	"strings"
	"testing"
)

func TestParseProcNetUDP(t *testing.T) {
	tests := []struct {
		file  string
		inode uint64
		drops uint64
		found bool
	}{
		{"testdata/proc_net_udp", 16629, 0, true},
		{"testdata/proc_net_udp", 987654, 3969, true},
		{"testdata/proc_net_udp", 98765, 0, false},
		{"testdata/proc_net_udp6", 55555, 17, true},
	}
	for _, tt := range tests {
		f, err := os.Open(tt.file)
		if err != nil {
			t.Fatal(err)
		}
		drops, found, err := parseProcNetUDP(f, tt.inode)
		f.Close()
		if err != nil || drops != tt.drops || found != tt.found {
			t.Errorf("%s inode %d: %d %v %v, want %d %v", tt.file, tt.inode, drops, found, err, tt.drops, tt.found)
		}
	}
	bad := "header\n 1: a b c d e f g h 77 j k notanumber\n"
	if _, _, err := parseProcNetUDP(strings.NewReader(bad), 77); err == nil {
		t.Error("bad drops column accepted")
	}
}

func TestParseSNMP(t *testing.T) {
	f, err := os.Open("testdata/proc_net_snmp")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if n, err := parseSNMP(f, "Udp:", "RcvbufErrors"); err != nil || n != 42 {
		t.Fatalf("RcvbufErrors %d %v, want 42", n, err)
	}
	if _, err := parseSNMP(strings.NewReader("Udp: A B\nUdp: 1 2\n"), "Udp:", "RcvbufErrors"); err == nil {
		t.Fatal("missing column accepted")
	}
	f6, err := os.Open("testdata/proc_net_snmp6")
	if err != nil {
		t.Fatal(err)
	}
	defer f6.Close()
	if n, err := parseSNMP6(f6, "Udp6RcvbufErrors"); err != nil || n != 5 {
		t.Fatalf("Udp6RcvbufErrors %d %v, want 5", n, err)
	}
}
