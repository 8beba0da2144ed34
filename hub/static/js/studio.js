// The broadcaster studio /studio: pick or create a stream, preview the camera (device choice), go live over WebRTC
// (rtc:publish), end it, and watch the room: viewers, chat with moderation, gifts and beans, goal, top gifters, OBS.

import { api, hubConfig, nicknameFor, session } from "./api.js";
import { formatNumber, t } from "./i18n.js";
import { ChatComposer, ChatView, GiftEffects, GoalBar, Leaderboard, nicknameOf, userIdOf } from "./room.js";
import { PkPanel, pkSteps } from "./pk.js";
import { EmotesStudio } from "./emotes.js";
import { RewardsStudio } from "./points.js";
import { RoomSession } from "./room-session.js";
import { listDevices, openCamera, publish } from "./rtc.js";
import { $, copyText, el, loginGate, showError, startPage, toast } from "./ui.js";

startPage("studio");

let chat;
let composer;
let fx;
let goal;
let board;
const state = { streams: [], stream: null, media: null, pc: null, live: false, beans: 0, socket: null, syncTimer: null, publishes: 0 };
const preview = $("#preview");
const rewards = new RewardsStudio($("#studio-points"));

function setStat(id, value) {
  const node = $(`#${id}`);
  node.dataset.value = String(value);
  node.textContent = formatNumber(value);
}

function setStatus(key, cls = "") {
  const node = $("#status");
  node.textContent = t(key);
  node.className = `studio-status ${cls}`;
  node.dataset.state = cls || key;
}

// ---- gate ---------------------------------------------------------------------------------------------------------

function render() {
  const loggedIn = session.loggedIn;
  $("#gate").hidden = loggedIn;
  $("#studio").hidden = !loggedIn;
  if (!loggedIn) {
    loginGate($("#gate"), "auth.needed_studio");
    return;
  }
  boot();
}

let booted = false;

// ---- streams ------------------------------------------------------------------------------------------------------

async function boot() {
  if (booted) return;
  booted = true;
  if (session.user?.id) new EmotesStudio($("#studio-emotes"), session.user.id).refresh();
  setupRoom();
  await Promise.all([loadStreams(), startCamera()]);
  syncBeans();
}

async function loadStreams(selectId) {
  try {
    const data = await api("GET", "/streams/mine");
    state.streams = (data?.items || []).sort((a, b) => String(b.created_at).localeCompare(String(a.created_at)));
  } catch (err) {
    showError(err);
    return;
  }
  const current = selectId || state.stream?.id || new URLSearchParams(window.location.search).get("stream");
  const pick = state.streams.find((s) => s.id === current) || state.streams.find((s) => s.status !== "ended");
  renderStreams();
  if (pick) selectStream(pick);
}

function renderStreams() {
  const list = $("#streams");
  list.replaceChildren(
    ...state.streams.slice(0, 30).map((s) =>
      el("li", { class: s.id === state.stream?.id ? "selected" : "", dataset: { streamId: s.id } },
        el("span", { class: `status-dot ${s.status}`, title: s.status }),
        el("span", { class: "grow" }, s.title),
        s.status === "ended"
          ? el("span", { class: "muted" }, t("studio.status_ended"))
          : s.id === state.stream?.id
            ? null
            : el("button", { class: "btn btn-xs", type: "button", onclick: () => selectStream(s), disabled: state.live }, t("studio.pick")),
      ),
    ),
  );
}

function selectStream(stream) {
  if (state.live && stream.id !== state.stream?.id) return;
  const previous = state.stream?.id;
  state.stream = stream;
  rewards.show(stream.id);
  $("#stream-title").textContent = stream.title;
  const whip = `${window.location.origin}/api/v1/whip/${encodeURIComponent(stream.id)}`;
  $("#whip-url").value = whip;
  $("#stream-key").value = stream.stream_key || "";
  $("#ladder").checked = Boolean(stream.transcode_ladder);
  $("#ladder-status").textContent = "";
  const viewer = $("#open-viewer");
  viewer.href = `/watch/${encodeURIComponent(stream.id)}`;
  viewer.hidden = false;
  const ended = stream.status === "ended";
  $("#go-live").disabled = ended || !state.media;
  if (!state.live) setStatus(ended ? "studio.status_ended" : stream.status === "live" ? "studio.status_live" : "studio.status_created",
    stream.status === "live" ? "live" : "");
  $("#end").hidden = ended || stream.status !== "live";
  renderStreams();
  renderModerators();
  if (previous !== stream.id) {
    joinRoom(previous);
    loadOverlays();
  }
}

