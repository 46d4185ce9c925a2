package enrich

import (
	"cmp"
	"encoding/binary"
	"net/netip"
	"slices"
)

// prefixTable maps IP prefixes to values by longest-prefix match. It is built once and
// read-only afterwards, so any number of goroutines may look up concurrently.
//
// The prefixes of one address family form a laminar family (any two are disjoint or
// nested), so they cut the address space into disjoint ranges, each covered by one most
// specific prefix or by none. The table keeps the start of every range, sorted, with
// its value: a lookup is a binary search for the last start at or below the address,
// about 14 comparisons in a 10,000-prefix table, in two flat slices.
type prefixTable struct {
	v4, v6 ranges
}

// ranges is one address family's sorted range starts and their values (-1: none).
type ranges struct {
	starts []u128
	vals   []int32
}

// u128 is an address as a 128-bit unsigned integer. IPv4 addresses use lo only.
type u128 struct{ hi, lo uint64 }

func (a u128) cmp(b u128) int {
	if c := cmp.Compare(a.hi, b.hi); c != 0 {
		return c
	}
	return cmp.Compare(a.lo, b.lo)
}

// inc returns a+1 and whether that overflowed.
func (a u128) inc() (u128, bool) {
	lo := a.lo + 1
	hi := a.hi
	if lo == 0 {
		hi++
		if hi == 0 {
			return u128{}, true
		}
	}
	return u128{hi, lo}, false
}

// key returns the address as a u128 in its own family's space.
func key(a netip.Addr) u128 {
	if a.Is4() {
		b := a.As4()
		return u128{lo: uint64(binary.BigEndian.Uint32(b[:]))}
	}
	b := a.As16()
	return u128{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])}
}

// span returns the first and last address of a masked prefix.
func span(p netip.Prefix) (first, last u128) {
	first = key(p.Addr())
	width := 128
	if p.Addr().Is4() {
		width = 32
	}
	host := width - p.Bits()
	last = first
	switch {
	case host >= 64:
		last.lo = ^uint64(0)
		last.hi |= (uint64(1) << (host - 64)) - 1
		if host == 128 {
			last.hi = ^uint64(0)
		}
	case host > 0:
		last.lo |= (uint64(1) << host) - 1
	}
	return first, last
}

// normalizePrefix masks p and turns IPv4-mapped IPv6 prefixes (::ffff:10.0.0.0/104)
// into IPv4 ones, so that they match the IPv4 addresses events carry.
func normalizePrefix(p netip.Prefix) netip.Prefix {
	if p.Addr().Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	return p.Masked()
}

// normalizeAddr drops a zone and unmaps IPv4-mapped IPv6 addresses.
func normalizeAddr(a netip.Addr) netip.Addr {
	return a.WithZone("").Unmap()
}

// prefixValue is one prefix of a table under construction and its value.
type prefixValue struct {
	prefix netip.Prefix
	val    int32
}

// buildPrefixTable builds the table of entries. Prefixes are normalised
// (normalizePrefix); when one prefix appears more than once, its first entry wins.
// entries is reordered.
func buildPrefixTable(entries []prefixValue) prefixTable {
	var v4, v6 []prefixValue
	for _, e := range entries {
		e.prefix = normalizePrefix(e.prefix)
		if e.prefix.Addr().Is4() {
			v4 = append(v4, e)
		} else {
			v6 = append(v6, e)
		}
	}
	return prefixTable{v4: buildRanges(v4), v6: buildRanges(v6)}
}

func buildRanges(entries []prefixValue) ranges {
	// By start address, then widest first, so that a prefix comes after every prefix
	// that contains it; stable, so that the first of duplicates stays first.
	slices.SortStableFunc(entries, func(a, b prefixValue) int {
		if c := a.prefix.Addr().Compare(b.prefix.Addr()); c != 0 {
			return c
		}
		return cmp.Compare(a.prefix.Bits(), b.prefix.Bits())
	})
	var r ranges
	emit := func(start u128, val int32) {
		n := len(r.starts)
		if n > 0 && r.starts[n-1] == start {
			r.vals[n-1] = val
			return
		}
		if n > 0 && r.vals[n-1] == val {
			return
		}
		r.starts = append(r.starts, start)
		r.vals = append(r.vals, val)
	}
	type open struct {
		last u128
		val  int32
	}
	var stack []open
	// closeBefore pops the open prefixes that end before limit (all of them when all
	// is set): after each, the range that follows belongs to the prefix below it.
	closeBefore := func(limit u128, all bool) {
		for len(stack) > 0 && (all || stack[len(stack)-1].last.cmp(limit) < 0) {
			top := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			next, overflow := top.last.inc()
			if overflow {
				continue
			}
			val := int32(-1)
			if len(stack) > 0 {
				val = stack[len(stack)-1].val
			}
			emit(next, val)
		}
	}
	for i, e := range entries {
		if i > 0 && entries[i-1].prefix == e.prefix {
			continue // a duplicate: the first wins
		}
		first, last := span(e.prefix)
		closeBefore(first, false)
		emit(first, e.val)
		stack = append(stack, open{last, e.val})
	}
	closeBefore(u128{}, true)
	r.starts = slices.Clip(r.starts)
	r.vals = slices.Clip(r.vals)
	return r
}

// lookup returns the value of the longest prefix holding a, or -1. a must be
// normalised (normalizeAddr).
func (t *prefixTable) lookup(a netip.Addr) int32 {
	if a.Is4() {
		return t.v4.lookup(key(a))
	}
	return t.v6.lookup(key(a))
}

func (r *ranges) lookup(k u128) int32 {
	// The first start above k; the range before it holds k.
	lo, hi := 0, len(r.starts)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		s := r.starts[mid]
		if s.hi < k.hi || s.hi == k.hi && s.lo <= k.lo {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	if lo == 0 {
		return -1
	}
	return r.vals[lo-1]
}
