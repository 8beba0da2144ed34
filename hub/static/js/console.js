// The moderator console /console: the rooms this person can moderate, live chat with delete / timeout / ban, room
// settings (slow mode, followers-only, blocked terms, shield), the reports queue, the live mod log and the viewers.
// A live room's stream plays above the chat, muted until the moderator turns the sound on (as Twitch's mod view).

import { api, errorText, session } from "./api.js";
import { formatNumber, formatTime, t } from "./i18n.js";
import { ChatComposer, ChatView, nicknameOf, userIdOf } from "./room.js";
import { call } from "./live.js";
import { RoomSession, settingsNotes } from "./room-session.js";
import { subscribe, watchQuality } from "./rtc.js";
import { $, el, loginGate, showError, startPage, toast } from "./ui.js";

startPage("console");

const SLOW_CHOICES = [0, 3, 5, 10, 30, 60, 120];
const state = { rooms: [], room: null, session: null, settings: {}, reports: [], log: [], viewers: [], nicknames: new Map() };
let chat;
let composer;

function render() {
  $("#gate").hidden = session.loggedIn;
  $("#console").hidden = !session.loggedIn;
  if (!session.loggedIn) {
    loginGate($("#gate"), "auth.needed_console");
    return;
  }
  boot();
}

let booted = false;

function boot() {
  if (booted) return;
  booted = true;
  chat = new ChatView($("#chat"), { selfId: session.user?.id, moderation: moderateMessage });
  composer = new ChatComposer($("#chat-form"), { onSend: sendChat });
  $("#slow").replaceChildren(
    ...SLOW_CHOICES.map((s) => el("option", { value: String(s) }, s === 0 ? t("console.slow_off") : t("console.seconds", { n: s }))),
  );
  const live = new RoomSession({ chat, onMessage: (m) => remember(m.user) });
  state.session = live;
  live.onConnect(() => state.room && openRoom(state.room, true));
  live.on("viewers:count", (e) => showViewerCount(e.count));
  live.on("room:settings", (s) => showSettings(s));
  live.on("mod:event", onModEvent);
  live.on("gift:received", (e) => chat.addGift(e)); // paid messages, highlighted
  live.on("stream:ended", () => {
    stopWatching(true);
    composer.setEnded();
    toast(t("player.ended"));
    loadRooms();
  });
  loadRooms();
  setInterval(loadRooms, 20000);
  setInterval(() => state.room && loadViewers(), 10000);
  setInterval(() => state.room && loadMedia(), 3000);
}

function remember(user) {
  const id = userIdOf(user);
  if (id && user.nickname) state.nicknames.set(id, user.nickname);
}

function nameOf(id, fallback) {
  if (!id) return fallback ?? "—";
  if (id === session.user?.id) return session.user.nickname;
  return state.nicknames.get(id) || fallback || id.slice(0, 8);
}

// ---- rooms --------------------------------------------------------------------------------------------------------

async function loadRooms() {
  let items = [];
  try {
    // The server decides: my streams, streams naming me a moderator, and every live stream for global staff.
    const page = await api("GET", "/streams/moderated");
    items = page?.items || [];
  } catch (err) {
    showError(err);
    return;
  }
  state.rooms = items;
  const list = $("#rooms");
  if (!items.length) {
    list.replaceChildren(el("li", { class: "muted" }, t("console.no_rooms")));
    return;
  }
  list.replaceChildren(
    ...items.map((room) =>
      el("li", { class: room.id === state.room?.id ? "selected" : "", dataset: { streamId: room.id }, onclick: () => openRoom(room) },
        el("span", { class: `status-dot ${room.status}` }),
        el("span", { class: "grow" }, room.title),
      ),
    ),
  );
  const wanted = new URLSearchParams(window.location.search).get("stream");
  if (!state.room && wanted) {
    const room = items.find((r) => r.id === wanted);
    if (room) openRoom(room);
  }
}

async function openRoom(room, rejoin = false) {
  const previous = state.room;
  if (!rejoin && previous?.id === room.id) return;
  state.room = room;
  for (const li of $("#rooms").children) li.classList.toggle("selected", li.dataset.streamId === room.id);
  $("#room-title").textContent = room.title;
  state.reports = [];
  state.log = [];
  renderReports();
  renderLog();
  if (!state.session.connected) return;
  try {
    const ack = await state.session.join(room.id); // leaves the previous room
    $("#room-role").textContent = t("console.role", { role: t(`role.${ack.role}`) });
    for (const m of ack.recent_chat) remember(m.user);
    showViewerCount(ack.viewers);
    showSettings(ack.settings);
  } catch (err) {
    showError(err);
    return;
  }
  loadSettings();
  loadModlog();
  loadReports();
  loadViewers();
  loadMedia();
  loadRestrictions();
  watchRoom(room);
}

