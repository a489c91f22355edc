// One group: facts, storage against quota, members and roles (its Admins see and change them),
// attachments (upload, download, delete).

import * as api from "../api.js";
import {
  VOCAB, badge, bytes, confirmAction, flash, h, replace, saveUrl, table, when,
} from "../dom.js";
import { canWrite, isGroupAdmin } from "./common.js";

const PAGE_SIZE = 50;

function storageBar(used, quota) {
  const share = quota > 0 ? Math.min(1, used / quota) : 1;
  const level = share >= 1 ? " full" : share >= 0.8 ? " high" : "";
  const fill = h("span");
  fill.style.width = `${(share * 100).toFixed(1)}%`; // CSSOM, which the page's CSP allows (no inline styles)
  return h("div", { id: "storage" },
    h("div", { class: `bar${level}`, role: "meter", "aria-valuemin": 0, "aria-valuemax": quota, "aria-valuenow": used,
      "aria-label": "Storage used", id: "storage-bar" }, fill),
    h("div", { class: "muted" }, `${bytes(used)} of ${bytes(quota)} used (${(share * 100).toFixed(1)}%)`));
}

function roleSelect(current, onchange) {
  return h("select", { onchange, "aria-label": "Role" },
    VOCAB.Role.map((r) => h("option", { value: r, selected: r === current }, r)));
}

function membersView(ctx, name, info, reload) {
  if (!info.users_in_group) {
    return h("p", { class: "muted" }, "Only the group's Admins see its members.");
  }
  const setRole = (user, role) => api.put(`/groups/${api.seg(name)}/users`, { relations: { [user]: role } });
  const rows = Object.entries(info.users_in_group).sort().map(([user, role]) => h("tr", { dataset: { member: user } },
    h("td", {}, user),
    h("td", {}, roleSelect(role, async (event) => {
      try { await setRole(user, event.target.value); flash(`${user} is now ${event.target.value}.`, "ok"); }
      catch (err) { flash(err.message); }
      await reload();
    })),
    h("td", {}, h("button", { type: "button", class: "danger", onclick: async () => {
      if (!confirmAction(`Remove ${user} from ${name}?`)) return;
      try { await api.del(`/groups/${api.seg(name)}/users`, { query: { users: user } }); }
      catch (err) { flash(err.message); }
      await reload();
    } }, "Remove"))));
  const user = h("input", { name: "user", required: true, placeholder: "username" });
  let role = "Read";
  const add = h("form", { class: "inline", onsubmit: async (event) => {
    event.preventDefault();
    try { await setRole(user.value.trim(), role); flash(`${user.value.trim()} added as ${role}.`, "ok"); }
    catch (err) { flash(err.message); }
    await reload();
  } }, h("label", {}, "User", user), h("label", {}, "Role", roleSelect(role, (e) => { role = e.target.value; })),
  h("button", { type: "submit" }, "Add member"));
  return h("div", {}, table(["Member", "Role", ""], rows), h("div", { class: "row" }, add));
}

// The latest render asked of each attachments element: a slower, older answer never overwrites a newer one.
const listRenders = new WeakMap();

