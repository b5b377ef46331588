// The web app: routing between pages, the signed-in user's profile, and the navigation.

import { api, clearSession, getSession, isMockMode, onUnauthorized } from "./api.js";
import { announce, clearUnsavedGuards, confirmDialog, h, loading, notice, unsavedChanges } from "./ui.js";
import * as auth from "./pages/auth.js";
import * as landing from "./pages/landing.js";
import * as resetPage from "./pages/reset.js";
import * as welcome from "./pages/welcome.js";
import * as todayPage from "./pages/today.js";
import * as historyPage from "./pages/history.js";
import * as accountPage from "./pages/account.js";
import * as calendarPage from "./pages/calendar.js";
import * as weekPage from "./pages/week.js";
import * as searchPage from "./pages/search.js";

const APP_NAME = "Daily Reflection";

// path -> [page module, title, needs a session, needs a profile]
const ROUTES = {
  "/": { page: landing, title: "A short phone call each day", session: false },
  "/login": { page: auth, mode: "login", title: "Log in", session: false },
  "/signup": { page: auth, mode: "signup", title: "Create an account", session: false },
  "/reset": { page: resetPage, title: "Reset your password", session: false },
  "/welcome": { page: welcome, title: "Welcome", session: true, profile: false },
  "/today": { page: todayPage, title: "Today", session: true, profile: true },
  "/history": { page: historyPage, title: "History", session: true, profile: true },
  "/search": { page: searchPage, title: "Search", session: true, profile: true },
  "/account": { page: accountPage, title: "Account", session: true, profile: true },
  "/calendar": { page: calendarPage, title: "Calendar", session: true, profile: true, nav: "/history" },
  "/week": { page: weekPage, title: "Your week", session: true, profile: true, nav: "/history" },
};

const state = {
  profile: undefined, // undefined: not loaded; null: the user has none yet
  flash: null, // {message, tone} shown once at the top of the next page
  cleanup: null, // the current page's teardown (timers)
  renderId: 0,
  path: null, // the path of the page shown (a hash change within it is no navigation)
  search: "", // and its query (/calendar?month=...: another month is another page)
};

const main = document.getElementById("main");
const nav = document.getElementById("nav");

function flash(message, tone = "info") {
  state.flash = { message, tone };
}

/** What the page would lose by leaving; true if nothing, or the person chose to leave anyway. */
async function mayLeave() {
  const lost = unsavedChanges();
  if (!lost.length) return true;
  return confirmDialog({
    title: "Leave without saving?",
    message: `You have changed ${lost.join(" and ")} without saving. If you leave this page, the changes are lost.`,
    confirmLabel: "Leave without saving",
    cancelLabel: "Stay on this page",
    danger: true,
  });
}

/**
 * Goes to `path` in the app. Unsaved edits are asked about first (`force` skips that, for
 * redirects and a session that ended). `state` is kept with the history entry.
 */
export async function navigate(path, { replace = false, force = false, state: entry = null } = {}) {
  const url = new URL(path, location.origin);
  if (!force && !(await mayLeave())) return;
  if (url.origin !== location.origin || !(url.pathname in ROUTES)) {
    location.assign(url.href);
    return;
  }
  if (replace) history.replaceState(entry, "", url.pathname + url.search + url.hash);
  else history.pushState(entry, "", url.pathname + url.search + url.hash);
  render();
}

/** A page of the app that needs a session, as a path to come back to after logging in. */
function returnPath(value) {
  if (typeof value !== "string" || !value.startsWith("/") || value.startsWith("//")) return null;
  const url = new URL(value, location.origin);
  const route = ROUTES[url.pathname];
  return url.origin === location.origin && route?.session ? url.pathname + url.search + url.hash : null;
}

/** Log in first, then come back here. */
function toLogin(options = {}) {
  const next = returnPath(location.pathname + location.search + location.hash);
  navigate("/login", { ...options, force: true, state: next ? { next } : null });
}

async function loadProfile() {
  const rows = await api("Profile/_getProfile");
  state.profile = rows.length ? rows[0] : null;
  return state.profile;
}

function setProfile(profile) {
  state.profile = profile;
}

