#!/usr/bin/env node
// The fetch/FormData twin of scripts/match_faces.py: what a TypeScript or JavaScript
// Didit client does, pointed at a facematch server. Node 18+ (fetch, FormData and Blob
// are built in); no packages.
//
//   DIDIT_API_KEY=fm_... node scripts/match_faces.mjs selfie.jpg id_photo.jpg [--threshold 50] [--rotate]
//       [--quality-filter NONE|AUTO|LOW|MEDIUM|HIGH]
//
// The server comes from FACEMATCH_URL (default http://127.0.0.1:8080). Prints the JSON
// response. Exit code: 0 Approved, 1 Declined (or In Review), 2 error.

import { readFile } from "node:fs/promises";
import { basename } from "node:path";

async function main(argv) {
  const files = [];
  let threshold;
  let rotate = false;
  let qualityFilter;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--threshold") threshold = argv[++i];
    else if (argv[i] === "--rotate") rotate = true;
    else if (argv[i] === "--quality-filter") qualityFilter = String(argv[++i] ?? "").toUpperCase();
    else files.push(argv[i]);
  }
  const levels = ["NONE", "AUTO", "LOW", "MEDIUM", "HIGH"];
  if (
    files.length !== 2 ||
    (threshold !== undefined && Number.isNaN(Number(threshold))) ||
    (qualityFilter !== undefined && !levels.includes(qualityFilter))
  ) {
    console.error(
      "usage: match_faces.mjs USER_IMAGE REF_IMAGE [--threshold N] [--rotate] [--quality-filter NONE|AUTO|LOW|MEDIUM|HIGH]",
    );
    return 2;
  }
  const key = process.env.DIDIT_API_KEY;
  if (!key) {
    console.error("DIDIT_API_KEY is not set");
    return 2;
  }
  const base = (process.env.FACEMATCH_URL || "http://127.0.0.1:8080").replace(/\/+$/, "");

  const form = new FormData();
  form.append("user_image", new Blob([await readFile(files[0])]), basename(files[0]));
  form.append("ref_image", new Blob([await readFile(files[1])]), basename(files[1]));
  if (threshold !== undefined) form.append("face_match_score_decline_threshold", String(threshold));
  if (rotate) form.append("rotate_image", "true");
  if (qualityFilter !== undefined) form.append("quality_filter", qualityFilter);

  const response = await fetch(`${base}/v3/face-match/`, {
    method: "POST",
    headers: { "x-api-key": key, accept: "application/json" },
    body: form,
  });
  const text = await response.text();
  if (!response.ok) {
    console.error(`HTTP ${response.status}: ${text}`);
    return 2;
  }
  const body = JSON.parse(text);
  console.log(JSON.stringify(body, null, 2));
  return body.face_match.status === "Approved" ? 0 : 1;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    console.error(String(err), err && err.cause ? String(err.cause) : "");
    process.exit(2);
  },
);