async function attachmentsView(ctx, name, el, offset, reload) {
  const writable = canWrite(ctx, name);
  const mine = (listRenders.get(el) || 0) + 1;
  listRenders.set(el, mine);
  const [page, total] = await Promise.all([
    api.post(`/groups/${api.seg(name)}/attachments/query`, { limit: PAGE_SIZE, offset }),
    api.post(`/groups/${api.seg(name)}/attachments/query`, { count: true }).then((r) => r.count),
  ]);
  if (listRenders.get(el) !== mine) return;
  const base = `/groups/${api.seg(name)}`;
  const rows = page.attachments.map((a) => h("tr", { dataset: { key: a.key } },
    h("td", { class: "mono" }, a.key),
    h("td", {}, bytes(a.size)),
    h("td", { class: "hide-narrow" }, when(a.updated_at)),
    h("td", {},
      h("button", { type: "button", onclick: async () => {
        try {
          const link = await api.get(`${base}/download/attachments/${api.keyPath(a.key)}`, { query: { redirect: "false" } });
          saveUrl(api.absolute(link.url), a.key.split("/").pop());
        } catch (err) { flash(err.message); }
      } }, "Download"), " ",
      writable || ctx.me.admin ? h("button", { type: "button", class: "danger", onclick: async () => {
        if (!confirmAction(`Delete ${a.key}?`)) return;
        // Site admins use the admin operation, which may also delete objects changed within the hour.
        const path = ctx.me.admin ? `/admin${base}/attachments/${api.keyPath(a.key)}` : `${base}/attachments/${api.keyPath(a.key)}`;
        try { await api.del(path); flash(`${a.key} deleted.`, "ok"); }
        catch (err) { flash(err.message); }
        await reload();
      } }, "Delete") : null)));
  const file = h("input", { type: "file", name: "file", required: true });
  const key = h("input", { name: "key", placeholder: "key (default: the file name)" });
  const upload = h("form", { class: "inline", id: "upload-attachment", onsubmit: async (event) => {
    event.preventDefault();
    const chosen = file.files[0];
    if (!chosen) return;
    const target = key.value.trim() || chosen.name;
    try {
      flash(`Uploading ${target}…`, "ok");
      const { url } = await api.post(`${base}/attachments`, { key: target, content_length: chosen.size });
      await api.putBytes(url, chosen);
      flash(`${target} uploaded (${bytes(chosen.size)}).`, "ok");
    } catch (err) { flash(err.message); }
    await reload();
  } }, file, key, h("button", { class: "primary", type: "submit" }, "Upload"));
  replace(el,
    table(["Key", "Size", { text: "Updated", attrs: { class: "hide-narrow" } }, ""], rows, "No attachments."),
    h("div", { class: "pager" },
      h("button", { type: "button", disabled: offset <= 0, onclick: () => attachmentsView(ctx, name, el, offset - PAGE_SIZE, reload) }, "‹"),
      h("span", {}, `${total ? offset + 1 : 0}–${offset + page.attachments.length} of ${total}`),
      h("button", { type: "button", disabled: offset + PAGE_SIZE >= total, onclick: () => attachmentsView(ctx, name, el, offset + PAGE_SIZE, reload) }, "›")),
    writable ? upload : null);
}

function quotaForm(name, reload) {
  const quota = h("input", { name: "storage_quota", placeholder: "10GB" });
  return h("form", { class: "inline", onsubmit: async (event) => {
    event.preventDefault();
    try { await api.post(`/admin/groups/${api.seg(name)}/storage-quota`, { storage_quota: quota.value.trim() }); }
    catch (err) { flash(err.message); }
    await reload();
  } }, h("label", {}, "Storage quota", quota), h("button", { type: "submit" }, "Set quota"));
}

export async function render(ctx) {
  const [name] = ctx.params;
  const attachmentsEl = h("div", { id: "attachments" });
  let loads = 0; // reloads overlap (an action's reload while another runs): only the latest one renders

  async function load() {
    const mine = ++loads;
    const info = await api.get(`/groups/${api.seg(name)}`);
    if (!ctx.current() || mine !== loads) return;
    replace(ctx.view,
      h("h1", {}, `Group ${name} `, badge(info.state), " ", ctx.roles[name] ? badge(ctx.roles[name], "role") : null),
      h("div", { class: "card" },
        h("dl", { class: "facts" },
          h("dt", {}, "Creator"), h("dd", {}, info.creator_username),
          h("dt", {}, "Created"), h("dd", {}, when(info.created_at)),
          h("dt", {}, "Tasks"), h("dd", {}, h("a", { href: `#/tasks?group=${encodeURIComponent(name)}` }, String(info.task_count))),
          h("dt", {}, "Workers"), h("dd", {}, h("a", { href: `#/workers?group=${encodeURIComponent(name)}` }, String(info.worker_count)))),
        h("h2", {}, "Storage"), storageBar(info.storage_used, info.storage_quota),
        ctx.me.admin ? quotaForm(name, load) : null),
      h("section", { class: "card", id: "members" }, h("h2", {}, "Members"),
        isGroupAdmin(ctx, name) ? membersView(ctx, name, info, load) : membersView(ctx, name, { users_in_group: null }, load)),
      h("section", { class: "card" }, h("h2", {}, "Attachments"), attachmentsEl));
    await attachmentsView(ctx, name, attachmentsEl, 0, load);
  }

  await load();
}
