// The phone simulator page (mock mode only): the phone that rings when the worker dials you.
// Plain ES module, no build. It polls /simulator/api (see services/phone_simulator_routes.py)
// with the web app's session token and never renders server text as HTML.

const TOKEN_KEY = "reflection.token"; // the session token, shared with the web app
const SESSION_KEY = "reflection.session"; // or the web app's {token, expiresAt, user}
const READ_ALOUD_KEY = "reflection.simulator.readAloud";
const API = "/simulator/api";
const TICK_MS = 500; // the call on screen is polled every tick, the inbox every other tick
const HIDDEN_TICK_MS = 2000;
const SCREENS = ["idle", "incoming", "call", "ended"];

const $ = (id) => document.getElementById(id);

const state = {
  token: null,
  inbox: null,
  shownSid: null, // the call on the phone's screen
  call: null, // its latest detailed view
  dismissed: new Set(), // ended calls closed with "Done"
  lines: new Map(), // sid -> transcript lines already rendered
  focusedRing: null, // sid whose Answer button got focus
  sending: false,
  wasListening: false,
  running: false,
  generation: 0, // bumped on each (re)start, so only the newest polling loop runs
  replyTo: null, // the sid of the newest text the service sent (a reply goes to it)
};

class Unauthorized extends Error {}

class ApiFailure extends Error {
  constructor(message, status) {
    super(message);
    this.status = status;
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function request(method, path, body) {
  const headers = { Authorization: `Bearer ${state.token}`, Accept: "application/json" };
  const init = { method, headers, cache: "no-store" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(API + path, init);
  } catch {
    throw new Error("Cannot reach the server; retrying…");
  }
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (response.status === 401) throw new Unauthorized(data?.error ?? "log in again");
  if (!response.ok) {
    throw new ApiFailure(data?.error ?? `The server answered ${response.status}`, response.status);
  }
  return data;
}

// -- messages to the user ------------------------------------------------------------------

let errorTimer = null;

function showError(message) {
  const box = $("error");
  box.textContent = message;
  box.hidden = false;
  clearTimeout(errorTimer);
  errorTimer = setTimeout(() => {
    box.hidden = true;
  }, 6000);
}

function clearError() {
  $("error").hidden = true;
}

const time = (iso) =>
  new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });

function describeEnd(call) {
  const status = call.finalStatus ?? call.status;
  if (call.decision === "voicemail") return "It went to voicemail. The service will try again later.";
  switch (status) {
    case "completed":
      if (call.endedBy === "callee") return `You hung up after ${call.durationS ?? 0} s.`;
      if (call.endedBy === "error") return "The call ended with an application error (see the server log).";
      return `The service said goodbye after ${call.durationS ?? 0} s.`;
    case "busy":
      return "You declined the call. The service will try again later.";
    case "no-answer":
      return "Nobody answered. The service will try again later.";
    case "canceled":
      return "The call was cancelled before it was answered.";
    case "failed":
      return "The call failed.";
    case "interrupted":
      return "The server stopped during the call.";
    default:
      return `The call ended (${status}).`;
  }
}

// How a call in "Recent calls" ended, in plain words (a voicemail is "completed" to Twilio).
function endedWord(call) {
  if (call.decision === "voicemail") return "voicemail";
  const status = call.finalStatus ?? call.status;
  const words = { busy: "declined", "no-answer": "no answer", canceled: "cancelled", failed: "failed", interrupted: "interrupted" };
  if (status === "completed") return call.endedBy === "callee" ? "you hung up" : "completed";
  return words[status] ?? status;
}

// -- rendering -------------------------------------------------------------------------------

function showOnly(screen) {
  for (const name of SCREENS) $(name).hidden = name !== screen;
}

function signedOut() {
  state.running = false;
  $("loading").hidden = true;
  $("signed-out").hidden = false;
  for (const id of ["phone", "inbox", "history"]) $(id).hidden = true;
}

