package samples

import (
	"context"
	"fmt"
	"io/fs"
	"testing"
	"testing/fstest"

	elasticgrok "github.com/elastic/go-grok"

	"github.com/sluice-siem/sluice/internal/cputime"
	"github.com/sluice-siem/sluice/transform/event"
	"github.com/sluice-siem/sluice/transform/pipeline"
)

// fortigateKinds are the FortiGate lines of the benchmarks, in the shares a firewall
// with UTM profiles sends them: mostly forward traffic, then security events, then
// system and VPN events. Each is a format with the varying parts as %[1]d (a counter:
// addresses, ports, session IDs) and %[2]d (seconds), and the grok expression that
// extracts the same raw fields for go-grok.
var fortigateKinds = []struct {
	name, format, grok string
	weight             int
}{
	{"traffic-close", `<189>date=2026-11-26 time=07:00:%02[2]d devname="FGT-HQ-01" devid="FG100FTK19000001" eventtime=17956764%02[2]d123456789 tz="+0000" logid="0000000013" type="traffic" subtype="forward" level="notice" vd="root" srcip=10.1.%[3]d.%[4]d srcport=5%04[1]d srcintf="port2" srcintfrole="lan" dstip=203.0.113.%[4]d dstport=443 dstintf="port1" dstintfrole="wan" srccountry="Reserved" dstcountry="Netherlands" sessionid=12%05[1]d proto=6 action="close" policyid=12 policytype="policy" poluuid="9f1e3a2c-5b6d-51ee-8a3b-0123456789ab" policyname="LAN to Internet" service="HTTPS" trandisp="snat" transip=198.51.100.10 transport=6%04[1]d appid=40568 app="HTTPS.BROWSER" appcat="Web.Client" apprisk="medium" applist="default" duration=35 sentbyte=2300 rcvdbyte=15800 sentpkt=18 rcvdpkt=20 utmaction="allow" countapp=1 srcmac="00:16:3e:4a:5b:6c" mastersrcmac="00:16:3e:4a:5b:6c" srcserver=0`,
		`^<%{NONNEGINT:log.syslog.priority}>date=%{FGT_DATE:fortinet.firewall.date} time=%{TIME:fortinet.firewall.time} devname="%{DATA:fortinet.firewall.devname}" devid="%{DATA:fortinet.firewall.devid}" eventtime=%{INT:fortinet.firewall.eventtime} tz="%{DATA:fortinet.firewall.tz}" logid="%{DATA:fortinet.firewall.logid}" type="%{DATA:fortinet.firewall.type}" subtype="%{DATA:fortinet.firewall.subtype}" level="%{DATA:fortinet.firewall.level}" vd="%{DATA:fortinet.firewall.vd}" srcip=%{IP:fortinet.firewall.srcip} srcport=%{INT:fortinet.firewall.srcport} srcintf="%{DATA:fortinet.firewall.srcintf}" srcintfrole="%{DATA:fortinet.firewall.srcintfrole}" dstip=%{IP:fortinet.firewall.dstip} dstport=%{INT:fortinet.firewall.dstport} dstintf="%{DATA:fortinet.firewall.dstintf}" dstintfrole="%{DATA:fortinet.firewall.dstintfrole}" srccountry="%{DATA:fortinet.firewall.srccountry}" dstcountry="%{DATA:fortinet.firewall.dstcountry}" sessionid=%{INT:fortinet.firewall.sessionid} proto=%{INT:fortinet.firewall.proto} action="%{DATA:fortinet.firewall.action}" policyid=%{INT:fortinet.firewall.policyid} policytype="%{DATA:fortinet.firewall.policytype}" poluuid="%{DATA:fortinet.firewall.poluuid}" policyname="%{DATA:fortinet.firewall.policyname}" service="%{DATA:fortinet.firewall.service}" trandisp="%{DATA:fortinet.firewall.trandisp}" transip=%{IP:fortinet.firewall.transip} transport=%{INT:fortinet.firewall.transport} appid=%{INT:fortinet.firewall.appid} app="%{DATA:fortinet.firewall.app}" appcat="%{DATA:fortinet.firewall.appcat}" apprisk="%{DATA:fortinet.firewall.apprisk}" applist="%{DATA:fortinet.firewall.applist}" duration=%{INT:fortinet.firewall.duration} sentbyte=%{INT:fortinet.firewall.sentbyte} rcvdbyte=%{INT:fortinet.firewall.rcvdbyte} sentpkt=%{INT:fortinet.firewall.sentpkt} rcvdpkt=%{INT:fortinet.firewall.rcvdpkt} utmaction="%{DATA:fortinet.firewall.utmaction}" countapp=%{INT:fortinet.firewall.countapp} srcmac="%{DATA:fortinet.firewall.srcmac}" mastersrcmac="%{DATA:fortinet.firewall.mastersrcmac}" srcserver=%{INT:fortinet.firewall.srcserver}$`,
		6},
	{"traffic-deny", `<189>date=2026-11-26 time=07:00:%02[2]d devname="FGT-HQ-01" devid="FG100FTK19000001" eventtime=17956764%02[2]d000000000 tz="+0000" logid="0000000013" type="traffic" subtype="forward" level="notice" vd="root" srcip=203.0.113.%[4]d srcport=4%04[1]d srcintf="port1" srcintfrole="wan" dstip=10.1.%[3]d.%[4]d dstport=3389 dstintf="port2" dstintfrole="lan" srccountry="Netherlands" dstcountry="Reserved" sessionid=13%05[1]d proto=6 action="deny" policyid=0 policytype="policy" service="RDP" trandisp="noop" duration=0 sentbyte=0 rcvdbyte=0 sentpkt=0 rcvdpkt=0 appcat="unscanned" crscore=30 craction=131072 crlevel="high"`,
		`^<%{NONNEGINT:log.syslog.priority}>date=%{FGT_DATE:fortinet.firewall.date} time=%{TIME:fortinet.firewall.time} devname="%{DATA:fortinet.firewall.devname}" devid="%{DATA:fortinet.firewall.devid}" eventtime=%{INT:fortinet.firewall.eventtime} tz="%{DATA:fortinet.firewall.tz}" logid="%{DATA:fortinet.firewall.logid}" type="%{DATA:fortinet.firewall.type}" subtype="%{DATA:fortinet.firewall.subtype}" level="%{DATA:fortinet.firewall.level}" vd="%{DATA:fortinet.firewall.vd}" srcip=%{IP:fortinet.firewall.srcip} srcport=%{INT:fortinet.firewall.srcport} srcintf="%{DATA:fortinet.firewall.srcintf}" srcintfrole="%{DATA:fortinet.firewall.srcintfrole}" dstip=%{IP:fortinet.firewall.dstip} dstport=%{INT:fortinet.firewall.dstport} dstintf="%{DATA:fortinet.firewall.dstintf}" dstintfrole="%{DATA:fortinet.firewall.dstintfrole}" srccountry="%{DATA:fortinet.firewall.srccountry}" dstcountry="%{DATA:fortinet.firewall.dstcountry}" sessionid=%{INT:fortinet.firewall.sessionid} proto=%{INT:fortinet.firewall.proto} action="%{DATA:fortinet.firewall.action}" policyid=%{INT:fortinet.firewall.policyid} policytype="%{DATA:fortinet.firewall.policytype}" service="%{DATA:fortinet.firewall.service}" trandisp="%{DATA:fortinet.firewall.trandisp}" duration=%{INT:fortinet.firewall.duration} sentbyte=%{INT:fortinet.firewall.sentbyte} rcvdbyte=%{INT:fortinet.firewall.rcvdbyte} sentpkt=%{INT:fortinet.firewall.sentpkt} rcvdpkt=%{INT:fortinet.firewall.rcvdpkt} appcat="%{DATA:fortinet.firewall.appcat}" crscore=%{INT:fortinet.firewall.crscore} craction=%{INT:fortinet.firewall.craction} crlevel="%{DATA:fortinet.firewall.crlevel}"$`,
		3},
	{"ips", `<185>date=2026-11-26 time=07:00:%02[2]d devname="FGT-HQ-01" devid="FG100FTK19000001" eventtime=17956764%02[2]d987654321 tz="+0000" logid="0419016384" type="utm" subtype="ips" eventtype="signature" level="alert" vd="root" severity="critical" srcip=203.0.113.%[4]d srccountry="Netherlands" dstip=10.1.2.%[4]d dstcountry="Reserved" srcintf="port1" srcintfrole="wan" dstintf="port3" dstintfrole="dmz" sessionid=14%05[1]d action="reset" proto=6 service="HTTP" policyid=21 attack="Apache.Log4j.Error.Log.Remote.Code.Execution" srcport=4%04[1]d dstport=80 hostname="app.example.com" url="/api/login?user=x" agent="curl/8.5.0" httpmethod="GET" direction="incoming" attackid=51006 profile="protect-servers" ref="http://www.fortinet.com/ids/VID51006" incidentserialno=2080%05[1]d msg="applications3: Apache.Log4j.Error.Log.Remote.Code.Execution," crscore=50 craction=4096 crlevel="critical"`,
		`^<%{NONNEGINT:log.syslog.priority}>date=%{FGT_DATE:fortinet.firewall.date} time=%{TIME:fortinet.firewall.time} devname="%{DATA:fortinet.firewall.devname}" devid="%{DATA:fortinet.firewall.devid}" eventtime=%{INT:fortinet.firewall.eventtime} tz="%{DATA:fortinet.firewall.tz}" logid="%{DATA:fortinet.firewall.logid}" type="%{DATA:fortinet.firewall.type}" subtype="%{DATA:fortinet.firewall.subtype}" eventtype="%{DATA:fortinet.firewall.eventtype}" level="%{DATA:fortinet.firewall.level}" vd="%{DATA:fortinet.firewall.vd}" severity="%{DATA:fortinet.firewall.severity}" srcip=%{IP:fortinet.firewall.srcip} srccountry="%{DATA:fortinet.firewall.srccountry}" dstip=%{IP:fortinet.firewall.dstip} dstcountry="%{DATA:fortinet.firewall.dstcountry}" srcintf="%{DATA:fortinet.firewall.srcintf}" srcintfrole="%{DATA:fortinet.firewall.srcintfrole}" dstintf="%{DATA:fortinet.firewall.dstintf}" dstintfrole="%{DATA:fortinet.firewall.dstintfrole}" sessionid=%{INT:fortinet.firewall.sessionid} action="%{DATA:fortinet.firewall.action}" proto=%{INT:fortinet.firewall.proto} service="%{DATA:fortinet.firewall.service}" policyid=%{INT:fortinet.firewall.policyid} attack="%{DATA:fortinet.firewall.attack}" srcport=%{INT:fortinet.firewall.srcport} dstport=%{INT:fortinet.firewall.dstport} hostname="%{DATA:fortinet.firewall.hostname}" url="%{DATA:fortinet.firewall.url}" agent="%{DATA:fortinet.firewall.agent}" httpmethod="%{DATA:fortinet.firewall.httpmethod}" direction="%{DATA:fortinet.firewall.direction}" attackid=%{INT:fortinet.firewall.attackid} profile="%{DATA:fortinet.firewall.profile}" ref="%{DATA:fortinet.firewall.ref}" incidentserialno=%{INT:fortinet.firewall.incidentserialno} msg="%{DATA:fortinet.firewall.msg}" crscore=%{INT:fortinet.firewall.crscore} craction=%{INT:fortinet.firewall.craction} crlevel="%{DATA:fortinet.firewall.crlevel}"$`,
		1},
	{"webfilter", `<188>date=2026-11-26 time=07:00:%02[2]d devname="FGT-HQ-01" devid="FG100FTK19000001" eventtime=17956764%02[2]d000000000 tz="+0000" logid="0316013056" type="utm" subtype="webfilter" eventtype="ftgd_blk" level="warning" vd="root" policyid=12 sessionid=15%05[1]d srcip=10.1.%[3]d.%[4]d srcport=5%04[1]d srcintf="port2" srcintfrole="lan" dstip=203.0.113.%[4]d dstport=80 dstintf="port1" dstintfrole="wan" proto=6 service="HTTP" hostname="phish.example.net" profile="default" action="blocked" reqtype="direct" url="/login" sentbyte=96 rcvdbyte=0 direction="outgoing" msg="URL belongs to a denied category in policy" method="domain" cat=26 catdesc="Malicious Websites" crscore=30 craction=4194304 crlevel="high"`,
		`^<%{NONNEGINT:log.syslog.priority}>date=%{FGT_DATE:fortinet.firewall.date} time=%{TIME:fortinet.firewall.time} devname="%{DATA:fortinet.firewall.devname}" devid="%{DATA:fortinet.firewall.devid}" eventtime=%{INT:fortinet.firewall.eventtime} tz="%{DATA:fortinet.firewall.tz}" logid="%{DATA:fortinet.firewall.logid}" type="%{DATA:fortinet.firewall.type}" subtype="%{DATA:fortinet.firewall.subtype}" eventtype="%{DATA:fortinet.firewall.eventtype}" level="%{DATA:fortinet.firewall.level}" vd="%{DATA:fortinet.firewall.vd}" policyid=%{INT:fortinet.firewall.policyid} sessionid=%{INT:fortinet.firewall.sessionid} srcip=%{IP:fortinet.firewall.srcip} srcport=%{INT:fortinet.firewall.srcport} srcintf="%{DATA:fortinet.firewall.srcintf}" srcintfrole="%{DATA:fortinet.firewall.srcintfrole}" dstip=%{IP:fortinet.firewall.dstip} dstport=%{INT:fortinet.firewall.dstport} dstintf="%{DATA:fortinet.firewall.dstintf}" dstintfrole="%{DATA:fortinet.firewall.dstintfrole}" proto=%{INT:fortinet.firewall.proto} service="%{DATA:fortinet.firewall.service}" hostname="%{DATA:fortinet.firewall.hostname}" profile="%{DATA:fortinet.firewall.profile}" action="%{DATA:fortinet.firewall.action}" reqtype="%{DATA:fortinet.firewall.reqtype}" url="%{DATA:fortinet.firewall.url}" sentbyte=%{INT:fortinet.firewall.sentbyte} rcvdbyte=%{INT:fortinet.firewall.rcvdbyte} direction="%{DATA:fortinet.firewall.direction}" msg="%{DATA:fortinet.firewall.msg}" method="%{DATA:fortinet.firewall.method}" cat=%{INT:fortinet.firewall.cat} catdesc="%{DATA:fortinet.firewall.catdesc}" crscore=%{INT:fortinet.firewall.crscore} craction=%{INT:fortinet.firewall.craction} crlevel="%{DATA:fortinet.firewall.crlevel}"$`,
		2},
	{"dns", `<189>date=2026-11-26 time=07:00:%02[2]d devname="FGT-HQ-01" devid="FG100FTK19000001" eventtime=17956764%02[2]d000000000 tz="+0000" logid="1501054802" type="utm" subtype="dns" eventtype="dns-response" level="notice" vd="root" policyid=12 sessionid=16%05[1]d srcip=10.1.%[3]d.%[4]d srcport=5%04[1]d srcintf="port2" srcintfrole="lan" dstip=10.1.0.53 dstport=53 dstintf="port3" dstintfrole="dmz" proto=17 profile="default" xid=%[1]d qname="www.example.com" qtype="A" qtypeval=1 qclass="IN" ipaddr="192.0.2.44, 192.0.2.45" msg="Domain is monitored" action="pass" cat=52 catdesc="Information Technology"`,
		`^<%{NONNEGINT:log.syslog.priority}>date=%{FGT_DATE:fortinet.firewall.date} time=%{TIME:fortinet.firewall.time} devname="%{DATA:fortinet.firewall.devname}" devid="%{DATA:fortinet.firewall.devid}" eventtime=%{INT:fortinet.firewall.eventtime} tz="%{DATA:fortinet.firewall.tz}" logid="%{DATA:fortinet.firewall.logid}" type="%{DATA:fortinet.firewall.type}" subtype="%{DATA:fortinet.firewall.subtype}" eventtype="%{DATA:fortinet.firewall.eventtype}" level="%{DATA:fortinet.firewall.level}" vd="%{DATA:fortinet.firewall.vd}" policyid=%{INT:fortinet.firewall.policyid} sessionid=%{INT:fortinet.firewall.sessionid} srcip=%{IP:fortinet.firewall.srcip} srcport=%{INT:fortinet.firewall.srcport} srcintf="%{DATA:fortinet.firewall.srcintf}" srcintfrole="%{DATA:fortinet.firewall.srcintfrole}" dstip=%{IP:fortinet.firewall.dstip} dstport=%{INT:fortinet.firewall.dstport} dstintf="%{DATA:fortinet.firewall.dstintf}" dstintfrole="%{DATA:fortinet.firewall.dstintfrole}" proto=%{INT:fortinet.firewall.proto} profile="%{DATA:fortinet.firewall.profile}" xid=%{INT:fortinet.firewall.xid} qname="%{DATA:fortinet.firewall.qname}" qtype="%{DATA:fortinet.firewall.qtype}" qtypeval=%{INT:fortinet.firewall.qtypeval} qclass="%{DATA:fortinet.firewall.qclass}" ipaddr="%{DATA:fortinet.firewall.ipaddr}" msg="%{DATA:fortinet.firewall.msg}" action="%{DATA:fortinet.firewall.action}" cat=%{INT:fortinet.firewall.cat} catdesc="%{DATA:fortinet.firewall.catdesc}"$`,
		2},
	{"virus", `<188>date=2026-11-26 time=07:00:%02[2]d devname="FGT-HQ-01" devid="FG100FTK19000001" eventtime=17956764%02[2]d111000000 tz="+0000" logid="0211008192" type="utm" subtype="virus" eventtype="infected" level="warning" vd="root" msg="File is infected." action="blocked" service="HTTP" sessionid=17%05[1]d srcip=10.1.%[3]d.%[4]d dstip=203.0.113.%[4]d srcport=4%04[1]d dstport=80 srcintf="port2" srcintfrole="lan" dstintf="port1" dstintfrole="wan" policyid=12 proto=6 direction="incoming" filename="eicar.com" quarskip="File-was-not-quarantined" virus="EICAR_TEST_FILE" viruscat="Virus" dtype="av-engine" ref="http://www.fortinet.com/ve?vn=EICAR_TEST_FILE" virusid=2172 url="http://downloads.example.com/test/eicar.com" profile="default" user="alice" agent="curl/8.5.0" analyticscksum="275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f" analyticssubmit="false" crscore=50 craction=2 crlevel="critical"`,
		`^<%{NONNEGINT:log.syslog.priority}>date=%{FGT_DATE:fortinet.firewall.date} time=%{TIME:fortinet.firewall.time} devname="%{DATA:fortinet.firewall.devname}" devid="%{DATA:fortinet.firewall.devid}" eventtime=%{INT:fortinet.firewall.eventtime} tz="%{DATA:fortinet.firewall.tz}" logid="%{DATA:fortinet.firewall.logid}" type="%{DATA:fortinet.firewall.type}" subtype="%{DATA:fortinet.firewall.subtype}" eventtype="%{DATA:fortinet.firewall.eventtype}" level="%{DATA:fortinet.firewall.level}" vd="%{DATA:fortinet.firewall.vd}" msg="%{DATA:fortinet.firewall.msg}" action="%{DATA:fortinet.firewall.action}" service="%{DATA:fortinet.firewall.service}" sessionid=%{INT:fortinet.firewall.sessionid} srcip=%{IP:fortinet.firewall.srcip} dstip=%{IP:fortinet.firewall.dstip} srcport=%{INT:fortinet.firewall.srcport} dstport=%{INT:fortinet.firewall.dstport} srcintf="%{DATA:fortinet.firewall.srcintf}" srcintfrole="%{DATA:fortinet.firewall.srcintfrole}" dstintf="%{DATA:fortinet.firewall.dstintf}" dstintfrole="%{DATA:fortinet.firewall.dstintfrole}" policyid=%{INT:fortinet.firewall.policyid} proto=%{INT:fortinet.firewall.proto} direction="%{DATA:fortinet.firewall.direction}" filename="%{DATA:fortinet.firewall.filename}" quarskip="%{DATA:fortinet.firewall.quarskip}" virus="%{DATA:fortinet.firewall.virus}" viruscat="%{DATA:fortinet.firewall.viruscat}" dtype="%{DATA:fortinet.firewall.dtype}" ref="%{DATA:fortinet.firewall.ref}" virusid=%{INT:fortinet.firewall.virusid} url="%{DATA:fortinet.firewall.url}" profile="%{DATA:fortinet.firewall.profile}" user="%{DATA:fortinet.firewall.user}" agent="%{DATA:fortinet.firewall.agent}" analyticscksum="%{DATA:fortinet.firewall.analyticscksum}" analyticssubmit="%{DATA:fortinet.firewall.analyticssubmit}" crscore=%{INT:fortinet.firewall.crscore} craction=%{INT:fortinet.firewall.craction} crlevel="%{DATA:fortinet.firewall.crlevel}"$`,
		1},
	{"system-login", `<190>date=2026-11-26 time=07:00:%02[2]d devname="FGT-HQ-01" devid="FG100FTK19000001" eventtime=17956764%02[2]d000000000 tz="+0000" logid="0100032001" type="event" subtype="system" level="information" vd="root" logdesc="Admin login successful" sn="17956%05[1]d" user="admin" ui="https(192.0.2.%[4]d)" method="https" srcip=192.0.2.%[4]d dstip=198.51.100.10 action="login" status="success" reason="none" profile="super_admin" msg="Administrator admin logged in successfully from https(192.0.2.%[4]d)"`,
		`^<%{NONNEGINT:log.syslog.priority}>date=%{FGT_DATE:fortinet.firewall.date} time=%{TIME:fortinet.firewall.time} devname="%{DATA:fortinet.firewall.devname}" devid="%{DATA:fortinet.firewall.devid}" eventtime=%{INT:fortinet.firewall.eventtime} tz="%{DATA:fortinet.firewall.tz}" logid="%{DATA:fortinet.firewall.logid}" type="%{DATA:fortinet.firewall.type}" subtype="%{DATA:fortinet.firewall.subtype}" level="%{DATA:fortinet.firewall.level}" vd="%{DATA:fortinet.firewall.vd}" logdesc="%{DATA:fortinet.firewall.logdesc}" sn="%{DATA:fortinet.firewall.sn}" user="%{DATA:fortinet.firewall.user}" ui="%{DATA:fortinet.firewall.ui}" method="%{DATA:fortinet.firewall.method}" srcip=%{IP:fortinet.firewall.srcip} dstip=%{IP:fortinet.firewall.dstip} action="%{DATA:fortinet.firewall.action}" status="%{DATA:fortinet.firewall.status}" reason="%{DATA:fortinet.firewall.reason}" profile="%{DATA:fortinet.firewall.profile}" msg="%{DATA:fortinet.firewall.msg}"$`,
		1},
	{"vpn-tunnel", `<189>date=2026-11-26 time=07:00:%02[2]d devname="FGT-HQ-01" devid="FG100FTK19000001" eventtime=17956764%02[2]d000000000 tz="+0000" logid="0101037138" type="event" subtype="vpn" level="notice" vd="root" logdesc="IPsec connection status changed" msg="IPsec connection status change" action="tunnel-up" remip=203.0.113.%[4]d locip=198.51.100.10 remport=500 locport=500 outintf="port1" cookies="1122334455667788/99aabbccddeeff00" user="N/A" group="N/A" useralt="N/A" xauthuser="N/A" xauthgroup="N/A" assignip=N/A vpntunnel="to-branch-%[4]d" tunnelip=N/A tunnelid=16106%05[1]d tunneltype="ipsec" duration=0 sentbyte=0 rcvdbyte=0 nextstat=0`,
		`^<%{NONNEGINT:log.syslog.priority}>date=%{FGT_DATE:fortinet.firewall.date} time=%{TIME:fortinet.firewall.time} devname="%{DATA:fortinet.firewall.devname}" devid="%{DATA:fortinet.firewall.devid}" eventtime=%{INT:fortinet.firewall.eventtime} tz="%{DATA:fortinet.firewall.tz}" logid="%{DATA:fortinet.firewall.logid}" type="%{DATA:fortinet.firewall.type}" subtype="%{DATA:fortinet.firewall.subtype}" level="%{DATA:fortinet.firewall.level}" vd="%{DATA:fortinet.firewall.vd}" logdesc="%{DATA:fortinet.firewall.logdesc}" msg="%{DATA:fortinet.firewall.msg}" action="%{DATA:fortinet.firewall.action}" remip=%{IP:fortinet.firewall.remip} locip=%{IP:fortinet.firewall.locip} remport=%{INT:fortinet.firewall.remport} locport=%{INT:fortinet.firewall.locport} outintf="%{DATA:fortinet.firewall.outintf}" cookies="%{DATA:fortinet.firewall.cookies}" user="%{DATA:fortinet.firewall.user}" group="%{DATA:fortinet.firewall.group}" useralt="%{DATA:fortinet.firewall.useralt}" xauthuser="%{DATA:fortinet.firewall.xauthuser}" xauthgroup="%{DATA:fortinet.firewall.xauthgroup}" assignip=%{NOTSPACE:fortinet.firewall.assignip} vpntunnel="%{DATA:fortinet.firewall.vpntunnel}" tunnelip=%{NOTSPACE:fortinet.firewall.tunnelip} tunnelid=%{INT:fortinet.firewall.tunnelid} tunneltype="%{DATA:fortinet.firewall.tunneltype}" duration=%{INT:fortinet.firewall.duration} sentbyte=%{INT:fortinet.firewall.sentbyte} rcvdbyte=%{INT:fortinet.firewall.rcvdbyte} nextstat=%{INT:fortinet.firewall.nextstat}$`,
		1},
}

