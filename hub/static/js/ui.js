// Small UI building blocks shared by the pages: element builder, toasts, the top bar and the log-in dialog.

import { errorText, login, logout, register, session } from "./api.js";
import { applyI18n, t } from "./i18n.js";

export const $ = (selector, root = document) => root.querySelector(selector);

/** el("button", {class: "btn", onclick}, "text", child) — never innerHTML, so user text is always text. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") node.addEventListener(key.slice(2), value);
    else if (key === "text") node.textContent = value;
    else if (value === true) node.setAttribute(key, "");
    else node.setAttribute(key, value);
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function toast(message, kind = "info", ms = 4500) {
  let box = $("#toasts");
  if (!box) {
    box = el("div", { id: "toasts", class: "toasts", role: "status", "aria-live": "polite" });
    document.body.append(box);
  }
  for (const shown of box.children) {
    if (shown.textContent === message && !shown.classList.contains("toast-out")) return shown; // said already
  }
  const item = el("div", { class: `toast toast-${kind}` }, message);
  box.append(item);
  setTimeout(() => item.classList.add("toast-out"), ms);
  setTimeout(() => item.remove(), ms + 400);
  return item;
}

export function showError(err) {
  return toast(errorText(err), "error", 6000);
}

/** The top bar: brand, navigation, who is logged in. */
export function mountHeader(active) {
  const header = $("header.topbar");
  if (!header) return;
  const userBox = el("div", { class: "topbar-user" });
  const render = () => {
    userBox.replaceChildren();
    const user = session.user;
    if (user) {
      userBox.append(
        el("span", { class: "avatar", "aria-hidden": "true" }, (user.nickname || "?").slice(0, 1).toUpperCase()),
        el("span", { class: "topbar-name", title: t("nav.signed_in_as", { name: user.nickname }) }, user.nickname),
        el("button", { class: "btn btn-ghost btn-sm", id: "logout", onclick: () => logout() }, t("nav.logout")),
      );
    } else {
      userBox.append(el("button", { class: "btn btn-primary btn-sm", id: "login", onclick: () => authDialog() }, t("nav.login")));
    }
  };
  const link = (href, key, name) =>
    el("a", { href, class: name === active ? "nav-link active" : "nav-link" }, t(key));
  header.replaceChildren(
    el("a", { href: "/", class: "brand" }, el("span", { class: "brand-dot" }), t("brand")),
    el("nav", { class: "topnav" }, link("/", "nav.live", "live"), link("/studio", "nav.studio", "studio"), link("/console", "nav.console", "console"), link("/wallet", "nav.wallet", "wallet"), link("/notifications", "nav.notifications", "notifications")),
    userBox,
  );
  render();
  session.onChange(render);
}

let openDialog = null;

/** A modal log-in / sign-up form. Resolves the user, or null if dismissed. */
export function authDialog({ reason } = {}) {
  if (openDialog) return openDialog;
  openDialog = new Promise((resolve) => {
    let mode = "login";
    const error = el("p", { class: "form-error", role: "alert" });
    const form = el("form", { class: "auth-form", novalidate: true });
    const title = el("h2");
    const backdrop = el("div", { class: "modal-backdrop" }, el("div", { class: "modal", role: "dialog", "aria-modal": "true" }, title, reason ? el("p", { class: "muted" }, reason) : null, form));
    const close = (user) => {
      backdrop.remove();
      openDialog = null;
      resolve(user);
    };
    backdrop.addEventListener("click", (e) => {
      if (e.target === backdrop) close(null);
    });
    const field = (name, key, type = "text", autocomplete = "on") =>
      el("label", { class: "field" }, el("span", {}, t(key)), el("input", { name, type, required: true, autocomplete }));
    const render = () => {
      title.textContent = t(mode === "login" ? "auth.title_login" : "auth.title_register");
      error.textContent = "";
      form.replaceChildren(
        ...(mode === "login"
          ? [field("login", "auth.login", "text", "username"), field("password", "auth.password", "password", "current-password")]
          : [
              field("email", "auth.email", "email", "email"),
              field("nickname", "auth.nickname", "text", "nickname"),
              field("password", "auth.password", "password", "new-password"),
            ]),
        error,
        el("button", { class: "btn btn-primary btn-block", type: "submit" }, t(mode === "login" ? "auth.submit_login" : "auth.submit_register")),
        el("button", { class: "btn btn-link", type: "button", onclick: () => { mode = mode === "login" ? "register" : "login"; render(); } },
          t(mode === "login" ? "auth.switch_to_register" : "auth.switch_to_login")),
        el("button", { class: "btn btn-ghost btn-block", type: "button", onclick: () => close(null) }, t("auth.cancel")),
      );
      form.querySelector("input")?.focus();
    };
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const data = Object.fromEntries(new FormData(form).entries());
      const button = form.querySelector("button[type=submit]");
      button.disabled = true;
      error.textContent = "";
      try {
        const user = mode === "login" ? await login(data.login, data.password) : await register(data.email, data.password, data.nickname);
        close(user);
      } catch (err) {
        error.textContent = errorText(err);
      } finally {
        button.disabled = false;
      }
    });
    render();
    document.body.append(backdrop);
  });
  return openDialog;
}

/** An inline panel asking a person to log in, for pages that need an account. */
export function loginGate(container, reasonKey) {
  container.replaceChildren(
    el("div", { class: "card gate" },
      el("h2", {}, t(reasonKey)),
      el("button", { class: "btn btn-primary", id: "gate-login", onclick: () => authDialog() }, t("nav.login")),
    ),
  );
}

export async function copyText(text, button) {
  try {
    await navigator.clipboard.writeText(text);
    if (button) {
      const before = button.textContent;
      button.textContent = t("studio.copied");
      setTimeout(() => { button.textContent = before; }, 1500);
    }
  } catch {
    toast(t("err.copy"), "error");
  }
}

export function startPage(active) {
  applyI18n();
  mountHeader(active);
}
