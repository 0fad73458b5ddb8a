#!/usr/bin/env python3
"""Record the HTTP answers of a `facematch serve` binary on the fixtures, for a
before/after comparison of a change that must not alter the wire (a refactor).

    scripts/record_responses.py BINARY OUT.txt [--root ../shared/data/faces]

Starts BINARY's server on a free loopback port with a throwaway database, creates its
keys with `BINARY keys create`, sends every fixture pair and a set of bad requests one
after another, and writes status, content type, Retry-After and body of each answer to
OUT.txt, with request ids and timestamps replaced by placeholders. Two binaries that
answer alike give identical files: `diff before.txt after.txt`.

Standard library only; needs the models in the cache (`facematch models fetch`).
"""

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid

UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
PREFIX_RE = re.compile(r'("(?:api_key_prefix|key_prefix)":)"[^"]*"')
TIME_RE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def multipart(fields):
    """fields: list of (name, value) where value is str or (filename, bytes)."""
    boundary = "----facematch" + uuid.uuid4().hex
    out = bytearray()
    for name, value in fields:
        out += f"--{boundary}\r\n".encode()
        if isinstance(value, tuple):
            filename, data = value
            out += (
                f'Content-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                "Content-Type: application/octet-stream\r\n\r\n"
            ).encode()
            out += data
        else:
            out += f'Content-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
            out += value.encode()
        out += b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out), f"multipart/form-data; boundary={boundary}"


