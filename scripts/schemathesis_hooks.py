"""Schemathesis hooks for scripts/schemathesis.sh (loaded through SCHEMATHESIS_HOOKS).

Three things the OpenAPI document cannot say in a way Schemathesis reads:

- NDJSON bodies (/v1/events, /_bulk). OpenAPI 3.1 has no schema for a sequence of JSON
  values, so the document shows such a body as a JSON array whose elements are the lines
  (proto/sluice/v1/openapi.base.yaml); this serializer writes it that way: one line per
  element, nothing for an empty array, and any other value as its single line.
- Compressed bodies. The document lists `Content-Encoding: gzip` and `zstd` as a header
  parameter; when a generated case sends one of them, the serializers below compress
  the body with it, as a client would (any other value is sent as it is, and refused).
- /v1/events reads the X-Sluice-Type header only when ?type= is absent or empty. A case
  with both would be judged by the header's schema while the server never looks at it,
  so such cases are left out; the precedence itself is covered by the Go tests
  (TestEventsTypeFromQueryAndHeader).
"""

import gzip
import json

import schemathesis
import zstandard


def _encode(ctx, data):
    headers = {k.lower(): v for k, v in (ctx.case.headers or {}).items()}
    encoding = str(headers.get("content-encoding", "")).strip().lower()
    if encoding in ("gzip", "x-gzip"):
        return gzip.compress(data, mtime=0)
    if encoding == "zstd":
        return zstandard.ZstdCompressor().compress(data)
    return data


@schemathesis.serializer("application/x-ndjson", "application/vnd.elasticsearch+x-ndjson")
def ndjson(ctx, value):
    if isinstance(value, bytes):
        return _encode(ctx, value)
    if isinstance(value, list):
        lines = [json.dumps(v, allow_nan=False) + "\n" for v in value]
    else:
        lines = [json.dumps(value, allow_nan=False)]
    return _encode(ctx, "".join(lines).encode("utf-8"))


@schemathesis.serializer("application/json")
def json_body(ctx, value):
    data = value if isinstance(value, bytes) else json.dumps(value, allow_nan=False).encode("utf-8")
    return _encode(ctx, data)


@schemathesis.hook
def filter_case(ctx, case):
    if case.operation.path != "/v1/events":
        return True
    query_type = (case.query or {}).get("type")
    headers = {k.lower() for k in (case.headers or {})}
    return not (query_type and "x-sluice-type" in headers)
