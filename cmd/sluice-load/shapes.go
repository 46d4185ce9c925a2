package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The event shapes: the sample log types of the transform tier, as shippers send them.
const (
	// shapeFirewall is an iptables-style kernel line from syslog in Filebeat's event
	// shape (message, host, log.file, input, agent, ecs, fields.log_type).
	shapeFirewall = "firewall"
	// shapeIDS is a Suricata EVE JSON alert, decoded at the event's root (Filebeat's
	// ndjson parser), with Filebeat's host and fields.log_type.
	shapeIDS = "ids"
	// shapeWAF is an AWS WAF (v2) log record, with fields.log_type.
	shapeWAF = "waf"
	// shapeMix takes the three in turn.
	shapeMix = "mix"
)

var shapes = []string{shapeFirewall, shapeIDS, shapeWAF, shapeMix}

// event is one generated event in every form the transports need.
type event struct {
	// typ is the log type ("firewall", "ids", "waf").
	typ string
	// line is the raw log line as the source wrote it: the syslog line, or the EVE or
	// WAF JSON as one line. gRPC sends it as the event's message.
	line string
	// doc is the event document as an HTTP or _bulk shipper sends it: one JSON object.
	doc []byte
	// beat is the document as Filebeat sends it over lumberjack: doc with @metadata.
	beat []byte
	// host names the source; gRPC sends it in fields.host.name.
	host string
	// time is the event's time.
	time time.Time
}

// genOptions shape the generated events.
type genOptions struct {
	shape string
	// size pads every document (doc, beat) to at least this many bytes with a "pad"
	// field; 0 leaves events at their natural size (firewall about 560 bytes).
	size int
	// seed makes the events reproducible.
	seed uint64
	// start is the time of the first event; each next one is a millisecond later.
	start time.Time
}

// generate makes n distinct events of the chosen shape.
func generate(o genOptions, n int) ([]event, error) {
	if !slices.Contains(shapes, o.shape) {
		return nil, fmt.Errorf("unknown shape %q: want one of %s", o.shape, strings.Join(shapes, ", "))
	}
	if o.size < 0 {
		return nil, fmt.Errorf("size %d is negative", o.size)
	}
	r := rand.New(rand.NewPCG(o.seed, 0x5111ce))
	evs := make([]event, n)
	var enc encoder
	for i := range evs {
		shape := o.shape
		if shape == shapeMix {
			shape = shapes[i%3]
		}
		t := o.start.Add(time.Duration(i) * time.Millisecond).UTC()
		var e event
		switch shape {
		case shapeFirewall:
			e = firewallEvent(r, t, &enc)
		case shapeIDS:
			e = idsEvent(r, t, &enc)
		default:
			e = wafEvent(r, t, &enc)
		}
		if enc.err != nil {
			return nil, fmt.Errorf("encode event %d: %w", i, enc.err)
		}
		e.time = t
		e.beat = pad(withMetadata(e.doc), o.size)
		e.doc = pad(e.doc, o.size)
		evs[i] = e
	}
	return evs, nil
}

// pad adds a "pad" field to the JSON object doc so that it is at least size bytes.
func pad(doc []byte, size int) []byte {
	const field = `,"pad":""`
	if len(doc)+len(field) > size {
		return doc
	}
	out := make([]byte, 0, size)
	out = append(out, doc[:len(doc)-1]...)
	out = append(out, `,"pad":"`...)
	for range size - len(doc) - len(field) {
		out = append(out, 'x')
	}
	return append(out, `"}`...)
}

// withMetadata returns doc with Filebeat's @metadata object first, as Beats send it to
// Logstash (the receiver drops it by default).
func withMetadata(doc []byte) []byte {
	const meta = `{"@metadata":{"beat":"filebeat","type":"_doc","version":"8.17.0"},`
	out := make([]byte, 0, len(meta)+len(doc))
	out = append(out, meta...)
	return append(out, doc[1:]...)
}

func ip(r *rand.Rand, prefix string) string {
	return prefix + strconv.Itoa(r.IntN(254)+1) + "." + strconv.Itoa(r.IntN(254)+1)
}

func hexID(r *rand.Rand, n int) string {
	const digits = "0123456789abcdef"
	b := make([]byte, n)
	for i := range b {
		b[i] = digits[r.IntN(16)]
	}
	return string(b)
}

// beatDoc is Filebeat's event document around a raw line.
type beatDoc struct {
	Timestamp string `json:"@timestamp"`
	Message   string `json:"message"`
	Log       struct {
		File struct {
			Path string `json:"path"`
		} `json:"file"`
		Offset int64 `json:"offset"`
	} `json:"log"`
	Input struct {
		Type string `json:"type"`
	} `json:"input"`
	Host  nameOnly `json:"host"`
	Agent struct {
		Type    string `json:"type"`
		Version string `json:"version"`
		Name    string `json:"name"`
	} `json:"agent"`
	ECS struct {
		Version string `json:"version"`
	} `json:"ecs"`
	Fields logType `json:"fields"`
}

type nameOnly struct {
	Name string `json:"name"`
}

