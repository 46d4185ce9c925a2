package enrich

import (
	"encoding/binary"
	"net/netip"
	"testing"
)

func TestPrefixTableLongestMatch(t *testing.T) {
	prefixes := []string{
		"10.0.0.0/8",            // 0
		"10.1.0.0/16",           // 1
		"10.1.2.0/24",           // 2
		"10.1.2.128/25",         // 3: ends where its parent ends
		"10.1.2.255/32",         // 4
		"192.168.0.0/16",        // 5
		"192.169.0.0/16",        // 6: adjacent to 5
		"255.255.255.255/32",    // 7: the last address
		"2001:db8::/32",         // 8
		"2001:db8:1::/48",       // 9
		"::/0",                  // 10: does not match IPv4
		"ffff::/16",             // 11: up to the last IPv6 address
		"10.1.0.0/16",           // duplicate of 1: the first wins
		"::ffff:172.16.0.0/108", // IPv4-mapped: becomes 172.16.0.0/12 (13)
	}
	var entries []prefixValue
	for i, s := range prefixes {
		entries = append(entries, prefixValue{netip.MustParsePrefix(s), int32(i)})
	}
	tab := buildPrefixTable(entries)
	cases := []struct {
		addr string
		want int32
	}{
		{"9.255.255.255", -1},
		{"10.0.0.0", 0},
		{"10.0.255.255", 0},
		{"10.1.0.0", 1},
		{"10.1.1.255", 1},
		{"10.1.2.0", 2},
		{"10.1.2.127", 2},
		{"10.1.2.128", 3},
		{"10.1.2.254", 3},
		{"10.1.2.255", 4},
		{"10.1.3.0", 1},
		{"10.2.0.0", 0},
		{"10.255.255.255", 0},
		{"11.0.0.0", -1},
		{"192.168.255.255", 5},
		{"192.169.0.0", 6},
		{"192.170.0.0", -1},
		{"255.255.255.254", -1},
		{"255.255.255.255", 7},
		{"0.0.0.0", -1},
		{"172.16.0.1", 13},
		{"::ffff:172.31.255.255", 13},
		{"::ffff:10.1.2.200", 3},
		{"2001:db8::1", 8},
		{"2001:db8:1::1", 9},
		{"2001:db8:2::1", 8},
		{"2001:db9::1", 10},
		{"::", 10},
		{"ffff::1", 11},
		{"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 11},
		{"fe80::1%eth0", 10},
	}
	for _, c := range cases {
		a := normalizeAddr(netip.MustParseAddr(c.addr))
		if got := tab.lookup(a); got != c.want {
			t.Errorf("lookup(%s) = %d, want %d", c.addr, got, c.want)
		}
	}
	empty := buildPrefixTable(nil)
	if got := empty.lookup(netip.MustParseAddr("1.2.3.4")); got != -1 {
		t.Errorf("empty table: lookup = %d, want -1", got)
	}
}

// FuzzCIDRTable checks the table against a brute-force longest-prefix match over random
// prefixes (from a small address pool, so that they nest and collide) and addresses.
func FuzzCIDRTable(f *testing.F) {
	f.Add([]byte{0, 8, 10, 0, 0, 0, 1, 16, 10, 1, 0, 0}, []byte{10, 1, 2, 3, 10, 2, 0, 0})
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 32, 255, 255, 255, 255}, []byte{255, 255, 255, 255, 0, 0, 0, 0})
	f.Add([]byte{1, 0, 0, 0, 0, 0, 1, 64, 0x20, 1, 0xd, 0xb8}, []byte{0x20, 1, 0xd, 0xb8, 1, 2, 3, 4})
	f.Add([]byte{1, 128, 0xff, 0xff, 0xff, 0xff, 0, 1, 0, 0, 0, 0}, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, prefixBytes, lookupBytes []byte) {
		// Each prefix takes 6 bytes: family, bits, then 4 address bytes spread over the
		// high end of the address (the rest all zero or all ones, by the family byte).
		var entries []prefixValue
		for i := 0; i+6 <= len(prefixBytes) && len(entries) < 64; i += 6 {
			b := prefixBytes[i : i+6]
			a := fuzzAddr(b[0], b[2:6])
			bits := int(b[1]) % (a.BitLen() + 1)
			entries = append(entries, prefixValue{netip.PrefixFrom(a, bits), int32(len(entries))})
		}
		ref := make([]prefixValue, len(entries))
		copy(ref, entries)
		tab := buildPrefixTable(entries)
		check := func(a netip.Addr) {
			a = normalizeAddr(a)
			want, wantBits := int32(-1), -1
			for _, e := range ref {
				p := normalizePrefix(e.prefix)
				if p.Contains(a) && p.Bits() > wantBits {
					want, wantBits = e.val, p.Bits()
				}
			}
			if got := tab.lookup(a); got != want {
				t.Fatalf("lookup(%s) = %d, want %d (prefixes %v)", a, got, want, ref)
			}
		}
		for i := 0; i+4 <= len(lookupBytes); i += 4 {
			b := lookupBytes[i : i+4]
			for fam := byte(0); fam < 4; fam++ {
				check(fuzzAddr(fam, b))
			}
		}
		// Every prefix's first and last address and the ones around them.
		for _, e := range ref {
			p := normalizePrefix(e.prefix)
			first, last := span(p)
			for _, k := range []u128{first, last} {
				check(addrOf(k, p.Addr().Is4()))
				if n, overflow := k.inc(); !overflow && (!p.Addr().Is4() || n.lo <= 0xffffffff) {
					check(addrOf(n, p.Addr().Is4()))
				}
			}
		}
	})
}

// fuzzAddr makes an address of family fam (even: IPv4, odd: IPv6) from 4 bytes; for
// IPv6, fam's second bit fills the remaining bytes with ones.
func fuzzAddr(fam byte, b []byte) netip.Addr {
	if fam%2 == 0 {
		return netip.AddrFrom4([4]byte(b))
	}
	var a [16]byte
	copy(a[:4], b)
	if fam&2 != 0 {
		for i := 4; i < 16; i++ {
			a[i] = 0xff
		}
	}
	return netip.AddrFrom16(a)
}

// addrOf is the inverse of key.
func addrOf(k u128, v4 bool) netip.Addr {
	if v4 {
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], uint32(k.lo))
		return netip.AddrFrom4(b)
	}
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], k.hi)
	binary.BigEndian.PutUint64(b[8:], k.lo)
	return netip.AddrFrom16(b)
}
