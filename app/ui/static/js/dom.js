// DOM building and formatting helpers. Text always goes in as text nodes (never innerHTML), so nothing a
// user typed into a task, a label or a file name can run as markup.

export const VOCAB = JSON.parse(document.getElementById("mito-vocab").textContent);

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key in el && typeof value !== "string") el[key] = value;
    else el.setAttribute(key, value === true ? "" : value);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

export function badge(text, cls = text) {
  return h("span", { class: `badge ${cls}` }, text);
}

export function chips(items) {
  return (items || []).map((item) => h("span", { class: "chip" }, item));
}

export function shortId(uuid) {
  return String(uuid).slice(0, 8);
}

export function age(iso) {
  if (!iso) return "—";
  const seconds = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  if (seconds < 60) return `${Math.floor(seconds)}s ago`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m ago`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)}h ago`;
  return `${Math.floor(seconds / 86400)}d ago`;
}

export function when(iso) {
  return iso ? h("time", { datetime: iso, title: new Date(iso).toLocaleString() }, age(iso)) : "—";
}

export function bytes(n) {
  if (n === null || n === undefined) return "—";
  const units = ["B", "kB", "MB", "GB", "TB", "PB"];
  let value = Number(n);
  let i = 0;
  while (value >= 1000 && i < units.length - 1) { value /= 1000; i += 1; }
  return `${i ? value.toFixed(value < 10 ? 1 : 0) : value} ${units[i]}`;
}

export function duration(seconds) {
  const parts = [];
  let rest = Number(seconds);
  for (const [unit, size] of [["d", 86400], ["h", 3600], ["m", 60], ["s", 1]]) {
    if (rest >= size) { parts.push(`${Math.floor(rest / size)}${unit}`); rest %= size; }
  }
  return parts.join(" ") || "0s";
}

export function list(text) {
  return String(text || "").split(",").map((s) => s.trim()).filter(Boolean);
}

export function table(headers, rows, emptyText = "Nothing here.") {
  if (!rows.length) return h("div", { class: "table-wrap" }, h("div", { class: "empty" }, emptyText));
  return h("div", { class: "table-wrap" },
    h("table", {},
      h("thead", {}, h("tr", {}, headers.map((hd) => h("th", typeof hd === "string" ? {} : hd.attrs, hd.text ?? hd)))),
      h("tbody", {}, rows)));
}

let flashTimer = null;
let flashedAt = 0;

export function flash(message, kind = "error") {
  flashedAt = Date.now();
  const el = document.getElementById("flash");
  el.className = `flash ${kind}`;
  el.textContent = message;
  el.hidden = false;
  clearTimeout(flashTimer);
  flashTimer = setTimeout(() => { el.hidden = true; }, kind === "error" ? 12000 : 4000);
}

export function clearFlash() {
  document.getElementById("flash").hidden = true;
}

// On a new page, a message from an earlier one goes; one from the action that led here stays.
export function clearStaleFlash() {
  if (Date.now() - flashedAt > 1500) clearFlash();
}

// Split a command line the way a POSIX shell splits words: quotes and backslashes, no expansion.
export function shellSplit(line) {
  const words = [];
  let word = null;
  let quote = null;
  for (let i = 0; i < line.length; i += 1) {
    const c = line[i];
    if (quote === "'") {
      if (c === "'") quote = null; else word += c;
    } else if (quote === '"') {
      if (c === '"') quote = null;
      else if (c === "\\" && i + 1 < line.length && '"\\$`'.includes(line[i + 1])) word += line[++i];
      else word += c;
    } else if (/\s/.test(c)) {
      if (word !== null) { words.push(word); word = null; }
    } else {
      word = word ?? "";
      if (c === "'" || c === '"') quote = c;
      else if (c === "\\" && i + 1 < line.length) word += line[++i];
      else word += c;
    }
  }
  if (quote) throw new Error(`unclosed ${quote} quote in the command`);
  if (word !== null) words.push(word);
  return words;
}

export function shellJoin(args) {
  return (args || []).map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replaceAll("'", "'\\''")}'`)).join(" ");
}

export function roleAtLeast(role, minimum) {
  return role !== undefined && VOCAB.Role.indexOf(role) >= VOCAB.Role.indexOf(minimum);
}

// A link the browser follows to save a presigned URL's bytes (same origin for the local store).
export function saveUrl(url, filename) {
  const a = h("a", { href: url, download: filename || "", hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
}

export function confirmAction(message) {
  return window.confirm(message);
}
