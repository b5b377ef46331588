// Talking to the API: POST /api/<Concept>/<action> with a JSON body, the session token, typed errors.

import { retryMessage } from "./format.js";

const SESSION_KEY = "reflection.session";
const TIMEOUT_MS = 30000;

/** An error from the API (or the network), with what the UI needs to place it. */
export class ApiError extends Error {
  constructor(status, body, retryAfter = retryAfterOf(body)) {
    super(messageFor(status, body, retryAfter));
    this.name = "ApiError";
    this.status = status;
    this.kind = body?.errorKind ?? null;
    this.detail = Array.isArray(body?.detail) ? body.detail : [];
    this.requestId = body?.requestId ?? null;
    this.handled = false; // set when the app already reacted (e.g. went back to log in)
    this.field = null; // the input this error concerns, when the caller knows it
    this.retryAfter = retryAfter; // whole seconds to wait (a 429's Retry-After), or null
  }
}

/** Seconds to wait from a 429's body (`retryAfter`) or its Retry-After header value. */
export function retryAfterOf(body, header = null) {
  for (const value of [body?.retryAfter, header]) {
    const n = typeof value === "string" && /^\d+$/.test(value.trim()) ? Number(value) : value;
    if (Number.isInteger(n) && n >= 1) return n;
  }
  return null;
}

/** "wrong code; 4 tries left" -> "Wrong code; 4 tries left." */
export function sentence(text) {
  const t = String(text).trim();
  if (!t) return t;
  const first = t[0].toUpperCase() + t.slice(1);
  return /[.!?]$/.test(first) ? first : `${first}.`;
}

function messageFor(status, body, retryAfter) {
  const error = typeof body?.error === "string" ? body.error : "";
  // The server gives the wait as data; the moment is shown here, in the reader's own zone.
  if (status === 429 && retryAfter) return retryMessage(retryAfter);
  if (status === 0) return error || "Can't reach the server. Check your connection and try again.";
  if (status >= 500) {
    if (status === 503 && error) return sentence(error);
    if (status === 504) return "The server took too long to answer. Please try again.";
    const ref = body?.requestId ? ` If it keeps happening, quote reference ${body.requestId}.` : "";
    return `Something went wrong on our side. Please try again.${ref}`;
  }
  if (error && error !== "invalid request") return sentence(error);
  if (status === 422) return "Please check the highlighted fields.";
  if (status === 413) return "That is too long to send.";
  return `The request failed (${status}).`;
}

// -- the session ---------------------------------------------------------------

export function getSession() {
  let session = null;
  try {
    session = JSON.parse(localStorage.getItem(SESSION_KEY) || "null");
  } catch {
    session = null;
  }
  if (!session || typeof session.token !== "string") return null;
  if (session.expiresAt && Date.parse(session.expiresAt) <= Date.now()) {
    clearSession();
    return null;
  }
  return session;
}

export function setSession(session) {
  localStorage.setItem(SESSION_KEY, JSON.stringify(session));
}

export function clearSession() {
  localStorage.removeItem(SESSION_KEY);
}

let unauthorizedHandler = () => {};

/** What to do when the server says the session is gone (401 on an authenticated call). */
export function onUnauthorized(handler) {
  unauthorizedHandler = handler;
}

// -- calls ---------------------------------------------------------------------

/**
 * POST /api/<path> with `body`. Resolves to the JSON answer; rejects with an ApiError.
 * `auth: false` for the public routes (register, login).
 */
export async function api(path, body = {}, { auth = true } = {}) {
  const headers = { "Content-Type": "application/json", Accept: "application/json" };
  if (auth) {
    const session = getSession();
    if (!session) {
      const error = new ApiError(401, { error: "please log in" });
      error.handled = true;
      unauthorizedHandler(error);
      throw error;
    }
    headers.Authorization = `Bearer ${session.token}`;
  }
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), TIMEOUT_MS);
  let response;
  try {
    response = await fetch(`/api/${path}`, {
      method: "POST",
      headers,
      body: JSON.stringify(body),
      signal: controller.signal,
      credentials: "same-origin",
    });
  } catch (cause) {
    const error = new ApiError(0, {
      error:
        cause?.name === "AbortError"
          ? "The server took too long to answer. Please try again."
          : "Can't reach the server. Check your connection and try again.",
    });
    throw error;
  } finally {
    clearTimeout(timer);
  }
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (!response.ok) {
    const error = new ApiError(
      response.status,
      data,
      retryAfterOf(data, response.headers.get("Retry-After")),
    );
    // A 401 without an errorKind is the session itself (unknown, expired, logged out);
    // with one (changePassword's wrong current password) it is the action's own answer.
    if (response.status === 401 && auth && !error.kind) {
      clearSession();
      error.handled = true;
      unauthorizedHandler(error);
    }
    throw error;
  }
  return data;
}

/** Runs `promise`; an error from it is tagged as concerning `field` (an input's data-field). */
export async function about(field, promise) {
  try {
    return await promise;
  } catch (error) {
    if (error instanceof ApiError && !error.field) error.field = field;
    throw error;
  }
}

/** Is the server in mock mode? The phone simulator answers GET /simulator/api/status there. */
export async function isMockMode() {
  try {
    const response = await fetch("/simulator/api/status", { headers: { Accept: "application/json" } });
    if (!response.ok) return false;
    const data = await response.json();
    return data?.mock === true;
  } catch {
    return false;
  }
}

/**
 * GET /api/<path> with the session token; resolves to the body as a Blob (a recording's
 * audio, which an <audio> element cannot fetch with the token itself); rejects with an ApiError.
 */
export async function apiBlob(path) {
  const session = getSession();
  if (!session) {
    const error = new ApiError(401, { error: "please log in" });
    error.handled = true;
    unauthorizedHandler(error);
    throw error;
  }
  let response;
  try {
    response = await fetch(`/api/${path}`, { headers: { Authorization: `Bearer ${session.token}` }, credentials: "same-origin" });
  } catch {
    throw new ApiError(0, { error: "Can't reach the server. Check your connection and try again." });
  }
  if (!response.ok) {
    let data = null;
    try {
      data = await response.json();
    } catch {
      data = null;
    }
    const error = new ApiError(response.status, data);
    if (response.status === 401 && !error.kind) {
      clearSession();
      error.handled = true;
      unauthorizedHandler(error);
    }
    throw error;
  }
  return response.blob();
}