type logType struct {
	LogType string `json:"log_type"`
}

var firewallActions = []string{"IPTABLES-DROP", "IPTABLES-ACCEPT", "IPTABLES-REJECT"}

func firewallEvent(r *rand.Rand, t time.Time, enc *encoder) event {
	host := fmt.Sprintf("fw%02d", r.IntN(16))
	proto, flags := "TCP", " SYN URGP=0"
	if r.IntN(4) == 0 {
		proto, flags = "UDP", ""
	}
	line := fmt.Sprintf("%s %s kernel: [%d.%06d] %s: IN=eth0 OUT= MAC=00:16:3e:%02x:%02x:%02x:52:54:00:12:35:02:08:00 SRC=%s DST=%s LEN=%d TOS=0x00 PREC=0x00 TTL=%d ID=%d DF PROTO=%s SPT=%d DPT=%d WINDOW=29200 RES=0x00%s",
		t.Format(time.Stamp), host, r.IntN(900000)+1000, r.IntN(1000000), firewallActions[r.IntN(3)],
		r.IntN(256), r.IntN(256), r.IntN(256), ip(r, "203.0."), ip(r, "10.1."), 40+r.IntN(1400), 32+r.IntN(96),
		r.IntN(65536), proto, 1024+r.IntN(64000), []int{22, 53, 80, 443, 3389, 8080}[r.IntN(6)], flags)
	var d beatDoc
	d.Timestamp = t.Format("2006-01-02T15:04:05.000Z")
	d.Message = line
	d.Log.File.Path = "/var/log/kern.log"
	d.Log.Offset = r.Int64N(1 << 32)
	d.Input.Type = "filestream"
	d.Host.Name = host
	d.Agent.Type, d.Agent.Version, d.Agent.Name = "filebeat", "8.17.0", host
	d.ECS.Version = "8.0.0"
	d.Fields.LogType = shapeFirewall
	return event{typ: shapeFirewall, line: line, doc: enc.json(d), host: host}
}

var signatures = []struct {
	id       int
	msg, cat string
}{
	{2024364, "ET SCAN Possible Nmap User-Agent Observed", "Web Application Attack"},
	{2019401, "ET POLICY Vulnerable Java Version 1.8.x Detected", "Potential Corporate Privacy Violation"},
	{2100498, "GPL ATTACK_RESPONSE id check returned root", "Potentially Bad Traffic"},
	{2013028, "ET POLICY curl User-Agent Outbound", "Attempted Information Leak"},
}

// eve is a Suricata EVE alert record, in EVE's field order.
type eve struct {
	Timestamp   string `json:"timestamp"`
	FlowID      int64  `json:"flow_id"`
	InIface     string `json:"in_iface"`
	EventType   string `json:"event_type"`
	SrcIP       string `json:"src_ip"`
	SrcPort     int    `json:"src_port"`
	DestIP      string `json:"dest_ip"`
	DestPort    int    `json:"dest_port"`
	Proto       string `json:"proto"`
	CommunityID string `json:"community_id"`
	Alert       struct {
		Action      string `json:"action"`
		GID         int    `json:"gid"`
		SignatureID int    `json:"signature_id"`
		Rev         int    `json:"rev"`
		Signature   string `json:"signature"`
		Category    string `json:"category"`
		Severity    int    `json:"severity"`
	} `json:"alert"`
	HTTP struct {
		Hostname  string `json:"hostname"`
		URL       string `json:"url"`
		UserAgent string `json:"http_user_agent"`
		Method    string `json:"http_method"`
		Protocol  string `json:"protocol"`
		Status    int    `json:"status"`
		Length    int    `json:"length"`
	} `json:"http"`
	AppProto string `json:"app_proto"`
	Flow     struct {
		PktsToServer  int    `json:"pkts_toserver"`
		PktsToClient  int    `json:"pkts_toclient"`
		BytesToServer int    `json:"bytes_toserver"`
		BytesToClient int    `json:"bytes_toclient"`
		Start         string `json:"start"`
	} `json:"flow"`
}

// eveDoc is an EVE record at the root of a Filebeat event.
type eveDoc struct {
	eve
	Host   nameOnly `json:"host"`
	Fields logType  `json:"fields"`
}

