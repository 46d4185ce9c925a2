package pipeline

import (
	"context"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/sluice-siem/sluice/transform/event"
)

// This file holds the community_id processor: the Community ID v1 flow hash of the
// Corelight community-id-spec, which Zeek, Suricata, Arkime and Elastic compute, so
// that the events of one flow from different sensors share one identifier.

// IANA protocol numbers the hash treats specially.
const (
	protoICMP   = 1
	protoTCP    = 6
	protoUDP    = 17
	protoICMPv6 = 58
	protoSCTP   = 132
)

// transportNames are the names the transport field may hold (any case), those of
// Elasticsearch's community_id processor; a number 0-255 is taken as well.
var transportNames = [...]struct {
	name  string
	proto uint8
}{
	{"tcp", protoTCP}, {"udp", protoUDP}, {"icmp", protoICMP}, {"ipv6-icmp", protoICMPv6}, {"icmpv6", protoICMPv6},
	{"sctp", protoSCTP}, {"igmp", 2}, {"gre", 47}, {"eigrp", 88}, {"ospf", 89}, {"pim", 103},
}

// icmpCounterpart maps an ICMP type that is one half of a request/response pair to
// the other half, as Zeek's ICMP analyzer and the spec's reference implementation
// (pycommunityid, communityid/icmp.py) do; other types are one-way.
func icmpCounterpart(typ uint8) (uint8, bool) {
	switch typ {
	case 8: // echo -> echo reply
		return 0, true
	case 0:
		return 8, true
	case 13: // timestamp
		return 14, true
	case 14:
		return 13, true
	case 15: // information
		return 16, true
	case 16:
		return 15, true
	case 10: // router solicitation
		return 9, true
	case 9:
		return 10, true
	case 17: // address mask
		return 18, true
	case 18:
		return 17, true
	}
	return 0, false
}

// icmpv6Counterpart is icmpCounterpart for ICMPv6 (communityid/icmp6.py).
func icmpv6Counterpart(typ uint8) (uint8, bool) {
	switch typ {
	case 128, 130, 133, 135, 139, 144: // echo, MLD query, router and neighbor solicitation, who-are-you, HAAD request
		return typ + 1, true
	case 129, 131, 134, 136, 140, 145:
		return typ - 1, true
	}
	return 0, false
}

// hasPorts reports whether a protocol's flows are five-tuples: the spec hashes ports
// (for ICMP, the type and code mapped to ports) for these only, and leaves them out of
// the hash of any other protocol.
func hasPorts(proto uint8) bool {
	switch proto {
	case protoTCP, protoUDP, protoSCTP, protoICMP, protoICMPv6:
		return true
	}
	return false
}

// communityIDLen is the length of a Community ID v1: "1:" and the base64 of a SHA-1.
const communityIDLen = 2 + (sha1.Size+2)/3*4

// appendCommunityID appends the Community ID v1 of a flow to buf. src and dst must be
// of one IP version without zones; ports are ignored for protocols without them
// (hasPorts), and for ICMP and ICMPv6 sport and dport are the message type and code
// (0-255). It does not allocate when buf has room.
func appendCommunityID(buf []byte, seed uint16, src, dst netip.Addr, proto uint8, sport, dport uint16) []byte {
	ports := hasPorts(proto)
	oneWay := false
	if proto == protoICMP || proto == protoICMPv6 {
		// The type is the source "port"; the destination is the type's counterpart
		// when it has one, else the code, and then the flow is one-way.
		typ := uint8(sport)
		counter, ok := icmpCounterpart(typ)
		if proto == protoICMPv6 {
			counter, ok = icmpv6Counterpart(typ)
		}
		sport, oneWay = uint16(typ), !ok
		if ok {
			dport = uint16(counter)
		}
	}
	if !ports {
		sport, dport = 0, 0
	}
	// Order the endpoints so that both directions hash alike: the smaller address
	// first, the smaller port when the addresses are equal.
	if c := src.Compare(dst); !oneWay && (c > 0 || c == 0 && sport > dport) {
		src, dst, sport, dport = dst, src, dport, sport
	}
	// seed . saddr . daddr . proto . 0 . sport . dport, in network byte order.
	var in [2 + 16 + 16 + 2 + 4]byte
	b := binary.BigEndian.AppendUint16(in[:0], seed)
	b = appendAddr(b, src)
	b = appendAddr(b, dst)
	b = append(b, proto, 0)
	if ports {
		b = binary.BigEndian.AppendUint16(b, sport)
		b = binary.BigEndian.AppendUint16(b, dport)
	}
	sum := sha1.Sum(b)
	buf = append(buf, "1:"...)
	return base64.StdEncoding.AppendEncode(buf, sum[:])
}

// appendAddr appends the bytes of an address in network order: 4 for IPv4, 16 for IPv6.
func appendAddr(b []byte, a netip.Addr) []byte {
	if a.Is4() {
		v := a.As4()
		return append(b, v[:]...)
	}
	v := a.As16()
	return append(b, v[:]...)
}