// ---- the stream itself ----------------------------------------------------------------------------------------------

const player = { pc: null, stopQuality: null, room: null };
const modVideo = $("#mod-video");

/** Subscribe as a viewer (rtc:subscribe, as the viewer page) to a live room; muted by default. */
async function watchRoom(room) {
  stopWatching(room.status !== "live");
  if (room.status !== "live") return;
  player.room = room.id;
  $("#mod-player").hidden = false;
  $("#mod-video-status").textContent = "";
  modVideo.muted = true;
  showSound();
  try {
    const pc = await subscribe(state.session.socket, room.id, modVideo);
    if (player.room !== room.id) {
      pc.close(); // another room was opened meanwhile
      return;
    }
    player.pc = pc;
    player.stopQuality = watchQuality(pc, (q) => {
      modVideo.dataset.framesDecoded = String(q.framesDecoded);
    });
  } catch (err) {
    $("#mod-video-status").textContent = t("console.video_off", { detail: errorText(err) });
  }
}

function stopWatching(hide) {
  player.stopQuality?.();
  player.stopQuality = null;
  const pc = player.pc;
  player.pc = null;
  player.room = null;
  if (pc) {
    if (pc.hubSessionId && state.session.connected) call(state.session.socket, "rtc:close", { session_id: pc.hubSessionId }).catch(() => {});
    pc.close();
  }
  modVideo.srcObject = null;
  delete modVideo.dataset.framesDecoded;
  if (hide) $("#mod-player").hidden = true;
}

function showSound() {
  $("#mod-sound").textContent = t(modVideo.muted ? "console.unmute" : "console.mute");
}

$("#mod-sound").addEventListener("click", () => {
  modVideo.muted = !modVideo.muted;
  modVideo.play().catch(() => {});
  showSound();
});

function showViewerCount(n) {
  const pill = $("#room-viewers");
  pill.hidden = false;
  pill.textContent = t("player.viewers", { n: formatNumber(n) });
  pill.dataset.count = String(n);
}

// ---- settings -------------------------------------------------------------------------------------------------------

async function loadSettings() {
  try {
    const s = await api("GET", `/streams/${encodeURIComponent(state.room.id)}/room-settings`);
    showSettings(s);
  } catch (err) {
    showError(err);
  }
}

function showSettings(s) {
  if (!s || (s.stream_id && s.stream_id !== state.room?.id)) return;
  state.settings = { ...state.settings, ...s };
  const base = s.base || s; // moderators' settings carry `base`: the rules without the shield's
  const slow = Number(base.slow_s);
  const select = $("#slow");
  if (![...select.options].some((o) => o.value === String(slow))) select.append(el("option", { value: String(slow) }, t("console.seconds", { n: slow })));
  select.value = String(slow);
  const followers = base.followers_only_min_s !== undefined ? base.followers_only_min_s !== null : Boolean(s.followers_only);
  $("#followers-only").checked = followers;
  $("#shield").checked = Boolean(s.shield);
  if (Array.isArray(s.blocked_terms)) renderTerms(s.blocked_terms);
  composer.setNote(settingsNotes(s));
}

function renderTerms(terms) {
  state.settings.blocked_terms = terms;
  $("#terms").replaceChildren(
    ...terms.map((term) =>
      el("span", { class: "term" }, term,
        el("button", { class: "btn btn-link btn-xs", type: "button", "aria-label": "×", onclick: () => roomAction("unblock_term", { value: term }) }, "×"),
      ),
    ),
  );
}

$("#slow").addEventListener("change", (e) => roomAction("slow", { value: Number(e.target.value) }));
$("#followers-only").addEventListener("change", (e) => roomAction("followers_only", { value: e.target.checked ? 0 : null }));
$("#shield").addEventListener("change", (e) => roomAction("shield", { value: e.target.checked }));
$("#term-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const term = $("#term").value.trim();
  if (!term) return;
  roomAction("block_term", { value: term }).then((ok) => ok && ($("#term").value = ""));
});
$("#clear-chat").addEventListener("click", () => roomAction("clear"));
$("#end-stream").addEventListener("click", () => window.confirm(t("studio.end_confirm")) && roomAction("end_stream"));

async function roomAction(action, extra = {}) {
  if (!state.room) return false;
  try {
    const ack = await state.session.moderate(action, extra);
    if (ack.settings) showSettings(ack.settings);
    toast(t("mod.done"), "ok", 2000);
    return true;
  } catch (err) {
    showError(err);
    loadSettings();
    return false;
  }
}

async function moderateMessage(action, message, extra = {}) {
  try {
    await state.session.moderateMessage(action, message, extra);
    toast(`${t(`mod.${action}`)}: ${nicknameOf(message.user)}`, "ok");
  } catch (err) {
    showError(err);
  }
}

