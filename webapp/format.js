// Dates and times, always in the user's own time zone (the profile's), never the browser's by accident,
// and all in one format, the reader's locale's; phone numbers grouped as phonenumbers groups them.

import { PHONE_FORMATS } from "./phone-formats.js";

const FALLBACK_ZONES = [
  "UTC", "Africa/Cairo", "Africa/Johannesburg", "Africa/Lagos", "Africa/Nairobi",
  "America/Anchorage", "America/Argentina/Buenos_Aires", "America/Bogota", "America/Chicago",
  "America/Denver", "America/Halifax", "America/Los_Angeles", "America/Mexico_City",
  "America/New_York", "America/Phoenix", "America/Sao_Paulo", "America/St_Johns", "America/Toronto",
  "Asia/Bangkok", "Asia/Dubai", "Asia/Hong_Kong", "Asia/Jakarta", "Asia/Jerusalem", "Asia/Karachi",
  "Asia/Kolkata", "Asia/Manila", "Asia/Seoul", "Asia/Shanghai", "Asia/Singapore", "Asia/Tokyo",
  "Atlantic/Reykjavik", "Australia/Adelaide", "Australia/Brisbane", "Australia/Perth",
  "Australia/Sydney", "Europe/Amsterdam", "Europe/Athens", "Europe/Berlin", "Europe/Dublin",
  "Europe/Istanbul", "Europe/Lisbon", "Europe/London", "Europe/Madrid", "Europe/Moscow",
  "Europe/Paris", "Europe/Rome", "Europe/Stockholm", "Europe/Warsaw", "Europe/Zurich",
  "Pacific/Auckland", "Pacific/Honolulu",
];

export function browserTimeZone() {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  } catch {
    return "UTC";
  }
}

/** Every zone the browser knows, plus UTC and `extra` (e.g. the profile's), sorted. */
export function timeZones(...extra) {
  let zones = [];
  try {
    zones = Intl.supportedValuesOf("timeZone");
  } catch {
    zones = [];
  }
  if (!zones.length) zones = FALLBACK_ZONES;
  return Array.from(new Set([...zones, "UTC", ...extra.filter(Boolean)])).sort();
}

/** "America/Argentina/Buenos_Aires" -> "America / Argentina / Buenos Aires" */
export function zoneLabel(zone) {
  return String(zone).replaceAll("_", " ").replaceAll("/", " / ");
}

const cache = new Map();

function formatter(timeZone, options) {
  const key = JSON.stringify([timeZone, options]);
  if (!cache.has(key)) {
    let fmt;
    try {
      fmt = new Intl.DateTimeFormat(undefined, { timeZone, ...options });
    } catch {
      fmt = new Intl.DateTimeFormat(undefined, options);
    }
    cache.set(key, fmt);
  }
  return cache.get(key);
}

function toDate(value) {
  return value instanceof Date ? value : new Date(value);
}

/** "2026-11-25": the calendar day of `value` in `timeZone`. */
export function dayKey(value, timeZone) {
  const parts = formatter(timeZone, { year: "numeric", month: "2-digit", day: "2-digit" }).formatToParts(toDate(value));
  const get = (type) => parts.find((p) => p.type === type)?.value ?? "";
  return `${get("year")}-${get("month")}-${get("day")}`;
}

// Every clock time on a page uses these options, so "19:30" never stands beside "07:30 PM".
const TIME = { hour: "2-digit", minute: "2-digit" };

export function formatTime(value, timeZone) {
  return formatter(timeZone, TIME).format(toDate(value));
}

/** A wall-clock "HH:MM" (a schedule's time, no day or zone) in the reader's format: "19:30", "07:30 PM". */
export function clockTime(hhmm) {
  const match = /^(\d{1,2}):(\d{2})/.exec(String(hhmm ?? ""));
  if (!match) return String(hhmm ?? "");
  return formatter("UTC", TIME).format(new Date(Date.UTC(2000, 0, 1, Number(match[1]), Number(match[2]))));
}

/** "Wednesday, 25 November 2026" */
export function formatDay(value, timeZone) {
  return formatter(timeZone, { weekday: "long", day: "numeric", month: "long", year: "numeric" }).format(toDate(value));
}

/** "Wednesday, 25 November 2026 at 15:36" (locale-dependent) */
export function formatDateTime(value, timeZone) {
  return formatter(timeZone, { dateStyle: "full", timeStyle: "short" }).format(toDate(value));
}