// ---- moderators ---------------------------------------------------------------------------------------------------

async function promote(message) {
  const user = message.user || {};
  try {
    const stream = await api("POST", `/streams/${encodeURIComponent(state.stream.id)}/moderators`, { user_id: userIdOf(user) });
    state.stream.moderators = stream.moderators || [];
    renderModerators();
    toast(t("mod.promoted", { name: nicknameOf(user) }), "ok");
  } catch (err) {
    showError(err);
  }
}

async function demote(userId, name) {
  try {
    const stream = await api("DELETE", `/streams/${encodeURIComponent(state.stream.id)}/moderators`, { user_id: userId });
    state.stream.moderators = stream.moderators || [];
    renderModerators();
    toast(t("mod.demoted", { name }), "ok");
  } catch (err) {
    showError(err);
  }
}

function renderModerators() {
  const list = $("#moderators");
  const ids = state.stream?.moderators || [];
  if (!ids.length) return list.replaceChildren(el("li", { class: "muted" }, t("studio.no_moderators")));
  list.replaceChildren(
    ...ids.map((id) => {
      const name = el("b", {}, "…");
      const item = el("li", { dataset: { userId: id } }, name,
        el("span", { class: "mod-actions" },
          el("button", { class: "btn btn-xs mod-demote", type: "button", onclick: () => demote(id, name.textContent) }, t("studio.remove_moderator")),
        ),
      );
      nicknameFor(id).then((n) => {
        name.textContent = n || id.slice(0, 8);
      });
      return item;
    }),
  );
}

$("#new-stream").addEventListener("submit", async (e) => {
  e.preventDefault();
  const input = $("#new-title");
  const title = input.value.trim();
  if (!title || state.live) return;
  try {
    const stream = await api("POST", "/streams", { title });
    input.value = "";
    state.streams.unshift(stream);
    selectStream(stream);
  } catch (err) {
    showError(err);
  }
});

// ---- camera -------------------------------------------------------------------------------------------------------

async function startCamera() {
  const cameraId = $("#camera").value || undefined;
  const microphoneId = $("#microphone").value || undefined;
  try {
    const media = await openCamera({ cameraId, microphoneId });
    const old = state.media;
    state.media = media;
    preview.srcObject = media;
    preview.play().catch(() => {});
    $("#camera-overlay").hidden = true;
    if (state.pc) await replaceTracks(media);
    if (old && old !== media) for (const track of old.getTracks()) track.stop();
    await fillDevices(media);
    if (state.stream && state.stream.status !== "ended") $("#go-live").disabled = state.live;
  } catch (err) {
    $("#camera-overlay").hidden = false;
    $("#camera-error").textContent = err.name === "NotAllowedError" ? t("studio.camera_denied") : t("err.camera", { detail: err.message || err.name });
    $("#go-live").disabled = true;
  }
}

async function fillDevices(media) {
  const { cameras, microphones } = await listDevices();
  const activeVideo = media.getVideoTracks()[0]?.getSettings().deviceId;
  const activeAudio = media.getAudioTracks()[0]?.getSettings().deviceId;
  const options = (devices, active, fallback) =>
    devices.length
      ? devices.map((d, i) => el("option", { value: d.deviceId, selected: d.deviceId === active }, d.label || `${fallback} ${i + 1}`))
      : [el("option", { value: "" }, t("studio.no_camera"))];
  $("#camera").replaceChildren(...options(cameras, activeVideo, t("studio.camera")));
  $("#microphone").replaceChildren(...options(microphones, activeAudio, t("studio.microphone")));
}

async function replaceTracks(media) {
  for (const sender of state.pc.getSenders()) {
    const track = media.getTracks().find((tr) => tr.kind === sender.track?.kind);
    if (track) await sender.replaceTrack(track);
  }
}

