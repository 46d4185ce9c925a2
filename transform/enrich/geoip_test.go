package enrich

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
)

// cityNet is one network of a test City database.
type cityNet struct {
	cidr, city, region, regionISO, country, countryISO, continent, postal, tz string
	lat, lon                                                                  float64
}

// testCityNets are public networks (mmdbwriter refuses reserved ones): IPv4 and IPv6,
// nested, and none private.
var testCityNets = []cityNet{
	{"81.2.69.0/24", "London", "England", "ENG", "United Kingdom", "GB", "Europe", "SW1A", "Europe/London", 51.5142, -0.0931},
	{"89.160.0.0/16", "", "", "", "Sweden", "SE", "Europe", "", "Europe/Stockholm", 0, 0},
	{"89.160.20.0/24", "Linköping", "Östergötland County", "E", "Sweden", "SE", "Europe", "583 35", "Europe/Stockholm", 58.4167, 15.6167},
	{"2a02:cf40::/29", "Oslo", "Oslo", "03", "Norway", "NO", "Europe", "0150", "Europe/Oslo", 59.9127, 10.7461},
}

// testASNets are the networks of a test ASN database.
var testASNets = []struct {
	cidr string
	asn  uint32
	org  string
}{
	{"81.2.69.0/24", 20712, "Andrews & Arnold Ltd"},
	{"89.160.0.0/17", 29518, "Bredband2 AB"},
	{"2a02:cf40::/29", 201838, "Example Norway AS"},
}

// writeCityDB writes a City database whose city names end in suffix (so that a test can
// tell versions apart) to dir/name, atomically.
func writeCityDB(t testing.TB, dir, name, suffix string) string {
	t.Helper()
	tree, err := mmdbwriter.New(mmdbwriter.Options{DatabaseType: "GeoLite2-City", RecordSize: 28, Languages: []string{"en", "de"}})
	if err != nil {
		t.Fatal(err)
	}
	names := func(en string) mmdbtype.Map {
		return mmdbtype.Map{"names": mmdbtype.Map{"en": mmdbtype.String(en), "de": mmdbtype.String(en + " (de)")}}
	}
	for _, n := range testCityNets {
		rec := mmdbtype.Map{
			"continent": mmdbtype.Map{"code": mmdbtype.String("EU"), "names": names(n.continent)["names"]},
			"country":   mmdbtype.Map{"iso_code": mmdbtype.String(n.countryISO), "names": names(n.country)["names"]},
		}
		if n.city != "" {
			rec["city"] = names(n.city + suffix)
			rec["subdivisions"] = mmdbtype.Slice{mmdbtype.Map{"iso_code": mmdbtype.String(n.regionISO), "names": names(n.region)["names"]}}
			rec["postal"] = mmdbtype.Map{"code": mmdbtype.String(n.postal + suffix)}
			rec["location"] = mmdbtype.Map{"latitude": mmdbtype.Float64(n.lat), "longitude": mmdbtype.Float64(n.lon),
				"time_zone": mmdbtype.String(n.tz), "accuracy_radius": mmdbtype.Uint16(20)}
		} else {
			rec["location"] = mmdbtype.Map{"time_zone": mmdbtype.String(n.tz)}
		}
		_, network, err := net.ParseCIDR(n.cidr)
		if err != nil {
			t.Fatal(err)
		}
		if err := tree.Insert(network, rec); err != nil {
			t.Fatalf("insert %s: %v", n.cidr, err)
		}
	}
	var buf bytes.Buffer
	if _, err := tree.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	return writeFile(t, dir, name, buf.Bytes())
}

func writeASNDB(t testing.TB, dir, name string) string {
	t.Helper()
	tree, err := mmdbwriter.New(mmdbwriter.Options{DatabaseType: "GeoLite2-ASN", RecordSize: 24})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range testASNets {
		_, network, err := net.ParseCIDR(n.cidr)
		if err != nil {
			t.Fatal(err)
		}
		rec := mmdbtype.Map{"autonomous_system_number": mmdbtype.Uint32(n.asn), "autonomous_system_organization": mmdbtype.String(n.org)}
		if err := tree.Insert(network, rec); err != nil {
			t.Fatalf("insert %s: %v", n.cidr, err)
		}
	}
	var buf bytes.Buffer
	if _, err := tree.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	return writeFile(t, dir, name, buf.Bytes())
}

func geoResources(t testing.TB, m *testMeter, run bool) (*Resources, string) {
	t.Helper()
	dir := t.TempDir()
	cfg := DefaultResourcesConfig()
	cfg.ReloadInterval = 10 * time.Millisecond
	cfg.MMDB = map[string]string{
		"city": writeCityDB(t, dir, "city.mmdb", ""),
		"asn":  writeASNDB(t, dir, "asn.mmdb"),
	}
	return newTestResources(t, cfg, m, run), dir
}

