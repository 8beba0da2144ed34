// One room over the `/live` connection, shared by the studio, the viewer page and the console: joining (again
// after every reconnect), chat, likes, reports, gifts, moderation and the settings notes under the chat box.
//
// It reads acks and events exactly as docs/protocol.md documents them (`ack.recent_chat`, `ack.viewers`,
// `viewers:count.count`, `likes:update.total`, ...): no guessing between field names. The test
// tests/integration/test_acks_match_protocol.py holds the server to the same document.

import { newId } from "./api.js";
import { t } from "./i18n.js";
import { call, connectLive } from "./live.js";
import { toast } from "./ui.js";

function toastErrors(status, message) {
  if (status === "error" && message) toast(message, "error");
}

export class RoomSession {
  /**
   * `chat`: a ChatView that receives the room's chat (and the join's recent chat); `onMessage(m)` sees each
   * incoming message first. `onStatus(status, message)` as for connectLive (default: errors as toasts).
   */
  constructor({ chat = null, onMessage = null, onStatus = toastErrors } = {}) {
    this.streamId = null;
    this.chat = chat;
    this.socket = connectLive({ onStatus });
    if (chat) {
      const add = (m) => {
        onMessage?.(m);
        chat.add(m);
      };
      this.on("chat:message", add);
      this.on("chat:batch", (b) => b.messages.forEach(add));
      this.on("chat:deleted", (e) => chat.remove(e.message_id));
      this.on("chat:cleared", () => chat.clear());
    }
  }

  get connected() {
    return this.socket.connected;
  }

  /** Is this event about the room we are in? (events without a `stream_id` are about this connection) */
  here(event) {
    return !event?.stream_id || event.stream_id === this.streamId;
  }

  /** Handle a server → client event of the current room only. */
  on(event, handler) {
    this.socket.on(event, (payload) => this.here(payload) && handler(payload));
    return this;
  }

  onConnect(handler) {
    this.socket.on("connect", handler);
    return this;
  }

  onDisconnect(handler) {
    this.socket.on("disconnect", handler);
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
  sendGift(giftId, count = 1) {
    return call(this.socket, "gift:send", { stream_id: this.streamId, gift_id: giftId, count, idempotency_key: newId() });
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