/** "today at 09:00", "tomorrow at 09:00", "Thursday 3 December at 09:00" */
export function describeWhen(value, timeZone, now = new Date()) {
  const date = toDate(value);
  const time = formatTime(date, timeZone);
  const day = dayKey(date, timeZone);
  if (day === dayKey(now, timeZone)) return `today at ${time}`;
  if (day === dayKey(new Date(now.getTime() + 86400000), timeZone)) return `tomorrow at ${time}`;
  if (day === dayKey(new Date(now.getTime() - 86400000), timeZone)) return `yesterday at ${time}`;
  const dayText = formatter(timeZone, { weekday: "long", day: "numeric", month: "long" }).format(date);
  return `${dayText} at ${time}`;
}

export const RATINGS = [
  { value: -2, label: "Very hard" },
  { value: -1, label: "Hard" },
  { value: 0, label: "Okay" },
  { value: 1, label: "Good" },
  { value: 2, label: "Wonderful" },
];

export function ratingLabel(value) {
  const found = RATINGS.find((r) => r.value === value);
  if (!found) return "";
  const sign = value > 0 ? `+${value}` : String(value);
  return `${found.label} (${sign})`;
}

export const WEEKDAYS = [
  { key: "mon", label: "Monday" },
  { key: "tue", label: "Tuesday" },
  { key: "wed", label: "Wednesday" },
  { key: "thu", label: "Thursday" },
  { key: "fri", label: "Friday" },
  { key: "sat", label: "Saturday" },
  { key: "sun", label: "Sunday" },
];

export const WINDOW_START = "08:00";
export const WINDOW_END = "21:00";

/** Is "HH:MM" inside the 08:00–21:00 calling window (both ends included)? */
export function insideWindow(time) {
  return typeof time === "string" && time >= WINDOW_START && time <= WINDOW_END;
}

/** The calling window in the reader's format: "08:00–21:00" or "08:00 AM–09:00 PM". */
export function windowText() {
  return `${clockTime(WINDOW_START)}–${clockTime(WINDOW_END)}`;
}

/**
 * "+14155552671" -> "+1 415-555-2671": an E.164 number grouped as phonenumbers'
 * INTERNATIONAL format groups it, from its metadata (phone-formats.js, generated). Anything
 * else, or a number no format fits, is shown as it is.
 */
export function formatPhone(number) {
  const text = String(number ?? "");
  if (!/^\+[1-9]\d{1,14}$/.test(text)) return text;
  for (const size of [1, 2, 3]) {
    const code = text.slice(1, 1 + size);
    const formats = PHONE_FORMATS[code];
    if (!formats) continue; // calling codes are prefix-free: at most one length fits
    const national = text.slice(1 + size);
    for (const [pattern, format, leading] of formats) {
      if (leading !== null && !new RegExp(`^(?:${leading})`).test(national)) continue;
      const whole = new RegExp(`^(?:${pattern})$`);
      if (whole.test(national)) return `+${code} ${national.replace(whole, format)}`;
    }
    return `+${code} ${national}`;
  }
  return text;
}

/** "in 45 seconds", "in 2 minutes": a wait of `seconds`, rounded up as a person says it. */
export function waitInWords(seconds) {
  const s = Math.max(1, Math.ceil(seconds));
  if (s < 60) return `in ${s} second${s === 1 ? "" : "s"}`;
  if (s < 3600) {
    const m = Math.ceil(s / 60);
    return `in ${m} minute${m === 1 ? "" : "s"}`;
  }
  const hours = Math.ceil(s / 3600);
  return `in ${hours} hour${hours === 1 ? "" : "s"}`;
}

/**
 * The message for a 429 that says how long to wait: "Too many attempts. Try again in
 * 2 minutes (at 20:35)." The moment is shown in `timeZone` (the browser's, by default:
 * the login page knows no profile), never as UTC; waits under a minute give no clock time.
 */
export function retryMessage(seconds, now = new Date(), timeZone = browserTimeZone()) {
  const when = waitInWords(seconds);
  if (seconds < 60) return `Too many attempts. Try again ${when}.`;
  const at = formatTime(new Date(now.getTime() + Math.ceil(seconds) * 1000), timeZone);
  return `Too many attempts. Try again ${when} (at ${at}).`;
}
