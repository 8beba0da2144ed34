// The Socket.IO connection to the `/live` namespace: `auth: {token}` on every (re)connect, a refresh when the
// server refuses an expired token, and `call(event, payload)` that resolves the ack or throws an ApiError.

import { io } from "/static/vendor/socket.io.esm.min.js";
import { ApiError, currentToken, friendlyMessage, refreshSession, session } from "./api.js";
import { t } from "./i18n.js";

const ACK_TIMEOUT_MS = 15000;

/**
 * Connect to `/live` on this page's node, or on another node of the cluster (`url`: its public base URL). Another
 * node is another origin: only the WebSocket transport goes there (long-polling would need CORS; the page's CSP
 * allows `ws:`/`wss:` to any host and HTTP only to its own origin).
 */
export function connectLive({ onStatus, url = "" } = {}) {
  const remote = Boolean(url);
  const socket = io(remote ? `${url.replace(/\/+$/, "")}/live` : "/live", {
    forceNew: remote,
    auth: (cb) => {
      currentToken().then(
        (token) => cb(token ? { token } : {}),
        () => cb({}),
      );
    },
    transports: remote ? ["websocket"] : ["websocket", "polling"],
    reconnectionDelayMax: 5000,
  });
  let refreshed = false;
  // a quiet banner while the connection is down for more than a moment (never for a blip)
  let bannerTimer = null;
  const banner = () => {
    let node = document.getElementById("offline-banner");
    if (!node) {
      node = document.createElement("div");
      node.id = "offline-banner";
      node.className = "offline-banner";
      node.setAttribute("role", "status");
      node.hidden = true;
      document.body.append(node);
    }
    return node;
  };
  socket.on("connect", () => {
    refreshed = false;
    clearTimeout(bannerTimer);
    banner().hidden = true;
    onStatus?.("connected");
  });
  socket.on("disconnect", (reason) => {
    onStatus?.("disconnected");
    if (reason === "io client disconnect") return; // we did it on purpose (e.g. to log in)
    clearTimeout(bannerTimer);
    bannerTimer = setTimeout(() => {
      const node = banner();
      node.textContent = t("player.reconnecting");
      node.hidden = socket.connected;
    }, 2000);
  });
  // The server found this session logged out, reused or suspended: it treats the connection as a guest's now.
  socket.on("you:restricted", (r) => {
    if (r?.kind !== "signed_out") return;
    onStatus?.("error", t("err.session_revoked"));
    if (session.loggedIn) session.clear();
  });
  socket.on("connect_error", async (err) => {
    const code = err?.data?.code;
    if (code && ["token_expired", "invalid_token"].includes(code) && session.loggedIn && !refreshed) {
      refreshed = true;
      try {
        await refreshSession();
      } catch {
        session.clear();
      }
      socket.connect();
      return;
    }
    if (code) {
      // a refused token: carry on as a guest rather than failing silently
      if (session.loggedIn && code !== "token_expired") session.clear();
      onStatus?.("error", friendlyMessage(code, err?.data?.message));
      if (!socket.active) socket.connect();
    } else {
      onStatus?.("reconnecting");
    }
  });
  retirers.set(socket, () => clearTimeout(bannerTimer));
  return socket;
}

const retirers = new WeakMap();

/** Stop using a connection for good: no events, no reconnection attempts, no "reconnecting" banner from it. */
export function retire(socket) {
  retirers.get(socket)?.();
  socket.off();
  socket.io.reconnection(false);
  socket.disconnect();
}

/** Emit with an ack; resolve the ack's fields, or throw an ApiError carrying a sentence for people. */
export function call(socket, event, payload, timeoutMs = ACK_TIMEOUT_MS) {
  return new Promise((resolve, reject) => {
    socket.timeout(timeoutMs).emit(event, payload, (err, ack) => {
      if (err) {
        reject(new ApiError(socket.connected ? "timeout" : "network", t(socket.connected ? "err.timeout" : "err.network")));
        return;
      }
      if (ack && ack.ok === false) {
        const e = ack.error || {};
        reject(new ApiError(e.code || "generic", friendlyMessage(e.code, e.message, e), { detail: e.message || "", extra: e }));
        return;
      }
      resolve(ack ?? {});
    });
  });
}

/** Wait until the socket is connected (bounded). */
export function connected(socket, timeoutMs = 10000) {
  if (socket.connected) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.off("connect", done);
      reject(new ApiError("network", t("err.network")));
    }, timeoutMs);
    function done() {
      clearTimeout(timer);
      resolve();
    }
    socket.once("connect", done);
  });
}