async function sendChat(text) {
  try {
    await state.session.sendChat(text);
  } catch (err) {
    showError(err);
    throw err;
  }
}

// ---- mod log, reports, viewers ----------------------------------------------------------------------------------------

function describe(entry) {
  const action = entry.action;
  const actor = nameOf(entry.actor_id);
  const target = nameOf(entry.target_user_id, entry.message?.nickname);
  const key = `mod.ev.${action}`;
  const text = t(key, { actor, target, action });
  const detail = [entry.duration_s ? `${entry.duration_s} s` : "", entry.reason || "", entry.value != null && typeof entry.value !== "object" ? String(entry.value) : ""]
    .filter(Boolean)
    .join(" · ");
  return text === key ? t("mod.ev.other", { actor, action }) : detail ? `${text} (${detail})` : text;
}

function onModEvent(e) {
  const item = e.type === "action" ? e.entry : e.report;
  if (item.stream_id && item.stream_id !== state.room?.id) return;
  if (e.type === "report") {
    state.reports.unshift(item);
    renderReports();
  } else if (e.type === "report_resolved") {
    state.reports = state.reports.filter((r) => r.id !== item.id);
    renderReports();
  } else {
    state.log.unshift(item);
    renderLog();
    if (["timeout", "ban", "unban"].includes(item.action)) loadRestrictions();
  }
  resolveNames([item.actor_id, item.target_user_id, item.reporter_id]);
}

// nicknames for the ids in the log and the reports, fetched once each
const asked = new Set();
async function resolveNames(ids) {
  const missing = ids.filter((id) => id && !state.nicknames.has(id) && !asked.has(id));
  if (!missing.length) return;
  for (const id of missing) asked.add(id);
  await Promise.all(
    missing.map((id) =>
      api("GET", `/users/${encodeURIComponent(id)}`, undefined, { auth: false }).then(
        (user) => remember(user),
        () => {},
      ),
    ),
  );
  renderLog();
  renderReports();
  renderRestrictions();
}

function renderLog() {
  const list = $("#modlog");
  if (!state.log.length) return list.replaceChildren(el("li", { class: "muted" }, t("console.no_modlog")));
  list.replaceChildren(
    ...state.log.slice(0, 100).map((entry) =>
      el("li", { dataset: { action: entry.action || "" } }, el("span", { class: "when" }, formatTime(entry.at)), describe(entry)),
    ),
  );
}

function renderReports() {
  const list = $("#reports");
  if (!state.reports.length) return list.replaceChildren(el("li", { class: "muted" }, t("console.no_reports")));
  list.replaceChildren(
    ...state.reports.slice(0, 100).map((r) => {
      const target = r.target_user_id;
      const resolve = async (action, extra) => {
        if (action && !(await roomAction(action, { target_user_id: target, reason: r.reason, ...extra }))) return;
        try {
          await api("POST", `/streams/${encodeURIComponent(state.room.id)}/reports/${encodeURIComponent(r.id)}/resolve`, { resolution: action || "dismissed" });
          state.reports = state.reports.filter((x) => x.id !== r.id);
          renderReports();
        } catch (err) {
          showError(err);
        }
      };
      const actions = el("span", { class: "mod-actions" },
        target ? el("button", { class: "btn btn-xs", type: "button", onclick: () => resolve("timeout", { duration_s: 600 }) }, t("mod.timeout")) : null,
        target ? el("button", { class: "btn btn-xs btn-danger", type: "button", onclick: () => resolve("ban") }, t("mod.ban")) : null,
        el("button", { class: "btn btn-xs", type: "button", onclick: () => resolve(null) }, t("console.dismiss")),
      );
      return el("li", { dataset: { reportId: r.id } }, el("span", { class: "when" }, formatTime(r.at)), describe({ ...r, action: "report", actor_id: r.reporter_id, reason: "" }),
        r.message?.text ? el("div", {}, `“${r.message.text}”`) : null,
        r.reason ? el("div", { class: "muted" }, r.reason) : null, actions);
    }),
  );
}

async function loadModlog() {
  try {
    const data = await api("GET", `/streams/${encodeURIComponent(state.room.id)}/modlog`, undefined, { query: { limit: 50 } });
    state.log = data?.items || [];
    renderLog();
    resolveNames(state.log.flatMap((x) => [x.actor_id, x.target_user_id]));
  } catch (err) {
    showError(err);
  }
}

async function loadReports() {
  try {
    const data = await api("GET", `/streams/${encodeURIComponent(state.room.id)}/reports`, undefined, { query: { status: "open", limit: 50 } });
    state.reports = data?.items || [];
    renderReports();
    resolveNames(state.reports.flatMap((x) => [x.reporter_id, x.target_user_id]));
  } catch (err) {
    showError(err);
  }
}

