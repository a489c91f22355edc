// One task: spec, state, result, output, artifacts, labels and cancel. While the task has not ended, its
// live output (GET /tasks/{uuid}/output, read on from the last cursor at every refresh) and why it is not
// running yet (GET /tasks/{uuid}/explain). The attempts timeline has its place (data-slot) for later.

import * as api from "../api.js";
import {
  badge, bytes, chips, confirmAction, duration, flash, h, list, replace, saveUrl, shellJoin, when,
} from "../dom.js";
import { fetchOutput } from "../output.js";
import { canWrite, cancellable, isDone } from "./common.js";

const REFRESH_MS = 2000;

function facts(pairs) {
  return h("dl", { class: "facts" }, pairs.filter(Boolean).map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
}

function taskLink(uuid) {
  return uuid ? h("a", { href: `#/task/${uuid}`, class: "mono" }, uuid) : "—";
}

function resultView(result) {
  if (!result) return h("p", { class: "muted" }, "No result yet.");
  return facts([
    ["Exit status", h("span", { id: "exit-status" }, String(result.exit_status))],
    result.msg ? ["Message", badge(result.msg, "fail")] : null,
  ]);
}

function specView(spec) {
  const envs = Object.entries(spec.envs || {});
  return h("div", {},
    h("pre", { id: "task-command" }, shellJoin(spec.args)),
    facts([
      ["Environment", envs.length ? h("div", {}, envs.map(([k, v]) => h("div", { class: "mono" }, `${k}=${v}`))) : "—"],
      ["Resources", (spec.resources || []).length
        ? h("div", {}, spec.resources.map((r) => h("div", { class: "mono" }, `${JSON.stringify(r.remote_file)} → ${r.local_path}`)))
        : "—"],
      ["Watch", spec.watch ? h("span", {}, taskLink(spec.watch[0]), ` until ${spec.watch[1]}`) : "—"],
      ["Terminal output", spec.terminal_output ? "kept (std-log)" : "not kept"],
    ]));
}

function labelsEditor(ctx, info, writable) {
  if (!writable) return chips(info.labels);
  const input = h("input", { name: "labels", value: info.labels.join(","), "aria-label": "Labels" });
  return h("form", { class: "inline", id: "labels-form", onsubmit: async (event) => {
    event.preventDefault();
    try {
      await api.put(`/tasks/${info.uuid}/labels`, { labels: list(input.value) });
      flash("Labels saved.", "ok");
    } catch (err) {
      flash(err.message);
    }
  } }, input, h("button", { type: "submit" }, "Save labels"));
}

async function download(uuid, type) {
  try {
    const link = await api.get(`/tasks/${uuid}/download/artifacts/${type}`, { query: { redirect: "false" } });
    saveUrl(api.absolute(link.url), `${uuid}-${type}.tar.gz`);
  } catch (err) {
    flash(err.message);
  }
}

function artifactsView(uuid, artifacts) {
  if (!artifacts.length) return h("p", { class: "muted" }, "No artifacts.");
  return h("ul", { id: "artifacts" }, artifacts.map((a) => h("li", {},
    h("button", { type: "button", class: "link", dataset: { artifact: a.content_type },
      onclick: () => download(uuid, a.content_type) }, `${a.content_type}.tar.gz`),
    h("span", { class: "muted" }, ` ${bytes(a.size)} · `, when(a.updated_at)))));
}

async function outputView(el, uuid, artifacts) {
  if (!artifacts.some((a) => a.content_type === "std-log")) {
    replace(el, h("p", { class: "muted" }, "No terminal output was kept for this task."));
    return;
  }
  try {
    const link = await api.get(`/tasks/${uuid}/download/artifacts/std-log`, { query: { redirect: "false" } });
    const streams = await fetchOutput(link.url);
    const names = Object.keys(streams).sort().reverse(); // stdout.log before stderr.log
    replace(el, names.length ? names.map((name) => h("div", {},
      h("div", { class: "muted" }, name),
      h("pre", { dataset: { stream: name } }, streams[name] || "(empty)"))) : h("p", { class: "muted" }, "(empty)"));
  } catch (err) {
    replace(el, h("p", { class: "muted" }, `The output could not be shown: ${err.message}`));
  }
}

const LIVE_MAX = 200_000; // characters of live output the page keeps (the newest)

function skipMarker(skipped) {
  return `[mito: ${skipped} bytes of output skipped: the task wrote faster than live output ships]\n`;
}

// The live output of a task, read on from where the previous read ended.
function liveOutput(uuid) {
  const el = h("pre", { id: "live-output" }, "");
  let cursor = null;
  let text = "";
  async function poll() {
    for (;;) {
      const page = await api.get(`/tasks/${uuid}/output`, { query: cursor ? { after: cursor } : {} });
      cursor = page.next || cursor;
      if (!page.chunks.length) break;
      text += page.chunks.map((c) => (c.skipped ? skipMarker(c.skipped) : "") + c.data).join("");
    }
    if (text.length > LIVE_MAX) text = text.slice(text.length - LIVE_MAX);
    el.textContent = text || "(nothing written yet)";
  }
  return { el, poll };
}

async function explainView(el, uuid) {
  try {
    const why = await api.get(`/tasks/${uuid}/explain`);
    const w = why.workers;
    replace(el,
      h("p", { id: "explain-verdict" }, why.verdict),
      w ? facts([
        ["Live workers", String(w.live)],
        ["Its group may use", String(w.group)],
        ["Carrying all its tags", String(w.tags)],
        ["Idle", String(w.idle)],
        ["Tasks ahead", `${why.ahead}${why.ahead_capped ? "+" : ""}`],
        why.missing_tags && why.missing_tags.length
          ? ["Tags the closest workers lack", h("span", { id: "explain-missing" }, why.missing_tags.join(", "))] : null,
      ]) : null);
  } catch (err) {
    replace(el, h("p", { class: "muted" }, `Explain is not available: ${err.message}`));
  }
}

export async function render(ctx) {
  const [uuid] = ctx.params;
  let shownOutputFor = null;
  const outputEl = h("div", { id: "output" });
  const live = liveOutput(uuid);
  const explainEl = h("div", { id: "explain" });

  async function load() {
    const { info, artifacts } = await api.get(`/tasks/${uuid}`);
    if (!ctx.current()) return info;
    const writable = canWrite(ctx, info.group_name);
    const cancel = writable && cancellable(info)
      ? h("button", { type: "button", class: "danger", id: "cancel-task", onclick: async () => {
        if (!confirmAction(`Cancel task #${info.task_id}?`)) return;
        try {
          await api.del(`/tasks/${uuid}`);
          flash("Cancellation requested.", "ok");
          await load();
        } catch (err) {
          flash(err.message);
        }
      } }, "Cancel task")
      : null;
    replace(ctx.view,
      h("div", { class: "row" },
        h("h1", {}, `Task #${info.task_id} `, badge(info.state), " "),
        h("span", { class: "spacer" }), cancel),
      h("div", { class: "card" }, facts([
        ["UUID", h("span", { class: "mono" }, info.uuid)],
        ["State", h("span", { id: "task-state" }, badge(info.state))],
        ["Group", h("a", { href: `#/group/${encodeURIComponent(info.group_name)}` }, info.group_name)],
        ["Creator", info.creator_username],
        ["Created", when(info.created_at)],
        ["Updated", when(info.updated_at)],
        ["Timeout", duration(info.timeout)],
        ["Priority", String(info.priority)],
        ["Tags", chips(info.tags).length ? chips(info.tags) : "—"],
        ["Labels", labelsEditor(ctx, info, writable)],
        info.upstream_task_uuid ? ["Upstream", taskLink(info.upstream_task_uuid)] : null,
        info.downstream_task_uuid ? ["Downstream", taskLink(info.downstream_task_uuid)] : null,
        info.reporter_uuid ? ["Reported by", h("span", { class: "mono" }, info.reporter_uuid)] : null,
      ])),
      h("section", { class: "card", id: "result" }, h("h2", {}, "Result"), resultView(info.result)),
      h("section", { class: "card" }, h("h2", {}, "Output"), outputEl),
      h("section", { class: "card" }, h("h2", {}, "Artifacts"), artifactsView(uuid, artifacts)),
      h("section", { class: "card" }, h("h2", {}, "Command"), specView(info.spec)),
      h("section", { class: "card placeholder", dataset: { slot: "attempts" } },
        h("h2", {}, "Attempts"), h("p", { class: "muted" }, "The attempts timeline is not available on this coordinator yet.")),
      h("section", { class: "card", dataset: { slot: "live-output" }, hidden: isDone(info) },
        h("h2", {}, "Live output"), live.el),
      h("section", { class: "card", dataset: { slot: "explain" }, hidden: isDone(info) },
        h("h2", {}, "Why is it (not) running?"), explainEl));
    if (!isDone(info)) {
      await Promise.all([
        live.poll().catch((err) => { live.el.textContent = `Live output is not available: ${err.message}`; }),
        explainView(explainEl, uuid),
      ]);
    }
    const key = artifacts.map((a) => `${a.content_type}@${a.updated_at}`).join();
    if (isDone(info) && shownOutputFor !== key) {
      shownOutputFor = key;
      replace(outputEl, h("p", { class: "muted" }, "Loading output…"));
      await outputView(outputEl, uuid, artifacts);
    } else if (!isDone(info)) {
      replace(outputEl, h("p", { class: "muted" }, "The kept output (std-log) is shown once the task has finished; its live output is below."));
    }
    return info;
  }

  const info = await load();
  if (!isDone(info)) {
    const stop = ctx.refresh(async () => { if (isDone(await load())) stop(); }, REFRESH_MS);
  }
}
