import * as api from "../api.js";
import { clearFlash, flash, h, replace } from "../dom.js";

export function render({ view, onLogin }) {
  const username = h("input", { name: "username", autocomplete: "username", required: true, autofocus: true });
  const password = h("input", { name: "password", type: "password", autocomplete: "current-password", required: true });
  const retain = h("input", { type: "checkbox", name: "retain", checked: true });
  const submit = h("button", { class: "primary", type: "submit" }, "Log in");
  const form = h("form", { class: "stack card login", onsubmit: async (event) => {
    event.preventDefault();
    submit.disabled = true;
    try {
      await api.login(username.value.trim(), password.value, retain.checked);
      clearFlash();
      onLogin();
    } catch (err) {
      flash(err.message);
    } finally {
      submit.disabled = false;
    }
  } },
  h("h1", {}, "Log in to Mitosis"),
  h("label", {}, "User", username),
  h("label", {}, "Password", password),
  h("label", { class: "check", title: "Without it, logging in here ends your other sessions (CLI, other browsers)" },
    retain, "Keep my other sessions signed in"),
  submit);
  replace(view, form);
  username.focus();
}
