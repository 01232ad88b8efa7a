package lists

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// benchSet writes a folder with a 100k-entry ip list (IPv4 /16 to /32 and
// IPv6 /32 to /128), a 10k-device registry and a user list, and loads it.
// It returns addresses to look up, about half of them listed.
func benchSet(b *testing.B) (*Set, []netip.Addr) {
	b.Helper()
	dir := b.TempDir()
	rng := rand.New(rand.NewPCG(7, 7))
	var sb strings.Builder
	sb.WriteString("# kind: ip\n# role: block\n")
	var probes []netip.Addr
	for i := range 100_000 {
		var p netip.Prefix
		if i%10 == 0 {
			var a [16]byte
			a[0], a[1], a[2], a[3] = 0x20, 0x01, 0x0d, 0xb8
			for j := 4; j < 16; j++ {
				a[j] = byte(rng.IntN(256))
			}
			p = netip.PrefixFrom(netip.AddrFrom16(a), 32+rng.IntN(97)).Masked()
		} else {
			a := [4]byte{byte(1 + rng.IntN(223)), byte(rng.IntN(256)), byte(rng.IntN(256)), byte(rng.IntN(256))}
			p = netip.PrefixFrom(netip.AddrFrom4(a), 16+rng.IntN(17)).Masked()
		}
		fmt.Fprintf(&sb, "%s # entry %d\n", p, i)
		if i%100 == 0 {
			probes = append(probes, p.Addr()) // listed
		}
	}
	for range 1000 {
		probes = append(probes, netip.AddrFrom4([4]byte{byte(1 + rng.IntN(223)), byte(rng.IntN(256)), byte(rng.IntN(256)), byte(rng.IntN(256))}))
	}
	rng.Shuffle(len(probes), func(i, j int) { probes[i], probes[j] = probes[j], probes[i] })
	if err := os.WriteFile(filepath.Join(dir, "big.txt"), []byte(sb.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	sb.Reset()
	sb.WriteString("# kind: device\n")
	for i := range 10_000 {
		fmt.Fprintf(&sb, "user%d ApplDEVICE%06d\n", i, i)
	}
	if err := os.WriteFile(filepath.Join(dir, "devices.txt"), []byte(sb.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	sb.Reset()
	for i := range 1000 {
		fmt.Fprintf(&sb, "user%d\n", i)
	}
	if err := os.WriteFile(filepath.Join(dir, "vips.txt"), []byte(sb.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	s, err := Load(dir)
	if err != nil {
		b.Fatal(err)
	}
	return s, probes
}

func BenchmarkContainsIP100k(b *testing.B) {
	s, probes := benchSet(b)
	hits := 0
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if s.ContainsIP("big", probes[i%len(probes)]) {
			hits++
		}
	}
	b.ReportMetric(float64(hits)/float64(b.N), "hit-ratio")
}

func BenchmarkContainsIP100kParallel(b *testing.B) {
	s, probes := benchSet(b)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			s.ContainsIP("big", probes[i%len(probes)])
			i++
		}
	})
}

func BenchmarkContainsString100k(b *testing.B) {
	s, probes := benchSet(b)
	strs := make([]string, len(probes))
	for i, p := range probes {
		strs[i] = p.String()
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		s.Contains("big", strs[i%len(strs)])
	}
}

func BenchmarkDevice(b *testing.B) {
	s, _ := benchSet(b)
	type dev struct{ user, id string }
	var devs []dev
	for i := range 1000 {
		devs = append(devs, dev{fmt.Sprintf("USER%d", i*7), fmt.Sprintf("appldevice%06d", i*7)}) // registered, other case
		devs = append(devs, dev{fmt.Sprintf("user%d", i), fmt.Sprintf("ApplOTHER%06d", i)})      // not registered
	}
	hits := 0
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		d := devs[i%len(devs)]
		if _, ok := s.Device(d.user, d.id); ok {
			hits++
		}
	}
	b.ReportMetric(float64(hits)/float64(b.N), "hit-ratio")
}

func BenchmarkContainsUser(b *testing.B) {
	s, _ := benchSet(b)
	names := []string{"user1", "User500", "nobody", "USER999", "mallory"}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		s.Contains("vips", names[i%len(names)])
	}
}

func BenchmarkMatch(b *testing.B) {
	s, probes := benchSet(b)
	strs := make([]string, len(probes))
	for i, p := range probes {
		strs[i] = p.String()
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		s.Match("brute-force", RoleBlock, strs[i%len(strs)], "User17", "user17", "ApplDEVICE000017")
	}
}

// BenchmarkBuild100k is the cost of (re)building the index of a 100k
// list, which every Add or Remove on it pays.
func BenchmarkBuild100k(b *testing.B) {
	s, _ := benchSet(b)
	es, _ := s.Entries("big")
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		newIPTable(es)
	}
}
