#!/usr/bin/env python3
"""A small receiver for Didit-style webhooks that verifies their signatures.

Written from Didit's webhook documentation, for you to start from: it works unchanged
against Didit itself and against a facematch server. Standard library only, Python 3.9+.

Usage:

    DIDIT_WEBHOOK_SECRET=... python3 didit_webhook_receiver.py --port 8000 --log hooks.jsonl

It prints ``listening on <port>`` once bound, then answers every POST:

* 200 when ``X-Timestamp`` is within 300 seconds of this machine's clock and a signature
  verifies, tried in Didit's recommended order: ``X-Signature-V2``, then ``X-Signature``,
  then ``X-Signature-Simple``; with ``--require-all``, all three must verify;
* 401 otherwise.

Every signature is the hex HMAC-SHA256 keyed with the destination's secret (its UTF-8
bytes) of:

* ``X-Signature``: the raw request body bytes;
* ``X-Signature-V2``: the parsed body re-serialized canonically: whole-number floats
  written as integers, keys sorted recursively, compact separators, non-ASCII characters
  unescaped (``json.dumps(..., sort_keys=True, separators=(",", ":"), ensure_ascii=False)``);
  it survives middleware that re-encodes the JSON;
* ``X-Signature-Simple``: ``"{timestamp}:{session_id}:{status}:{webhook_type}"`` from the
  body's fields (a missing field is empty); it authenticates those four fields only.

Compare signatures in constant time (``hmac.compare_digest``) and de-duplicate deliveries
by the body's ``event_id`` (a retry or resend keeps it).

Options: ``--secret S`` (or env ``DIDIT_WEBHOOK_SECRET``), ``--host`` (127.0.0.1),
``--port`` (0 picks a free one), ``--log FILE`` (one JSON line per request),
``--require-all``; testing aids: ``--fail-first N`` answers 500 to the first N requests,
``--hang-seconds S`` sleeps before every answer.
"""

import argparse
import hashlib
import hmac
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TIMESTAMP_TOLERANCE_SECONDS = 300
MAX_BODY_BYTES = 1024 * 1024


def hmac_hex(secret, message):
    """Hex HMAC-SHA256 of ``message`` (bytes) keyed with ``secret`` (str)."""
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def shorten_floats(value):
    """Whole-number floats as integers (90.0 -> 90), recursively."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: shorten_floats(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shorten_floats(v) for v in value]
    return value


def canonical_json(body):
    """The X-Signature-V2 input for a parsed body."""
    return json.dumps(
        shorten_floats(body), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )


def simple_string(body):
    """The X-Signature-Simple input: timestamp:session_id:status:webhook_type."""

    def field(name):
        value = body.get(name) if isinstance(body, dict) else None
        return "" if value is None else str(value)

    return ":".join(field(n) for n in ("timestamp", "session_id", "status", "webhook_type"))


def timestamp_fresh(header, now=None):
    """Whether the X-Timestamp header (Unix seconds) is within the tolerance."""
    if header is None or not header.strip().isdigit():
        return False
    now = time.time() if now is None else now
    return abs(now - int(header.strip())) <= TIMESTAMP_TOLERANCE_SECONDS


def verify(secret, raw_body, headers, now=None):
    """Checks a request. ``headers`` maps header names (any case) to values.

    Returns ``(timestamp_ok, {"raw": bool, "v2": bool, "simple": bool}, body)``; ``body``
    is the parsed JSON, or None when the body is not JSON.
    """
    lower = {k.lower(): v for k, v in headers.items()}
    timestamp_ok = timestamp_fresh(lower.get("x-timestamp"), now)
    try:
        body = json.loads(raw_body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        body = None

    def matches(header, message):
        given = lower.get(header)
        if given is None or message is None:
            return False
        return hmac.compare_digest(given.strip().lower(), hmac_hex(secret, message))

    verified = {
        "raw": matches("x-signature", raw_body),
        "v2": matches(
            "x-signature-v2", None if body is None else canonical_json(body).encode("utf-8")
        ),
        "simple": matches(
            "x-signature-simple", None if body is None else simple_string(body).encode("utf-8")
        ),
    }
    return timestamp_ok, verified, body


def accepted(timestamp_ok, verified, require_all):
    """The answer rule: fresh timestamp and (all three | V2, else raw, else Simple)."""
    if not timestamp_ok:
        return False
    if require_all:
        return all(verified.values())
    return verified["v2"] or verified["raw"] or verified["simple"]


def make_handler(args):
    lock = threading.Lock()
    state = {"seen": 0}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format, *values):  # noqa: A002 - quiet by default
            pass

        def do_POST(self):  # noqa: N802 - http.server's naming
            length = int(self.headers.get("Content-Length") or 0)
            if length < 0 or length > MAX_BODY_BYTES:
                self.answer(413, None, None, None)
                return
            raw = self.rfile.read(length)
            with lock:
                state["seen"] += 1
                number = state["seen"]
            timestamp_ok, verified, body = verify(args.secret, raw, dict(self.headers.items()))
            if args.hang_seconds:
                time.sleep(args.hang_seconds)
            if number <= args.fail_first:
                code = 500
            elif accepted(timestamp_ok, verified, args.require_all):
                code = 200
            else:
                code = 401
            self.answer(code, body, timestamp_ok, verified)

        def answer(self, code, body, timestamp_ok, verified):
            # Logged before answering: once the sender has its answer, the line is there.
            if args.log:
                fields = body if isinstance(body, dict) else {}
                line = {
                    "event_id": fields.get("event_id"),
                    "session_id": fields.get("session_id"),
                    "status": fields.get("status"),
                    "webhook_type": fields.get("webhook_type"),
                    "timestamp_ok": timestamp_ok,
                    "verified": verified,
                    "answered": code,
                }
                with lock, open(args.log, "a", encoding="utf-8") as log:
                    log.write(json.dumps(line) + "\n")
            payload = json.dumps({"ok": code == 200}).encode()
            try:
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except OSError:
                pass  # the sender gave up (timeout)

    return Handler


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--secret", default=os.environ.get("DIDIT_WEBHOOK_SECRET"))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--log")
    parser.add_argument("--require-all", action="store_true")
    parser.add_argument("--fail-first", type=int, default=0)
    parser.add_argument("--hang-seconds", type=float, default=0.0)
    args = parser.parse_args(argv)
    if not args.secret:
        parser.error("give --secret or set DIDIT_WEBHOOK_SECRET")
    server = ThreadingHTTPServer((args.host, args.port), make_handler(args))
    server.daemon_threads = True
    print(f"listening on {server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
