#!/usr/bin/env python3
"""Compare the faces of two photos with a facematch (or Didit) server.

    DIDIT_API_KEY=fm_... python3 scripts/match_faces.py selfie.jpg id_photo.jpg [--threshold 50] [--rotate]
        [--quality-filter MEDIUM]

The key comes from DIDIT_API_KEY, the server from FACEMATCH_URL (default
http://127.0.0.1:8080). Prints the JSON response. Exit code: 0 Approved, 1 Declined
(or In Review), 2 error. Uses only the Python standard library.
"""

import argparse
import json
import mimetypes
import os
import sys
import urllib.error
import urllib.request
import uuid


def multipart(fields, files):
    """Encodes text fields and (name, filename, bytes) files as multipart/form-data."""
    boundary = "----facematch" + uuid.uuid4().hex
    out = bytearray()
    for name, value in fields.items():
        out += f"--{boundary}\r\n".encode()
        out += f'Content-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
        out += str(value).encode() + b"\r\n"
    for name, filename, data in files:
        ctype = mimetypes.guess_type(filename)[0] or "application/octet-stream"
        safe = os.path.basename(filename).replace('"', "_")
        out += f"--{boundary}\r\n".encode()
        out += f'Content-Disposition: form-data; name="{name}"; filename="{safe}"\r\n'.encode()
        out += f"Content-Type: {ctype}\r\n\r\n".encode()
        out += data + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out), f"multipart/form-data; boundary={boundary}"


def main():
    parser = argparse.ArgumentParser(description="Face match two photos.")
    parser.add_argument("user_image", help="the user's photo (e.g. a selfie)")
    parser.add_argument("ref_image", help="the reference photo (e.g. an ID photo)")
    parser.add_argument("--threshold", type=float, default=None,
                        help="decline threshold 0-100 (server default 30)")
    parser.add_argument("--rotate", action="store_true",
                        help="try 0/90/180/270 degrees")
    parser.add_argument("--quality-filter", type=str.upper, default=None,
                        choices=["NONE", "AUTO", "LOW", "MEDIUM", "HIGH"],
                        help="faces below this quality level are not compared "
                             "(server default NONE)")
    args = parser.parse_args()

    key = os.environ.get("DIDIT_API_KEY")
    if not key:
        print("error: set DIDIT_API_KEY to your API key", file=sys.stderr)
        return 2
    base = os.environ.get("FACEMATCH_URL", "http://127.0.0.1:8080").rstrip("/")

    try:
        files = []
        for field, path in (("user_image", args.user_image), ("ref_image", args.ref_image)):
            with open(path, "rb") as f:
                files.append((field, path, f.read()))
    except OSError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2

    fields = {"rotate_image": "true" if args.rotate else "false"}
    if args.threshold is not None:
        fields["face_match_score_decline_threshold"] = args.threshold
    if args.quality_filter is not None:
        fields["quality_filter"] = args.quality_filter
    body, content_type = multipart(fields, files)
    request = urllib.request.Request(
        f"{base}/v3/face-match/",
        data=body,
        method="POST",
        headers={"x-api-key": key, "Content-Type": content_type, "Accept": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            result = json.load(response)
    except urllib.error.HTTPError as e:
        detail = e.read().decode("utf-8", "replace")
        print(f"error: HTTP {e.code}: {detail}", file=sys.stderr)
        return 2
    except (urllib.error.URLError, OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2

    print(json.dumps(result, indent=2))
    status = result.get("face_match", {}).get("status")
    return 0 if status == "Approved" else 1


if __name__ == "__main__":
    sys.exit(main())
