"""Sends batches to a running sluice through a client generated from its OpenAPI document.

Run by scripts/openapi-client.sh, which generates the client with openapi-python-client
into --client-dir (a package named sluice_client), starts `sluice dev` and passes its
address and data directory. Every request goes through the generated client: its
models, its operation functions and, when SLUICE_OPENAPI_CLIENT_KEY is set, its
AuthenticatedClient (Authorization: Bearer <key>). Then the events are looked for in
the file sink (<data dir>/<log type>/<UTC date>.ndjson).

An operation whose body the generated client cannot send as sluice reads it (NDJSON on
/v1/events and /_bulk: openapi-python-client has no NDJSON body) is reported as not
expressible, not sent. Once the document describes those bodies in a way the generator
can send (a raw body), the generated functions take a `File` and they are sent and
checked here with no change.

Exits 1 with a message on the first failed check.
"""

import argparse
import io
import json
import os
import sys
import time
import types
import typing
import uuid
from pathlib import Path

SINK_TIMEOUT_SECONDS = 30


class CheckFailed(Exception):
    pass


def check(ok, what):
    if not ok:
        raise CheckFailed(what)


def body_types(fn):
    """The types a generated operation function accepts as its body, unions flattened."""
    hint = typing.get_type_hints(fn).get("body")
    seen, todo = set(), [hint]
    while todo:
        t = todo.pop()
        args = typing.get_args(t)
        if args and typing.get_origin(t) in (typing.Union, types.UnionType):
            todo.extend(args)
        else:
            seen.add(t)
    return seen


