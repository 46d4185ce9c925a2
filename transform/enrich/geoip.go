package enrich

import (
	"context"
	"fmt"
	"io/fs"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/oschwald/maxminddb-golang/v2"

	"github.com/sluice-siem/sluice/transform/event"
)

// mmdbVersion is one loaded version of a database and the records decoded from it.
type mmdbVersion struct {
	reader *maxminddb.Reader
	// records caches the fields made of a data record, by its offset (many networks
	// share a record): decoding a City record costs microseconds, copying its fields
	// a fraction of that. At most maxCachedRecords entries; records past that are
	// decoded every time.
	records sync.Map // uintptr -> *geoRecord
	cached  atomic.Int64
}

// maxCachedRecords bounds the decoded records a database version keeps (GeoLite2 City
// holds a few hundred thousand; a busy gateway sees far fewer).
const maxCachedRecords = 1 << 16

// loadMMDB reads a MaxMind database file whole into memory (nothing is memory-mapped,
// so rewriting the file in place cannot tear a read) and opens it.
func loadMMDB(embedded fs.FS, name, path string) (*mmdbVersion, error) {
	data, err := readLookupFile(embedded, path)
	if err != nil {
		return nil, fmt.Errorf("read mmdb %s: %w", name, err)
	}
	r, err := maxminddb.OpenBytes(data)
	if err != nil {
		return nil, fmt.Errorf("open mmdb %s (%s): %w", name, path, err)
	}
	return &mmdbVersion{reader: r}, nil
}

// geoRecord is what one data record contributes to an event: object members with
// their values already boxed, so that an event gets them without allocating each.
type geoRecord struct {
	members  []member
	lat, lon any // geo.location, when the record has one
	orgName  any // as.organization.name, when the record has one
}

// writeTo merges the record into obj[key] (geo or as) of e, creating the objects it
// needs from e, so that a lookup allocates nothing when e recycles its objects.
func (rec *geoRecord) writeTo(e *event.Event, obj map[string]any, key string) error {
	dst, err := memberObject(e, obj, key, len(rec.members)+1)
	if err != nil {
		return err
	}
	for _, m := range rec.members {
		dst[m.key] = m.val
	}
	if rec.lat != nil {
		loc, err := memberObject(e, dst, "location", 2)
		if err != nil {
			return fmt.Errorf("%s.%w", key, err)
		}
		loc["lat"], loc["lon"] = rec.lat, rec.lon
	}
	if rec.orgName != nil {
		org, err := memberObject(e, dst, "organization", 1)
		if err != nil {
			return fmt.Errorf("%s.%w", key, err)
		}
		org["name"] = rec.orgName
	}
	return nil
}

type member struct {
	key string
	val any
}

// record returns the fields of the record found for addr (nil when none), decoding it
// with decode on first use.
func (v *mmdbVersion) record(addr netip.Addr, decode func(maxminddb.Result) (*geoRecord, error)) (*geoRecord, error) {
	res := v.reader.Lookup(addr)
	if !res.Found() {
		return nil, res.Err()
	}
	off := res.Offset()
	if rec, ok := v.records.Load(off); ok {
		return rec.(*geoRecord), nil
	}
	rec, err := decode(res)
	if err != nil {
		return nil, err
	}
	if v.cached.Load() < maxCachedRecords {
		if _, loaded := v.records.LoadOrStore(off, rec); !loaded {
			v.cached.Add(1)
		}
	}
	return rec, nil
}

// localizedNames holds the English name of a record; other languages are skipped
// while decoding.
type localizedNames struct {
	EN string `maxminddb:"en"`
}

// cityRecord is the part of a GeoIP2/GeoLite2 City record that geoip writes.
type cityRecord struct {
	City struct {
		Names localizedNames `maxminddb:"names"`
	} `maxminddb:"city"`
	Continent struct {
		Names localizedNames `maxminddb:"names"`
	} `maxminddb:"continent"`
	Country struct {
		ISOCode string         `maxminddb:"iso_code"`
		Names   localizedNames `maxminddb:"names"`
	} `maxminddb:"country"`
	Location struct {
		Latitude  float64 `maxminddb:"latitude"`
		Longitude float64 `maxminddb:"longitude"`
		TimeZone  string  `maxminddb:"time_zone"`
	} `maxminddb:"location"`
	Postal struct {
		Code string `maxminddb:"code"`
	} `maxminddb:"postal"`
	Subdivisions []struct {
		ISOCode string         `maxminddb:"iso_code"`
		Names   localizedNames `maxminddb:"names"`
	} `maxminddb:"subdivisions"`
}

// asnRecord is a GeoIP2/GeoLite2 ASN record.
type asnRecord struct {
	Number       uint32 `maxminddb:"autonomous_system_number"`
	Organization string `maxminddb:"autonomous_system_organization"`
}

// geoIP is the geoip processor.
type geoIP struct {
	field, target string
	path          event.Path // field, parsed
	ignoreMissing bool
	city, asn     *reloadable[mmdbVersion]
	cityCount     lookupCounter
	asnCount      lookupCounter
}

