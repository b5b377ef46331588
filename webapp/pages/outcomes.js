// A call's state and outcomes in plain words, shared by Today and History so the two pages agree.

import { formatTime } from "../format.js";
import { h } from "../ui.js";

// What one attempt came to (CallScheduler's attemptLog / lastOutcome words). The provider
// reports a declined call as busy, so "busy" cannot tell the two apart; it says both.
const OUTCOMES = {
  NO_ANSWER: "No answer",
  BUSY: "You declined the call, or the line was busy",
  VOICEMAIL: "It went to voicemail",
  FAILED: "The call failed",
  HUNG_UP: "You hung up before the first prompt",
  LOST: "The call was cut off",
  NOT_CALLED: "We couldn't call: the service was down at your call time",
  ALREADY_REFLECTED: "Not needed: you had already reflected today",
  CANCELLED: "Cancelled",
  COMPLETED: "Answered",
};

/** "No answer", "It went to voicemail", ...: one attempt's outcome for a person. */
export function outcomeText(outcome) {
  return OUTCOMES[outcome] ?? "The call failed";
}

/** The same, to follow a colon or a comma in a sentence: "no answer", "it went to voicemail". */
export function outcomeInline(outcome) {
  const text = outcomeText(outcome);
  return text.charAt(0).toLowerCase() + text.slice(1);
}

/** The attempts of a scheduled call that were made, oldest first (a missed slot has none). */
export function attemptsOf(call) {
  return (call.attemptLog ?? []).filter((entry) => entry.outcome && entry.outcome !== "COMPLETED");
}

/** The attempts as a list: "09:00 · No answer", "09:05 · It went to voicemail" (null if none). */
export function attemptList(call, timeZone) {
  const tried = attemptsOf(call);
  if (!tried.length) return null;
  return h(
    "ol",
    { class: "attempts", "aria-label": "Attempts" },
    tried.map((entry) => h("li", {}, entry.at ? h("time", { datetime: entry.at }, formatTime(entry.at, timeZone)) : "", entry.at ? " · " : "", outcomeText(entry.outcome))),
  );
}

/**
 * The state of the user's call under way, from the scheduled call and its live phone call:
 * queued (waiting to dial, or to try again), ringing (dialled, not answered yet), on-call
 * (answered, prompts still to answer), finishing (every prompt answered: the goodbye, or the
 * call is over and being saved).
 */
export function liveState(current, phoneCall) {
  if (current.status === "PENDING") return "queued";
  const call = phoneCall && phoneCall.scheduledCall === current.scheduledCall ? phoneCall : null;
  if (current.status === "DIALING") return "ringing";
  if (!call) return "finishing"; // dialled, and its phone call has already ended
  if (call.status === "INITIATED") return "ringing";
  if (call.status === "IN_PROGRESS" && call.promptCount > 0 && call.answeredCount >= call.promptCount) return "finishing";
  return "on-call";
}

export const STATE_LABELS = {
  queued: { label: "Queued", tone: "info" },
  ringing: { label: "Ringing", tone: "info" },
  "on-call": { label: "On the call", tone: "success" },
  finishing: { label: "Finishing", tone: "info" },
  done: { label: "Done", tone: "success" },
  unfinished: { label: "Not finished", tone: "neutral" },
  missed: { label: "Missed", tone: "warning" },
  cancelled: { label: "Cancelled", tone: "neutral" },
};

/** "1 of 3 prompts answered" for a reflection (answers "" count: the prompt was asked). */
export function answeredCount(session) {
  const answered = session.prompts.filter((p) => p.answer !== null && p.answer !== undefined && p.answer !== "").length;
  return `${answered} of ${session.prompts.length} prompt${session.prompts.length === 1 ? "" : "s"} answered`;
}

// Why a reflection was left unfinished (ReflectionSession's abandon reasons), for a person.
const UNFINISHED = {
  "caller hung up": "You hung up before the last prompt",
  "the call failed": "The call dropped",
  "the call failed on our side": "The call ended because of a problem on our side",
  "the call was cancelled": "The call was cancelled",
  "the call was lost": "The call was cut off",
  "the call ended": "The call ended before the last prompt",
  "discarded in the web app": "You discarded it",
};

/** "You hung up before the last prompt (1 of 3 prompts answered)." */
export function unfinishedText(session) {
  const why = UNFINISHED[session.abandonReason] ?? "It ended before the last prompt";
  return `${why} (${answeredCount(session)}).`;
}

/** "just now", "2 minutes ago", "1 hour ago": how long ago `value` was, at `now`. */
export function timeAgo(value, now = Date.now()) {
  const seconds = Math.max(0, (now - Date.parse(value)) / 1000);
  if (seconds < 45) return "just now";
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return `${minutes} minute${minutes === 1 ? "" : "s"} ago`;
  const hours = Math.floor(minutes / 60);
  return `${hours} hour${hours === 1 ? "" : "s"} ago`;
}
