// Users, for site admins: create, lock/unlock/delete, reset a password, change a group quota.

import * as api from "../api.js";
import { VOCAB, badge, confirmAction, flash, h, replace, table, when } from "../dom.js";

const PAGE_SIZE = 100;

function userRow(u, reload) {
  const base = `/admin/users/${api.seg(u.username)}`;
  const run = (fn, done) => async () => {
    try { await fn(); if (done) flash(done, "ok"); } catch (err) { flash(err.message); }
    await reload();
  };
  const state = h("select", { "aria-label": "State", onchange: (event) => run(
    () => api.post(`${base}/state`, { state: event.target.value }), `${u.username} is now ${event.target.value}.`)() },
  VOCAB.UserState.map((s) => h("option", { value: s, selected: s === u.state }, s)));
  return h("tr", { dataset: { user: u.username } },
    h("td", {}, u.username, u.admin ? [" ", badge("admin", "role")] : null),
    h("td", {}, state),
    h("td", {}, `${u.group_count} / ${u.group_quota}`),
    h("td", { class: "hide-narrow" }, when(u.last_sign_in_at)),
    h("td", {},
      h("button", { type: "button", onclick: () => {
        const password = window.prompt(`New password for ${u.username}:`);
        if (password) run(() => api.post(`${base}/password`, { new_md5_password: api.md5Bytes(password) }), "Password changed.")();
      } }, "Password"), " ",
      h("button", { type: "button", onclick: () => {
        const quota = window.prompt(`Group quota for ${u.username} (10, +2, -1):`, String(u.group_quota));
        if (quota) run(() => api.post(`${base}/group-quota`, { group_quota: quota.trim() }), "Group quota changed.")();
      } }, "Group quota"), " ",
      h("button", { type: "button", class: "danger", onclick: () => {
        if (confirmAction(`Delete user ${u.username}?`)) run(() => api.del(base), `${u.username} deleted.`)();
      } }, "Delete")));
}

export async function render(ctx) {
  if (!ctx.me.admin) {
    replace(ctx.view, h("h1", {}, "Users"), h("p", {}, "Only site admins manage users."));
    return;
  }
  const offset = Math.max(0, Number(ctx.query.get("offset") || 0));
  const listEl = h("div", { id: "users" });

  async function load() {
    const { users, count } = await api.get("/admin/users", { query: { limit: PAGE_SIZE, offset } });
    if (!ctx.current()) return;
    replace(listEl,
      table(["User", "State", "Groups created", { text: "Last login", attrs: { class: "hide-narrow" } }, ""],
        users.map((u) => userRow(u, load))),
      h("div", { class: "pager" },
        h("button", { type: "button", disabled: offset <= 0,
          onclick: () => ctx.go("admin", new URLSearchParams({ offset: String(Math.max(0, offset - PAGE_SIZE)) })) }, "‹"),
        h("span", {}, `${users.length ? offset + 1 : 0}–${offset + users.length} of ${count}`),
        h("button", { type: "button", disabled: offset + PAGE_SIZE >= count,
          onclick: () => ctx.go("admin", new URLSearchParams({ offset: String(offset + PAGE_SIZE) })) }, "›")));
  }

  const username = h("input", { name: "username", required: true });
  const password = h("input", { name: "password", type: "password", required: true, autocomplete: "new-password" });
  const admin = h("input", { type: "checkbox", name: "admin" });
  const create = h("form", { class: "inline", id: "create-user", onsubmit: async (event) => {
    event.preventDefault();
    try {
      await api.post("/admin/users", {
        username: username.value.trim(), md5_password: api.md5Bytes(password.value), admin: admin.checked,
      });
      flash(`User ${username.value.trim()} created.`, "ok");
      create.reset();
    } catch (err) { flash(err.message); }
    await load();
  } }, h("label", {}, "User", username), h("label", {}, "Password", password),
  h("label", { class: "check" }, admin, "Site admin"), h("button", { class: "primary", type: "submit" }, "Create user"));

  replace(ctx.view, h("h1", {}, "Users"), h("div", { class: "card" }, h("h2", {}, "New user"), create), listEl);
  await load();
}
