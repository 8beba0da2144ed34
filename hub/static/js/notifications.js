// The notification centre /notifications: my notifications (newest first, unread marked), mark read, mute a
// streamer's go-live notifications, and Web Push for when no page is open. New ones arrive over the socket
// (`notification:new`); the same notification may arrive twice after a server crash, so items are kept by id.

import { api, nicknameFor, session } from "./api.js";
import { formatTime, t } from "./i18n.js";
import { connectLive } from "./live.js";
import { $, el, loginGate, showError, startPage, toast } from "./ui.js";

startPage("notifications");

const items = new Map(); // id -> notification
let unread = 0;
let socket = null;

function setUnread(n) {
  unread = Math.max(0, n);
  const node = $("#unread");
  node.dataset.value = String(unread);
  node.textContent = String(unread);
}

function row(n) {
  const who = n.actor_name || "";
  return el("li", { class: n.read ? "note" : "note note-unread", dataset: { id: n.id, read: String(n.read) } },
    el("span", { class: "when" }, formatTime(n.at)),
    el("a", { href: `/watch/${encodeURIComponent(n.stream_id || "")}` }, t("notes.live", { name: who }), " ", el("b", {}, n.title || "")),
    " ",
    el("button", { class: "btn btn-ghost btn-sm mute", type: "button", onclick: () => mute(n.actor_id) }, t("notes.mute")),
  );
}

function render() {
  const sorted = [...items.values()].sort((a, b) => (a.at < b.at ? 1 : a.at > b.at ? -1 : 0));
  $("#list").replaceChildren(...(sorted.length ? sorted.map(row) : [el("li", { class: "muted" }, t("notes.empty"))]));
}

async function load() {
  try {
    const page = await api("GET", "/notifications", undefined, { query: { limit: 50 } });
    items.clear();
    for (const n of page?.items || []) items.set(n.id, n);
    setUnread(page?.unread ?? 0);
    render();
  } catch (err) {
    showError(err);
  }
}

async function loadMutes() {
  try {
    const data = await api("GET", "/notifications/mutes");
    const ids = data?.items || [];
    $("#mutes").replaceChildren(
      ...(ids.length
        ? ids.map((id) => {
            const name = el("span", {}, id);
            nicknameFor(id).then((nick) => { if (nick) name.textContent = `@${nick}`; });
            return el("li", { dataset: { userId: id } }, name, " ",
              el("button", { class: "btn btn-ghost btn-sm unmute", type: "button", onclick: () => unmute(id) }, t("notes.unmute")));
          })
        : [el("li", { class: "muted" }, t("notes.none_muted"))]),
    );
  } catch (err) {
    showError(err);
  }
}

async function mute(userId) {
  if (!userId) return;
  try {
    await api("PUT", `/notifications/mutes/${encodeURIComponent(userId)}`);
    toast(t("notes.muted_done"));
    loadMutes();
  } catch (err) {
    showError(err);
  }
}

async function unmute(userId) {
  try {
    await api("DELETE", `/notifications/mutes/${encodeURIComponent(userId)}`);
    loadMutes();
  } catch (err) {
    showError(err);
  }
}

async function readAll() {
  try {
    const r = await api("POST", "/notifications/read", {});
    for (const n of items.values()) n.read = true;
    setUnread(r?.unread ?? 0);
    render();
  } catch (err) {
    showError(err);
  }
}

function b64urlBytes(text) {
  const padded = (text + "===".slice((text.length + 3) % 4)).replace(/-/g, "+").replace(/_/g, "/");
  return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
}

async function enablePush() {
  try {
    if (!("serviceWorker" in navigator) || !("PushManager" in window)) {
      toast(t("notes.push_unsupported"), "error");
      return;
    }
    if ((await Notification.requestPermission()) !== "granted") {
      toast(t("notes.push_denied"), "error");
      return;
    }
    const { public_key: key } = await api("GET", "/notifications/push/key");
    const registration = await navigator.serviceWorker.register("/sw.js");
    const subscription = await registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: b64urlBytes(key) });
    await api("POST", "/notifications/push/subscriptions", subscription.toJSON());
    toast(t("notes.push_done"));
  } catch (err) {
    showError(err);
  }
}

function arrived(n) {
  if (!n?.id) return;
  const known = items.has(n.id);
  items.set(n.id, { ...items.get(n.id), ...n });
  if (!known && !n.read) setUnread(unread + 1);
  render();
}

function show() {
  $("#gate").hidden = session.loggedIn;
  $("#centre").hidden = !session.loggedIn;
  if (!session.loggedIn) {
    loginGate($("#gate"), "notes.needed");
    return;
  }
  load();
  loadMutes();
  if (!socket) {
    socket = connectLive();
    socket.on("notification:new", arrived);
  }
}

$("#read-all").addEventListener("click", readAll);
$("#push").addEventListener("click", enablePush);
session.onChange(() => show());
show();
