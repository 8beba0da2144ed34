// OBS browser-source overlays: /overlay/{alerts|goal|chat|top}#key=<overlay key>[&...], 1920x1080, transparent.
// The key (in the fragment, so it never reaches a log) opens one stream's room read-only: the socket connects with
// `auth: {overlay: key}` and sends `overlay:join` only. A rotated key ends the connection (`overlay:revoked`).
// Options (query string): `sound=1` plays a tone per alert, `duration=<ms>` how long each alert stays (default: the
// gift effect's duration, at least 3 s), `lines=<n>` chat lines kept (default 12).

import { io } from "/static/vendor/socket.io.esm.min.js";
import { applyI18n, formatNumber, t } from "./i18n.js";
import { GoalBar, Leaderboard, chatText, giftIcon, giftName, nicknameOf } from "./room.js";
import { el } from "./ui.js";

const KINDS = ["alerts", "goal", "chat", "top"];
const kind = KINDS.includes(location.pathname.split("/").pop()) ? location.pathname.split("/").pop() : "alerts";
const options = new URLSearchParams(location.search);
const key = new URLSearchParams(location.hash.slice(1)).get("key") || "";
const stage = document.getElementById("overlay");
const notice = document.getElementById("notice");
document.body.dataset.kind = kind;
applyI18n();

const MIN_ALERT_MS = 3000;
const LEAVE_MS = 400;
const COMBO_EXTEND_CAP = 3; // a combo keeps its alert up for at most this many durations

function setState(state, text = "") {
  document.body.dataset.state = state;
  notice.textContent = text;
  notice.hidden = !text;
}

// ---- alerts -------------------------------------------------------------------------------------------------------

/** Gift alerts one at a time, in arrival order; a combo of the same sender and gift merges into the alert showing
 * (or waiting) instead of queueing another; every transfer is drawn once (`transfer_id`, `transfer_ids`). */
class AlertQueue {
  constructor(layer, { durationMs = null, sound = false } = {}) {
    this.layer = layer;
    this.durationMs = durationMs;
    this.sound = sound;
    this.queue = [];
    this.current = null;
    this.seen = new Set();
    this.audio = null;
    this.log = []; // {transfer, test, shownAt, leftAt} (performance.now() ms): what was drawn when, for tests
  }

  push(event) {
    const ids = event.transfer_ids || [event.transfer_id];
    if (ids.every((id) => this.seen.has(id))) return;
    for (const id of ids) this.seen.add(id);
    if (this.seen.size > 5000) this.seen = new Set([...this.seen].slice(-2500));
    const merge = event.gift?.combo && !event.message && !event.test ? `${event.sender?.id}:${event.gift?.id}` : null;
    if (merge && this.current?.merge === merge) {
      this.current.count += Number(event.count || 1);
      this.current.combo = Math.max(this.current.combo, Number(event.combo || 0));
      this.draw(this.current, true);
      if (this.current.extended < COMBO_EXTEND_CAP) {
        this.current.extended += 1;
        this.schedule(this.current);
      }
      return;
    }
    const waiting = merge && this.queue.find((a) => a.merge === merge);
    if (waiting) {
      waiting.count += Number(event.count || 1);
      waiting.combo = Math.max(waiting.combo, Number(event.combo || 0));
      return;
    }
    this.queue.push({ event, merge, count: Number(event.count || 1), combo: Number(event.combo || 0), extended: 1 });
    this.next();
  }

  durationOf(alert) {
    if (this.durationMs) return this.durationMs;
    return Math.max(MIN_ALERT_MS, Number(alert.event.effect?.duration_ms || 0));
  }

  next() {
    if (this.current || !this.queue.length) return;
    const alert = this.queue.shift();
    this.current = alert;
    const e = alert.event;
    if (e.subscriber) {
      this.showSubscriber(alert);
      return;
    }
    const rarity = e.gift?.rarity || "common";
    alert.countEl = el("span", { class: "alert-count" });
    alert.node = el(
      "div",
      {
        class: `alert rarity-${rarity}${e.effect?.fullscreen ? " alert-fullscreen" : ""}${e.test ? " alert-is-test" : ""}`,
        dataset: { transfer: e.transfer_id, gift: e.gift?.id || "", rarity },
      },
      giftIcon(e.gift, "gift-img"),
      el("div", { class: "alert-text" },
        e.test ? el("span", { class: "alert-test" }, t("overlay.test")) : null,
        el("div", { class: "alert-title" },
          el("span", { class: "alert-sender" }, nicknameOf(e.sender)),
          " ",
          el("span", { class: "alert-gift" }, t("gifts.sent", { gift: giftName(e.gift) })),
          alert.countEl,
        ),
        e.message ? el("div", { class: "alert-message" }, e.message) : null,
      ),
    );
    this.draw(alert, false);
    this.layer.append(alert.node);
    alert.entry = { transfer: e.transfer_id, test: Boolean(e.test), shownAt: performance.now(), leftAt: null };
    this.log.push(alert.entry);
    if (this.log.length > 200) this.log.shift();
    this.beep(rarity);
    this.schedule(alert);
  }

