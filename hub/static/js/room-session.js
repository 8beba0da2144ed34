// One room over the `/live` connection, shared by the studio, the viewer page and the console: joining (again
// after every reconnect), chat, likes, reports, gifts, moderation and the settings notes under the chat box.
//
// Many nodes: with `failover`, the session keeps the cluster's live nodes (`GET /cluster/nodes`, read when it joins)
// and, when its connection drops, connects to another of them (the page stays where it is, so its signed-in
// session in localStorage goes along) and joins again; `moveTo(url)` does the same on request (a `node_full`
// refusal names the node to go to). Handlers registered here follow the session to every connection it uses.
//
// It reads acks and events exactly as docs/protocol.md documents them (`ack.recent_chat`, `ack.viewers`,
// `viewers:count.count`, `likes:update.total`, ...): no guessing between field names. The test
// tests/integration/test_acks_match_protocol.py holds the server to the same document.

import { api, newId } from "./api.js";
import { t } from "./i18n.js";
import { call, connectLive, retire } from "./live.js";
import { toast } from "./ui.js";

function toastErrors(status, message) {
  if (status === "error" && message) toast(message, "error");
}

export class RoomSession {
  /**
   * `chat`: a ChatView that receives the room's chat (and the join's recent chat); `onMessage(m)` sees each
   * incoming message first. `onStatus(status, message)` as for connectLive (default: errors as toasts).
   */
  constructor({ chat = null, onMessage = null, onStatus = toastErrors, failover = false } = {}) {
    this.streamId = null;
    this.chat = chat;
    this.onStatus = onStatus;
    this.failover = failover;
    this.handlers = []; // [event, handler]: attached to every connection this session uses
    this.nodes = []; // the cluster's live nodes, best first, as last read
    this.nodeId = null; // the node our connection is on (null: this page's node, not known yet)
    this.nodeUrl = ""; // "" = this page's node
    this.moving = null;
    this.socket = this.open("");
    // One packet per tick: a `room:batch` carries the room's events in order; each is handled as if it came alone
    // (docs/protocol.md, "Room events: one packet per tick").
    this.listen("room:batch", (batch) => {
      if (!this.here(batch)) return;
      for (const { event, data } of batch.events) {
        for (const listener of this.socket.listeners(event)) listener(data);
      }
    });
    if (chat) {
      const add = (m) => {
        onMessage?.(m);
        chat.add(m);
      };
      this.on("chat:message", add);
      this.on("chat:deleted", (e) => chat.remove(e.message_id));
      this.on("chat:cleared", () => chat.clear());
    }
  }

  get connected() {
    return this.socket.connected;
  }

  open(url, nodeId = null) {
    const socket = connectLive({ onStatus: this.onStatus, url });
    // First of its connect handlers: from now on the session speaks over this connection (the page's own
    // handlers, e.g. joining again, then find it in `this.socket`). Until then calls go nowhere new.
    socket.on("connect", () => {
      this.socket = socket;
      if (url) {
        this.nodeUrl = url;
        this.nodeId = nodeId;
      }
    });
    for (const [event, handler] of this.handlers) socket.on(event, handler);
    socket.on("disconnect", (reason) => {
      // "io client disconnect": we closed it ourselves; "io server disconnect": the server sent us away on purpose
      if (this.failover && socket === this.socket && !reason.startsWith("io ")) this.moveElsewhere();
    });
    return socket;
  }

  listen(event, handler) {
    this.handlers.push([event, handler]);
    this.socket.on(event, handler);
  }

  /** Read the cluster's live nodes (from this page's node); keeps the last list when that fails. */
  async refreshNodes() {
    try {
      const list = await api("GET", "/cluster/nodes", undefined, { auth: false });
      this.nodes = list.nodes;
      if (!this.nodeUrl) this.nodeId = list.node_id;
    } catch {
      // this page's node may be the one that went away: the list we have is what we go by
    }
    return this.nodes;
  }

  /**
   * Move this session's connection to the node at `url` (its public base URL); resolves true once connected
   * there (handlers run as on any connect: pages join again), false if it could not connect in time.
   */
  async moveTo(url, nodeId = null, timeoutMs = 2500) {
    const previous = this.socket;
    const next = this.open(url, nodeId);
    const connected = await new Promise((resolve) => {
      const timer = setTimeout(() => finish(false), timeoutMs);
      const onConnect = () => finish(true);
      const onError = (err) => {
        if (!err?.data?.code) finish(false); // unreachable; a refused token is handled by connectLive (as a guest)
      };
      function finish(ok) {
        clearTimeout(timer);
        next.off("connect", onConnect);
        next.off("connect_error", onError);
        resolve(ok);
      }
      next.on("connect", onConnect);
      next.on("connect_error", onError);
    });
    if (connected) {
      if (previous !== next) retire(previous);
      return true;
    }
    retire(next);
    return false;
  }

