// PK battles on a room page (viewer and studio): keeps the room's battle with the highest `version` (score updates
// from two nodes may cross), shows the opponent's stream beside ours (a second rtc:subscribe on the same
// connection; the node pulls it from wherever it is published), the score bar, the countdown and the result.
// With no battle the stage is the ordinary one-video stage. Events and fields: docs/protocol.md, "PK battles".

import { t } from "./i18n.js";
import { call } from "./live.js";
import { subscribe } from "./rtc.js";
import { el } from "./ui.js";

const SPLIT_STATES = new Set(["live", "after"]);
const EVENTS = ["pk:invited", "pk:started", "pk:score", "pk:ended", "pk:closed", "pk:declined", "pk:cancelled", "pk:expired"];

export class PkPanel {
  /**
   * stage: the page's `.stage` element (its first <video> is this room's stream); room: the page's RoomSession;
   * onChange(battle|null, panel): the page's own controls (the studio's accept/decline/quit buttons).
   */
  constructor({ stage, room, onChange = () => {} }) {
    this.stage = stage;
    this.room = room;
    this.onChange = onChange;
    this.battle = null;
    this.pc = null;
    this.subscribedTo = null;
    this.deadline = 0; // performance.now() at which the countdown reaches zero
    this.timer = null;
    this.built = false; // the split screen's elements are made at the first battle: no battle, no cost
    for (const event of EVENTS) room.on(event, (e) => this.apply(e.battle));
    room.onDisconnect(() => {
      this.stale = true; // the server closed this connection's media sessions
    });
  }

  build() {
    if (this.built) return;
    this.built = true;
    this.video = el("video", { class: "pk-opponent", playsinline: "", autoplay: "" });
    this.video.muted = true;
    this.bar = el("div", { class: "pk-bar" },
      el("span", { class: "pk-score pk-ours" }, "0"),
      el("div", { class: "pk-track" }, el("div", { class: "pk-fill" })),
      el("span", { class: "pk-score pk-theirs" }, "0"));
    this.clock = el("div", { class: "pk-clock" });
    this.banner = el("div", { class: "pk-result" });
    this.banner.hidden = true;
    this.stage.querySelector("video").after(this.video);
    this.stage.append(this.bar, this.clock, this.banner);
  }

  /** Ask the server for the room's battle (after joining, or after a reconnect). */
  async refresh() {
    if (!this.room.streamId || !this.room.connected) return;
    try {
      const ack = await call(this.room.socket, "pk:state", { stream_id: this.room.streamId });
      this.apply(ack.battle ?? null);
    } catch {
      // a page without the battle is still a page: the next pk:* event brings it
    }
    if (this.stale && this.battle && SPLIT_STATES.has(this.battle.state)) {
      this.stale = false;
      this.dropOpponent();
      this.showOpponent();
    }
  }

  get ourSide() {
    const b = this.battle;
    if (!b) return null;
    return b.b.stream_id === this.room.streamId ? "b" : "a";
  }

  get opponent() {
    const b = this.battle;
    return b ? b[this.ourSide === "a" ? "b" : "a"] : null;
  }

  apply(battle) {
    if (battle && this.battle && battle.id === this.battle.id && battle.version < this.battle.version) return;
    this.battle = battle;
    if (battle?.state === "live" && battle.remaining_ms != null) this.deadline = performance.now() + battle.remaining_ms;
    const split = !!battle && SPLIT_STATES.has(battle.state);
    if (split) this.build();
    this.stage.classList.toggle("pk", split);
    this.stage.dataset.pk = battle?.state ?? "";
    if (this.built) {
      this.video.hidden = !split;
      this.bar.hidden = !split;
      this.clock.hidden = !split;
    }
    if (split && !this.timer) this.timer = setInterval(() => this.tick(), 250);
    if (!split && this.timer) {
      clearInterval(this.timer);
      this.timer = null;
    }
    if (split) this.showOpponent();
    else this.dropOpponent();
    this.render();
    this.onChange(split || battle?.state === "invited" ? battle : null, this);
  }

  render() {
    const b = this.battle;
    if (!b || !SPLIT_STATES.has(b.state)) {
      if (this.built) this.banner.hidden = true;
      return;
    }
    const ours = b[this.ourSide].score;
    const theirs = this.opponent.score;
    this.bar.querySelector(".pk-ours").textContent = String(ours);
    this.bar.querySelector(".pk-theirs").textContent = String(theirs);
    this.bar.dataset.ours = String(ours);
    this.bar.dataset.theirs = String(theirs);
    const share = ours + theirs > 0 ? (100 * ours) / (ours + theirs) : 50;
    this.bar.querySelector(".pk-fill").style.width = `${share}%`;
    this.video.title = this.opponent.nickname || "";
    if (b.state === "after" && b.result) {
      const r = b.result;
      const key = r.draw ? "pk.draw" : r.winner === this.ourSide ? "pk.won" : "pk.lost";
      this.banner.textContent = t(key, { name: this.opponent.nickname || "" });
      this.banner.dataset.result = r.draw ? "draw" : r.winner === this.ourSide ? "won" : "lost";
      this.banner.hidden = false;
    } else {
      this.banner.hidden = true;
    }
    this.tick();
  }

  tick() {
    const b = this.battle;
    if (!b || !SPLIT_STATES.has(b.state)) return;
    if (b.state === "after") {
      this.clock.textContent = t("pk.over");
      return;
    }
    const left = Math.max(0, Math.ceil((this.deadline - performance.now()) / 1000));
    this.clock.textContent = `${Math.floor(left / 60)}:${String(left % 60).padStart(2, "0")}`;
    this.clock.dataset.seconds = String(left);
  }

  async showOpponent() {
    const other = this.opponent;
    if (!other || this.subscribedTo === other.stream_id || !this.room.connected) return;
    this.subscribedTo = other.stream_id;
    try {
      const pc = await subscribe(this.room.socket, other.stream_id, this.video);
      if (this.subscribedTo !== other.stream_id) {
        pc.close(); // the battle ended meanwhile
        return;
      }
      this.pc = pc;
    } catch {
      this.subscribedTo = null;
      setTimeout(() => this.battle && SPLIT_STATES.has(this.battle.state) && this.showOpponent(), 3000);
    }
  }

  dropOpponent() {
    this.subscribedTo = null;
    this.pc?.close();
    this.pc = null;
    if (this.built) this.video.srcObject = null;
  }
}

/** The streamer's own steps (studio). Each resolves the ack or throws the hub's error. */
export const pkSteps = {
  invite: (room, opponentStreamId) => call(room.socket, "pk:invite", { stream_id: room.streamId, opponent_stream_id: opponentStreamId }),
  accept: (room, battleId) => call(room.socket, "pk:accept", { stream_id: room.streamId, battle_id: battleId }),
  decline: (room, battleId) => call(room.socket, "pk:decline", { stream_id: room.streamId, battle_id: battleId }),
  cancel: (room, battleId) => call(room.socket, "pk:cancel", { stream_id: room.streamId, battle_id: battleId }),
  quit: (room, battleId) => call(room.socket, "pk:quit", { stream_id: room.streamId, battle_id: battleId }),
  match: (room) => call(room.socket, "pk:match", { stream_id: room.streamId }),
  cancelMatch: (room) => call(room.socket, "pk:match_cancel", { stream_id: room.streamId }),
};
