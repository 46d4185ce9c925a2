package samples

import (
	"context"
	"fmt"
	"testing"

	elasticgrok "github.com/elastic/go-grok"

	"github.com/sluice-siem/sluice/transform/event"
)

// ciscoASAHeader is the syslog header of the benchmark lines: <PRI>, the ASA's own
// timestamp and its device-id, as "logging timestamp" and "logging device-id
// hostname" write them.
const ciscoASAHeader = `<166>Nov 26 2026 07:00:%02[2]d fw01 : `

// ciscoASAGrokHeader is the go-grok expression of ciscoASAHeader and the message ID.
const ciscoASAGrokHeader = `^<%{NONNEGINT:log.syslog.priority}>%{ASA_TIME:_tmp.device_time} %{HOSTNAME:observer.hostname} : %ASA-%{INT:event.severity}-%{INT:cisco.asa.message_id}: `

// ciscoASAKinds are the ASA and FTD lines of the benchmarks, in the shares a perimeter
// firewall sends them: mostly connections built and torn down, then access-list
// denies and hits, then NAT, ICMP, VPN and FTD security events. Each is a format with
// the varying parts as %[1]d (a counter: connection IDs, ports), %[2]d (seconds),
// %[3]d and %[4]d (address octets), and the grok expression that extracts the same
// raw fields for go-grok.
var ciscoASAKinds = []struct {
	name, format, grok string
	weight             int
}{
	{"302013-outbound", ciscoASAHeader + `%%ASA-6-302013: Built outbound TCP connection 8%06[1]d for outside:203.0.113.%[4]d/443 (203.0.113.%[4]d/443) to inside:10.1.%[3]d.%[4]d/5%04[1]d (198.51.100.10/5%04[1]d)`,
		ciscoASAGrokHeader + `Built %{WORD:network.direction} %{WORD:network.transport} connection %{INT:cisco.asa.connection_id} for %{DATA:cisco.asa.destination_interface}:%{IP:destination.ip}/%{INT:destination.port} \(%{IP:cisco.asa.mapped_destination_ip}/%{INT:cisco.asa.mapped_destination_port}\) to %{DATA:cisco.asa.source_interface}:%{IP:source.ip}/%{INT:source.port} \(%{IP:cisco.asa.mapped_source_ip}/%{INT:cisco.asa.mapped_source_port}\)$`,
		4},
	{"302014", ciscoASAHeader + `%%ASA-6-302014: Teardown TCP connection 8%06[1]d for outside:203.0.113.%[4]d/443 to inside:10.1.%[3]d.%[4]d/5%04[1]d duration 0:01:%02[2]d bytes 4%04[1]d TCP FINs from inside`,
		ciscoASAGrokHeader + `Teardown %{WORD:network.transport} connection %{INT:cisco.asa.connection_id} for %{DATA:cisco.asa.source_interface}:%{IP:source.ip}/%{INT:source.port} to %{DATA:cisco.asa.destination_interface}:%{IP:destination.ip}/%{INT:destination.port} duration %{INT:_tmp.h}:%{INT:_tmp.m}:%{INT:_tmp.s} bytes %{INT:network.bytes} %{DATA:event.reason} from %{WORD:cisco.asa.termination_initiator}$`,
		4},
	{"302015-outbound", ciscoASAHeader + `%%ASA-6-302015: Built outbound UDP connection 9%06[1]d for outside:192.0.2.53/53 (192.0.2.53/53) to inside:10.1.%[3]d.%[4]d/6%04[1]d (198.51.100.10/6%04[1]d)`,
		ciscoASAGrokHeader + `Built %{WORD:network.direction} %{WORD:network.transport} connection %{INT:cisco.asa.connection_id} for %{DATA:cisco.asa.destination_interface}:%{IP:destination.ip}/%{INT:destination.port} \(%{IP:cisco.asa.mapped_destination_ip}/%{INT:cisco.asa.mapped_destination_port}\) to %{DATA:cisco.asa.source_interface}:%{IP:source.ip}/%{INT:source.port} \(%{IP:cisco.asa.mapped_source_ip}/%{INT:cisco.asa.mapped_source_port}\)$`,
		3},
	{"302016", ciscoASAHeader + `%%ASA-6-302016: Teardown UDP connection 9%06[1]d for outside:192.0.2.53/53 to inside:10.1.%[3]d.%[4]d/6%04[1]d duration 0:02:%02[2]d bytes 2%03[1]d`,
		ciscoASAGrokHeader + `Teardown %{WORD:network.transport} connection %{INT:cisco.asa.connection_id} for %{DATA:cisco.asa.source_interface}:%{IP:source.ip}/%{INT:source.port} to %{DATA:cisco.asa.destination_interface}:%{IP:destination.ip}/%{INT:destination.port} duration %{INT:_tmp.h}:%{INT:_tmp.m}:%{INT:_tmp.s} bytes %{INT:network.bytes}$`,
		3},
	{"106023", ciscoASAHeader + `%%ASA-4-106023: Deny tcp src outside:198.51.100.%[4]d/4%04[1]d dst inside:10.1.2.%[3]d/22 by access-group "outside_access_in" [0x0, 0x0]`,
		ciscoASAGrokHeader + `Deny %{WORD:network.transport} src %{DATA:cisco.asa.source_interface}:%{IP:source.ip}/%{INT:source.port} dst %{DATA:cisco.asa.destination_interface}:%{IP:destination.ip}/%{INT:destination.port} by access-group "%{DATA:cisco.asa.rule_name}" \[%{DATA}\]$`,
		3},
	{"106100", ciscoASAHeader + `%%ASA-6-106100: access-list inside_access_in permitted tcp inside/10.1.%[3]d.%[4]d(5%04[1]d) -> outside/203.0.113.%[4]d(443) hit-cnt 1 first hit [0x1a2b3c4d, 0x0]`,
		ciscoASAGrokHeader + `access-list %{NOTSPACE:cisco.asa.rule_name} %{NOTSPACE:_tmp.verdict} %{WORD:network.transport} %{DATA:cisco.asa.source_interface}/%{IP:source.ip}\(%{INT:source.port}\) -> %{DATA:cisco.asa.destination_interface}/%{IP:destination.ip}\(%{INT:destination.port}\) hit-cnt %{INT:cisco.asa.hit_count} %{GREEDYDATA}$`,
		1},
	{"302020", ciscoASAHeader + `%%ASA-6-302020: Built outbound ICMP connection for faddr 203.0.113.%[4]d/0 gaddr 198.51.100.10/%[1]d laddr 10.1.%[3]d.%[4]d/%[1]d type 8 code 0`,
		ciscoASAGrokHeader + `Built %{WORD:network.direction} %{WORD:network.transport} connection for faddr %{IP:destination.ip}/%{INT} gaddr %{IP:cisco.asa.mapped_source_ip}/%{INT} laddr %{IP:source.ip}/%{INT} type %{INT:cisco.asa.icmp_type} code %{INT:cisco.asa.icmp_code}$`,
		1},
	{"305011", ciscoASAHeader + `%%ASA-6-305011: Built dynamic TCP translation from inside:10.1.%[3]d.%[4]d/5%04[1]d to outside:198.51.100.10/5%04[1]d`,
		ciscoASAGrokHeader + `Built %{WORD:cisco.asa.nat_type} %{WORD:network.transport} translation from %{DATA:cisco.asa.source_interface}:%{IP:source.ip}/%{INT:source.port} to %{DATA:cisco.asa.destination_interface}:%{IP:cisco.asa.mapped_source_ip}/%{INT:cisco.asa.mapped_source_port}$`,
		1},
	{"722051", ciscoASAHeader + `%%ASA-6-722051: Group <GP-Employees> User <user%[4]d> IP <198.51.100.%[4]d> IPv4 Address <10.8.%[3]d.%[4]d> IPv6 address <::> assigned to session`,
		ciscoASAGrokHeader + `Group <%{DATA:source.user.group.name}> User <%{DATA:source.user.name}> IP <%{IP:source.ip}> IPv4 Address <%{IP:cisco.asa.assigned_ip}> IPv6 address <%{DATA}> assigned to session$`,
		1},
	{"430003", `<166>Nov 26 2026 07:00:%02[2]d ftd01 : %%FTD-6-430003: EventPriority: Low, DeviceUUID: 5c7f0e8a-1b2c-11ef-9a3b-0123456789ab, InstanceID: 1, FirstPacketSecond: 2026-11-26T07:00:%02[2]dZ, ConnectionID: %[1]d, AccessControlRuleAction: Allow, SrcIP: 10.1.%[3]d.%[4]d, DstIP: 203.0.113.%[4]d, SrcPort: 5%04[1]d, DstPort: 443, Protocol: tcp, IngressInterface: inside, EgressInterface: outside, IngressZone: inside-zone, EgressZone: outside-zone, ACPolicy: Default-AC, AccessControlRuleName: Allow-Web, Prefilter Policy: Default Prefilter Policy, User: No Authentication Required, Client: SSL client, ApplicationProtocol: HTTPS, ConnectionDuration: 12, InitiatorPackets: 14, ResponderPackets: 18, InitiatorBytes: 2%03[1]d, ResponderBytes: 9%04[1]d, NAPPolicy: Balanced Security and Connectivity`,
		`^<%{NONNEGINT:log.syslog.priority}>%{ASA_TIME:_tmp.device_time} %{HOSTNAME:observer.hostname} : %FTD-%{INT:event.severity}-%{INT:cisco.asa.message_id}: EventPriority: %{DATA:cisco.asa.security.event_priority}, DeviceUUID: %{DATA:cisco.asa.security.device_uuid}, InstanceID: %{INT:cisco.asa.security.instance_id}, FirstPacketSecond: %{DATA:_tmp.start}, ConnectionID: %{INT:cisco.asa.connection_id}, AccessControlRuleAction: %{DATA:cisco.asa.security.access_control_rule_action}, SrcIP: %{IP:source.ip}, DstIP: %{IP:destination.ip}, SrcPort: %{INT:source.port}, DstPort: %{INT:destination.port}, Protocol: %{WORD:network.transport}, IngressInterface: %{DATA:cisco.asa.source_interface}, EgressInterface: %{DATA:cisco.asa.destination_interface}, IngressZone: %{DATA:observer.ingress.zone}, EgressZone: %{DATA:observer.egress.zone}, ACPolicy: %{DATA:cisco.asa.security.ac_policy}, AccessControlRuleName: %{DATA:cisco.asa.rule_name}, Prefilter Policy: %{DATA:cisco.asa.security.prefilter_policy}, User: %{DATA:user.name}, Client: %{DATA:cisco.asa.security.client}, ApplicationProtocol: %{DATA:network.protocol}, ConnectionDuration: %{INT:_tmp.duration}, InitiatorPackets: %{INT:source.packets}, ResponderPackets: %{INT:destination.packets}, InitiatorBytes: %{INT:source.bytes}, ResponderBytes: %{INT:destination.bytes}, NAPPolicy: %{GREEDYDATA:cisco.asa.security.nap_policy}$`,
		1},
}

