# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""A small in-process "web service" that leaks the way real ones do.

Each request is parsed, authenticated against a bounded session LRU, rendered to a page
of about 1-3 kB and then stored in a response cache whose key contains the request id:
the cache never hits and never evicts, so memory grows by every page served, from
ResponseCache.remember() in response_cache.py.  Everything else (parsing, rendering,
the session LRU, logging buffers) is ordinary churn that is freed.

    make demo                                  # pyleak-bpf --duration 30 5 -- python3 demo/leaky_service.py
    python3 demo/leaky_service.py --seconds 60 & sudo ./pyleak-bpf -p $! 5
"""
import argparse
import json
import os
import random
import sys
import time

from response_cache import LRU, ResponseCache

SESSIONS = LRU(512)
RESPONSES = ResponseCache()
TEMPLATES = {
    "/products": "<li>{name}: {price:.2f} EUR ({stock} in stock)</li>",
    "/orders": "<li>order {id} for {customer}: {total:.2f} EUR</li>",
    "/users": "<li>{name} &lt;{email}&gt;</li>",
}


def parse(raw):
    method, target, _ = raw.split(" ", 2)
    path, _, query = target.partition("?")
    params = dict(p.split("=", 1) for p in query.split("&") if "=" in p)
    return {"method": method, "path": path, "params": params}


def authenticate(request, rng):
    token = request["params"].get("token", "")
    session = SESSIONS.get(token)
    if session is None:
        session = {"token": token, "user": "user%d" % rng.randrange(10000), "since": time.time()}
        SESSIONS.put(token, session)
    return session


def query_rows(path, rng):
    rows = []
    for i in range(rng.randrange(10, 40)):
        rows.append({"id": i, "name": "item-%d" % rng.randrange(100000), "price": rng.random() * 100,
                     "stock": rng.randrange(50), "customer": "c%d" % i, "total": rng.random() * 500,
                     "email": "u%d@example.org" % i})
    return rows


def render(path, rows, session):
    template = TEMPLATES[path]
    items = "\n".join(template.format(**row) for row in rows)
    return "<html><body><h1>%s</h1><p>%s</p><ul>%s</ul></body></html>" % (path, session["user"], items)


def handle(raw, request_id, rng):
    request = parse(raw)
    session = authenticate(request, rng)
    key = "%s#%d" % (request["path"], request_id)  # the bug: a per-request key is never looked up again
    body = RESPONSES.lookup(key)
    if body is None:
        body = render(request["path"], query_rows(request["path"], rng), session)
        RESPONSES.remember(key, body)
    log = json.dumps({"id": request_id, "path": request["path"], "bytes": len(body)})
    return len(log)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seconds", type=float, default=0, help="stop after this long (default: run forever)")
    p.add_argument("--rate", type=float, default=300, help="requests per second (default %(default)s)")
    args = p.parse_args()
    rng = random.Random(42)
    paths = sorted(TEMPLATES)
    start = time.time()
    served = 0
    # Progress goes to stderr: under pyleak-bpf -j -- ... stdout carries the JSON reports.
    sys.stderr.write("leaky_service: pid %d serving about %.0f requests/s, leaking every page\n" % (
        os.getpid(), args.rate))
    while not args.seconds or time.time() - start < args.seconds:
        for _ in range(10):
            raw = "GET %s?token=t%d&page=%d HTTP/1.1" % (rng.choice(paths), rng.randrange(2000), rng.randrange(9))
            handle(raw, served, rng)
            served += 1
        delay = start + served / args.rate - time.time()
        if delay > 0:
            time.sleep(delay)
    sys.stderr.write("leaky_service: served %d requests, cache holds %d pages\n" % (served, len(RESPONSES.entries)))


if __name__ == "__main__":
    main()
