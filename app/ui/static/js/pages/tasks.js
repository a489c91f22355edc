// Tasks: counts by state for the selected group, a filtered, paginated table and the submit form.

import * as api from "../api.js";
import {
  VOCAB, age, badge, chips, flash, h, list, replace, shellSplit, shortId, table,
} from "../dom.js";
import { canWrite, groupSelect, selectedGroup } from "./common.js";

const PAGE_SIZE = 25;
const REFRESH_MS = 5000;
const FILTERS = ["states", "creators", "tags", "labels", "exit_status", "priority"];

function filterBody(group, query) {
  const body = { group_name: group };
  if (query.get("states")) body.states = list(query.get("states"));
  if (query.get("creators")) body.creator_usernames = list(query.get("creators"));
  if (query.get("tags")) body.tags = list(query.get("tags"));
  if (query.get("labels")) body.labels = list(query.get("labels"));
  if (query.get("exit_status")) body.exit_status = query.get("exit_status");
  if (query.get("priority")) body.priority = query.get("priority");
  return body;
}

function exitCell(result) {
  if (!result) return "—";
  const failed = result.exit_status !== 0 || result.msg;
  return h("span", { class: failed ? "badge fail" : "", title: result.msg || "" },
    String(result.exit_status), result.msg ? ` ${result.msg}` : "");
}

function taskRow(t) {
  return h("tr", { dataset: { uuid: t.uuid } },
    h("td", {}, h("a", { href: `#/task/${t.uuid}` }, `#${t.task_id}`), " ",
      h("span", { class: "muted mono hide-narrow" }, shortId(t.uuid))),
    h("td", {}, badge(t.state)),
    h("td", { class: "hide-narrow" }, t.group_name),
    h("td", {}, t.creator_username),
    h("td", { class: "hide-narrow" }, chips(t.tags)),
    h("td", { class: "hide-narrow" }, chips(t.labels)),
    h("td", {}, String(t.priority)),
    h("td", {}, exitCell(t.result)),
    h("td", {}, h("time", { datetime: t.created_at, title: new Date(t.created_at).toLocaleString() },
      age(t.created_at))));
}

function filterForm(query, apply) {
  const field = (name, label, placeholder) => h("label", {}, label,
    h("input", { name, value: query.get(name) || "", placeholder }));
  const selected = new Set(list(query.get("states")));
  const states = VOCAB.TaskState.map((s) => h("label", { class: "check" },
    h("input", { type: "checkbox", name: "state", value: s, checked: selected.has(s) }), s));
  const form = h("form", { class: "stack", onsubmit: (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const next = new URLSearchParams();
    const picked = data.getAll("state");
    if (picked.length) next.set("states", picked.join(","));
    for (const name of FILTERS.slice(1)) if (String(data.get(name)).trim()) next.set(name, String(data.get(name)).trim());
    apply(next);
  } },
  h("div", { class: "row" }, states),
  h("div", { class: "grid" },
    field("creators", "Creators", "alice,bob"),
    field("tags", "Tags (all of)", "gpu,linux"),
    field("labels", "Labels (all of)", "exp-1"),
    field("exit_status", "Exit status", "0, !=0, >1"),
    field("priority", "Priority", ">=5")),
  h("div", { class: "row" },
    h("button", { class: "primary", type: "submit" }, "Apply"),
    h("button", { type: "button", onclick: () => apply(new URLSearchParams()) }, "Clear")));
  return h("details", { class: "card", id: "task-filter", open: FILTERS.some((f) => query.get(f)) },
    h("summary", {}, "Filter"), form);
}

function parseEnv(text) {
  const envs = {};
  for (const line of text.split("\n").map((l) => l.trim()).filter(Boolean)) {
    const at = line.indexOf("=");
    if (at <= 0) throw new Error(`environment line "${line}" is not KEY=VALUE`);
    envs[line.slice(0, at)] = line.slice(at + 1);
  }
  return envs;
}