// NewGeoIP returns a geoip processor over the databases of r named by cfg. It is safe
// for concurrent use and serves reloaded databases as soon as Resources.Run swaps them
// in; r must outlive it.
func NewGeoIP(cfg GeoIPConfig, r *Resources) (event.Processor, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	g := &geoIP{field: cfg.Field, path: event.ParsePath(cfg.Field), target: cfg.TargetField, ignoreMissing: cfg.IgnoreMissing}
	if g.target == "" {
		g.target = parentPath(cfg.Field)
	}
	var err error
	if cfg.CityDB != "" {
		if g.city, err = r.mmdb("city_db", cfg.CityDB); err != nil {
			return nil, err
		}
		g.cityCount = r.metrics.lookupCounter("geoip", cfg.CityDB)
	}
	if cfg.ASNDB != "" {
		if g.asn, err = r.mmdb("asn_db", cfg.ASNDB); err != nil {
			return nil, err
		}
		g.asnCount = r.metrics.lookupCounter("geoip", cfg.ASNDB)
	}
	return g, nil
}

// Process writes the geo and as objects of the address in the field.
func (g *geoIP) Process(ctx context.Context, e *event.Event) error {
	addr, ok, err := ipField(e, g.path, g.ignoreMissing)
	if err != nil || !ok {
		if err != nil {
			g.countAll(resultError)
			return fmt.Errorf("geoip of %s: %w", g.field, err)
		}
		return nil
	}
	if !routable(addr) {
		g.countAll(resultMiss)
		return nil
	}
	var geo, as *geoRecord
	if g.city != nil {
		if geo, err = g.city.cur.Load().record(addr, decodeCity); err != nil {
			g.cityCount.add(resultError)
			return fmt.Errorf("geoip of %s in %s: %w", g.field, g.city.name, err)
		}
		g.cityCount.add(hitOrMiss(geo != nil))
	}
	if g.asn != nil {
		if as, err = g.asn.cur.Load().record(addr, decodeASN); err != nil {
			g.asnCount.add(resultError)
			return fmt.Errorf("geoip of %s in %s: %w", g.field, g.asn.name, err)
		}
		g.asnCount.add(hitOrMiss(as != nil))
	}
	if geo == nil && as == nil {
		return nil
	}
	obj, err := targetObject(e, g.target)
	if err != nil {
		return fmt.Errorf("geoip of %s: target_field %w", g.field, err)
	}
	if geo != nil {
		if err := geo.writeTo(e, obj, "geo"); err != nil {
			return fmt.Errorf("geoip of %s: %w", g.field, err)
		}
	}
	if as != nil {
		if err := as.writeTo(e, obj, "as"); err != nil {
			return fmt.Errorf("geoip of %s: %w", g.field, err)
		}
	}
	return nil
}

func (g *geoIP) countAll(r result) {
	if g.city != nil {
		g.cityCount.add(r)
	}
	if g.asn != nil {
		g.asnCount.add(r)
	}
}

// decodeCity makes the geo members of a City record; nil when it has none.
func decodeCity(res maxminddb.Result) (*geoRecord, error) {
	var rec cityRecord
	if err := res.Decode(&rec); err != nil {
		return nil, err
	}
	out := &geoRecord{}
	put := func(k, v string) {
		if v != "" {
			out.members = append(out.members, member{k, v})
		}
	}
	put("continent_name", rec.Continent.Names.EN)
	put("country_iso_code", rec.Country.ISOCode)
	put("country_name", rec.Country.Names.EN)
	if len(rec.Subdivisions) > 0 {
		sub := rec.Subdivisions[0]
		put("region_name", sub.Names.EN)
		if sub.ISOCode != "" && rec.Country.ISOCode != "" {
			put("region_iso_code", rec.Country.ISOCode+"-"+sub.ISOCode)
		}
	}
	put("city_name", rec.City.Names.EN)
	put("postal_code", rec.Postal.Code)
	put("timezone", rec.Location.TimeZone)
	// MaxMind leaves the location out rather than writing 0,0.
	if rec.Location.Latitude != 0 || rec.Location.Longitude != 0 {
		out.lat, out.lon = rec.Location.Latitude, rec.Location.Longitude
	}
	if len(out.members) == 0 && out.lat == nil {
		return nil, nil
	}
	return out, nil
}

// decodeASN makes the as members of an ASN record; nil when it has none.
func decodeASN(res maxminddb.Result) (*geoRecord, error) {
	var rec asnRecord
	if err := res.Decode(&rec); err != nil {
		return nil, err
	}
	out := &geoRecord{}
	if rec.Number != 0 {
		out.members = append(out.members, member{"number", int64(rec.Number)})
	}
	if rec.Organization != "" {
		out.orgName = rec.Organization
	}
	if len(out.members) == 0 && out.orgName == nil {
		return nil, nil
	}
	return out, nil
}

// routable reports whether a geolocation database can know addr: not private,
// loopback, link-local, multicast or unspecified.
func routable(a netip.Addr) bool {
	return a.IsGlobalUnicast() && !a.IsPrivate()
}

// hitOrMiss is resultHit or resultMiss.
func hitOrMiss(hit bool) result {
	if hit {
		return resultHit
	}
	return resultMiss
}

// ipField reads the IP address in a field. ok is false, with a nil error, when the
// field is absent (or null) and ignoreMissing is set.
func ipField(e *event.Event, field event.Path, ignoreMissing bool) (netip.Addr, bool, error) {
	v, ok := e.GetPath(field)
	if !ok || v == nil {
		if ignoreMissing {
			return netip.Addr{}, false, nil
		}
		return netip.Addr{}, false, errMissing
	}
	s, ok := v.(string)
	if !ok {
		return netip.Addr{}, false, fmt.Errorf("a %s, not an IP address", event.Kind(v))
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, false, fmt.Errorf("%q is not an IP address", truncate(s, 64))
	}
	return normalizeAddr(a), true, nil
}

// truncate shortens s to at most n bytes for error messages.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
