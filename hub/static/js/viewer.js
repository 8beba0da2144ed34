// The viewer page /watch/{stream_id}: player (rtc:subscribe), connection-quality hint, chat, likes, gifts,
// coins, leaderboard and goal. Guests watch; chatting or gifting asks them to log in.

import { api, errorText, nicknameFor, session } from "./api.js";
import { buyCoinsDialog } from "./coins.js";
import { formatNumber, t, tn } from "./i18n.js";
import { ChatComposer, ChatView, GiftEffects, GoalBar, Leaderboard, giftIcon, giftName } from "./room.js";
import { PkPanel } from "./pk.js";
import { PointsPanel } from "./points.js";
import { RecordingsPanel } from "./recordings.js";
import { RoomSession, settingsNotes } from "./room-session.js";
import { SubscribeButton } from "./subscribe.js";
import { chooseLayer, subscribe, watchQuality } from "./rtc.js";
import { $, authDialog, el, showError, startPage, toast } from "./ui.js";

startPage("live");

const streamId = decodeURIComponent(window.location.pathname.split("/").filter(Boolean)[1] || "");
const video = $("#player");
const overlay = $("#overlay");
const quality = $("#quality");
const state = {
  stream: null, pc: null, stopQuality: null, ended: false, joined: false, balance: null, subscribing: false, layer: "auto",
};

const chat = new ChatView($("#chat"), { selfId: session.user?.id, report: reportMessage });
const fx = new GiftEffects($("#fx"));
const goal = new GoalBar($("#goal"));
const board = new Leaderboard($("#board"));
const composer = new ChatComposer($("#chat-form"), {
  onSend: sendChat,
  onGuest: () => authDialog({ reason: t("auth.needed_chat") }),
});
composer.setGuest(!session.loggedIn);

function showOverlay(titleKey, sub = "", { back = false } = {}) {
  overlay.hidden = false;
  $("#overlay-title").textContent = t(titleKey);
  $("#overlay-sub").textContent = sub;
  $("#overlay-back").hidden = !back;
}

function setViewers(n) {
  const pill = $("#viewers");
  pill.hidden = false;
  pill.textContent = t("player.viewers", { n: formatNumber(n) });
  pill.dataset.count = String(n);
}

function setLikes(n) {
  $("#likes").textContent = tn("like.count", n);
  $("#likes").dataset.count = String(n);
}

// ---- socket ----------------------------------------------------------------------------------------------------

// Many nodes: when our node goes away the session moves to another live node and joins again (the page stays, and
// so does the signed-in session); a full node's `node_full` names the node to watch on.
const room = new RoomSession({ chat, failover: true });

room.onConnect(join);
// PK battles: the opponent's stream beside this one, the score bar and the countdown (nothing while no battle runs)
const pk = new PkPanel({ stage: $("#stage"), room });
room.on("viewers:count", (e) => setViewers(e.count));
room.on("likes:update", (e) => setLikes(e.total));
room.on("gift:received", (e) => {
  fx.show(e);
  chat.addGift(e);
  if (e.sender.id === session.user?.id) refreshBalance();
});
room.on("leaderboard:update", (e) => board.update(e.top));
room.on("goal:progress", (e) => goal.update(e.goal));
room.on("room:settings", applySettings);
room.on("you:restricted", (r) => composer.restrict(r));
// the server closes a connection's media sessions when the connection drops: subscribe again after it returns
room.onDisconnect(() => {
  state.stale = true;
});
room.on("stream:ended", () => streamEnded());

async function join() {
  if (state.ended || state.missing) return;
  try {
    const ack = await room.join(streamId);
    state.joined = true;
    const stream = ack.stream;
    showStream(stream);
    setViewers(ack.viewers);
    setLikes(ack.likes);
    board.update(ack.leaderboard || []);
    goal.update(ack.goal);
    applySettings(ack.settings);
    composer.restrict(ack.restriction);
    composer.setGuest(!session.loggedIn);
    if (stream.status === "ended") return streamEnded();
    if (stream.status === "live") startPlayer();
    else waitForLive();
    pk.refresh();
  } catch (err) {
    if (err.code === "stream_ended") return streamEnded();
    if (err.status === 404 || err.code === "stream_not_found") return missing();
    showOverlay("player.offline", errorText(err), { back: true });
  }
}

