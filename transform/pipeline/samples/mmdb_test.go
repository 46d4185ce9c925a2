package samples

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
)

// sampleBuildEpoch is the build time written into the sample databases (2026-11-26),
// fixed so that generating them again gives the same bytes.
const sampleBuildEpoch = 1795651200

// sampleDescription labels the sample databases in their metadata.
const sampleDescription = "SAMPLE DATA made up by sluice for documentation networks (RFC 5737, RFC 3849) " +
	"and documentation AS numbers (RFC 5398); not geolocation, for sluice dev and tests only"

// sampleNetwork is one network of the sample databases with its made-up record.
type sampleNetwork struct {
	cidr string
	city mmdbtype.Map
	asn  mmdbtype.Map
}

func names(en string) mmdbtype.Map { return mmdbtype.Map{"en": mmdbtype.String(en)} }

// cityRecord makes a City record shaped like GeoIP2/GeoLite2 City's.
func cityRecord(continentCode, continent, countryCode, country, regionCode, region, city, postal, tz string, lat, lon float64) mmdbtype.Map {
	rec := mmdbtype.Map{
		"continent": mmdbtype.Map{"code": mmdbtype.String(continentCode), "names": names(continent)},
		"country":   mmdbtype.Map{"iso_code": mmdbtype.String(countryCode), "names": names(country)},
		"location": mmdbtype.Map{"latitude": mmdbtype.Float64(lat), "longitude": mmdbtype.Float64(lon),
			"time_zone": mmdbtype.String(tz), "accuracy_radius": mmdbtype.Uint16(100)},
	}
	if city != "" {
		rec["city"] = mmdbtype.Map{"names": names(city)}
	}
	if regionCode != "" {
		rec["subdivisions"] = mmdbtype.Slice{mmdbtype.Map{"iso_code": mmdbtype.String(regionCode), "names": names(region)}}
	}
	if postal != "" {
		rec["postal"] = mmdbtype.Map{"code": mmdbtype.String(postal)}
	}
	return rec
}

func asnRecord(number uint32, org string) mmdbtype.Map {
	return mmdbtype.Map{"autonomous_system_number": mmdbtype.Uint32(number), "autonomous_system_organization": mmdbtype.String(org)}
}

// sampleNetworks is the content of the sample databases, in insertion order. The
// sample log lines and test cases use these addresses; 2001:db8:1::/48 is left out, as
// the sample zones table makes it an internal data center network.
var sampleNetworks = []sampleNetwork{
	{"203.0.113.0/25",
		cityRecord("EU", "Europe", "NL", "Netherlands", "NH", "North Holland", "Amsterdam", "1012", "Europe/Amsterdam", 52.3740, 4.8897),
		asnRecord(64500, "Example Transit B.V.")},
	{"203.0.113.128/25",
		cityRecord("EU", "Europe", "DE", "Germany", "HE", "Hesse", "Frankfurt am Main", "60311", "Europe/Berlin", 50.1109, 8.6821),
		asnRecord(64500, "Example Transit B.V.")},
	{"198.51.100.0/24",
		cityRecord("NA", "North America", "US", "United States", "VA", "Virginia", "Ashburn", "20147", "America/New_York", 39.0438, -77.4874),
		asnRecord(64501, "Example Hosting LLC")},
	{"192.0.2.0/24",
		cityRecord("AS", "Asia", "JP", "Japan", "13", "Tokyo", "Tokyo", "100-0001", "Asia/Tokyo", 35.6895, 139.6917),
		asnRecord(64502, "Example Cloud K.K.")},
	{"2001:db8:4::/48",
		cityRecord("SA", "South America", "BR", "Brazil", "SP", "São Paulo", "São Paulo", "01000-000", "America/Sao_Paulo", -23.5505, -46.6333),
		asnRecord(64503, "Example Telecom S.A.")},
	{"2001:db8:5::/48",
		cityRecord("OC", "Oceania", "AU", "Australia", "", "", "", "", "Australia/Sydney", -33.8688, 151.2093),
		asnRecord(64504, "Example Networks Pty Ltd")},
}

// sampleMMDB generates one sample database: "City" or "ASN".
func sampleMMDB(t testing.TB, kind string) []byte {
	t.Helper()
	tree, err := mmdbwriter.New(mmdbwriter.Options{
		DatabaseType:            "Sluice-Sample-" + kind,
		Description:             map[string]string{"en": sampleDescription},
		Languages:               []string{"en"},
		RecordSize:              24,
		IncludeReservedNetworks: true,
		BuildEpoch:              sampleBuildEpoch,
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range sampleNetworks {
		_, network, err := net.ParseCIDR(n.cidr)
		if err != nil {
			t.Fatal(err)
		}
		rec := n.city
		if kind == "ASN" {
			rec = n.asn
		}
		if err := tree.Insert(network, rec); err != nil {
			t.Fatalf("insert %s: %v", n.cidr, err)
		}
	}
	var buf bytes.Buffer
	if _, err := tree.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestSampleMMDB: the committed sample databases are what this generator makes
// (go generate, or go test -run TestSampleMMDB -update, writes them).
func TestSampleMMDB(t *testing.T) {
	for kind, file := range map[string]string{"City": "sample-city.mmdb", "ASN": "sample-asn.mmdb"} {
		path := filepath.Join("enriched", file)
		want := sampleMMDB(t, kind)
		if again := sampleMMDB(t, kind); !bytes.Equal(want, again) {
			t.Fatalf("%s: the generator is not deterministic", kind)
		}
		if *update {
			if err := os.WriteFile(path, want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from what the generator makes (%d bytes, want %d): run go generate ./transform/pipeline/samples", path, len(got), len(want))
		}
	}
}
