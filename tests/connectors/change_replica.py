"""One gateway replica's change capture and feed, as its own process, for the NATS acceptance test.

``python -m tests.connectors.change_replica --nats URL --stream NAME --registry URL --owner ID --out FILE``
polls the registry when it holds the lease, and writes every notice its subscriber receives as
a JSON line (id, key, kind, region, time received) to FILE. It prints ``ready`` once subscribed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time

from connectors.changes.capture import ChangeCapture
from connectors.changes.jetstream import JetStream, JetStreamChangeFeed, JetStreamLease, JetStreamPositions
from connectors.changes.sql_poll import SqlChangePoller

from .change_registry import resident_capture


async def main(args: argparse.Namespace) -> None:
    jetstream = JetStream(args.nats, stream=args.stream)
    feed = JetStreamChangeFeed(jetstream)
    await feed.start()
    settings = resident_capture(args.registry)
    capture = ChangeCapture(
        feed,
        {"siak": SqlChangePoller(settings)},
        JetStreamPositions(jetstream),
        intervals={"siak": 0.2},
        lease=JetStreamLease(jetstream, owner=args.owner, ttl_s=args.lease_ttl),
        renew_s=0.3,
    )
    subscription = feed.subscribe("Person")
    capture.start()
    print("ready", flush=True)
    with open(args.out, "a", encoding="utf-8") as out:
        try:
            async for change in subscription:
                out.write(json.dumps({"id": change.id, "key": change.key, "kind": change.kind,
                                      "region": change.region, "received": time.time()}) + "\n")
                out.flush()
        finally:
            await capture.aclose()
            await feed.aclose()
            await jetstream.aclose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    for name in ("--nats", "--stream", "--registry", "--owner", "--out"):
        parser.add_argument(name, required=True)
    parser.add_argument("--lease-ttl", type=float, default=1.5)
    try:
        asyncio.run(main(parser.parse_args()))
    except KeyboardInterrupt:
        sys.exit(0)
