#!/usr/bin/env python3
"""A reference reader of sluice's Kinesis records (docs/stream-format.md), written with
standard third-party tools only: zstandard for compressed records and aws_kinesis_agg,
the KPL de-aggregator AWS publishes, for aggregated ones. Nothing of sluice's code.

stdin: one JSON object per Kinesis record, {"partition_key": ..., "data": <base64>}.
stdout: one JSON object per event, {"type", "id", "received", "event"}, sorted keys.
"""
import base64
import json
import sys

import zstandard
from aws_kinesis_agg.deaggregator import iter_deaggregate_records

ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
MAX_DECOMPRESSED = 10 * 1024 * 1024  # the reader's default bound


def user_records(partition_key, data):
    """The user records of one Kinesis record: decompressed, then de-aggregated."""
    if data[:4] == ZSTD_MAGIC:
        data = zstandard.ZstdDecompressor().decompress(data, max_output_size=MAX_DECOMPRESSED)
    # A record as AWS Lambda hands it over, the shape aws_kinesis_agg reads.
    record = {"kinesis": {"kinesisSchemaVersion": "1.0", "partitionKey": partition_key,
                          "sequenceNumber": "0", "approximateArrivalTimestamp": 0,
                          "data": base64.b64encode(data).decode("ascii")}}
    for user in iter_deaggregate_records(record):
        yield base64.b64decode(user["kinesis"]["data"])


def main():
    for line in sys.stdin:
        rec = json.loads(line)
        for data in user_records(rec["partition_key"], base64.b64decode(rec["data"])):
            env = json.loads(data)
            if env.get("v") != 1:
                raise SystemExit("unsupported envelope version %r" % env.get("v"))
            print(json.dumps({"type": env["type"], "id": env.get("id", ""),
                              "received": env["received"], "event": env["event"]}, sort_keys=True))


if __name__ == "__main__":
    main()