async function loadViewers() {
  const list = $("#viewer-list");
  try {
    const data = await api("GET", `/streams/${encodeURIComponent(state.room.id)}/viewers`);
    const users = data?.users || [];
    for (const u of users) remember(u);
    if (data?.count != null) showViewerCount(data.count);
    const rows = users.map((u) =>
      el("li", { dataset: { userId: u.id } }, u.nickname, u.id === state.room?.owner_id ? el("span", { class: "badge badge-owner" }, t("role.owner")) : null),
    );
    if (data?.guests) rows.push(el("li", { class: "muted" }, t("console.guests", { n: formatNumber(data.guests) })));
    list.replaceChildren(...(rows.length ? rows : [el("li", { class: "muted" }, t("console.no_viewers"))]));
  } catch (err) {
    list.replaceChildren(el("li", { class: "muted" }, errorText(err)));
  }
}

function kbps(bps) {
  return bps == null ? "–" : t("console.kbps", { n: formatNumber(Math.round(bps / 1000)) });
}

// the stream's media as this node's SFU sees it: layers, each viewer's layer/estimate/switches, relay pipes per layer
async function loadMedia() {
  const roomId = state.room?.id;
  if (!roomId) return;
  try {
    const data = await api("GET", `/streams/${encodeURIComponent(roomId)}/media`);
    if (state.room?.id !== roomId) return;
    $("#media-layers").textContent = (data.layers || []).length
      ? data.layers.map((l) => `${l.rid || t("console.single_layer")} ${l.width}×${l.height} ${kbps(l.bitrate_bps)}`).join(" · ")
      : t("console.no_media");
    const head = el("tr", {}, ...["console.media_session", "console.media_layer", "console.media_preference", "console.media_estimate", "console.media_switches"].map((k) => el("th", {}, t(k))));
    const rows = (data.viewers || []).map((v) =>
      el("tr", { dataset: { session: v.session_id || "", layer: v.layer || "", estimator: v.estimator || "" } },
        el("td", {}, (v.session_id || "").slice(0, 8)),
        el("td", {}, v.paused ? t("console.audio_only") : v.layer || (v.estimator ? t("console.single_layer") : "–")),
        el("td", {}, v.preference || "–"),
        el("td", { title: v.estimator || "" }, `${kbps(v.estimate_bps)}${v.estimator ? ` (${v.estimator === "transport_cc" ? "TWCC" : "RR"})` : ""}`),
        el("td", {}, formatNumber(v.switches || 0)),
      ),
    );
    $("#media-viewers").replaceChildren(head, ...rows);
    const pipes = (data.pipes || []).map((p) =>
      el("li", { class: "media-pipe" }, t("console.media_pipe"), " ",
        ...p.tracks.filter((x) => x.kind === "video").map((x) =>
          el("span", { class: x.parked ? "muted" : "", dataset: { rid: x.rid || "", parked: String(x.parked) } },
            `${x.rid || "v"}: ${formatNumber(x.packets)}${x.parked ? ` (${t("console.parked")})` : ""} `))),
    );
    if (data.relay) pipes.push(el("li", { class: "media-relay" }, t("console.media_relay", { n: formatNumber((data.relay.demand || []).length) })));
    $("#media-pipes").replaceChildren(...pipes);
  } catch (err) {
    $("#media-layers").textContent = errorText(err);
  }
}

async function loadRestrictions() {
  try {
    const data = await api("GET", `/streams/${encodeURIComponent(state.room.id)}/restrictions`);
    state.restrictions = data?.items || [];
    renderRestrictions();
    resolveNames(state.restrictions.map((x) => x.user_id));
  } catch (err) {
    showError(err);
  }
}

function renderRestrictions() {
  const list = $("#restricted");
  const items = state.restrictions || [];
  if (!items.length) return list.replaceChildren(el("li", { class: "muted" }, t("console.no_restricted")));
  list.replaceChildren(
    ...items.map((r) =>
      el("li", { dataset: { userId: r.user_id, kind: r.kind } },
        el("b", {}, nameOf(r.user_id)), " ",
        r.kind === "ban" ? t("console.banned") : t("console.timed_out_until", { until: formatTime(r.until) }),
        el("span", { class: "mod-actions" },
          el("button", { class: "btn btn-xs mod-unban", type: "button", onclick: () => roomAction("unban", { target_user_id: r.user_id }) }, t("mod.unban")),
        ),
      ),
    ),
  );
}

window.livehub = { state };

session.onChange((s) => {
  if (!s && booted) window.location.reload();
  else render();
});
render();
