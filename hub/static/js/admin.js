// The admin console /admin (admins only): users (search, role, suspension, identity, coins frozen), the platform's
// report queue, live streams (take down), cash-outs to review, the gift catalogue, and the audit trail of every admin
// action. Everything goes through the HTTP API (/api/v1/admin/...); the "why" field goes with each action.

import { api, session } from "./api.js";
import { formatNumber, formatTime, t } from "./i18n.js";
import { $, el, loginGate, showError, startPage, toast } from "./ui.js";

startPage("admin");

const ROLES = ["viewer", "streamer", "moderator", "admin"];
const enc = encodeURIComponent;
const reason = () => $("#reason").value.trim();

async function act(fn, okKey) {
  try {
    await fn();
    if (okKey) toast(t(okKey), "ok");
  } catch (err) {
    showError(err);
  }
  await Promise.all([loadAudit(), loadReports(), loadStreams(), loadCashouts()]);
}

function button(label, onclick, cls = "btn btn-xs", data = {}) {
  return el("button", { class: cls, type: "button", onclick, dataset: data }, label);
}

// ---- users --------------------------------------------------------------------------------------------------------

async function searchUsers() {
  try {
    const data = await api("GET", "/admin/users", undefined, { query: { q: $("#user-q").value.trim(), limit: 20 } });
    $("#users tbody").replaceChildren(...(data.items.length ? data.items.map(userRow) : [el("tr", {}, el("td", { class: "muted" }, t("admin.none")))]));
  } catch (err) {
    showError(err);
  }
}

function userRow(u) {
  const id = enc(u.id);
  const role = el("select", { class: "admin-role", "aria-label": t("admin.role") }, ...ROLES.map((r) => el("option", { value: r, selected: r === u.role }, r)));
  role.addEventListener("change", () => act(() => api("POST", `/admin/users/${id}/role`, { role: role.value, reason: reason() || undefined }), "admin.done").then(searchUsers));
  return el("tr", { dataset: { userId: u.id } },
    el("td", {}, el("b", {}, u.nickname), el("div", { class: "muted" }, u.email)),
    el("td", {}, role),
    el("td", {}, u.suspended ? el("span", { class: "badge badge-danger" }, t("admin.suspended")) : "", u.identity_verified ? el("span", { class: "badge" }, t("admin.verified")) : ""),
    el("td", { class: "row" },
      button(u.suspended ? t("admin.restore") : t("admin.suspend"), () => act(() => api("POST", `/admin/users/${id}/suspension`, { suspended: !u.suspended, reason: reason() || undefined }), "admin.done").then(searchUsers), "btn btn-xs btn-danger admin-suspend"),
      button(u.identity_verified ? t("admin.unverify") : t("admin.verify"), () => act(() => api("POST", `/admin/users/${id}/identity`, { verified: !u.identity_verified, reason: reason() || undefined }), "admin.done").then(searchUsers), "btn btn-xs admin-identity"),
      button(t("admin.freeze"), () => act(() => api("POST", `/admin/users/${id}/wallet-freeze`, { frozen: true, reason: reason() || undefined }), "admin.done"), "btn btn-xs admin-freeze"),
      button(t("admin.unfreeze"), () => act(() => api("POST", `/admin/users/${id}/wallet-freeze`, { frozen: false, reason: reason() || undefined }), "admin.done"), "btn btn-xs admin-unfreeze"),
    ),
  );
}

// ---- reports and streams ------------------------------------------------------------------------------------------

async function takeDown(streamId) {
  if (!reason()) {
    toast(t("admin.reason_needed"), "error");
    $("#reason").focus();
    return;
  }
  await act(() => api("POST", `/admin/streams/${enc(streamId)}/takedown`, { reason: reason() }), "admin.taken_down");
}

async function loadReports() {
  try {
    const data = await api("GET", "/admin/reports", undefined, { query: { limit: 50 } });
    $("#reports tbody").replaceChildren(
      ...(data.items.length
        ? data.items.map((r) =>
            el("tr", { dataset: { reportId: r.id } },
              el("td", {}, el("span", { class: "when" }, formatTime(r.at)), " ", r.reason),
              el("td", {}, el("a", { href: `/watch/${enc(r.stream_id)}`, target: "_blank", rel: "noopener" }, t("admin.open_stream"))),
              el("td", { class: "row" },
                button(t("admin.resolve"), () => act(() => api("POST", `/admin/reports/${enc(r.id)}/resolve`, { resolution: reason() || undefined }), "admin.done"), "btn btn-xs admin-resolve"),
                button(t("admin.take_down"), () => takeDown(r.stream_id), "btn btn-xs btn-danger admin-takedown"),
              ),
            ),
          )
        : [el("tr", {}, el("td", { class: "muted" }, t("admin.no_reports")))]),
    );
  } catch (err) {
    showError(err);
  }
}