// Not live yet: look again every few seconds and start playing as soon as the broadcaster goes live.
let liveTimer = null;
function waitForLive() {
  showOverlay("player.offline");
  clearTimeout(liveTimer);
  liveTimer = setTimeout(async () => {
    try {
      const stream = await api("GET", `/streams/${encodeURIComponent(streamId)}`, undefined, { auth: false });
      showStream(stream);
      if (stream.status === "ended") return streamEnded();
      if (stream.status === "live") return startPlayer();
    } catch {
      // a blip: try again below
    }
    waitForLive();
  }, 4000);
}

function missing() {
  state.missing = true;
  showOverlay("err.stream_not_found", "", { back: true });
  composer.setEnded();
}

function applySettings(s) {
  composer.setNote(settingsNotes(s));
}

const subscribeButton = new SubscribeButton($("#subscribe"), $("#sub-tiers"));

function showStream(stream) {
  if (state.stream?.owner_id !== stream.owner_id) subscribeButton.show(stream);
  state.stream = stream;
  $("#title").textContent = stream.title;
  $("#owner").href = `/users/${encodeURIComponent(stream.owner_id)}`;
  nicknameFor(stream.owner_id).then((name) => {
    if (name) $("#owner").textContent = `@${name}`;
  });
  document.title = `${stream.title} · LiveHub`;
  $("#live-pill").hidden = stream.status !== "live";
}

// ---- player ----------------------------------------------------------------------------------------------------

async function startPlayer() {
  const healthy = state.pc && !state.stale && ["connected", "connecting", "new"].includes(state.pc.connectionState);
  if (state.subscribing || healthy) return;
  if (!room.connected) {
    // no connection (e.g. moving to another node): subscribing waits for the join that follows the connect
    state.stale = true;
    return;
  }
  state.subscribing = true;
  state.stale = false;
  showOverlay("player.connecting");
  let full = null;
  try {
    state.pc?.close();
    state.pc = null;
    const pc = await subscribe(room.socket, streamId, video);
    state.pc = pc;
    pc.addEventListener("connectionstatechange", () => {
      if (pc !== state.pc || state.ended) return;
      if (pc.connectionState === "failed") {
        showOverlay("player.reconnecting");
        setTimeout(() => startPlayer(), 1500);
      }
    });
    state.stopQuality?.();
    state.stopQuality = watchQuality(pc, showQuality);
    applyLayer();
  } catch (err) {
    if (err.code === "stream_ended") return streamEnded();
    if (err.code === "node_full" && err.extra?.url && followsLeft()) full = err.extra;
    else showOverlay("player.offline", t("err.media", { detail: errorText(err) }));
  } finally {
    state.subscribing = false;
  }
  // This node has no room for another viewer: watch on the one it names (joining there subscribes again).
  if (full && !(await room.moveTo(full.url, full.node_id ?? null))) {
    showOverlay("player.offline", t("err.media", { detail: t("err.network") }));
  }
}

// Simulcast: Auto (the smallest layer that covers the player), High, Medium or Low; kept across resubscribes.
const layerSelect = $("#layer");
layerSelect.addEventListener("change", () => {
  state.layer = layerSelect.value;
  applyLayer();
});
function applyLayer() {
  const pc = state.pc;
  if (!pc || !pc.hubSessionId) return;
  layerSelect.hidden = false;
  layerSelect.value = state.layer;
  chooseLayer(room.socket, pc, state.layer, video).catch(() => {}); // a stream of one layer ignores it
}