// --- community_id

type communityIDOptions struct {
	SourceIP        string `yaml:"source_ip"`
	SourcePort      string `yaml:"source_port"`
	DestinationIP   string `yaml:"destination_ip"`
	DestinationPort string `yaml:"destination_port"`
	IANANumber      string `yaml:"iana_number"`
	Transport       string `yaml:"transport"`
	ICMPType        string `yaml:"icmp_type"`
	ICMPCode        string `yaml:"icmp_code"`
	TargetField     string `yaml:"target_field"`
	Seed            int64  `yaml:"seed"`
	IgnoreMissing   *bool  `yaml:"ignore_missing"`
	Override        *bool  `yaml:"override"`
}

// communityIDProc sets target_field (network.community_id) to the Community ID of the
// flow an event describes, read from ECS fields by default, as Elasticsearch's
// community_id processor does. The protocol is the IANA number (network.iana_number)
// or else the transport (network.transport: tcp, udp, sctp, icmp, ipv6-icmp or icmpv6,
// igmp, gre, eigrp, ospf, pim, any case, or a number). TCP, UDP and SCTP need both
// ports; ICMP and ICMPv6 need the type (icmp.type; the code, icmp.code, defaults to
// 0); other protocols hash without ports, as the spec says. Ports, types, codes and
// protocol numbers may be numbers or numeric strings; addresses are strings, and an
// IPv4-mapped IPv6 address counts as IPv4.
//
// A field that is absent, null or "" is missing: with ignore_missing (the default)
// the event is left unchanged, else it fails. A value that is there but wrong (not an
// address, a port beyond 65535, an unknown protocol name, addresses of two IP
// versions) always fails. With override: false an event that already has the target
// field (a sensor's own community_id) keeps it.
type communityIDProc struct {
	srcIP, srcPort, dstIP, dstPort event.Path
	ianaNumber, transport          event.Path
	icmpType, icmpCode             event.Path
	target                         event.Path
	seed                           uint16
	ignoreMissing                  bool
	override                       bool
}

func newCommunityID(node *yaml.Node, _ *Deps) (event.Processor, error) {
	var o communityIDOptions
	given, errs := decodeOptions(node, &o)
	path := func(option, value, def string) event.Path {
		if given[option] == nil {
			return event.ParsePath(def)
		}
		if err := requireField(option, value, given[option]); err != nil {
			errs = append(errs, err)
		}
		return event.ParsePath(value)
	}
	p := &communityIDProc{
		srcIP:         path("source_ip", o.SourceIP, "source.ip"),
		srcPort:       path("source_port", o.SourcePort, "source.port"),
		dstIP:         path("destination_ip", o.DestinationIP, "destination.ip"),
		dstPort:       path("destination_port", o.DestinationPort, "destination.port"),
		ianaNumber:    path("iana_number", o.IANANumber, "network.iana_number"),
		transport:     path("transport", o.Transport, "network.transport"),
		icmpType:      path("icmp_type", o.ICMPType, "icmp.type"),
		icmpCode:      path("icmp_code", o.ICMPCode, "icmp.code"),
		target:        path("target_field", o.TargetField, "network.community_id"),
		ignoreMissing: o.IgnoreMissing == nil || *o.IgnoreMissing,
		override:      o.Override == nil || *o.Override,
	}
	if o.Seed < 0 || o.Seed > math.MaxUint16 {
		errs = append(errs, optErr("seed", given["seed"], "%d is out of range: want 0-65535", o.Seed))
	} else {
		p.seed = uint16(o.Seed)
	}
	return p, errors.Join(errs...)
}

func (p *communityIDProc) Process(_ context.Context, e *event.Event) error {
	if !p.override {
		if _, ok := e.GetPath(p.target); ok {
			return nil
		}
	}
	var buf [64]byte // communityIDLen bytes are used
	id, absent, err := p.compute(buf[:0], e)
	if absent != nil {
		if p.ignoreMissing {
			return nil
		}
		return missing(absent.String())
	}
	if err != nil {
		return err
	}
	if err := e.SetPath(p.target, string(id)); err != nil {
		return fmt.Errorf("field %s: %w", p.target, err)
	}
	return nil
}