async function loadStreams() {
  try {
    const data = await api("GET", "/streams", undefined, { query: { status: "live", limit: 50 } });
    $("#streams tbody").replaceChildren(
      ...(data.items.length
        ? data.items.map((s) =>
            el("tr", { dataset: { streamId: s.id } },
              el("td", {}, el("a", { href: `/watch/${enc(s.id)}`, target: "_blank", rel: "noopener" }, s.title)),
              el("td", {}, button(t("admin.take_down"), () => takeDown(s.id), "btn btn-xs btn-danger admin-takedown")),
            ),
          )
        : [el("tr", {}, el("td", { class: "muted" }, t("admin.none_live")))]),
    );
  } catch (err) {
    showError(err);
  }
}

// ---- money and catalogue ------------------------------------------------------------------------------------------

async function loadCashouts() {
  try {
    const data = await api("GET", "/admin/cashouts", undefined, { query: { status: "pending" } });
    $("#cashouts tbody").replaceChildren(
      ...(data.items.length
        ? data.items.map((c) =>
            el("tr", { dataset: { cashoutId: c.id } },
              el("td", {}, t("admin.cashout_line", { beans: formatNumber(c.beans), user: c.user_id })),
              el("td", { class: "row" },
                button(t("admin.approve"), () => act(() => api("POST", `/admin/cashouts/${enc(c.id)}/approve`, { note: reason() || undefined }), "admin.done"), "btn btn-xs btn-primary admin-approve"),
                button(t("admin.reject"), () => act(() => api("POST", `/admin/cashouts/${enc(c.id)}/reject`, { note: reason() || undefined }), "admin.done"), "btn btn-xs btn-danger admin-reject"),
              ),
            ),
          )
        : [el("tr", {}, el("td", { class: "muted" }, t("admin.no_cashouts")))]),
    );
  } catch (err) {
    showError(err);
  }
}

async function loadGifts() {
  try {
    const data = await api("GET", "/gifts", undefined, { query: { include_inactive: true } });
    $("#gifts tbody").replaceChildren(...data.items.map(giftRow));
  } catch (err) {
    showError(err);
  }
}

function giftRow(g) {
  const coins = el("input", { type: "number", min: "1", step: "1", value: String(g.coins), class: "admin-coins", "aria-label": t("admin.price") });
  const active = el("input", { type: "checkbox", checked: g.active, class: "admin-active", "aria-label": t("admin.on_sale") });
  const save = () =>
    act(async () => {
      const updated = await api("PATCH", `/admin/gifts/${enc(g.id)}`, { coins: Number.parseInt(coins.value, 10), active: active.checked, expected_version: g.version });
      Object.assign(g, updated);
    }, "admin.saved");
  return el("tr", { dataset: { giftId: g.id } },
    el("td", {}, el("b", {}, g.names?.en || g.id), el("span", { class: "muted" }, ` v${g.version} · ${g.rarity}`)),
    el("td", {}, coins),
    el("td", {}, el("label", { class: "row" }, active, t("admin.on_sale"))),
    el("td", {}, button(t("admin.save"), save, "btn btn-xs btn-primary admin-save")),
  );
}

// ---- audit --------------------------------------------------------------------------------------------------------

async function loadAudit() {
  try {
    const data = await api("GET", "/admin/audit", undefined, { query: { limit: 50 } });
    $("#audit").replaceChildren(
      ...(data.items.length
        ? data.items.map((e) =>
            el("li", { dataset: { action: e.action, target: e.target.id } },
              el("span", { class: "when" }, formatTime(e.at)),
              el("b", {}, e.actor.nickname), " ", t(`admin.action.${e.action}`), " ",
              el("span", { class: "muted" }, `${e.target.kind} ${e.target.id}`),
              e.reason ? el("span", { class: "admin-why" }, ` — ${e.reason}`) : "",
            ),
          )
        : [el("li", { class: "muted" }, t("admin.no_audit"))]),
    );
  } catch (err) {
    showError(err);
  }
}

// ---- page ---------------------------------------------------------------------------------------------------------

async function render() {
  $("#gate").hidden = session.loggedIn;
  $("#admin").hidden = true;
  if (!session.loggedIn) {
    loginGate($("#gate"), "admin.login");
    return;
  }
  try {
    await api("GET", "/admin/audit", undefined, { query: { limit: 1 } });
  } catch (err) {
    $("#gate").hidden = false;
    $("#gate").replaceChildren(el("div", { class: "card gate" }, el("h2", { id: "admins-only" }, err.status === 403 ? t("admin.only") : t("admin.failed"))));
    return;
  }
  $("#admin").hidden = false;
  await Promise.all([searchUsers(), loadReports(), loadStreams(), loadCashouts(), loadGifts(), loadAudit()]);
}

$("#user-search").addEventListener("submit", (e) => {
  e.preventDefault();
  searchUsers();
});
session.onChange(() => render());
render();
