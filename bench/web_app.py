# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""The Flask app of bench/web_bench.py: one endpoint doing a web service's usual work.

GET / builds 300 records (dicts holding a list), serializes them with json.dumps,
renders 50 of them through a format-string template, and answers a small JSON
object (Flask's jsonify). GET /ok answers "ok" (readiness).
"""
import json
import time

from flask import Flask

app = Flask(__name__)
ROW = '<li id="item-{id}">{name}: {price:.2f} ({tags})</li>'


@app.route("/")
def index():
    items = [{"id": i, "name": "item %d" % i, "price": i * 1.25,
              "tags": ["t%d" % (i % 7), "t%d" % (i % 11)]} for i in range(300)]
    body = json.dumps({"items": items, "count": len(items), "ts": time.time()})
    html = "<ul>%s</ul>" % "".join(ROW.format(id=it["id"], name=it["name"], price=it["price"],
                                               tags=",".join(it["tags"])) for it in items[:50])
    return {"json_bytes": len(body), "html_bytes": len(html), "head": body[:64]}


@app.route("/ok")
def ok():
    return "ok"