func idsEvent(r *rand.Rand, t time.Time, enc *encoder) event {
	host := fmt.Sprintf("ids%02d", r.IntN(4))
	sig := signatures[r.IntN(len(signatures))]
	var e eve
	ts := t.Format("2006-01-02T15:04:05.000000-0700")
	e.Timestamp, e.FlowID, e.InIface, e.EventType = ts, r.Int64N(1<<52), "eth1", "alert"
	e.SrcIP, e.SrcPort, e.DestIP, e.DestPort, e.Proto = ip(r, "198.51."), 1024+r.IntN(64000), ip(r, "10.1."), 80, "TCP"
	e.CommunityID = "1:" + hexID(r, 27) + "="
	e.Alert.Action, e.Alert.GID, e.Alert.SignatureID, e.Alert.Rev = "allowed", 1, sig.id, 1+r.IntN(9)
	e.Alert.Signature, e.Alert.Category, e.Alert.Severity = sig.msg, sig.cat, 1+r.IntN(3)
	e.HTTP.Hostname, e.HTTP.URL = "shop.example.com", "/products?id="+strconv.Itoa(r.IntN(10000))
	e.HTTP.UserAgent, e.HTTP.Method, e.HTTP.Protocol = "Mozilla/5.0 (compatible; Nmap Scripting Engine)", "GET", "HTTP/1.1"
	e.HTTP.Status, e.HTTP.Length = 200, r.IntN(20000)
	e.AppProto = "http"
	e.Flow.PktsToServer, e.Flow.PktsToClient = 1+r.IntN(20), 1+r.IntN(20)
	e.Flow.BytesToServer, e.Flow.BytesToClient, e.Flow.Start = 60+r.IntN(5000), 60+r.IntN(50000), ts
	line := string(enc.json(e))
	doc := enc.json(eveDoc{eve: e, Host: nameOnly{host}, Fields: logType{shapeIDS}})
	return event{typ: shapeIDS, line: line, doc: doc, host: host}
}

type wafHeader struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// waf is an AWS WAF v2 log record.
type waf struct {
	Timestamp                   int64    `json:"timestamp"`
	FormatVersion               int      `json:"formatVersion"`
	WebACLID                    string   `json:"webaclId"`
	TerminatingRuleID           string   `json:"terminatingRuleId"`
	TerminatingRuleType         string   `json:"terminatingRuleType"`
	Action                      string   `json:"action"`
	TerminatingRuleMatchDetails []string `json:"terminatingRuleMatchDetails"`
	HTTPSourceName              string   `json:"httpSourceName"`
	HTTPSourceID                string   `json:"httpSourceId"`
	RuleGroupList               []string `json:"ruleGroupList"`
	RateBasedRuleList           []string `json:"rateBasedRuleList"`
	NonTerminatingMatchingRules []string `json:"nonTerminatingMatchingRules"`
	HTTPRequest                 struct {
		ClientIP    string      `json:"clientIp"`
		Country     string      `json:"country"`
		Headers     []wafHeader `json:"headers"`
		URI         string      `json:"uri"`
		Args        string      `json:"args"`
		HTTPVersion string      `json:"httpVersion"`
		HTTPMethod  string      `json:"httpMethod"`
		RequestID   string      `json:"requestId"`
	} `json:"httpRequest"`
}

type wafDoc struct {
	waf
	Fields logType `json:"fields"`
}

var wafRules = []struct{ id, action string }{
	{"Default_Action", "ALLOW"},
	{"AWS-AWSManagedRulesSQLiRuleSet", "BLOCK"},
	{"AWS-AWSManagedRulesCommonRuleSet", "BLOCK"},
	{"RateLimit-2000", "BLOCK"},
}

func wafEvent(r *rand.Rand, t time.Time, enc *encoder) event {
	rule := wafRules[r.IntN(len(wafRules))]
	var w waf
	w.Timestamp, w.FormatVersion = t.UnixMilli(), 1
	w.WebACLID = "arn:aws:wafv2:us-east-1:123456789012:regional/webacl/shop/" + hexID(r, 8) + "-" + hexID(r, 4) + "-" + hexID(r, 4)
	w.TerminatingRuleID, w.Action = rule.id, rule.action
	w.TerminatingRuleType = "REGULAR"
	if strings.HasPrefix(rule.id, "AWS-") {
		w.TerminatingRuleType = "MANAGED_RULE_GROUP"
	}
	w.TerminatingRuleMatchDetails, w.RuleGroupList, w.RateBasedRuleList, w.NonTerminatingMatchingRules = []string{}, []string{}, []string{}, []string{}
	w.HTTPSourceName, w.HTTPSourceID = "ALB", "123456789012-app/shop-alb/"+hexID(r, 16)
	h := &w.HTTPRequest
	h.ClientIP, h.Country = ip(r, "198.51."), []string{"US", "DE", "BR", "CN", "FR"}[r.IntN(5)]
	h.Headers = []wafHeader{{"Host", "shop.example.com"}, {"User-Agent", []string{"Mozilla/5.0", "sqlmap/1.7.2", "curl/8.5.0"}[r.IntN(3)]}, {"Accept", "*/*"}}
	h.URI, h.Args = "/products", "id="+strconv.Itoa(r.IntN(10000))+"%27%20OR%201%3D1"
	h.HTTPVersion, h.HTTPMethod, h.RequestID = "HTTP/1.1", "GET", "1-"+hexID(r, 8)+"-"+hexID(r, 24)
	return event{typ: shapeWAF, line: string(enc.json(w)), doc: enc.json(wafDoc{waf: w, Fields: logType{shapeWAF}}), host: h.ClientIP}
}

// encoder encodes JSON and keeps the first error, so that the builders above read
// straight through.
type encoder struct{ err error }

func (e *encoder) json(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil && e.err == nil {
		e.err = err
	}
	return b
}
