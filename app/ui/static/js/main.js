// The dashboard shell: session, navigation by URL fragment, and one page module per route.
// Each page module exports render(ctx); ctx.refresh(fn, ms) registers an auto-refresh that stops when the
// user navigates away or the tab is hidden.

import * as api from "./api.js";
import { clearFlash, clearStaleFlash, flash, h, replace } from "./dom.js";
import * as admin from "./pages/admin.js";
import * as group from "./pages/group.js";
import * as groups from "./pages/groups.js";
import * as loginPage from "./pages/login.js";
import * as task from "./pages/task.js";
import * as tasks from "./pages/tasks.js";
import * as workers from "./pages/workers.js";

const ROUTES = [
  [/^tasks$/, tasks, "tasks"],
  [/^task\/([0-9a-fA-F-]{36})$/, task, "tasks"],
  [/^workers$/, workers, "workers"],
  [/^groups$/, groups, "groups"],
  [/^group\/(.+)$/, group, "groups"],
  [/^admin$/, admin, "admin"],
];

const view = document.getElementById("view");
let timers = [];
let generation = 0;

function parseHash() {
  const raw = window.location.hash.replace(/^#\/?/, "");
  const [path, query = ""] = raw.split("?");
  return { path: decodeURIComponent(path || "tasks"), query: new URLSearchParams(query) };
}

export function go(path, query) {
  const qs = query && [...query].length ? `?${query}` : "";
  window.location.hash = `#/${path}${qs}`;
}

function stopTimers() {
  timers.forEach(clearInterval);
  timers = [];
}

// A refresh must not wipe what the user is typing: it waits while a field of the page has the focus.
function editing() {
  const el = document.activeElement;
  return Boolean(el && view.contains(el) && el.matches("input:not([type=checkbox]), textarea"));
}

function showChrome(me) {
  document.getElementById("nav").hidden = !me;
  document.getElementById("who").hidden = !me;
  document.getElementById("nav-admin").hidden = !(me && me.admin);
  if (me) document.getElementById("who-name").textContent = me.admin ? `${me.username} (admin)` : me.username;
}

function markNav(name) {
  document.querySelectorAll("#nav a").forEach((a) => a.classList.toggle("active", a.dataset.nav === name));
}

async function render() {
  stopTimers();
  clearStaleFlash();
  const mine = ++generation;
  const { path, query } = parseHash();
  if (path === "login" || !api.session()) {
    showChrome(null);
    loginPage.render({ view, query, onLogin: () => go(query.get("next") || "tasks") });
    return;
  }
  const route = ROUTES.find(([pattern]) => pattern.test(path));
  if (!route) { go("tasks"); return; }
  const [pattern, page, nav] = route;
  const params = path.match(pattern).slice(1);
  try {
    const [me, roles] = await Promise.all([api.get("/users/me"), api.get("/users/groups")]);
    if (mine !== generation) return;
    showChrome(me);
    markNav(nav);
    const ctx = {
      view, params, query, me, roles: roles.groups, go,
      current: () => mine === generation,
      refresh(fn, ms) {
        const id = setInterval(() => {
          if (document.hidden || mine !== generation || editing()) return;
          fn().catch(report);
        }, ms);
        timers.push(id);
        return () => clearInterval(id);
      },
    };
    await page.render(ctx);
  } catch (err) {
    if (mine === generation) report(err);
  }
}

export function report(err) {
  if (err instanceof api.ApiError && err.status === 401) return; // already on the way to the login form
  flash(err.message || String(err));
  if (!view.childElementCount) replace(view, h("p", { class: "muted" }, "This page could not be shown."));
}

api.onUnauthorized((message) => {
  stopTimers();
  const { path } = parseHash();
  const next = path === "login" ? "tasks" : path;
  flash(`Please log in again (${message}).`);
  go("login", new URLSearchParams({ next }));
});

document.getElementById("logout").addEventListener("click", () => {
  api.clearSession();
  clearFlash();
  go("login");
});

window.addEventListener("hashchange", render);
window.addEventListener("unhandledrejection", (event) => report(event.reason));
render();
