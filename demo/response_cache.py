# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Caches for the demo service: a bounded LRU for sessions (fine) and a response cache
that is never evicted (the leak: its key includes the request id, so nothing is ever
hit again and every rendered page stays in memory)."""
from collections import OrderedDict


class LRU(object):
    """Bounded: the oldest entry goes once capacity is reached."""

    def __init__(self, capacity):
        self.capacity = capacity
        self.items = OrderedDict()

    def get(self, key):
        value = self.items.get(key)
        if value is not None:
            self.items.move_to_end(key)
        return value

    def put(self, key, value):
        self.items[key] = value
        self.items.move_to_end(key)
        while len(self.items) > self.capacity:
            self.items.popitem(last=False)


class ResponseCache(object):
    """Unbounded: entries are added and never removed."""

    def __init__(self):
        self.entries = {}
        self.hits = 0

    def lookup(self, key):
        body = self.entries.get(key)
        if body is not None:
            self.hits += 1
        return body

    def remember(self, key, body):
        self.entries[key] = body.encode("utf-8")  # LEAK: one encoded page per request, kept forever
        return body