  /** The "new subscriber" alert (`sub:new`): who, the months, who gifted it. */
  showSubscriber(alert) {
    const e = alert.event;
    const name = nicknameOf(e.user);
    const title = e.gifted_by ? t("overlay.sub_gifted", { gifter: nicknameOf(e.gifted_by), name }) : t("overlay.sub_new", { name });
    alert.countEl = el("span", { class: "alert-count" });
    alert.node = el(
      "div",
      { class: "alert alert-sub", dataset: { transfer: e.transfer_id, user: e.user?.id || "", months: String(e.months || 1) } },
      el("div", { class: "alert-text" },
        el("div", { class: "alert-title" }, el("span", { class: "alert-sender" }, title)),
        el("div", { class: "alert-message" }, t("overlay.sub_months", { n: formatNumber(e.months || 1) })),
      ),
    );
    this.layer.append(alert.node);
    alert.entry = { transfer: e.transfer_id, test: false, shownAt: performance.now(), leftAt: null, subscriber: true };
    this.log.push(alert.entry);
    if (this.log.length > 200) this.log.shift();
    this.beep("rare");
    this.schedule(alert);
  }

  draw(alert, bump) {
    const n = Math.max(alert.count, alert.combo);
    alert.countEl.textContent = n > 1 ? t("gifts.combo", { n: formatNumber(n) }) : "";
    if (bump) {
      alert.node.classList.remove("bump");
      void alert.node.offsetWidth; // restart the bump animation
      alert.node.classList.add("bump");
    }
  }

  schedule(alert) {
    clearTimeout(alert.timer);
    alert.timer = setTimeout(() => this.leave(alert), this.durationOf(alert));
  }

  leave(alert) {
    alert.node.classList.add("alert-out");
    setTimeout(() => {
      alert.node.remove();
      alert.entry.leftAt = performance.now();
      if (this.current === alert) this.current = null;
      this.next();
    }, LEAVE_MS);
  }

  beep(rarity) {
    if (!this.sound) return;
    try {
      this.audio ??= new AudioContext();
      const notes = { common: [660], rare: [660, 880], epic: [523, 659, 784], legendary: [523, 659, 784, 1046] }[rarity] || [660];
      notes.forEach((freq, i) => {
        const osc = this.audio.createOscillator();
        const gain = this.audio.createGain();
        const start = this.audio.currentTime + i * 0.12;
        osc.frequency.value = freq;
        gain.gain.setValueAtTime(0.18, start);
        gain.gain.exponentialRampToValueAtTime(0.001, start + 0.3);
        osc.connect(gain).connect(this.audio.destination);
        osc.start(start);
        osc.stop(start + 0.32);
      });
    } catch {
      this.sound = false; // no audio here: alerts stay silent
    }
  }
}

// ---- chat box -----------------------------------------------------------------------------------------------------

class ChatBox {
  constructor(list, lines) {
    this.list = list;
    this.lines = lines;
  }

  setMessages(messages) {
    this.list.replaceChildren();
    for (const m of messages) this.add(m);
  }

  add(m) {
    if (!m || this.list.querySelector(`[data-id="${CSS.escape(m.id)}"]`)) return;
    this.append(el("li", { dataset: { id: m.id } }, el("span", { class: "chat-nick" }, nicknameOf(m.user)), chatText(m)));
  }

  addGift(e) {
    if (!e.message || e.test) return;
    const id = `gift:${e.transfer_id}`;
    if (this.list.querySelector(`[data-id="${CSS.escape(id)}"]`)) return;
    this.append(
      el("li", { class: "chat-gift", dataset: { id } },
        giftIcon(e.gift, "gift-img"),
        el("span", { class: "chat-nick" }, nicknameOf(e.sender)),
        el("span", { class: "chat-gift-name" }, t("gifts.sent", { gift: giftName(e.gift) })),
        el("span", { class: "chat-text" }, e.message),
      ),
    );
  }