// At most a few node_full moves a minute: nodes that keep sending us to each other are full, whatever they say.
const follows = [];
function followsLeft() {
  const now = Date.now();
  while (follows.length && now - follows[0] > 60000) follows.shift();
  if (follows.length >= 3) return false;
  follows.push(now);
  return true;
}

video.addEventListener("playing", () => {
  overlay.hidden = true;
  $("#live-pill").hidden = false;
  $("#unmute").hidden = !video.muted;
});
$("#unmute").addEventListener("click", () => {
  video.muted = false;
  video.play().catch(() => {});
  $("#unmute").hidden = true;
});

// A player whose frames stopped for ~6 s while the stream is live subscribes again (e.g. after the broadcaster
// reconnected); the server's stream:ended tells the other story.
let stalled = 0;
let lastDecoded = 0;
function showQuality(q) {
  stalled = q.framesDecoded === lastDecoded ? stalled + 1 : 0;
  lastDecoded = q.framesDecoded;
  if (stalled >= 3 && !state.ended && lastDecoded > 0) {
    stalled = 0;
    state.stale = true;
    showOverlay("player.reconnecting");
    startPlayer();
    return;
  }
  quality.hidden = false;
  quality.className = `pill quality ${q.level}`;
  quality.textContent = t(`quality.${q.level}`);
  quality.title = t("quality.detail", q);
  quality.dataset.fps = String(q.fps);
  video.dataset.framesDecoded = String(q.framesDecoded);
}

function streamEnded() {
  state.ended = true;
  pk.apply(null);
  state.stopQuality?.();
  state.pc?.close();
  state.pc = null;
  video.srcObject = null;
  $("#live-pill").hidden = true;
  quality.hidden = true;
  layerSelect.hidden = true;
  showOverlay("player.ended", t("player.ended_sub"), { back: true });
  composer.setEnded();
  for (const b of document.querySelectorAll(".gift-btn, #like")) b.disabled = true;
}

// ---- chat, likes ------------------------------------------------------------------------------------------------

async function sendChat(text) {
  try {
    await room.sendChat(text);
    composer.setNote("");
  } catch (err) {
    if (err.code === "restricted") composer.restrict({ kind: err.extra?.kind, until: err.extra?.until ?? null });
    showError(err);
    throw err;
  }
}

let pendingLikes = 0;
let likeTimer = null;
$("#like").addEventListener("click", async (e) => {
  if (!session.loggedIn) {
    authDialog({ reason: t("auth.needed_chat") });
    return;
  }
  pendingLikes += 1;
  const heart = el("span", { class: "gift-fly", "aria-hidden": "true" }, giftIcon({ id: "heart" }));
  heart.style.left = `${70 + Math.random() * 20}%`;
  $("#fx").append(heart);
  setTimeout(() => heart.remove(), 2100);
  e.currentTarget.blur();
  clearTimeout(likeTimer);
  likeTimer = setTimeout(async () => {
    const count = pendingLikes;
    pendingLikes = 0;
    try {
      await room.like(count);
    } catch (err) {
      showError(err);
    }
  }, 400);
});

async function reportMessage(message, reason) {
  try {
    await room.report({ messageId: message.id, reason });
    toast(t("mod.reported"), "ok");
  } catch (err) {
    showError(err);
  }
}

$("#report-stream").addEventListener("click", async () => {
  if (!session.loggedIn) return authDialog({ reason: t("auth.needed_chat") });
  try {
    await room.report({ targetUserId: state.stream?.owner_id, reason: "reported from the viewer page" });
    toast(t("mod.reported"), "ok");
  } catch (err) {
    showError(err);
  }
});

// ---- gifts and coins ---------------------------------------------------------------------------------------------

function setBalance(coins) {
  const changed = state.balance !== null && state.balance !== coins;
  state.balance = coins;
  const box = $("#balance");
  box.hidden = coins === null;
  box.textContent = formatNumber(coins ?? 0);
  box.dataset.coins = String(coins ?? "");
  box.title = t("gifts.balance", { n: formatNumber(coins ?? 0) });
  return changed;
}

