-- Athena table over the archive's raw waf events (sink.archive, content: raw, the
-- default): one row per event as the gateway received it, partitions projected from
-- the keys (no crawler, no MSCK REPAIR), zstd objects read by their .zst ending.
-- Replace BUCKET (and the prefix "sluice", if sink.archive.prefix differs), then run
-- it in the Athena query editor (engine version 3). The columns are the fields most
-- events carry (Filebeat's, and those of sluice's syslog and RELP receivers); for
-- others add columns: the SerDe skips fields that have none.
CREATE EXTERNAL TABLE IF NOT EXISTS sluice_raw_waf (
  ts string COMMENT '@timestamp, as shipped (RFC 3339)',
  message string COMMENT 'the log line',
  host struct<name:string, hostname:string, ip:array<string>>,
  log struct<file:struct<path:string>, offset:bigint,
    syslog:struct<priority:int, hostname:string, appname:string, procid:string, msgid:string>,
    source:struct<address:string>>,
  agent struct<type:string, name:string, version:string, id:string>,
  event struct<dataset:string, module:string, original:string>,
  fields map<string,string> COMMENT 'Filebeat fields:',
  sluice struct<position:string, id:string, received:string> COMMENT 'the archive''s member _sluice: stream position, document id, time of receipt'
)
PARTITIONED BY (dt string, hour string)
ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'
WITH SERDEPROPERTIES (
  'ignore.malformed.json' = 'true',
  'mapping.ts' = '@timestamp',
  'mapping.sluice' = '_sluice'
)
LOCATION 's3://BUCKET/sluice/type=waf/'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.dt.type' = 'date',
  'projection.dt.format' = 'yyyy-MM-dd',
  'projection.dt.range' = 'NOW-5YEARS,NOW',
  'projection.dt.interval' = '1',
  'projection.dt.interval.unit' = 'DAYS',
  'projection.hour.type' = 'integer',
  'projection.hour.range' = '0,23',
  'projection.hour.digits' = '2',
  'storage.location.template' = 's3://BUCKET/sluice/type=waf/dt=${dt}/hour=${hour}/'
);