def ndjson(lines):
    return "".join(json.dumps(line) + "\n" for line in lines).encode()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--client-dir", required=True, help="directory holding the generated sluice_client package"
    )
    parser.add_argument(
        "--base-url", required=True, help="sluice's HTTP address, such as http://127.0.0.1:8080"
    )
    parser.add_argument("--data-dir", required=True, help="sluice dev's sink.file.dir")
    args = parser.parse_args()

    sys.path.insert(0, args.client_dir)
    # The generated client, and nothing else, speaks to sluice.
    import httpx  # a dependency of the generated client: only its timeout type is used
    from sluice_client import AuthenticatedClient, Client
    from sluice_client.api.elasticsearch import bulk
    from sluice_client.api.ingest import ingest_service_push, post_events
    from sluice_client.models import (
        BulkResponse,
        Event,
        EventsResponse,
        V1Event,
        V1PushRequest,
        V1PushResponse,
    )
    from sluice_client.types import File

    run = uuid.uuid4().hex[:12]  # tells this run's events from any other's
    key = os.environ.get("SLUICE_OPENAPI_CLIENT_KEY", "")
    timeout = httpx.Timeout(10.0)
    anonymous = Client(base_url=args.base_url, timeout=timeout, raise_on_unexpected_status=True)
    if key:
        client = AuthenticatedClient(
            base_url=args.base_url, token=key, timeout=timeout, raise_on_unexpected_status=True
        )
        auth = "Bearer key through AuthenticatedClient"
    else:
        client = anonymous
        auth = "no key"
    # want[log type] = messages the file sink must hold
    want = {}

    def expect(log_type, *messages):
        want.setdefault(log_type, set()).update(messages)

    # POST /v1/push: a PushRequest of two events, each with a type, message and id.
    push_type = "openapi_push"
    push = V1PushRequest(
        events=[V1Event(type_=push_type, message=f"push {run} {i}", id=f"{run}-push-{i}") for i in (1, 2)]
    )
    if key:
        res = ingest_service_push.sync_detailed(client=anonymous, body=push)
        check(res.status_code == 401, f"POST /v1/push without a key: status {res.status_code}, want 401")
        print("POST /v1/push without a key: 401, as documented")
    res = ingest_service_push.sync_detailed(client=client, body=push)
    check(res.status_code == 200, f"POST /v1/push: status {res.status_code}: {res.content!r}")
    check(isinstance(res.parsed, V1PushResponse), f"POST /v1/push: parsed {res.parsed!r}")
    check(
        res.parsed.accepted == 2 and not res.parsed.rejections,
        f"POST /v1/push: accepted {res.parsed.accepted}, rejections {res.parsed.rejections}, want 2 and none",
    )
    expect(push_type, *(e.message for e in push.events))
    print(f"POST /v1/push ({auth}): two events accepted")

    # POST /v1/events as a JSON array (the generated client's only body for it), the log
    # type given by ?type=, idempotency keys as _id.
    events_type = "openapi_events"
    events = [Event.from_dict({"_id": f"{run}-events-{i}", "message": f"events {run} {i}"}) for i in (1, 2)]
    res = post_events.sync_detailed(client=client, body=events, type_=events_type)
    check(res.status_code == 200, f"POST /v1/events (JSON array): status {res.status_code}: {res.content!r}")
    check(isinstance(res.parsed, EventsResponse), f"POST /v1/events (JSON array): parsed {res.parsed!r}")
    check(
        res.parsed.accepted == 2 and res.parsed.rejected == 0,
        f"POST /v1/events (JSON array): {res.parsed.accepted} accepted, {res.parsed.rejected} rejected,"
        " want 2 and 0",
    )
    expect(events_type, *(e["message"] for e in events))
    print(f"POST /v1/events, JSON array ({auth}): two events accepted")

    # POST /v1/events as NDJSON, if the generated client can send a raw body.
    if File in body_types(post_events.sync_detailed):
        lines = [{"_id": f"{run}-ndjson-{i}", "message": f"ndjson {run} {i}"} for i in (1, 2)]
        res = post_events.sync_detailed(
            client=client, body=File(payload=io.BytesIO(ndjson(lines))), type_=events_type
        )
        check(res.status_code == 200, f"POST /v1/events (NDJSON): status {res.status_code}: {res.content!r}")
        check(
            isinstance(res.parsed, EventsResponse) and res.parsed.accepted == 2 and res.parsed.rejected == 0,
            f"POST /v1/events (NDJSON): parsed {res.parsed!r}, want 2 accepted",
        )
        expect(events_type, *(line["message"] for line in lines))
        print(f"POST /v1/events, NDJSON ({auth}): two events accepted")
    else:
        print("POST /v1/events, NDJSON: not expressible with the generated client (no NDJSON body), not sent")

    # POST /_bulk, if the generated client can send the NDJSON body; the log type comes
    # from the data stream name logs-<type>-<namespace>.
    if File in body_types(bulk.sync_detailed):
        bulk_type = "openapi_bulk"
        lines = []
        for i in (1, 2):
            lines.append({"create": {"_index": f"logs-{bulk_type}-default", "_id": f"{run}-bulk-{i}"}})
            lines.append({"message": f"bulk {run} {i}"})
        res = bulk.sync_detailed(client=client, body=File(payload=io.BytesIO(ndjson(lines))))
        check(res.status_code == 200, f"POST /_bulk: status {res.status_code}: {res.content!r}")
        check(isinstance(res.parsed, BulkResponse), f"POST /_bulk: parsed {res.parsed!r}")
        check(
            not res.parsed.errors and len(res.parsed.items) == 2,
            f"POST /_bulk: {res.content!r}, want 2 items without errors",
        )
        expect(bulk_type, *(line["message"] for line in lines[1::2]))
        print(f"POST /_bulk ({auth}): two documents created")
    else:
        print(
            "POST /_bulk: not expressible with the generated client"
            " (it sends the lines as one JSON array; sluice reads NDJSON), not sent"
        )

    # The file sink: <data dir>/<log type>/<UTC date>.ndjson, written by the transform tier
    # after the gateway answered, so wait for it.
    data = Path(args.data_dir)
    deadline = time.monotonic() + SINK_TIMEOUT_SECONDS
    while True:
        missing = {}
        for log_type, messages in want.items():
            found = set()
            for path in sorted((data / log_type).glob("*.ndjson")):
                for line in path.read_text().splitlines():
                    try:
                        doc = json.loads(line)
                    except json.JSONDecodeError:
                        continue  # a line being written: read again on the next round
                    if doc.get("event", {}).get("dataset") == log_type:
                        found.add(doc.get("message"))
            if messages - found:
                missing[log_type] = sorted(messages - found)
        if not missing:
            break
        check(
            time.monotonic() < deadline,
            f"file sink under {data}: after {SINK_TIMEOUT_SECONDS}s, missing {missing}",
        )
        time.sleep(0.1)
    total = sum(len(m) for m in want.values())
    print(f"file sink: all {total} events under {data} ({', '.join(sorted(want))})")


if __name__ == "__main__":
    try:
        main()
    except CheckFailed as err:
        print(f"FAIL: {err}", file=sys.stderr)
        sys.exit(1)
