package grok

import (
	"fmt"
	"strings"
)

// vocabulary is sluice's standard grok pattern vocabulary, one "NAME definition" per
// line in the grok-patterns file format ('#' starts a comment line). The names and what
// they match follow the vocabulary security engineers know from Logstash and
// Elasticsearch ingest; the definitions are sluice's own, written for RE2 (Go's regexp
// syntax): no look-around and no atomic groups. Where the classic definitions rely on
// look-around to stop a number in the middle ("10.0.0.256"), these use \b instead, so
// IPV4 matches whole dotted quads only.
//
// A definition may use other patterns by %{NAME}, and may capture fields by
// %{NAME:field}; SYSLOGPROG and SYSLOGBASE capture ECS fields.
const vocabulary = `
# Text
WORD \b\w+\b
NOTSPACE \S+
SPACE \s*
DATA .*?
GREEDYDATA .*
QUOTEDSTRING "(?:\\.|[^\\"])*"|'(?:\\.|[^\\'])*'|` + "`(?:\\\\.|[^\\\\`])*`" + `
QS %{QUOTEDSTRING}
UUID [A-Fa-f0-9]{8}-(?:[A-Fa-f0-9]{4}-){3}[A-Fa-f0-9]{12}
USERNAME [a-zA-Z0-9._-]+
USER %{USERNAME}
EMAILLOCALPART [a-zA-Z0-9!#$%&'*+/=?^_{|}~-]+(?:\.[a-zA-Z0-9!#$%&'*+/=?^_{|}~-]+)*
EMAILADDRESS %{EMAILLOCALPART}@%{HOSTNAME}

# Numbers
INT [+-]?[0-9]+
BASE10NUM [+-]?(?:[0-9]+(?:\.[0-9]+)?|\.[0-9]+)
NUMBER %{BASE10NUM}
BASE16NUM [+-]?(?:0[xX])?[0-9A-Fa-f]+
POSINT \b[1-9][0-9]*\b
NONNEGINT \b[0-9]+\b

# Networking
IPV4 \b(?:(?:25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?)\.){3}(?:25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?)\b
IPV6 (?:(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}|(?:[0-9A-Fa-f]{1,4}:){6}%{IPV4}|(?:[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{1,4}){0,5})?::(?:[0-9A-Fa-f]{1,4}:){0,5}%{IPV4}|(?:[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{1,4}){0,6})?::(?:[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{1,4}){0,6})?)(?:%[0-9A-Za-z]+)?
IP %{IPV6}|%{IPV4}
HOSTNAME \b[0-9A-Za-z][0-9A-Za-z-]{0,62}(?:\.[0-9A-Za-z][0-9A-Za-z-]{0,62})*\.?
HOST %{HOSTNAME}
IPORHOST %{IP}|%{HOSTNAME}
HOSTPORT %{IPORHOST}:%{POSINT}
CISCOMAC (?:[A-Fa-f0-9]{4}\.){2}[A-Fa-f0-9]{4}
WINDOWSMAC (?:[A-Fa-f0-9]{2}-){5}[A-Fa-f0-9]{2}
COMMONMAC (?:[A-Fa-f0-9]{2}:){5}[A-Fa-f0-9]{2}
MAC %{COMMONMAC}|%{WINDOWSMAC}|%{CISCOMAC}

# Paths and URIs
UNIXPATH (?:/[A-Za-z0-9$.+!*'(){},~:;=@#%&_-]*)+
WINPATH (?:[A-Za-z]+:|\\)(?:\\[^\\?*\n]*)+
PATH %{UNIXPATH}|%{WINPATH}
URIPROTO [A-Za-z][A-Za-z0-9+.-]+
URIHOST %{IPORHOST}(?::%{POSINT})?
URIPATH (?:/[A-Za-z0-9$.+!*'(){},~:;=@#%&_-]*)+
URIPARAM \?[A-Za-z0-9$.+!*'|(){},~@#%&/=:;_?\[\]<>-]*
URIPATHPARAM %{URIPATH}(?:%{URIPARAM})?
URI %{URIPROTO}://(?:%{USER}(?::[^@\s]*)?@)?%{URIHOST}?(?:%{URIPATHPARAM})?

# Dates and times
MONTH \b(?:[Jj]an(?:uary)?|[Ff]eb(?:ruary)?|[Mm]ar(?:ch)?|[Aa]pr(?:il)?|[Mm]ay|[Jj]une?|[Jj]uly?|[Aa]ug(?:ust)?|[Ss]ep(?:t(?:ember)?)?|[Oo]ct(?:ober)?|[Nn]ov(?:ember)?|[Dd]ec(?:ember)?)\b
MONTHNUM 0?[1-9]|1[0-2]
MONTHNUM2 0[1-9]|1[0-2]
MONTHDAY 0[1-9]|[12][0-9]|3[01]|[1-9]
DAY \b(?:[Mm]on(?:day)?|[Tt]ue(?:sday)?|[Ww]ed(?:nesday)?|[Tt]hu(?:rsday)?|[Ff]ri(?:day)?|[Ss]at(?:urday)?|[Ss]un(?:day)?)\b
YEAR [0-9]{4}|[0-9]{2}
HOUR 2[0-3]|[01]?[0-9]
MINUTE [0-5][0-9]
SECOND (?:[0-5]?[0-9]|60)(?:[:.,][0-9]+)?
TIME %{HOUR}:%{MINUTE}(?::%{SECOND})?
DATE_US %{MONTHNUM}[/-]%{MONTHDAY}[/-]%{YEAR}
DATE_EU %{MONTHDAY}[./-]%{MONTHNUM}[./-]%{YEAR}
DATE %{DATE_US}|%{DATE_EU}
DATESTAMP %{DATE}[- ]%{TIME}
ISO8601_TIMEZONE Z|[+-]%{HOUR}(?::?%{MINUTE})?
ISO8601_SECOND %{SECOND}
TIMESTAMP_ISO8601 %{YEAR}-%{MONTHNUM}-%{MONTHDAY}[T ]%{HOUR}:?%{MINUTE}(?::?%{SECOND})?%{ISO8601_TIMEZONE}?
TZ [A-Z]{3,4}|UTC
DATESTAMP_RFC822 %{DAY} %{MONTH} %{MONTHDAY} %{YEAR} %{TIME} %{TZ}
DATESTAMP_RFC2822 %{DAY}, %{MONTHDAY} %{MONTH} %{YEAR} %{TIME} %{ISO8601_TIMEZONE}
DATESTAMP_OTHER %{DAY} %{MONTH} %{MONTHDAY} %{TIME} %{TZ} %{YEAR}
HTTPDATE %{MONTHDAY}/%{MONTH}/%{YEAR}:%{TIME} [+-]?[0-9]{4}
SYSLOGTIMESTAMP %{MONTH} +%{MONTHDAY} %{TIME}

# Syslog
PROG [\x21-\x5a\x5c\x5e-\x7e]+
SYSLOGPROG %{PROG:process.name}(?:\[%{POSINT:process.pid:int}\])?
SYSLOGHOST %{IPORHOST}
SYSLOGFACILITY <%{NONNEGINT:log.syslog.facility.code:int}\.%{NONNEGINT:log.syslog.priority:int}>
SYSLOGBASE %{SYSLOGTIMESTAMP:timestamp} (?:%{SYSLOGFACILITY} )?%{SYSLOGHOST:host.hostname} %{SYSLOGPROG}:
LOGLEVEL [Aa]lert|ALERT|[Tt]race|TRACE|[Dd]ebug|DEBUG|[Nn]otice|NOTICE|[Ii]nfo(?:rmation)?|INFO(?:RMATION)?|[Ww]arn(?:ing)?|WARN(?:ING)?|[Ee]rr(?:or)?|ERR(?:OR)?|[Cc]rit(?:ical)?|CRIT(?:ICAL)?|[Ff]atal|FATAL|[Ss]evere|SEVERE|[Ee]merg(?:ency)?|EMERG(?:ENCY)?

# Web servers (ECS field names)
HTTPDUSER %{EMAILADDRESS}|%{USER}
COMMONAPACHELOG %{IPORHOST:source.address} (?:-|%{HTTPDUSER:user.name}) (?:-|%{HTTPDUSER:user.name}) \[%{HTTPDATE:timestamp}\] "(?:%{WORD:http.request.method} %{NOTSPACE:url.original}(?: HTTP/%{NUMBER:http.version})?|%{DATA})" (?:-|%{INT:http.response.status_code:int}) (?:-|%{INT:http.response.body.bytes:int})
COMBINEDAPACHELOG %{COMMONAPACHELOG} "(?:-|%{DATA:http.request.referrer})" "(?:-|%{DATA:user_agent.original})"
`

// parseVocabulary reads pattern definitions in the grok-patterns file format.
func parseVocabulary(text string) (map[string]string, error) {
	defs := map[string]string{}
	for n, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, def, ok := strings.Cut(line, " ")
		if !ok || !validName(name) {
			return nil, fmt.Errorf("line %d: want NAME definition", n+1)
		}
		defs[name] = strings.TrimSpace(def)
	}
	return defs, nil
}

// Vocabulary returns a copy of the standard pattern definitions, by name.
func Vocabulary() map[string]string {
	defs, err := parseVocabulary(vocabulary)
	if err != nil {
		// The vocabulary is a constant; TestVocabulary compiles every pattern in it.
		return map[string]string{}
	}
	return defs
}
