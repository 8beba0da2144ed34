// The HTTP API client: the session (tokens in localStorage), one refresh on 401 token_expired, and errors turned
// into a clear sentence (ApiError.message) chosen by the stable `code` of the server's problem JSON.

import { formatTime, has, t } from "./i18n.js";

const STORE_KEY = "livehub.session";
const PREFIX = "/api/v1";
const TIMEOUT_MS = 15000;

export class ApiError extends Error {
  constructor(code, message, { status = 0, detail = "", extra = {} } = {}) {
    super(message);
    this.name = "ApiError";
    this.code = code;
    this.status = status;
    this.detail = detail;
    this.extra = extra;
  }
}

/** A sentence for an error code; the server's own message when we have no better words. */
export function friendlyMessage(code, serverMessage = "", extra = {}) {
  if (code === "restricted") {
    return extra.kind === "ban" || !extra.until ? t("err.banned") : t("err.restricted_timeout", { until: formatTime(extra.until) });
  }
  if (code === "invalid_input" && serverMessage) code = "";
  const key = `err.${code}`;
  if (code && has(key)) {
    const s = Math.max(1, Math.ceil(Number(extra.retry_after_s ?? 1)));
    return t(key, { s, ...extra });
  }
  if (serverMessage) {
    const text = String(serverMessage).trim();
    return text.charAt(0).toUpperCase() + text.slice(1) + (/[.!?]$/.test(text) ? "" : ".");
  }
  return t("err.generic");
}

export function errorText(err) {
  if (err instanceof ApiError) return err.message;
  if (err && err.name === "NotAllowedError") return t("studio.camera_denied");
  console.warn(err);
  return t("err.generic");
}

// ---- session -------------------------------------------------------------------------------------------------

const listeners = new Set();

export const session = {
  load() {
    try {
      return JSON.parse(localStorage.getItem(STORE_KEY) || "null");
    } catch {
      return null;
    }
  },
  get user() {
    return this.load()?.user ?? null;
  },
  get accessToken() {
    return this.load()?.access_token ?? null;
  },
  get loggedIn() {
    return Boolean(this.accessToken);
  },
  save(data) {
    const previous = this.load() || {};
    const next = {
      access_token: data.access_token ?? previous.access_token,
      refresh_token: data.refresh_token ?? previous.refresh_token,
      user: data.user ?? previous.user ?? null,
    };
    localStorage.setItem(STORE_KEY, JSON.stringify(next));
    for (const fn of listeners) fn(next);
  },
  clear() {
    localStorage.removeItem(STORE_KEY);
    for (const fn of listeners) fn(null);
  },
  onChange(fn) {
    listeners.add(fn);
    return () => listeners.delete(fn);
  },
};

// Another tab logging in or out changes this one too.
window.addEventListener("storage", (e) => {
  if (e.key === STORE_KEY) for (const fn of listeners) fn(session.load());
});

function tokenExpiresSoon(token, marginS = 20) {
  try {
    const payload = JSON.parse(atob(token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/")));
    return typeof payload.exp === "number" && payload.exp * 1000 < Date.now() + marginS * 1000;
  } catch {
    return false;
  }
}

let refreshing = null;

/** Swap the refresh token for a new pair (one request at a time); clears the session if that fails. */
export function refreshSession() {
  if (!refreshing) {
    const seen = session.load()?.refresh_token;
    const work = async () => {
      const current = session.load();
      // Tabs share the session: if another tab refreshed while we waited for the lock, use its tokens (presenting
      // the spent refresh token again would make the server revoke the whole session).
      if (current?.refresh_token && current.refresh_token !== seen && !tokenExpiresSoon(current.access_token)) return;
      const refreshToken = current?.refresh_token;
      if (!refreshToken) throw new ApiError("unauthenticated", t("err.unauthenticated"), { status: 401 });
      try {
        const tokens = await request("POST", "/auth/refresh", { refresh_token: refreshToken }, { auth: false });
        session.save(tokens);
      } catch (err) {
        if (err instanceof ApiError && err.status === 401) session.clear();
        throw err;
      }
    };
    const locked = navigator.locks ? navigator.locks.request("livehub-token-refresh", work) : work();
    refreshing = locked.finally(() => {
      refreshing = null;
    });
  }
  return refreshing;
}

/** A usable access token (refreshed first when it is about to expire), or null for a guest. */
export async function currentToken() {
  const token = session.accessToken;
  if (!token) return null;
  if (tokenExpiresSoon(token)) {
    try {
      await refreshSession();
    } catch {
      return session.accessToken;
    }
  }
  return session.accessToken;
}

// ---- requests ------------------------------------------------------------------------------------------------

async function request(method, path, body, { auth = true, query, raw } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (raw !== undefined) headers["Content-Type"] = raw.type || "application/octet-stream";
  if (auth && session.accessToken) headers.Authorization = `Bearer ${session.accessToken}`;
  let url = PREFIX + path;
  if (query) {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null) params.set(k, v);
    const qs = params.toString();
    if (qs) url += `?${qs}`;
  }
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), TIMEOUT_MS);
  let response;
  try {
    response = await fetch(url, {
      method,
      headers,
      body: raw !== undefined ? raw : body === undefined ? undefined : JSON.stringify(body),
      signal: controller.signal,
      credentials: "same-origin",
    });
  } catch (err) {
    if (err.name === "AbortError") throw new ApiError("timeout", t("err.timeout"));
    throw new ApiError("network", t("err.network"));
  } finally {
    clearTimeout(timer);
  }
  if (response.status === 204) return null;
  let data = null;
  const text = await response.text();
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!response.ok) {
    const code = data?.code || (response.status >= 500 ? "internal_error" : "generic");
    const extra = { ...(data || {}) };
    throw new ApiError(code, friendlyMessage(code, data?.detail, extra), {
      status: response.status,
      detail: data?.detail || "",
      extra,
    });
  }
  return data;
}

/** Call the API; on 401 token_expired refresh once and retry. */
export async function api(method, path, body, options = {}) {
  try {
    return await request(method, path, body, options);
  } catch (err) {
    const auth = options.auth ?? true;
    if (auth && err instanceof ApiError && err.status === 401 && err.code === "token_expired") {
      await refreshSession();
      return request(method, path, body, options);
    }
    throw err;
  }
}

export async function login(loginName, password) {
  const data = await api("POST", "/auth/login", { login: loginName, password }, { auth: false });
  session.save(data);
  return data.user;
}

export async function register(email, password, nickname) {
  const data = await api("POST", "/auth/register", { email, password, nickname }, { auth: false });
  session.save(data);
  return data.user;
}

export async function logout() {
  try {
    if (session.loggedIn) await api("POST", "/auth/logout");
  } catch {
    // the tokens are dropped locally whatever the server says
  } finally {
    session.clear();
  }
}

export function newId() {
  if (crypto.randomUUID) return crypto.randomUUID();
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
}

export function hubConfig() {
  try {
    return JSON.parse(document.getElementById("hub-config")?.textContent || "{}");
  } catch {
    return {};
  }
}

const nicknames = new Map();

/** A user's public nickname, fetched once per page (null if unknown). */
export function nicknameFor(userId) {
  if (!userId) return Promise.resolve(null);
  if (!nicknames.has(userId)) {
    nicknames.set(
      userId,
      api("GET", `/users/${encodeURIComponent(userId)}`, undefined, { auth: false }).then(
        (u) => u?.nickname ?? null,
        () => null,
      ),
    );
  }
  return nicknames.get(userId);
}