function renderInbox() {
  const inbox = state.inbox;
  $("numbers").textContent = inbox.numbers.length ? inbox.numbers.join(", ") : "none yet (add one in the app)";

  const list = $("messages");
  list.replaceChildren(
    ...inbox.messages.map((sms) => {
      const item = document.createElement("li");
      const meta = document.createElement("p");
      meta.className = "meta";
      const when = document.createElement("time");
      when.dateTime = sms.createdAt;
      when.textContent = time(sms.createdAt);
      if (sms.direction === "inbound") {
        item.className = "mine";
        meta.append(when, ` · you replied from ${sms.from}`);
      } else {
        meta.append(when, sms.direction === "reply" ? ` · the service answered ${sms.to}` : ` · to ${sms.to}`);
      }
      const body = document.createElement("p");
      body.className = "body";
      body.textContent = sms.body;
      item.append(meta, body);
      if (sms.code) {
        const row = document.createElement("p");
        row.className = "code-row";
        const code = document.createElement("strong");
        code.className = "code";
        code.textContent = sms.code;
        const copy = document.createElement("button");
        copy.type = "button";
        copy.textContent = "Copy code";
        copy.setAttribute("aria-label", `Copy code ${sms.code}`);
        copy.addEventListener("click", async () => {
          try {
            await navigator.clipboard.writeText(sms.code);
            copy.textContent = "Copied";
          } catch {
            showError("Copying is not allowed here; select the code instead.");
          }
        });
        row.append("Code: ", code, " ", copy);
        item.append(row);
      }
      return item;
    }),
  );
  $("no-messages").hidden = inbox.messages.length > 0;
  // replies go to the newest text the service sent (never to one of your own)
  state.replyTo = inbox.messages.find((sms) => sms.direction !== "inbound")?.sid ?? null;
  $("text-reply").hidden = state.replyTo === null;

  const calls = $("calls");
  calls.replaceChildren(
    ...inbox.calls.slice(0, 8).map((call) => {
      const item = document.createElement("li");
      const when = document.createElement("time");
      when.dateTime = call.createdAt;
      when.textContent = time(call.createdAt);
      const what = document.createElement("span");
      what.textContent = ` · to ${call.to} · `;
      const status = document.createElement("span");
      status.className = `status status-${call.phase}`;
      status.textContent = call.phase === "ended" ? endedWord(call) : call.phase;
      item.append(when, what, status);
      return item;
    }),
  );
  $("no-calls").hidden = inbox.calls.length > 0;
}

function inboxCall(sid) {
  return state.inbox?.calls.find((call) => call.sid === sid) ?? null;
}

function render() {
  const call = state.call?.sid === state.shownSid ? state.call : inboxCall(state.shownSid);
  if (!state.shownSid || !call) {
    showOnly("idle");
    return;
  }
  if (call.phase === "ringing" || call.phase === "ending") renderIncoming(call);
  else if (call.phase === "ended") renderEnded(call);
  else renderCall(call);
}

function renderIncoming(call) {
  showOnly("incoming");
  $("incoming-from").textContent = `${call.from} is calling ${call.to}`;
  const pending = call.phase === "ending";
  for (const id of ["answer", "decline", "ignore", "voicemail"]) $(id).disabled = pending;
  if (pending) {
    const label = { busy: "Declining", "no-answer": "Letting it ring out", voicemail: "Sending to voicemail" };
    $("incoming-timer").textContent = `${label[call.decision] ?? "Ending"}…`;
  } else {
    const left = Math.max(0, Math.round((new Date(call.ringsUntil) - Date.now()) / 1000));
    $("incoming-timer").textContent = `Rings for about ${left} s more, then counts as no answer.`;
  }
  if (!pending && state.focusedRing !== call.sid) {
    state.focusedRing = call.sid;
    $("answer").focus();
  }
}

function appendLines(list, sid, lines, { speak }) {
  const done = state.lines.get(list.id + sid) ?? 0;
  if (done > lines.length || list.dataset.sid !== sid) {
    list.replaceChildren();
    list.dataset.sid = sid;
    state.lines.set(list.id + sid, 0);
    return appendLines(list, sid, lines, { speak: false });
  }
  for (const line of lines.slice(done)) {
    const item = document.createElement("li");
    item.className = `line ${line.speaker}`;
    const who = document.createElement("span");
    who.className = "who";
    who.textContent = line.speaker === "service" ? "Service" : line.speaker === "you" ? "You" : "";
    const text = document.createElement("span");
    text.className = "text";
    text.textContent = line.text;
    item.append(who, text);
    list.append(item);
    if (speak && line.speaker === "service") readAloud(line.text);
  }
  state.lines.set(list.id + sid, lines.length);
  if (lines.length > done) list.lastElementChild?.scrollIntoView({ block: "nearest" });
}

