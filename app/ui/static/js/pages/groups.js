// The caller's groups with their role, and creating a group.

import * as api from "../api.js";
import { badge, flash, h, replace, table } from "../dom.js";

export async function render(ctx) {
  const names = Object.keys(ctx.roles).sort();
  const name = h("input", { name: "group_name", required: true, placeholder: "new-group" });
  const canCreate = ctx.me.group_count < ctx.me.group_quota;
  const create = h("form", { class: "inline", id: "create-group", onsubmit: async (event) => {
    event.preventDefault();
    try {
      await api.post("/groups", { group_name: name.value.trim() });
      flash(`Group ${name.value.trim()} created.`, "ok");
      ctx.go(`group/${encodeURIComponent(name.value.trim())}`);
    } catch (err) {
      flash(err.message);
    }
  } }, h("label", {}, "Group name", name), h("button", { class: "primary", type: "submit" }, "Create group"));
  replace(ctx.view,
    h("h1", {}, "Groups"),
    table(["Group", "Your role"], names.map((g) => h("tr", {},
      h("td", {}, h("a", { href: `#/group/${encodeURIComponent(g)}` }, g)),
      h("td", {}, badge(ctx.roles[g], "role"))))),
    h("div", { class: "card" },
      h("h2", {}, "New group"),
      canCreate ? create : h("p", { class: "muted" },
        `You have created ${ctx.me.group_count} of the ${ctx.me.group_quota} groups you may create.`)));
}
