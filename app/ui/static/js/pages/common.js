// What several pages share: the selected group, and what the caller may do there.

import { VOCAB, h, roleAtLeast } from "../dom.js";

const GROUP_KEY = "mito.group";

export function selectedGroup(ctx) {
  const names = Object.keys(ctx.roles);
  const wanted = ctx.query.get("group") || localStorage.getItem(GROUP_KEY);
  if (wanted && (names.includes(wanted) || ctx.me.admin)) return wanted;
  return names.includes(ctx.me.username) ? ctx.me.username : names.sort()[0];
}

export function rememberGroup(name) {
  localStorage.setItem(GROUP_KEY, name);
}

// Site admins may read every group but, as in the API, write only where they hold Write or Admin.
export function canWrite(ctx, group) {
  return roleAtLeast(ctx.roles[group], "Write");
}

export function isGroupAdmin(ctx, group) {
  return roleAtLeast(ctx.roles[group], "Admin");
}

export function groupSelect(ctx, selected, onChange) {
  const names = Object.keys(ctx.roles).sort();
  if (selected && !names.includes(selected)) names.unshift(selected);
  return h("select", { name: "group", "aria-label": "Group", onchange: (event) => {
    rememberGroup(event.target.value);
    onChange(event.target.value);
  } }, names.map((name) => h("option", { value: name, selected: name === selected },
    ctx.roles[name] ? `${name} (${ctx.roles[name]})` : name)));
}

export function isDone(info) {
  return info.result !== null && info.result !== undefined;
}

export function cancellable(info) {
  return VOCAB.CancellableTaskState.includes(info.state);
}