// compute appends the Community ID of an event's flow to buf. It returns the path of
// the first required field that is missing, if one is, or else the problem with a
// value, if there is one; a missing field is no error value, so that skipping the many
// events without a flow allocates nothing.
func (p *communityIDProc) compute(buf []byte, e *event.Event) ([]byte, *event.Path, error) {
	src, absent, err := p.addr(e, &p.srcIP)
	if absent != nil || err != nil {
		return nil, absent, err
	}
	dst, absent, err := p.addr(e, &p.dstIP)
	if absent != nil || err != nil {
		return nil, absent, err
	}
	if src.Is4() != dst.Is4() {
		return nil, nil, fmt.Errorf("field %s: %s and %s %s are not of one IP version", p.srcIP, src, p.dstIP, dst)
	}
	proto, absent, err := p.protocol(e)
	if absent != nil || err != nil {
		return nil, absent, err
	}
	var sport, dport uint16
	switch proto {
	case protoTCP, protoUDP, protoSCTP:
		if sport, absent, err = p.number(e, &p.srcPort, math.MaxUint16, "a port number", true); absent != nil || err != nil {
			return nil, absent, err
		}
		if dport, absent, err = p.number(e, &p.dstPort, math.MaxUint16, "a port number", true); absent != nil || err != nil {
			return nil, absent, err
		}
	case protoICMP, protoICMPv6:
		if sport, absent, err = p.number(e, &p.icmpType, math.MaxUint8, "an ICMP type", true); absent != nil || err != nil {
			return nil, absent, err
		}
		if dport, _, err = p.number(e, &p.icmpCode, math.MaxUint8, "an ICMP code", false); err != nil {
			return nil, nil, err
		}
	}
	return appendCommunityID(buf, p.seed, src, dst, proto, sport, dport), nil, nil
}

// present returns the value at a path, or false when it is absent, null or "".
func present(e *event.Event, path *event.Path) (any, bool) {
	v, ok := e.GetPath(*path)
	if !ok || v == nil || v == "" {
		return nil, false
	}
	return v, true
}

// addr reads an IP address field, unmapping IPv4-mapped IPv6 addresses and dropping
// zones, which the hash has no room for.
func (p *communityIDProc) addr(e *event.Event, path *event.Path) (netip.Addr, *event.Path, error) {
	v, ok := present(e, path)
	if !ok {
		return netip.Addr{}, path, nil
	}
	s, _ := v.(string)
	a, err := netip.ParseAddr(strings.TrimSpace(s))
	if err != nil {
		return netip.Addr{}, nil, fmt.Errorf("field %s: %s is not an IP address", path, describeValue(v))
	}
	return a.WithZone("").Unmap(), nil, nil
}

// protocol reads the IANA protocol number, from iana_number or else transport.
func (p *communityIDProc) protocol(e *event.Event) (uint8, *event.Path, error) {
	if _, ok := present(e, &p.ianaNumber); ok {
		n, _, err := p.number(e, &p.ianaNumber, math.MaxUint8, "an IANA protocol number", true)
		return uint8(n), nil, err
	}
	v, ok := present(e, &p.transport)
	if !ok {
		return 0, &p.transport, nil
	}
	if s, isString := v.(string); isString {
		for _, t := range transportNames {
			if strings.EqualFold(s, t.name) {
				return t.proto, nil, nil
			}
		}
	}
	n, ok := uintValue(v, math.MaxUint8)
	if !ok {
		names := make([]string, len(transportNames))
		for i, t := range transportNames {
			names[i] = t.name
		}
		return 0, nil, fmt.Errorf("field %s: %s is not a transport protocol (%s, or an IANA number 0-255)",
			p.transport, describeValue(v), strings.Join(names, ", "))
	}
	return uint8(n), nil, nil
}

// number reads an unsigned integer field of at most limit; what names it in errors.
// A missing field is reported when required, else read as 0.
func (p *communityIDProc) number(e *event.Event, path *event.Path, limit uint64, what string, required bool) (uint16, *event.Path, error) {
	v, ok := present(e, path)
	if !ok {
		if required {
			return 0, path, nil
		}
		return 0, nil, nil
	}
	n, ok := uintValue(v, limit)
	if !ok {
		return 0, nil, fmt.Errorf("field %s: %s is not %s (0-%d)", path, describeValue(v), what, limit)
	}
	return uint16(n), nil, nil
}

// uintValue reads a whole number from 0 to limit: a number of any kind a document
// holds (an integral float too), or its decimal text.
func uintValue(v any, limit uint64) (uint64, bool) {
	var n uint64
	switch x := v.(type) {
	case int64:
		if x < 0 {
			return 0, false
		}
		n = uint64(x)
	case int:
		if x < 0 {
			return 0, false
		}
		n = uint64(x)
	case float64:
		if !(x >= 0 && x <= float64(limit) && x == math.Trunc(x)) {
			return 0, false
		}
		n = uint64(x)
	case json.Number:
		u, err := strconv.ParseUint(string(x), 10, 64)
		if err != nil {
			f, ferr := strconv.ParseFloat(string(x), 64)
			if ferr != nil {
				return 0, false
			}
			return uintValue(f, limit)
		}
		n = u
	case string:
		u, err := strconv.ParseUint(strings.TrimSpace(x), 10, 64)
		if err != nil {
			return 0, false
		}
		n = u
	default:
		return 0, false
	}
	return n, n <= limit
}

// describeValue names a value in an error: its text or number, or its kind.
func describeValue(v any) string {
	switch v.(type) {
	case map[string]any, []any:
		return "an " + event.Kind(v)
	}
	return describe(v)
}