function renderCall(call) {
  const wasHidden = $("call").hidden;
  showOnly("call");
  $("call-peer").textContent = call.from;
  appendLines($("transcript"), call.sid, call.transcript ?? [], { speak: true });
  let status;
  if (call.phase === "connecting") status = "Connecting…";
  else if (!call.transcriptAvailable) status = "This call is played by another server process.";
  else if (call.streaming) status = "Streaming — speak or type at any time; the service keeps its own pauses.";
  else if (call.listening) status = "Listening — say (type) your answer.";
  else status = "The service is speaking…";
  if ($("call-status").textContent !== status) $("call-status").textContent = status;
  $("call-clock").textContent = call.listening && call.listenRemainingS != null ? `${Math.ceil(call.listenRemainingS)} s left` : "";
  const live = call.phase === "live";
  $("send").disabled = !live || state.sending;
  $("silence").disabled = !live || !call.listening || state.sending || Boolean(call.streaming);
  for (const key of $("keypad").querySelectorAll("button")) key.disabled = !live || state.sending;
  if (wasHidden || (call.listening && !state.wasListening)) {
    if (live) $("reply-text").focus();
  }
  state.wasListening = Boolean(call.listening);
}

function renderEnded(call) {
  stopListening();
  if ($("transcript").dataset.sid === call.sid) {
    // the last lines (the goodbye) arrive with the end: still read them aloud
    appendLines($("transcript"), call.sid, call.transcript ?? [], { speak: true });
  }
  showOnly("ended");
  $("ended-summary").textContent = describeEnd(call);
  const lines = call.transcript ?? [];
  $("ended-details").hidden = lines.length === 0;
  appendLines($("ended-transcript"), call.sid, lines, { speak: false });
}

// -- reading aloud (speechSynthesis) and listening (SpeechRecognition) ---------------------

function readAloud(text) {
  if (!$("read-aloud").checked || !("speechSynthesis" in window)) return;
  window.speechSynthesis.speak(new SpeechSynthesisUtterance(text));
}

const Recognition = window.SpeechRecognition ?? window.webkitSpeechRecognition;
let recognizer = null;

function setMic(on) {
  $("mic").setAttribute("aria-pressed", String(on));
  $("mic").textContent = on ? "Stop listening" : "Speak";
  $("mic").classList.toggle("recording", on);
}

function stopListening() {
  if (!recognizer) return;
  recognizer.discard = true; // the call is over: do not send what was heard
  recognizer.abort();
}

// Streaming (ConversationRelay): interim results go out as partial prompts, one request
// at a time; the newest text waiting while one is in flight is sent after it.
const partials = { inFlight: false, waiting: null, last: "" };

function streamPartial(text) {
  const said = text.trim();
  if (!said || said === partials.last || !state.shownSid) return;
  if (partials.inFlight) {
    partials.waiting = said;
    return;
  }
  partials.inFlight = true;
  partials.last = said;
  request("POST", `/calls/${state.shownSid}/partial`, { text: said })
    .catch(() => {}) // a lost partial is harmless: the final follows
    .finally(() => {
      partials.inFlight = false;
      const next = partials.waiting;
      partials.waiting = null;
      if (next) streamPartial(next);
    });
}

function toggleMic() {
  if (recognizer) {
    recognizer.stop();
    return;
  }
  let heard = "";
  partials.last = "";
  recognizer = new Recognition();
  recognizer.lang = navigator.language || "en-US";
  recognizer.interimResults = true;
  recognizer.continuous = false;
  recognizer.maxAlternatives = 1;
  recognizer.onresult = (event) => {
    let text = "";
    let final = true;
    for (const result of event.results) {
      text += result[0].transcript;
      final = result.isFinal;
    }
    $("reply-text").value = text;
    if (final) heard = text;
    else if (state.call?.streaming) streamPartial(text);
  };
  recognizer.onerror = (event) => {
    if (event.error === "no-speech" || event.error === "aborted") return;
    const why = event.error === "not-allowed" ? "microphone access was refused" : event.error;
    showError(`Speech recognition stopped: ${why}. You can type instead.`);
  };
  recognizer.onend = (event) => {
    const discard = event.target.discard;
    recognizer = null;
    setMic(false);
    if (heard.trim() && !discard) send(heard);
  };
  recognizer.start();
  setMic(true);
}

// -- actions -----------------------------------------------------------------------------------

async function act(path, body) {
  if (!state.shownSid) return false;
  state.sending = true;
  render();
  try {
    state.call = await request("POST", `/calls/${state.shownSid}/${path}`, body);
    clearError();
    return true;
  } catch (error) {
    if (error instanceof Unauthorized) signedOut();
    else showError(error.message);
    return false;
  } finally {
    state.sending = false;
    render();
  }
}

async function send(text) {
  const said = text.trim();
  if (!said) {
    $("reply-text").focus();
    return;
  }
  if (await act("say", { text: said })) $("reply-text").value = "";
}