$("#camera").addEventListener("change", startCamera);
$("#microphone").addEventListener("change", startCamera);

// ---- going live -----------------------------------------------------------------------------------------------------

$("#go-live").addEventListener("click", goLive);
$("#end").addEventListener("click", endStream);

async function goLive() {
  if (!state.stream || !state.media || state.live) return;
  const button = $("#go-live");
  button.disabled = true;
  setStatus("studio.status_connecting");
  try {
    state.pc = watchPublisher(await publish(state.socket, state.stream.id, state.media));
    state.publishes += 1;
    state.stream.status = "live";
    state.live = true;
    setStatus("studio.status_live", "live");
    $("#live-pill").hidden = false;
    $("#preview-label").hidden = true;
    button.hidden = true;
    $("#end").hidden = false;
    renderStreams();
    joinRoom(null, true);
  } catch (err) {
    state.pc?.close();
    state.pc = null;
    setStatus("studio.status_idle");
    button.disabled = false;
    showError(err);
  }
}

function watchPublisher(pc) {
  pc.addEventListener("connectionstatechange", () => {
    if (state.pc !== pc || !state.live) return;
    if (pc.connectionState === "failed") {
      // the media path broke (e.g. a network change): publish again; the server keeps the stream for a grace period
      setStatus("player.reconnecting");
      setTimeout(() => state.pc === pc && state.live && republish(), 1000);
    } else if (pc.connectionState === "connected") setStatus("studio.status_live", "live");
  });
  return pc;
}

async function republish() {
  state.republish = false;
  if (state.republishing) return;
  state.republishing = true;
  setStatus("player.reconnecting");
  try {
    const old = state.pc;
    state.pc = watchPublisher(await publish(state.socket, state.stream.id, state.media));
    state.publishes += 1;
    old?.close();
    setStatus("studio.status_live", "live");
  } catch (err) {
    showError(err);
    if (err.code === "stream_ended") stopLive();
  } finally {
    state.republishing = false;
  }
}

async function endStream() {
  if (!state.stream) return;
  if (!window.confirm(t("studio.end_confirm"))) return;
  try {
    const stream = await api("POST", `/streams/${encodeURIComponent(state.stream.id)}/end`);
    Object.assign(state.stream, stream);
    stopLive();
  } catch (err) {
    showError(err);
  }
}

function stopLive() {
  state.live = false;
  state.pc?.close();
  state.pc = null;
  if (state.stream) state.stream.status = "ended";
  setStatus("studio.status_ended", "ended");
  $("#live-pill").hidden = true;
  $("#preview-label").hidden = false;
  $("#end").hidden = true;
  $("#go-live").hidden = false;
  $("#go-live").disabled = true;
  composer.setEnded();
  renderStreams();
}

// ---- the room -------------------------------------------------------------------------------------------------------

function setupRoom() {
  fx = new GiftEffects($("#fx"));
  goal = new GoalBar($("#goal"));
  board = new Leaderboard($("#board"));
  chat = new ChatView($("#chat"), { selfId: session.user?.id, moderation: moderate, promote });
  composer = new ChatComposer($("#chat-form"), { onSend: sendChat });
  // Many nodes: if our node goes away the session moves to another live node; publishing again there within the
  // grace keeps the stream (and every node's viewers) going.
  const room = new RoomSession({ chat, failover: true });
  state.room = room;
  // rtc:publish goes over the same connection, whichever node it is on now
  Object.defineProperty(state, "socket", { get: () => room.socket, configurable: true });
  room.onConnect(() => {
    joinRoom(null, true);
    if (state.live && state.republish) republish();
  });
  // the server keeps a dropped broadcaster's stream for a grace period: publish again as soon as we are back
  room.onDisconnect(() => {
    if (state.live) state.republish = true;
  });
  room.on("viewers:count", (e) => {
    const n = e.count;
    setStat("viewers", n);
    const pill = $("#viewers-pill");
    pill.hidden = false;
    pill.textContent = t("player.viewers", { n: formatNumber(n) });
  });
  room.on("likes:update", (e) => setStat("likes", e.total));
  room.on("gift:received", onGift);
  room.on("leaderboard:update", (e) => board.update(e.top));
  room.on("goal:progress", (e) => goal.update(e.goal));
  room.on("stream:ended", () => stopLive());
  room.on("redemption:new", () => rewards.refresh());
  state.pk = new PkPanel({ stage: $("#stage"), room, onChange: renderPk });
  setupPkControls();
}

