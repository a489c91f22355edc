// Workers serving the selected group: state, tags, labels, groups, current task, last heartbeat, shutdown.

import * as api from "../api.js";
import {
  badge, chips, confirmAction, flash, h, replace, roleAtLeast, shortId, table, when,
} from "../dom.js";
import { groupSelect, selectedGroup } from "./common.js";

const REFRESH_MS = 5000;

// The API's rule (services/worker.py): its creator, or Admin in a group that holds Admin on the worker;
// site admins go through the admin operation.
function mayShutdown(ctx, info, groups) {
  if (ctx.me.admin || info.creator_username === ctx.me.username) return true;
  return Object.entries(groups).some(([g, role]) => role === "Admin" && roleAtLeast(ctx.roles[g], "Admin"));
}

async function shutdown(ctx, uuid, op) {
  if (!confirmAction(op === "Force"
    ? `Force worker ${shortId(uuid)} down now? Its current task goes back to the queue.`
    : `Shut worker ${shortId(uuid)} down after its current task?`)) return false;
  const path = ctx.me.admin ? `/admin/workers/${uuid}/` : `/workers/${uuid}`;
  await api.del(path, { query: { op } });
  flash(`Worker ${shortId(uuid)}: ${op} shutdown requested.`, "ok");
  return true;
}

function workerRow(ctx, info, groups, reload) {
  const act = (op) => async () => {
    try {
      if (await shutdown(ctx, info.worker_id, op)) await reload();
    } catch (err) {
      flash(err.message);
    }
  };
  const actions = mayShutdown(ctx, info, groups)
    ? [h("button", { type: "button", dataset: { shutdown: "Graceful" }, onclick: act("Graceful") }, "Shut down"), " ",
      h("button", { type: "button", class: "danger", dataset: { shutdown: "Force" }, onclick: act("Force") }, "Force")]
    : [];
  return h("tr", { dataset: { worker: info.worker_id } },
    h("td", { class: "mono", title: info.worker_id }, shortId(info.worker_id)),
    h("td", {}, badge(info.state)),
    h("td", {}, chips(info.tags)),
    h("td", { class: "hide-narrow" }, chips(info.labels)),
    h("td", { class: "hide-narrow" }, chips(Object.entries(groups).map(([g, r]) => `${g}:${r}`))),
    h("td", {}, info.assigned_task_id
      ? h("a", { href: `#/task/${info.assigned_task_id}`, class: "mono" }, shortId(info.assigned_task_id)) : "idle"),
    h("td", {}, when(info.last_heartbeat)),
    h("td", { class: "hide-narrow" }, info.creator_username),
    h("td", {}, actions));
}

export async function render(ctx) {
  const group = selectedGroup(ctx);
  const body = h("div", { id: "worker-table" });

  async function load() {
    // One request: each worker comes with its groups (and so who may shut it down).
    const { workers } = await api.post("/workers/query", { group_name: group });
    if (!ctx.current()) return;
    replace(body, table(
      ["Worker", "State", "Tags", { text: "Labels", attrs: { class: "hide-narrow" } },
        { text: "Groups", attrs: { class: "hide-narrow" } }, "Task", "Heartbeat",
        { text: "Creator", attrs: { class: "hide-narrow" } }, ""],
      workers.map((w) => workerRow(ctx, w, w.groups || {}, load)),
      "No worker serves this group."));
  }

  replace(ctx.view,
    h("div", { class: "row" },
      h("h1", {}, "Workers serving ", groupSelect(ctx, group, (g) => ctx.go("workers", new URLSearchParams({ group: g }))))),
    body,
    h("p", { class: "muted" }, "Start one with: mito worker --coordinator ", h("code", {}, window.location.origin),
      " --groups ", h("code", {}, group)));
  await load();
  ctx.refresh(load, REFRESH_MS);
}