function submitForm(ctx, group) {
  const command = h("input", { name: "command", required: true, placeholder: "python3 train.py --epochs 10" });
  const tags = h("input", { name: "tags", placeholder: "gpu,linux" });
  const labels = h("input", { name: "labels", placeholder: "exp-1" });
  const timeout = h("input", { name: "timeout", value: "10m" });
  const priority = h("input", { name: "priority", type: "number", value: "0", step: "1" });
  const env = h("textarea", { name: "env", placeholder: "KEY=value, one per line" });
  const terminal = h("input", { type: "checkbox", name: "terminal_output", checked: true });
  const button = h("button", { class: "primary", type: "submit" }, "Submit");
  const form = h("form", { class: "stack", onsubmit: async (event) => {
    event.preventDefault();
    button.disabled = true;
    try {
      const args = shellSplit(command.value);
      if (!args.length) throw new Error("the command is empty");
      const body = {
        group_name: group, tags: list(tags.value), labels: list(labels.value),
        timeout: timeout.value.trim() || "10m", priority: Number(priority.value || 0),
        task_spec: { args, envs: parseEnv(env.value), resources: [], terminal_output: terminal.checked },
      };
      const created = await api.post("/tasks", body);
      flash(`Submitted task #${created.task_id}.`, "ok");
      ctx.go(`task/${created.uuid}`);
    } catch (err) {
      flash(err.message);
    } finally {
      button.disabled = false;
    }
  } },
  h("label", {}, "Command", command),
  h("div", { class: "grid" },
    h("label", {}, "Tags", tags), h("label", {}, "Labels", labels),
    h("label", {}, "Timeout", timeout), h("label", {}, "Priority", priority)),
  h("label", {}, "Environment", env),
  h("label", { class: "check" }, terminal, "Keep the terminal output (std-log)"),
  h("div", {}, button));
  return h("details", { class: "card", id: "submit-task" }, h("summary", {}, `Submit a task to ${group}`), form);
}

export async function render(ctx) {
  const group = selectedGroup(ctx);
  const { query } = ctx;
  const page = Math.max(1, Number(query.get("page") || 1));
  const navigate = (next) => ctx.go("tasks", next);
  const withGroup = (next) => { next.set("group", group); return next; };

  const countsEl = h("div", { class: "counts", id: "state-counts" });
  const tableEl = h("div", { id: "task-table" });
  const pagerEl = h("div", { class: "pager" });
  const stamp = h("span", { class: "muted" });
  const auto = h("input", { type: "checkbox", checked: localStorage.getItem("mito.autorefresh") !== "off",
    onchange: () => localStorage.setItem("mito.autorefresh", auto.checked ? "on" : "off") });

  async function load() {
    const filters = filterBody(group, query);
    const countOf = (extra) => api.post("/tasks/query", { ...extra, count: true }).then((r) => r.count);
    const [{ counts }, total, rows] = await Promise.all([
      api.get(`/groups/${api.seg(group)}/task-counts`), // kept by the server as tasks move: cheap to poll
      countOf(filters),
      api.post("/tasks/query", { ...filters, limit: PAGE_SIZE, offset: (page - 1) * PAGE_SIZE }),
    ]);
    if (!ctx.current()) return;
    const active = new Set(list(query.get("states")));
    replace(countsEl, VOCAB.TaskState.map((s) => h("button", {
      type: "button", class: `count${active.size === 1 && active.has(s) ? " selected" : ""}`,
      dataset: { state: s }, title: `Show ${s} tasks`,
      onclick: () => navigate(withGroup(new URLSearchParams({ states: s }))),
    }, h("b", {}, String(counts[s] ?? 0)), badge(s))));
    replace(tableEl, table(
      ["Task", "State", { text: "Group", attrs: { class: "hide-narrow" } }, "Creator",
        { text: "Tags", attrs: { class: "hide-narrow" } }, { text: "Labels", attrs: { class: "hide-narrow" } },
        "Priority", "Exit", "Age"],
      rows.tasks.map(taskRow), "No task matches."));
    const pages = Math.max(1, Math.ceil(total / PAGE_SIZE));
    const to = (n) => { const next = new URLSearchParams(query); next.set("page", String(n)); navigate(withGroup(next)); };
    replace(pagerEl,
      h("button", { type: "button", disabled: page <= 1, onclick: () => to(page - 1) }, "‹ Newer"),
      h("span", {}, `Page ${page} of ${pages} · ${total} task${total === 1 ? "" : "s"}`),
      h("button", { type: "button", disabled: page >= pages, onclick: () => to(page + 1) }, "Older ›"));
    stamp.textContent = `Updated ${new Date().toLocaleTimeString()}`;
  }

  replace(ctx.view,
    h("div", { class: "row" },
      h("h1", {}, "Tasks in ", groupSelect(ctx, group, (g) => navigate(new URLSearchParams({ group: g })))),
      h("span", { class: "spacer" }),
      h("label", { class: "check" }, auto, "Auto-refresh"), stamp),
    countsEl,
    canWrite(ctx, group) ? submitForm(ctx, group) : null,
    filterForm(query, (next) => navigate(withGroup(next))),
    tableEl, pagerEl);
  await load();
  ctx.refresh(() => (auto.checked ? load() : Promise.resolve()), REFRESH_MS);
}