// ciscoASALines returns n generated lines, the kinds mixed by their weights.
func ciscoASALines(n int) []string {
	var order []int
	for k, kind := range ciscoASAKinds {
		for range kind.weight {
			order = append(order, k)
		}
	}
	lines := make([]string, n)
	for i := range lines {
		kind := ciscoASAKinds[order[i%len(order)]]
		lines[i] = fmt.Sprintf(kind.format, i%10000, i%60, 1+i/200%250, 1+i%250)
	}
	return lines
}

// BenchmarkPipelineCiscoASA runs the cisco_asa sample pipeline over a mix of
// generated ASA and FTD lines (ciscoASAKinds); events/s is the per-core rate with
// -cpu 1.
func BenchmarkPipelineCiscoASA(b *testing.B) {
	benchMessages(b, samplePipeline(b, "cisco_asa"), "cisco_asa", ciscoASALines(1024))
}

// BenchmarkGoGrokCiscoASA is the baseline: github.com/elastic/go-grok extracting the
// same raw fields from the same lines with one expression per kind of line, tried in
// order until one matches, as a Logstash grok filter with a list of patterns does.
// It only splits the line: none of the pipeline's mapping to ECS.
func BenchmarkGoGrokCiscoASA(b *testing.B) {
	groks := make([]*elasticgrok.Grok, len(ciscoASAKinds))
	for k, kind := range ciscoASAKinds {
		g := elasticgrok.New()
		if err := g.AddPattern("ASA_TIME", `%{MONTH} +%{MONTHDAY} %{YEAR} %{TIME}`); err != nil {
			b.Fatal(err)
		}
		if err := g.Compile(kind.grok, true); err != nil {
			b.Fatalf("%s: %v", kind.name, err)
		}
		groks[k] = g
	}
	benchLines(b, ciscoASALines(1024), anyGrok(groks...))
}

// TestCiscoASABenchLines: every generated line of the benchmarks goes through the
// pipeline without an error or the unparsed tag, so that the benchmark measures the
// parsing path.
func TestCiscoASABenchLines(t *testing.T) {
	p := samplePipeline(t, "cisco_asa")
	for _, l := range ciscoASALines(len(ciscoASAKinds) * 20) {
		e := event.Event{Type: "cisco_asa", Received: received, Fields: map[string]any{"message": l}}
		if err := p.Process(context.Background(), &e); err != nil {
			t.Fatal(err)
		}
		if _, failed := e.Fields["error"]; failed {
			t.Fatalf("%s: %v", l, e.Fields["error"])
		}
		if tags, ok := e.Fields["tags"]; ok {
			t.Fatalf("%s: tags %v", l, tags)
		}
		if _, ok := e.Fields["message"]; ok {
			t.Fatalf("%s: message kept: the line was not parsed", l)
		}
	}
}