async function refreshBalance() {
  if (!session.loggedIn) {
    setBalance(null);
    return false;
  }
  try {
    const wallet = await api("GET", "/wallet");
    return setBalance(Number(wallet.coins));
  } catch (err) {
    if (err.status !== 401) showError(err);
    return false;
  }
}

async function loadGifts() {
  const grid = $("#gift-grid");
  try {
    const data = await api("GET", "/gifts", undefined, { auth: false });
    const gifts = data.items;
    if (!gifts.length) {
      grid.replaceChildren(el("p", { class: "muted" }, t("gifts.empty")));
      return;
    }
    grid.replaceChildren(
      ...gifts.map((gift) =>
        el("button", {
          class: "gift-btn",
          type: "button",
          dataset: { giftId: gift.id },
          title: giftName(gift),
          onclick: (e) => sendGift(gift, e.currentTarget),
        },
        el("span", { class: "gift-icon" }, giftIcon(gift)),
        el("span", { class: "gift-label" }, giftName(gift)),
        el("span", { class: "gift-price" }, tn("gifts.price", gift.coins ?? 0)),
        ),
      ),
    );
  } catch (err) {
    grid.replaceChildren(el("p", { class: "form-error" }, errorText(err)));
  }
}

async function sendGift(gift, button) {
  if (!session.loggedIn) {
    authDialog({ reason: t("auth.needed_gift") });
    return;
  }
  try {
    const input = $("#gift-message");
    const ack = await room.sendGift(gift.id, 1, input.value.trim());
    input.value = "";
    setBalance(Number(ack.balance));
    if (button && ack.combo > 1) showCombo(button, ack.combo);
  } catch (err) {
    showError(err);
    if (err.code === "insufficient_funds") buyCoinsDialog();
  }
}

// the sender's own combo counter on the gift they keep tapping. Sends tapped fast are in flight together and their
// acks may come back in another order: a combo only grows while its badge is up (the server resets it only after
// 3 s without a send, and the badge goes 3 s after its last rise), so a smaller count is an earlier send's late ack.
function showCombo(button, combo) {
  let badge = button.querySelector(".gift-combo-badge");
  if (!badge) {
    badge = el("span", { class: "gift-combo-badge" });
    badge.combo = 0;
    button.append(badge);
  }
  if (combo <= badge.combo) return;
  badge.combo = combo;
  badge.textContent = t("gifts.combo", { n: formatNumber(combo) });
  clearTimeout(badge.timer);
  badge.timer = setTimeout(() => badge.remove(), 3000);
}

$("#buy-coins").addEventListener("click", () => {
  if (!session.loggedIn) return authDialog({ reason: t("auth.needed_gift") });
  buyCoinsDialog();
});

session.onChange((s) => {
  chat.selfId = s?.user?.id ?? null;
  composer.setGuest(!s?.access_token);
  refreshBalance();
  points.refresh();
  // reconnect so the server knows who we are now (the player keeps playing over its own connection)
  room.socket.disconnect();
  room.socket.connect();
});

// ---- start --------------------------------------------------------------------------------------------------------

async function start() {
  if (!streamId) {
    showOverlay("err.stream_not_found", "", { back: true });
    return;
  }
  try {
    const stream = await api("GET", `/streams/${encodeURIComponent(streamId)}`, undefined, { auth: false });
    showStream(stream);
    recordings.show(stream.owner_id);
    if (stream.status === "ended") streamEnded();
  } catch (err) {
    if (err.status === 404) missing();
    else showOverlay("player.offline", errorText(err), { back: true });
  }
}

const points = new PointsPanel($("#points"), streamId);
const recordings = new RecordingsPanel($("#recordings"), streamId);
room.on("points:balance", (e) => points.setBalance(e.balance));

start();
loadGifts();
refreshBalance();
if (streamId) points.refresh();
window.livehub = {
  state,
  room,
  pk,
  get socket() {
    return room.socket;
  },
};