class Recorder:
    def __init__(self, base, out):
        self.base = base
        self.out = out
        self.ids = {}

    def redact(self, text):
        def uid(m):
            return self.ids.setdefault(m.group(0), f"<id{len(self.ids)}>")

        text = TIME_RE.sub("<time>", UUID_RE.sub(uid, text))
        return PREFIX_RE.sub(r'\1"<prefix>"', text)

    def call(self, label, method, path, body=None, headers=None):
        req = urllib.request.Request(self.base + path, data=body, method=method)
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        try:
            with urllib.request.urlopen(req, timeout=120) as r:
                status, hdrs, data = r.status, r.headers, r.read()
        except urllib.error.HTTPError as e:
            status, hdrs, data = e.code, e.headers, e.read()
        text = data.decode("utf-8", "replace")
        self.out.write(f"### {label}\n{method} {self.redact(path)} -> {status}\n")
        for h in ("content-type", "retry-after", "cache-control"):
            if hdrs.get(h) is not None:
                self.out.write(f"{h}: {hdrs.get(h)}\n")
        self.out.write(self.redact(text) + "\n\n")
        return status, text


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("binary")
    ap.add_argument("out")
    ap.add_argument("--root", default="../shared/data/faces")
    args = ap.parse_args()
    root = args.root

    tmp = tempfile.mkdtemp(prefix="fm-record-")
    db = os.path.join(tmp, "fm.db")
    # Sign-up is closed by default since issue 10; open it so its routes are recorded
    # (an older binary ignores the variable).
    env = dict(os.environ, FACEMATCH_DATABASE=db, FACEMATCH_SIGNUP="open")

    def key(*extra):
        return subprocess.run(
            [args.binary, "keys", "create", *extra], env=env, check=True,
            capture_output=True, text=True,
        ).stdout.strip()

    user_key = key("--credits", "1000")
    admin_key = key("--credits", "10", "--admin")
    broke_key = key("--credits", "0")

    port = free_port()
    log = open(os.path.join(tmp, "server.log"), "w")
    server = subprocess.Popen(
        [args.binary, "serve", "--listen", f"127.0.0.1:{port}"], env=env,
        stdout=log, stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 120
        while True:
            try:
                with urllib.request.urlopen(base + "/health", timeout=5) as r:
                    if r.status == 200:
                        break
            except Exception:
                pass
            if time.time() > deadline or server.poll() is not None:
                sys.exit("server did not become healthy")
            time.sleep(0.2)
        with open(args.out, "w") as out:
            record(Recorder(base, out), root, user_key, admin_key, broke_key)
    finally:
        server.terminate()
        server.wait(timeout=30)


def read(root, rel):
    with open(os.path.join(root, rel), "rb") as f:
        return f.read()


def record(rec, root, user_key, admin_key, broke_key):
    auth = {"x-api-key": user_key}

    def face_match(label, fields, headers=auth):
        body, ctype = multipart(fields)
        return rec.call(label, "POST", "/v3/face-match/", body,
                        dict(headers, **{"Content-Type": ctype}))

    hopper = ("hopper.jpg", read(root, "fixtures/one_face_hopper.jpg"))
    saved = []
    with open(os.path.join(root, "pairs_fixtures.tsv")) as f:
        pairs = [line.rstrip("\n").split("\t") for line in f if line.strip()]
    for i, pair in enumerate(pairs):
        left, right = pair[0], pair[1]
        fields = [("user_image", ("a", read(root, left))), ("ref_image", ("b", read(root, right)))]
        if "best_angle" in left + right:
            fields.append(("rotate_image", "true"))
        status, text = face_match(f"pair {i}: {left} | {right}", fields)
        if status == 200:
            saved.append(json.loads(text)["request_id"])
    with open(os.path.join(root, "fixtures.tsv")) as f:
        rows = [line.split("\t")[0] for line in f.read().splitlines()[1:] if line.strip()]
    for rel in rows:
        if "oversize" in rel:
            continue
        face_match(f"fixture vs hopper: {rel}",
                   [("user_image", ("x", read(root, rel))), ("ref_image", hopper)])
    face_match("options", [("user_image", hopper), ("ref_image", hopper),
                           ("face_match_score_decline_threshold", "50.0"),
                           ("face_match_score_review_threshold", "99"),
                           ("vendor_data", "user-42"), ("rotate_image", "yes")])
    face_match("target fmr", [("user_image", hopper), ("ref_image", hopper),
                              ("face_match_target_fmr", "1e-4")])
    face_match("not saved", [("user_image", hopper), ("ref_image", hopper),
                             ("save_api_request", "false")])
    face_match("metadata", [("user_image", hopper), ("ref_image", hopper),
                            ("metadata", '{"flow": "login"}')])
    face_match("metadata not an object", [("user_image", hopper), ("ref_image", hopper),
                                          ("metadata", "[1]")])
    astronaut = ("a.png", read(root, "fixtures/one_face_astronaut.png"))
    _, text = face_match("in review", [("user_image", hopper), ("ref_image", astronaut),
                                       ("face_match_score_decline_threshold", "0"),
                                       ("face_match_score_review_threshold", "100")])
    review_id = json.loads(text).get("request_id")
    # Bad requests.
    face_match("no key", [("user_image", hopper), ("ref_image", hopper)], headers={})
    face_match("unknown key", [("user_image", hopper), ("ref_image", hopper)],
               headers={"x-api-key": "fm_nope_nope"})
    face_match("no credits", [("user_image", hopper), ("ref_image", hopper)],
               headers={"x-api-key": broke_key})
    face_match("missing ref", [("user_image", hopper)])
    face_match("empty ref", [("user_image", hopper), ("ref_image", ("e", b""))])
    face_match("bad threshold", [("user_image", hopper), ("ref_image", hopper),
                                 ("face_match_score_decline_threshold", "101")])
    face_match("bad boolean", [("user_image", hopper), ("ref_image", hopper),
                               ("rotate_image", "maybe")])
    face_match("repeated field", [("user_image", hopper), ("user_image", hopper),
                                  ("ref_image", hopper)])
    face_match("fmr and threshold", [("user_image", hopper), ("ref_image", hopper),
                                     ("face_match_target_fmr", "1e-3"),
                                     ("face_match_score_decline_threshold", "40")])
    face_match("text file", [("user_image", ("t.txt", b"hello world")), ("ref_image", hopper)])
    face_match("vendor data too long", [("user_image", hopper), ("ref_image", hopper),
                                        ("vendor_data", "x" * 1001)])
    face_match("oversize", [("user_image", ("o", read(root, "fixtures/oversize_hopper_over_5mib.jpg"))),
                            ("ref_image", hopper)])
    rec.call("not multipart", "POST", "/v3/face-match/", b"{}",
             dict(auth, **{"Content-Type": "application/json"}))
    rec.call("wrong method", "GET", "/v3/face-match/", None, auth)
    rec.call("unknown route", "GET", "/v3/nothing/", None, auth)
    # Decisions and review.
    for rid in saved[:3]:
        rec.call("decision", "GET", f"/v3/session/{rid}/decision/", None, auth)
    if saved:
        rec.call("decision, other key", "GET", f"/v3/session/{saved[0]}/decision/", None,
                 {"x-api-key": admin_key})
    rec.call("decision, unknown", "GET", f"/v3/session/{uuid.uuid4()}/decision/", None, auth)
    rec.call("decision, bad id", "GET", "/v3/session/not-a-uuid/decision/", None, auth)
    rec.call("review queue", "GET", "/v3/review-queue/", None, auth)
    rec.call("review queue, paged", "GET", "/v3/review-queue/?limit=1&offset=0", None, auth)
    rec.call("review queue, bad limit", "GET", "/v3/review-queue/?limit=-1", None, auth)
    json_h = dict(auth, **{"Content-Type": "application/json"})
    if review_id:
        rec.call("update status", "PATCH", f"/v3/session/{review_id}/update-status/",
                 json.dumps({"new_status": "Approved", "comment": "looks right"}).encode(), json_h)
        rec.call("decision after review", "GET", f"/v3/session/{review_id}/decision/", None, auth)
        rec.call("update status, same again", "PATCH", f"/v3/session/{review_id}/update-status/",
                 json.dumps({"new_status": "Approved"}).encode(), json_h)
        rec.call("update status, resubmitted", "PATCH",
                 f"/v3/session/{review_id}/update-status/",
                 json.dumps({"new_status": "Resubmitted"}).encode(), json_h)
        rec.call("update status, bad status", "PATCH", f"/v3/session/{review_id}/update-status/",
                 json.dumps({"new_status": "Maybe"}).encode(), json_h)
        rec.call("update status, bad json", "PATCH", f"/v3/session/{review_id}/update-status/",
                 b"{", json_h)
    rec.call("review queue after", "GET", "/v3/review-queue/", None, auth)
    # Accounts and billing.
    rec.call("balance", "GET", "/v3/billing/balance/", None, auth)
    rec.call("balance, no key", "GET", "/v3/billing/balance/", None, {})
    rec.call("top-up, not admin", "POST", "/v3/billing/top-up/",
             json.dumps({"amount_in_dollars": 5}).encode(), json_h)
    rec.call("top-up, admin", "POST", "/v3/billing/top-up/",
             json.dumps({"amount_in_dollars": 5}).encode(),
             {"x-api-key": admin_key, "Content-Type": "application/json"})
    rec.call("top-up, bad body", "POST", "/v3/billing/top-up/", b"[]",
             {"x-api-key": admin_key, "Content-Type": "application/json"})
    rec.call("register, bad email", "POST", "/auth/v2/programmatic/register/",
             json.dumps({"email": "nope", "password": "x"}).encode(),
             {"Content-Type": "application/json"})
    rec.call("register", "POST", "/auth/v2/programmatic/register/",
             json.dumps({"email": "new.user@example.com", "password": "correct horse battery"}).encode(),
             {"Content-Type": "application/json"})
    rec.call("verify, wrong code", "POST", "/auth/v2/programmatic/verify-email/",
             json.dumps({"email": "new.user@example.com", "code": "ZZZZZZ"}).encode(),
             {"Content-Type": "application/json"})
    rec.call("verify, missing field", "POST", "/auth/v2/programmatic/verify-email/",
             json.dumps({"email": "new.user@example.com"}).encode(),
             {"Content-Type": "application/json"})
    rec.call("health", "GET", "/health")
    rec.call("openapi", "GET", "/openapi.json")


if __name__ == "__main__":
    main()