  append(row) {
    this.list.append(row);
    while (this.list.children.length > this.lines) this.list.firstElementChild.remove();
  }

  remove(id) {
    this.list.querySelector(`[data-id="${CSS.escape(id)}"]`)?.remove();
  }

  clear() {
    this.list.replaceChildren();
  }
}

// ---- the widget of this page ----------------------------------------------------------------------------------------

const handlers = {};
let init = () => {};

if (kind === "alerts") {
  const layer = el("div", { class: "alerts", id: "alerts" });
  stage.append(layer);
  const duration = Number.parseInt(options.get("duration") || "", 10);
  const alerts = new AlertQueue(layer, { durationMs: duration > 0 ? duration : null, sound: options.get("sound") === "1" });
  handlers["gift:received"] = (e) => alerts.push(e);
  // A new subscriber queues with the gifts; one alert per (subscriber, moment).
  handlers["sub:new"] = (e) => alerts.push({ ...e, subscriber: true, transfer_id: `sub:${e.channel_id}:${e.user?.id}:${e.at}` });
  // A sound alert bought with channel points: drawn like a gift alert (the reward's title as the gift's name), with a
  // tone when the page has sound=1.
  handlers["reward:alert"] = (e) =>
    alerts.push({
      transfer_id: e.redemption_id,
      sender: e.viewer,
      gift: { id: "reward", rarity: "rare", names: { en: e.title, ru: e.title } },
      count: 1,
      combo: 0,
      effect: { duration_ms: 4000 },
      reward: true,
    });
  window.livehubOverlay = { alerts };
} else if (kind === "goal") {
  const root = el("div", { class: "goal", id: "goal" },
    el("div", { class: "goal-head" }, el("span", { class: "goal-label" }), el("span", { class: "goal-numbers" })),
    el("div", { class: "goal-track" }, el("div", { class: "goal-fill" })),
  );
  stage.append(root);
  const bar = new GoalBar(root);
  init = (state) => bar.update(state.goal);
  handlers["goal:progress"] = (e) => bar.update(e.goal);
} else if (kind === "chat") {
  const list = el("ul", { class: "chatbox", id: "chatbox" });
  stage.append(list);
  const lines = Number.parseInt(options.get("lines") || "", 10);
  const box = new ChatBox(list, lines > 0 ? Math.min(lines, 50) : 12);
  init = (state) => box.setMessages(state.recent_chat || []);
  handlers["chat:message"] = (m) => box.add(m);
  handlers["chat:deleted"] = (e) => box.remove(e.message_id);
  handlers["chat:cleared"] = () => box.clear();
  handlers["gift:received"] = (e) => box.addGift(e);
} else {
  const list = el("ol", { class: "board", id: "board" });
  stage.append(el("section", { class: "top" }, el("h2", {}, t("board.title")), list));
  const board = new Leaderboard(list);
  init = (state) => board.update(state.leaderboard || []);
  handlers["leaderboard:update"] = (e) => board.update(e.top);
}

function dispatch(event, data) {
  handlers[event]?.(data);
}

// ---- the connection -----------------------------------------------------------------------------------------------

if (!key) {
  setState("no-key", t("overlay.no_key"));
} else {
  const socket = io("/live", { auth: { overlay: key }, transports: ["websocket", "polling"], reconnectionDelayMax: 5000 });
  socket.on("connect", async () => {
    try {
      const ack = await socket.timeout(10000).emitWithAck("overlay:join", {});
      if (!ack.ok) throw new Error(ack.error?.code || "refused");
      init(ack);
      setState("live");
    } catch {
      setState("connecting");
    }
  });
  socket.on("connect_error", (err) => {
    if (err?.data?.code === "invalid_overlay_key") {
      socket.disconnect();
      setState("revoked", t("overlay.revoked"));
    }
  });
  socket.on("overlay:revoked", () => {
    socket.disconnect();
    setState("revoked", t("overlay.revoked"));
  });
  socket.on("room:batch", (batch) => {
    for (const entry of batch.events || []) dispatch(entry.event, entry.data);
  });
  for (const event of Object.keys(handlers)) socket.on(event, (data) => dispatch(event, data));
}