function wire() {
  $("answer").addEventListener("click", () => act("answer"));
  $("decline").addEventListener("click", () => act("decline"));
  $("ignore").addEventListener("click", () => act("ignore"));
  $("voicemail").addEventListener("click", () => act("voicemail"));
  $("silence").addEventListener("click", () => act("silence"));
  for (const key of $("keypad").querySelectorAll("button")) {
    key.addEventListener("click", () => act("key", { key: key.dataset.key }));
  }
  $("hangup").addEventListener("click", () => act("hangup"));
  $("reply").addEventListener("submit", (event) => {
    event.preventDefault();
    send($("reply-text").value);
  });
  $("reply-text").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      $("reply").requestSubmit();
    }
  });
  $("text-reply").addEventListener("submit", async (event) => {
    event.preventDefault();
    const input = $("text-reply-text");
    const text = input.value.trim();
    if (!text || !state.replyTo) return;
    $("text-send").disabled = true;
    try {
      await request("POST", `/messages/${state.replyTo}/reply`, { text });
      input.value = "";
      await refresh();
    } catch (error) {
      showError(error.message);
    } finally {
      $("text-send").disabled = false;
    }
  });
  $("done").addEventListener("click", () => {
    state.dismissed.add(state.shownSid);
    state.shownSid = null;
    state.call = null;
    render();
    refresh().catch(() => {});
  });
  if (Recognition) {
    $("mic").hidden = false;
    $("mic").addEventListener("click", toggleMic);
  }
  const readAloudBox = $("read-aloud");
  if ("speechSynthesis" in window) {
    readAloudBox.checked = localStorage.getItem(READ_ALOUD_KEY) === "1";
    readAloudBox.addEventListener("change", () => {
      localStorage.setItem(READ_ALOUD_KEY, readAloudBox.checked ? "1" : "0");
      if (!readAloudBox.checked) window.speechSynthesis.cancel();
    });
  } else {
    readAloudBox.closest("label").hidden = true;
  }
  window.addEventListener("storage", (event) => {
    if (event.key === TOKEN_KEY || event.key === SESSION_KEY) start();
  });
}

function storedToken() {
  const token = localStorage.getItem(TOKEN_KEY);
  if (token) return token;
  try {
    const session = JSON.parse(localStorage.getItem(SESSION_KEY) || "null");
    const expired = session?.expiresAt && Date.parse(session.expiresAt) <= Date.now();
    if (typeof session?.token === "string" && !expired) return session.token;
  } catch {
    // not JSON: no session
  }
  return null;
}

// -- polling -----------------------------------------------------------------------------------

async function refresh({ withInbox = true } = {}) {
  if (withInbox || !state.inbox) {
    state.inbox = await request("GET", "/inbox");
    renderInbox();
    // show the ringing / live call; an ended one stays on screen until "Done" or a new call
    const active = state.inbox.active;
    const shown = state.shownSid;
    const shownEnded = state.call?.sid === shown ? state.call.ended : inboxCall(shown)?.phase === "ended";
    if (active && !state.dismissed.has(active) && (!shown || (active !== shown && shownEnded))) {
      state.shownSid = active;
      state.call = null;
    }
  }
  const settled = state.call?.sid === state.shownSid && state.call?.ended;
  if (state.shownSid && !settled) {
    try {
      state.call = await request("GET", `/calls/${state.shownSid}`);
      const listed = inboxCall(state.call.sid);
      if (listed && listed.phase !== state.call.phase) {
        Object.assign(listed, state.call); // keep "Recent calls" in step with the phone
        renderInbox();
      }
    } catch (error) {
      if (!(error instanceof ApiFailure && error.status === 404)) throw error;
      state.shownSid = null; // gone (deleted account, pruned): back to the idle phone
      state.call = null;
    }
  }
  render();
}

async function loop(generation) {
  let tick = 0;
  while (state.running && generation === state.generation) {
    try {
      await refresh({ withInbox: tick % 2 === 0 });
      if ($("error").textContent.startsWith("Cannot reach")) clearError();
    } catch (error) {
      if (error instanceof Unauthorized) {
        signedOut();
        return;
      }
      showError(error.message);
    }
    tick += 1;
    await sleep(document.hidden ? HIDDEN_TICK_MS : TICK_MS);
  }
}

function start() {
  const token = storedToken();
  if (token !== state.token) {
    // another user (or a new session): forget what the previous one saw
    Object.assign(state, { inbox: null, shownSid: null, call: null, focusedRing: null });
    state.dismissed.clear();
    state.lines.clear();
  }
  state.token = token;
  if (!state.token) {
    signedOut();
    return;
  }
  $("loading").hidden = true;
  $("signed-out").hidden = true;
  for (const id of ["phone", "inbox", "history"]) $(id).hidden = false;
  state.running = true;
  state.generation += 1;
  loop(state.generation);
}

wire();
start();