  /**
   * Our node went away: connect to another live node (the best first; our own last, in case it was a blip) and
   * join again there. Only when the cluster has other nodes; on one node the connection retries by itself.
   */
  moveElsewhere() {
    if (this.moving) return this.moving;
    const others = this.nodes.filter((n) => n.node_id !== this.nodeId);
    if (!others.length) return Promise.resolve(false);
    // The lost connection stops retrying by itself: coming back behind our back would race the move.
    retire(this.socket);
    this.moving = (async () => {
      const deadline = Date.now() + 600000;
      for (let round = 0; Date.now() < deadline; round++) {
        const here = this.nodes.filter((n) => n.node_id === this.nodeId);
        for (const node of [...others, ...here]) {
          if (this.socket.connected) return true;
          if (await this.moveTo(node.url, node.node_id)) return true;
        }
        await new Promise((r) => setTimeout(r, Math.min(5000, 500 * (round + 1))));
      }
      return false;
    })().finally(() => {
      this.moving = null;
    });
    return this.moving;
  }

  /** Is this event about the room we are in? (events without a `stream_id` are about this connection) */
  here(event) {
    return !event?.stream_id || event.stream_id === this.streamId;
  }

  /** Handle a server → client event of the current room only. */
  on(event, handler) {
    this.listen(event, (payload) => this.here(payload) && handler(payload));
    return this;
  }

  onConnect(handler) {
    this.listen("connect", handler);
    return this;
  }

  onDisconnect(handler) {
    this.listen("disconnect", handler);
    return this;
  }

  /**
   * Join `streamId` (leaving the room we were in). Resolves the documented ack: `{stream, viewers, likes,
   * recent_chat, settings, role, restriction, leaderboard, goal}`; `recent_chat` (oldest first) is shown in `chat`.
   */
  async join(streamId) {
    if (this.streamId && this.streamId !== streamId) this.leave();
    this.streamId = streamId;
    const ack = await call(this.socket, "stream:join", { stream_id: streamId });
    this.chat?.setMessages(ack.recent_chat);
    if (this.failover) this.refreshNodes();
    return ack;
  }

  leave() {
    const streamId = this.streamId;
    this.streamId = null;
    if (streamId && this.socket.connected) call(this.socket, "stream:leave", { stream_id: streamId }).catch(() => {});
  }

  /** Send a chat message; it is shown at once (the room's echo of it is recognised by its id). */
  async sendChat(text) {
    const ack = await call(this.socket, "chat:send", { stream_id: this.streamId, text, client_id: newId() });
    this.chat?.add(ack.message);
    return ack.message;
  }

  like(count) {
    return call(this.socket, "like:send", { stream_id: this.streamId, count });
  }

  /** Report a message (`messageId`) or a person (`targetUserId`). */
  report({ messageId, targetUserId, reason }) {
    return call(this.socket, "report:send", { stream_id: this.streamId, message_id: messageId, target_user_id: targetUserId, reason });
  }

  /** Resolves `{transfer_id, gift_id, count, combo, coins_spent, balance}`. */
  sendGift(giftId, count = 1, message = "") {
    const payload = { stream_id: this.streamId, gift_id: giftId, count, idempotency_key: newId() };
    if (message) payload.message = message;
    return call(this.socket, "gift:send", payload);
  }

  /** A moderation action on a chat message's author (`delete` removes the message itself). */
  async moderateMessage(action, message, extra = {}) {
    const ack = await this.moderate(action, {
      target_user_id: message.user.id,
      message_id: action === "delete" ? message.id : undefined,
      ...extra,
    });
    if (action === "delete") this.chat?.remove(message.id);
    return ack;
  }

  /** `mod:action` in this room; resolves `{entry, settings?}` (settings after a settings action). */
  moderate(action, fields = {}) {
    return call(this.socket, "mod:action", { stream_id: this.streamId, action, ...fields });
  }
}

/** The line under the chat box that says which room rules are on (from `settings` as documented). */
export function settingsNotes(settings) {
  const notes = [];
  if (settings.shield) notes.push(t("chat.shield"));
  if (settings.slow_s > 0) notes.push(t("chat.slow", { s: settings.slow_s }));
  if (settings.followers_only) notes.push(t("chat.followers_only"));
  return notes.join(" · ");
}