// ---- PK battles ------------------------------------------------------------------------------------------------------

function renderPk(battle) {
  const me = session.user?.id;
  const box = $("#pk-status");
  const invitedMe = battle?.state === "invited" && battle.b.user_id === me;
  const inviting = battle?.state === "invited" && battle.a.user_id === me;
  $("#pk-accept").hidden = !invitedMe;
  $("#pk-decline").hidden = !invitedMe;
  $("#pk-cancel").hidden = !inviting;
  $("#pk-quit").hidden = !(battle && (battle.state === "live" || battle.state === "after"));
  $("#pk-invite-form").hidden = !!battle;
  box.dataset.state = battle?.state ?? "";
  if (!battle) box.textContent = state.pkQueued ? t("pk.queued") : "";
  else if (invitedMe) box.textContent = t("pk.invited_you", { name: battle.a.nickname || "" });
  else if (inviting) box.textContent = t("pk.waiting", { name: battle.b.nickname || "" });
  else {
    const other = battle.a.user_id === me ? battle.b : battle.a;
    box.textContent = t("pk.against", { name: other.nickname || "" });
  }
  if (battle) state.pkQueued = false;
}

async function pkStep(step, ...args) {
  try {
    const ack = await step(state.room, ...args);
    if (ack.queued) {
      state.pkQueued = true;
      renderPk(null);
    } else if (ack.battle) state.pk.apply(ack.battle);
  } catch (err) {
    showError(err);
  }
}

function setupPkControls() {
  $("#pk-invite-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const opponent = $("#pk-opponent").value.trim().split("/").filter(Boolean).pop();
    if (opponent) pkStep(pkSteps.invite, opponent);
  });
  $("#pk-random").addEventListener("click", () => pkStep(pkSteps.match));
  $("#pk-accept").addEventListener("click", () => pkStep(pkSteps.accept, state.pk.battle.id));
  $("#pk-decline").addEventListener("click", () => pkStep(pkSteps.decline, state.pk.battle.id));
  $("#pk-cancel").addEventListener("click", () => pkStep(pkSteps.cancel, state.pk.battle.id));
  $("#pk-quit").addEventListener("click", () => pkStep(pkSteps.quit, state.pk.battle.id));
}

async function joinRoom(previous, force = false) {
  const room = state.room;
  if (!room?.connected || !state.stream) return;
  if (!force && previous === state.stream.id) return;
  try {
    const ack = await room.join(state.stream.id); // leaves the previous room
    setStat("viewers", ack.viewers);
    setStat("likes", ack.likes);
    board.update(ack.leaderboard || []);
    goal.update(ack.goal);
    state.pk?.refresh();
  } catch (err) {
    if (err.code !== "stream_not_live") showError(err);
  }
}

function onGift(e) {
  fx.show(e);
  chat.addGift(e);
  // the beans this gift earned (after the platform's share) when the event says so; the wallet confirms either way
  if (e.beans != null) {
    state.beans += Number(e.beans);
    setStat("beans", state.beans);
  }
  clearTimeout(state.syncTimer);
  state.syncTimer = setTimeout(syncBeans, 300);
}

async function syncBeans() {
  try {
    const wallet = await api("GET", "/wallet");
    // earned beans: available plus those still held after recent gifts
    const beans = Number(wallet.beans ?? 0) + Number(wallet.beans_held ?? 0);
    if (beans >= state.beans || state.beans === 0) {
      state.beans = beans;
      setStat("beans", beans);
    }
  } catch (err) {
    if (err.status && err.status !== 404) showError(err);
  }
}

async function sendChat(text) {
  try {
    await state.room.sendChat(text);
  } catch (err) {
    showError(err);
    throw err;
  }
}

