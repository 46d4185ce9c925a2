package lumberjack

import (
	"fmt"
	"strings"
)

// filebeatMetadata is the @metadata member of filebeatEvent's events, with the comma
// that precedes it.
const filebeatMetadata = `,"@metadata":{"beat":"filebeat","type":"_doc","version":"8.15.0"}`

// filebeatEvent returns a Filebeat-shaped event of about 600 bytes (630 with a log
// type), as Filebeat's logstash output encodes it: @timestamp and @metadata first, then
// the event fields. typ sets fields.log_type unless it is empty.
func filebeatEvent(i int, typ string) []byte {
	var logType string
	if typ != "" {
		logType = fmt.Sprintf(`,"fields":{"log_type":%q}`, typ)
	}
	msg := fmt.Sprintf(`<134>1 2026-11-26T07:00:00.%03dZ fw01 filterlog 4242 - - 5,,,1000000103,igb0,match,block,in,4,0x0,,64,%d,0,DF,6,tcp,60,203.0.113.%d,198.51.100.7,%d,443,0,S,1234567%03d,,64240,,mss;sackOK;TS;nop;wscale`,
		i%1000, 40000+i%20000, i%250, 1024+i%60000, i%1000)
	msg += strings.Repeat(" pad", 16)
	return fmt.Appendf(nil, `{"@timestamp":"2026-11-26T07:00:00.%03dZ"`+filebeatMetadata+`,"message":%q,"host":{"name":"fw%02d.example.net"},"log":{"file":{"path":"/var/log/pfsense/filter.log"},"offset":%d},"input":{"type":"filestream"},"agent":{"type":"filebeat","version":"8.15.0"},"ecs":{"version":"8.0.0"}%s,"n":%d}`,
		i%1000, msg, i%16, i*613, logType, i)
}