function updateNav(path, signedIn) {
  nav.hidden = !signedIn;
  for (const link of nav.querySelectorAll("a[data-route]")) {
    if (link.getAttribute("href") === path) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

function focusHeading(view) {
  const heading = view.querySelector("h1");
  if (!heading) return;
  heading.setAttribute("tabindex", "-1");
  heading.focus({ preventScroll: true });
}

async function render() {
  const renderId = ++state.renderId;
  if (state.cleanup) {
    try {
      state.cleanup();
    } catch (error) {
      console.error(error);
    }
    state.cleanup = null;
  }
  clearUnsavedGuards();
  const path = location.pathname.replace(/\/+$/, "") || "/";
  const session = getSession();
  const route = ROUTES[path];
  state.path = null;
  if (!route) {
    navigate(session ? "/today" : "/", { replace: true, force: true });
    return;
  }
  if (route.session && !session) {
    toLogin({ replace: true });
    return;
  }
  if (!route.session && session) {
    navigate("/today", { replace: true, force: true });
    return;
  }
  state.path = path;
  state.search = location.search;
  if (path !== location.pathname) history.replaceState(history.state, "", path + location.search + location.hash);

  const view = h("div", { class: "view" });
  main.replaceChildren(view);
  updateNav(route.nav ?? path, Boolean(session) && route.profile !== false);

  if (route.session) {
    if (state.profile === undefined) {
      view.append(loading());
      try {
        await loadProfile();
      } catch (error) {
        if (renderId !== state.renderId || error.handled) return;
        view.replaceChildren(notice("error", error.message), h("button", { type: "button", class: "btn btn-secondary", onclick: () => render() }, "Try again"));
        return;
      }
      if (renderId !== state.renderId) return;
      view.replaceChildren();
    }
    if (route.profile && state.profile === null) {
      navigate("/welcome", { replace: true, force: true });
      return;
    }
    if (route.profile === false && state.profile) {
      navigate("/today", { replace: true, force: true });
      return;
    }
  }

  document.title = `${route.title} · ${APP_NAME}`;
  if (state.flash) {
    const { message, tone } = state.flash;
    state.flash = null;
    const shown = notice(tone, message);
    shown.classList.add("flash"); // a page may take it down once it no longer holds
    view.append(shown);
  }
  const ctx = {
    session: getSession(),
    profile: state.profile,
    mode: route.mode,
    next: returnPath(history.state?.next), // the page a login was asked for
    navigate,
    flash,
    setProfile,
    loadProfile,
    signedIn() {
      state.profile = undefined;
    },
    signedOut(message, tone = "info") {
      clearSession();
      state.profile = undefined;
      if (message) flash(message, tone);
      navigate("/login", { force: true });
    },
    isCurrent: () => renderId === state.renderId,
    onLeave(fn) {
      const previous = state.cleanup;
      state.cleanup = () => {
        if (previous) previous();
        fn();
      };
    },
  };
  try {
    await route.page.render(view, ctx);
  } catch (error) {
    if (error?.handled || renderId !== state.renderId) return;
    console.error(error);
    view.append(notice("error", error?.message || "Something went wrong while showing this page."));
    return;
  }
  if (renderId !== state.renderId) return;
  if (location.hash) {
    const target = document.getElementById(location.hash.slice(1));
    if (target) {
      target.scrollIntoView();
      const heading = target.querySelector("h2");
      if (heading) {
        heading.setAttribute("tabindex", "-1");
        heading.focus({ preventScroll: true });
      }
      return;
    }
  }
  if (state.hasNavigated) focusHeading(view);
  state.hasNavigated = true;
}

// Same-origin links to our own pages are handled here, without reloading.
document.addEventListener("click", (event) => {
  if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  const link = event.target.closest("a[href]");
  if (!link || link.target || link.hasAttribute("download")) return;
  const url = new URL(link.href, location.origin);
  if (url.origin !== location.origin || !(url.pathname in ROUTES)) return;
  event.preventDefault();
  if (url.pathname === location.pathname && url.search === location.search && url.hash) {
    history.pushState(null, "", url.pathname + url.search + url.hash);
    document.getElementById(url.hash.slice(1))?.scrollIntoView();
    return;
  }
  navigate(url.pathname + url.search + url.hash);
});

// Back and forward: a hash within the page shown only scrolls; leaving a page with unsaved
// edits puts the page back until the person chooses to leave.
window.addEventListener("popstate", async () => {
  if (state.path && location.pathname === state.path && location.search === state.search) {
    if (location.hash) document.getElementById(location.hash.slice(1))?.scrollIntoView();
    return;
  }
  if (state.path && unsavedChanges().length) {
    const target = location.pathname + location.search + location.hash;
    history.pushState(null, "", state.path);
    if (!(await mayLeave())) return;
    navigate(target, { force: true });
    return;
  }
  render();
});

// Reloading or closing the tab: the browser's own question is the only one allowed there.
window.addEventListener("beforeunload", (event) => {
  if (!unsavedChanges().length) return;
  event.preventDefault();
  event.returnValue = "";
});

onUnauthorized((error) => {
  const message =
    error.status === 401 && error.message && !/please log in/i.test(error.message)
      ? error.message
      : "Please log in to continue.";
  state.profile = undefined;
  flash(message, "warning");
  if (location.pathname !== "/login") toLogin();
  else render();
});

// The phone simulator exists only in mock mode; show its link only then.
isMockMode().then((mock) => {
  const item = document.getElementById("nav-simulator");
  if (item) item.hidden = !mock;
});

window.addEventListener("unhandledrejection", (event) => {
  if (event.reason?.handled) {
    event.preventDefault();
    return;
  }
  announce("Something went wrong. Please try again.", "error");
});

render();