func TestGeoIP(t *testing.T) {
	m := newTestMeter(t)
	res, _ := geoResources(t, m, false)
	both, err := NewGeoIP(GeoIPConfig{Field: "source.ip", CityDB: "city", ASNDB: "asn"}, res)
	if err != nil {
		t.Fatal(err)
	}
	london := map[string]any{
		"continent_name": "Europe", "country_iso_code": "GB", "country_name": "United Kingdom",
		"region_name": "England", "region_iso_code": "GB-ENG", "city_name": "London",
		"postal_code": "SW1A", "timezone": "Europe/London",
		"location": map[string]any{"lat": 51.5142, "lon": -0.0931},
	}
	cases := []struct {
		name    string
		p       GeoIPConfig
		in      map[string]any
		want    map[string]any
		wantErr string
	}{
		{
			name: "IPv4 city and ASN",
			in:   map[string]any{"source": map[string]any{"ip": "81.2.69.142"}},
			want: map[string]any{"source": map[string]any{"ip": "81.2.69.142", "geo": london,
				"as": map[string]any{"number": int64(20712), "organization": map[string]any{"name": "Andrews & Arnold Ltd"}}}},
		},
		{
			name: "nested network, non-ASCII names",
			in:   map[string]any{"source": map[string]any{"ip": "89.160.20.112"}},
			want: map[string]any{"source": map[string]any{"ip": "89.160.20.112",
				"geo": map[string]any{"continent_name": "Europe", "country_iso_code": "SE", "country_name": "Sweden",
					"region_name": "Östergötland County", "region_iso_code": "SE-E", "city_name": "Linköping",
					"postal_code": "583 35", "timezone": "Europe/Stockholm",
					"location": map[string]any{"lat": 58.4167, "lon": 15.6167}},
				"as": map[string]any{"number": int64(29518), "organization": map[string]any{"name": "Bredband2 AB"}}}},
		},
		{
			name: "country-level record: no city, no location, outside the ASN range",
			in:   map[string]any{"source": map[string]any{"ip": "89.160.200.1"}},
			want: map[string]any{"source": map[string]any{"ip": "89.160.200.1",
				"geo": map[string]any{"continent_name": "Europe", "country_iso_code": "SE", "country_name": "Sweden",
					"timezone": "Europe/Stockholm"}}},
		},
		{
			name: "IPv6",
			in:   map[string]any{"source": map[string]any{"ip": "2a02:cf40::1"}},
			want: map[string]any{"source": map[string]any{"ip": "2a02:cf40::1",
				"geo": map[string]any{"continent_name": "Europe", "country_iso_code": "NO", "country_name": "Norway",
					"region_name": "Oslo", "region_iso_code": "NO-03", "city_name": "Oslo", "postal_code": "0150",
					"timezone": "Europe/Oslo", "location": map[string]any{"lat": 59.9127, "lon": 10.7461}},
				"as": map[string]any{"number": int64(201838), "organization": map[string]any{"name": "Example Norway AS"}}}},
		},
		{
			name: "IPv4-mapped IPv6 is looked up as IPv4",
			in:   map[string]any{"source": map[string]any{"ip": "::ffff:81.2.69.142"}},
			want: map[string]any{"source": map[string]any{"ip": "::ffff:81.2.69.142", "geo": london,
				"as": map[string]any{"number": int64(20712), "organization": map[string]any{"name": "Andrews & Arnold Ltd"}}}},
		},
		{
			name: "private address adds nothing",
			in:   map[string]any{"source": map[string]any{"ip": "10.1.2.3"}},
			want: map[string]any{"source": map[string]any{"ip": "10.1.2.3"}},
		},
		{
			name: "loopback and link-local add nothing",
			in:   map[string]any{"source": map[string]any{"ip": "fe80::1"}},
			want: map[string]any{"source": map[string]any{"ip": "fe80::1"}},
		},
		{
			name: "public address absent from the databases adds nothing",
			in:   map[string]any{"source": map[string]any{"ip": "8.8.8.8"}},
			want: map[string]any{"source": map[string]any{"ip": "8.8.8.8"}},
		},
		{
			name: "merges into an existing geo object",
			p:    GeoIPConfig{Field: "client.address", TargetField: "client", CityDB: "city"},
			in:   map[string]any{"client": map[string]any{"address": "81.2.69.1", "geo": map[string]any{"name": "office"}}},
			want: map[string]any{"client": map[string]any{"address": "81.2.69.1", "geo": withKey(london, "name", "office")}},
		},
		{
			name: "ASN only, target at the top level",
			p:    GeoIPConfig{Field: "ip", ASNDB: "asn"},
			in:   map[string]any{"ip": "81.2.69.1"},
			want: map[string]any{"ip": "81.2.69.1",
				"as": map[string]any{"number": int64(20712), "organization": map[string]any{"name": "Andrews & Arnold Ltd"}}},
		},
		{
			name:    "invalid IP",
			in:      map[string]any{"source": map[string]any{"ip": "not-an-ip"}},
			wantErr: `geoip of source.ip: "not-an-ip" is not an IP address`,
		},
		{
			name:    "not a string",
			in:      map[string]any{"source": map[string]any{"ip": int64(3)}},
			wantErr: "geoip of source.ip: a number, not an IP address",
		},
		{
			name:    "absent field",
			in:      map[string]any{"message": "x"},
			wantErr: "geoip of source.ip: the field is absent",
		},
		{
			name: "absent field, ignore_missing",
			p:    GeoIPConfig{Field: "source.ip", CityDB: "city", IgnoreMissing: true},
			in:   map[string]any{"message": "x"},
			want: map[string]any{"message": "x"},
		},
		{
			name:    "target is not an object",
			p:       GeoIPConfig{Field: "source.ip", TargetField: "message", CityDB: "city"},
			in:      map[string]any{"source": map[string]any{"ip": "81.2.69.1"}, "message": "x"},
			wantErr: "geoip of source.ip: target_field message is a string, not an object",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := both
			if c.p.Field != "" {
				if p, err = NewGeoIP(c.p, res); err != nil {
					t.Fatal(err)
				}
			}
			e := eventOf(c.in)
			err := p.Process(context.Background(), e)
			if c.wantErr != "" {
				if err == nil || err.Error() != c.wantErr {
					t.Fatalf("error %v, want %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(e.Fields, c.want) {
				t.Fatalf("fields\n got %v\nwant %v", e.Fields, c.want)
			}
		})
	}
	if got := m.sum(t, "sluice_enrich_lookups_total", "processor=geoip", "resource=city", "result=hit"); got != 7 {
		t.Errorf("city hits counted %d, want 7", got)
	}
	if got := m.sum(t, "sluice_enrich_lookups_total", "processor=geoip", "resource=asn", "result=error"); got != 3 {
		t.Errorf("asn errors counted %d, want 3", got)
	}
}

func withKey(m map[string]any, k string, v any) map[string]any {
	out := copyValue(m).(map[string]any)
	out[k] = v
	return out
}

func TestGeoIPUnknownDatabase(t *testing.T) {
	res, _ := geoResources(t, nil, false)
	_, err := NewGeoIP(GeoIPConfig{Field: "source.ip", CityDB: "nope"}, res)
	if err == nil || err.Error() != `city_db: no database "nope" in lookups.mmdb` {
		t.Fatalf("error %v", err)
	}
	_, err = NewGeoIP(GeoIPConfig{}, res)
	if err == nil || !strings.Contains(err.Error(), "field: required") || !strings.Contains(err.Error(), "city_db: city_db, asn_db or both required") {
		t.Fatalf("error %v", err)
	}
}

// TestGeoIPReload rewrites the City database while Process runs in several goroutines:
// every event gets the old or the new version whole (the city name and postal code
// carry the version), and the new version is served after the poll. A file that does
// not load leaves the loaded version in service.
func TestGeoIPReload(t *testing.T) {
	m := newTestMeter(t)
	res, dir := geoResources(t, m, true)
	p, err := NewGeoIP(GeoIPConfig{Field: "source.ip", CityDB: "city", ASNDB: "asn"}, res)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	versionOf := func(t testing.TB) string {
		e := eventOf(map[string]any{"source": map[string]any{"ip": "81.2.69.142"}})
		if err := p.Process(ctx, e); err != nil {
			t.Error(err)
			return ""
		}
		geo := e.Fields["source"].(map[string]any)["geo"].(map[string]any)
		city, postal := geo["city_name"].(string), geo["postal_code"].(string)
		v := strings.TrimPrefix(city, "London")
		if pv := strings.TrimPrefix(postal, "SW1A"); pv != v {
			t.Errorf("torn read: city %q with postal code %q", city, postal)
		}
		return v
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	var reads atomic.Int64
	for range 4 {
		wg.Go(func() {
			for !stop.Load() {
				versionOf(t)
				reads.Add(1)
			}
		})
	}
	for i := 1; i <= 3; i++ {
		want := fmt.Sprintf(" v%d", i)
		writeCityDB(t, dir, "city.mmdb", want)
		eventually(t, "version"+want, func() bool { return versionOf(t) == want })
	}
	// In-place rewrite (no rename): the loaded copy is not affected while it is written.
	data := writeCityDB(t, t.TempDir(), "city.mmdb", " v4")
	b, err := os.ReadFile(data)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "city.mmdb")
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(b); i += 1024 {
		if _, err := f.Write(b[i:min(i+1024, len(b))]); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "version v4", func() bool { return versionOf(t) == " v4" })
	// A broken file: the loaded version stays, the failure is counted.
	writeFile(t, dir, "city.mmdb", []byte("not a database"))
	eventually(t, "a failed reload", func() bool {
		return m.sum(t, "sluice_enrich_reloads_total", "resource=city", "result=error") == 1
	})
	if v := versionOf(t); v != " v4" {
		t.Errorf("after a failed reload: version %q, want v4", v)
	}
	stop.Store(true)
	wg.Wait()
	if reads.Load() == 0 {
		t.Error("no concurrent reads ran")
	}
	if got := m.sum(t, "sluice_enrich_reloads_total", "resource=city", "result=ok"); got < 4 {
		t.Errorf("reloads counted %d, want at least 4", got)
	}
}