// fortigateLines returns n generated lines, the kinds mixed by their weights.
func fortigateLines(n int) []string {
	var order []int
	for k, kind := range fortigateKinds {
		for range kind.weight {
			order = append(order, k)
		}
	}
	lines := make([]string, n)
	for i := range lines {
		kind := fortigateKinds[order[i%len(order)]]
		lines[i] = fmt.Sprintf(kind.format, i%10000, i%60, 1+i/200%250, 1+i%250)
	}
	return lines
}

// fortigatePipeline builds the fortigate sample alone, so that the benchmark does not
// depend on the other samples.
func fortigatePipeline(tb testing.TB) *pipeline.Pipeline {
	tb.Helper()
	data, err := fs.ReadFile(FS(), "fortigate.yaml")
	if err != nil {
		tb.Fatal(err)
	}
	cfgs, err := pipeline.LoadFS(fstest.MapFS{"fortigate.yaml": {Data: data}}, Origin)
	if err != nil {
		tb.Fatal(err)
	}
	set, err := pipeline.Build(cfgs, pipeline.Deps{})
	if err != nil {
		tb.Fatal(err)
	}
	return set.Get("fortigate")
}

// BenchmarkPipelineFortigate runs the fortigate sample pipeline over a mix of
// generated FortiGate lines (fortigateKinds); events/s is the per-core rate with
// -cpu 1.
func BenchmarkPipelineFortigate(b *testing.B) {
	p := fortigatePipeline(b)
	lines := fortigateLines(1024)
	ctx := context.Background()
	b.ReportAllocs()
	cpu0 := cputime.Self()
	i := 0
	for b.Loop() {
		e := event.Event{Type: "fortigate", Received: received, Fields: map[string]any{"message": lines[i%len(lines)]}}
		i++
		_ = p.Process(ctx, &e)
		if _, failed := e.Fields["error"]; failed {
			b.Fatal(e.Fields["error"])
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	reportCPURate(b, cpu0, b.N)
}

// BenchmarkGoGrokFortigate is the baseline: github.com/elastic/go-grok extracting the
// same raw fields from the same lines with one expression per kind of line, tried in
// order until one matches, as a Logstash grok filter with a list of patterns does.
// It only splits the line: none of the pipeline's mapping to ECS.
func BenchmarkGoGrokFortigate(b *testing.B) {
	groks := make([]*elasticgrok.Grok, len(fortigateKinds))
	for k, kind := range fortigateKinds {
		g := elasticgrok.New()
		if err := g.AddPattern("FGT_DATE", `[0-9]{4}-[0-9]{2}-[0-9]{2}`); err != nil {
			b.Fatal(err)
		}
		if err := g.Compile(kind.grok, true); err != nil {
			b.Fatalf("%s: %v", kind.name, err)
		}
		groks[k] = g
	}
	lines := fortigateLines(1024)
	parse := func(line string) map[string]string {
		for _, g := range groks {
			if m, err := g.ParseString(line); err == nil && len(m) > 0 {
				return m
			}
		}
		return nil
	}
	for _, l := range lines {
		if parse(l) == nil {
			b.Fatalf("no expression matches %s", l)
		}
	}
	b.ReportAllocs()
	cpu0 := cputime.Self()
	i := 0
	for b.Loop() {
		if parse(lines[i%len(lines)]) == nil {
			b.Fatal("no match")
		}
		i++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	reportCPURate(b, cpu0, b.N)
}

// TestFortigateBenchLines: every generated line of the benchmarks goes through the
// pipeline without an error, so that the benchmark measures the parsing path.
func TestFortigateBenchLines(t *testing.T) {
	p := fortigatePipeline(t)
	for _, l := range fortigateLines(len(fortigateKinds) * 20) {
		e := event.Event{Type: "fortigate", Received: received, Fields: map[string]any{"message": l}}
		if err := p.Process(context.Background(), &e); err != nil {
			t.Fatal(err)
		}
		if _, failed := e.Fields["error"]; failed {
			t.Fatalf("%s: %v", l, e.Fields["error"])
		}
	}
}