async function moderate(action, message, extra = {}) {
  try {
    await state.room.moderateMessage(action, message, extra);
    toast(`${t(`mod.${action}`)}: ${nicknameOf(message.user)}`, "ok");
  } catch (err) {
    showError(err);
  }
}

// ---- goal -----------------------------------------------------------------------------------------------------------

$("#goal-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  if (!state.stream) return;
  const target = Number.parseInt($("#goal-target").value, 10);
  if (!(target > 0)) return;
  try {
    const g = await api("PUT", `/streams/${encodeURIComponent(state.stream.id)}/goal`, { kind: "beans", target, title: $("#goal-title").value.trim() });
    goal.update(g);
    $("#goal-editor").open = false;
  } catch (err) {
    showError(err);
  }
});

// ---- OBS ------------------------------------------------------------------------------------------------------------

// The transcoded ladder: lower layers made by the server for a publisher that sends one (e.g. OBS without simulcast).
$("#ladder").addEventListener("change", async (e) => {
  const box = e.currentTarget;
  if (!state.stream) return;
  try {
    const res = await api("PUT", `/streams/${encodeURIComponent(state.stream.id)}/transcoding`, { enabled: box.checked });
    state.stream.transcode_ladder = res.enabled;
    $("#ladder-status").textContent = res.enabled ? t(res.running ? "studio.ladder_running" : "studio.ladder_later") : "";
  } catch (err) {
    box.checked = !box.checked;
    showError(err);
  }
});
$("#copy-whip").addEventListener("click", (e) => copyText($("#whip-url").value, e.currentTarget));
$("#copy-key").addEventListener("click", (e) => copyText($("#stream-key").value, e.currentTarget));
$("#show-key").addEventListener("click", (e) => {
  const input = $("#stream-key");
  const hidden = input.type === "password";
  input.type = hidden ? "text" : "password";
  e.currentTarget.textContent = t(hidden ? "studio.hide" : "studio.show");
});

// ---- OBS overlays (browser sources) ----------------------------------------------------------------------------------

function showOverlays(links) {
  const box = $("#overlay-links");
  box.replaceChildren(
    ...links.overlays.map((o) => {
      const url = `${window.location.origin}${o.path}`;
      const input = el("input", { readonly: true, value: url, dataset: { kind: o.kind }, "aria-label": t(`studio.overlay_${o.kind}`) });
      return el("div", { class: "overlay-link" },
        el("label", { class: "field" }, el("span", {}, t(`studio.overlay_${o.kind}`))),
        el("div", { class: "copy-row" }, input,
          el("button", { class: "btn btn-sm", type: "button", dataset: { copy: o.kind }, onclick: (e) => copyText(input.value, e.currentTarget) }, t("studio.copy")),
        ),
      );
    }),
  );
  $("#overlays").hidden = false;
}

async function loadOverlays() {
  const stream = state.stream;
  $("#overlays").hidden = true;
  if (!stream || stream.status === "ended") return;
  try {
    const links = await api("GET", `/streams/${encodeURIComponent(stream.id)}/overlays`);
    if (state.stream?.id === stream.id) showOverlays(links);
  } catch (err) {
    showError(err);
  }
}

$("#test-alert").addEventListener("click", async () => {
  if (!state.stream) return;
  try {
    await api("POST", `/streams/${encodeURIComponent(state.stream.id)}/overlays/test-alert`, {});
    toast(t("studio.test_alert_sent"), "ok");
  } catch (err) {
    showError(err);
  }
});

$("#rotate-overlays").addEventListener("click", async () => {
  if (!state.stream || !window.confirm(t("studio.rotate_confirm"))) return;
  try {
    showOverlays(await api("POST", `/streams/${encodeURIComponent(state.stream.id)}/overlays/rotate`));
    toast(t("studio.rotated"), "ok");
  } catch (err) {
    showError(err);
  }
});

window.livehub = { state, config: hubConfig() };
window.addEventListener("beforeunload", (e) => {
  if (state.live) e.preventDefault();
});

session.onChange((s) => {
  if (!s && booted) window.location.reload();
  else render();
});
render();
