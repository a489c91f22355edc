// A finished task's terminal output: its std-log artifact is a .tar.gz of stdout.log and stderr.log.
// The browser gunzips it (DecompressionStream) and reads the ustar entries; nothing is unpacked on disk.

import { absolute } from "./api.js";

const SHOWN = 256 * 1024; // show at most the last 256 kB of each stream

function text(bytes, start, length) {
  const slice = bytes.subarray(start, start + length);
  const end = slice.indexOf(0);
  return new TextDecoder().decode(end >= 0 ? slice.subarray(0, end) : slice);
}

export function untar(bytes) {
  const files = {};
  let offset = 0;
  while (offset + 512 <= bytes.length) {
    const name = text(bytes, offset, 100);
    if (!name) break;
    const prefix = text(bytes, offset + 345, 155);
    const size = parseInt(text(bytes, offset + 124, 12).trim() || "0", 8);
    const type = String.fromCharCode(bytes[offset + 156] || 48);
    const start = offset + 512;
    if (type === "0" || type === "\0") files[prefix ? `${prefix}/${name}` : name] = bytes.subarray(start, start + size);
    offset = start + Math.ceil(size / 512) * 512;
  }
  return files;
}

export async function fetchOutput(url) {
  const resp = await fetch(absolute(url));
  if (!resp.ok) throw new Error(`download failed (${resp.status})`);
  const stream = resp.body.pipeThrough(new DecompressionStream("gzip"));
  const bytes = new Uint8Array(await new Response(stream).arrayBuffer());
  const streams = {};
  for (const [name, data] of Object.entries(untar(bytes))) {
    const base = name.split("/").pop();
    const cut = data.length > SHOWN;
    streams[base] = (cut ? "… (earlier output cut)\n" : "") + new TextDecoder().decode(cut ? data.subarray(-SHOWN) : data);
  }
  return streams;
}
