"""Which actions and queries are reachable over HTTP, and as whom.

Nothing is reachable unless declared here. Three kinds:

- ``public(Accounts.register)``: anyone may call it (sign-up, log-in).
- ``authenticated(Profile.update)``: the caller's bearer token is resolved to a
  user by the app's authenticator and passed as the ``user`` input; a body that
  tries to name a user is refused. One line per endpoint.
- ``client="client"`` on ``public`` or ``authenticated``: the caller's network
  address (the connection's, as the server sees it) is passed as that input, for
  actions that throttle per client (``public(Accounts.login, client="client")``);
  a body that sends it is refused, as for ``user``.
- ``requested("/History/list", auth=True)``: the request becomes a
  ``Requesting.request`` action that syncs answer with ``Requesting.respond``.
"""

from __future__ import annotations

from typing import Any

import attrs

from .._sync import ActionPattern, QueryPattern


@attrs.frozen
class Exposure:
    kind: str  # "public" | "authenticated" | "requested"
    auth: bool
    concept: str
    name: str  # action or query name; for "requested", the path under /api
    user_input: str = "user"
    client_input: str | None = None  # the input that receives the caller's network address
    body: Any = None  # requested: an annotation (TypedDict) describing the body
    timeout_s: float = 10.0
    source: str = ""
    doc: str = ""  # what the route does, for someone calling it (else the action's docstring)

    @property
    def path(self) -> str:
        if self.kind == "requested":
            return "/api" + self.name
        return f"/api/{self.concept}/{self.name}"


def _target(ref: Any) -> tuple[str, str]:
    # Accept `Profile.update` (an unbound reference) as well as the patterns it builds.
    if isinstance(ref, ActionPattern):
        return ref.concept, ref.action
    if isinstance(ref, QueryPattern):
        return ref.concept, ref.query
    concept, name = getattr(ref, "concept", None), getattr(ref, "name", None)
    if not (isinstance(concept, str) and isinstance(name, str)):
        raise TypeError(
            f"expose a concept action or query reference, like Profile.update, not {ref!r}"
        )
    return concept, name


def public(ref: Any, *, client: str | None = None, doc: str = "") -> Exposure:
    """Reachable by anyone; ``client`` names the input that gets the caller's address.
    ``doc`` (on every kind) describes the route in ``/docs`` instead of the docstring."""
    concept, name = _target(ref)
    return Exposure("public", False, concept, name, client_input=client, doc=doc)


def authenticated(
    ref: Any, *, user: str = "user", client: str | None = None, doc: str = ""
) -> Exposure:
    """Reachable with a valid session token; the session's user is passed as input ``user``
    (and, with ``client``, the caller's address as that input)."""
    concept, name = _target(ref)
    return Exposure(
        "authenticated", True, concept, name, user_input=user, client_input=client, doc=doc
    )


def requested(
    path: str,
    *,
    body: Any = dict[str, Any],
    auth: bool = True,
    client: bool = False,
    timeout_s: float = 10.0,
    doc: str = "",
) -> Exposure:
    """A route answered by syncs: ``Requesting.request`` in, ``Requesting.respond`` out.
    Its callers see no action's docstring, so ``doc`` is what ``/docs`` says it does.
    With ``client``, the request carries the caller's network address as ``client``.

    The reply goes out as soon as a sync responds, and the syncs after it run on: so a
    route whose slow reactions must not show in its timing (a text sent, or not, for an
    account that exists, or not) is a requested one."""
    if not path.startswith("/") or path.count("/") < 2:
        raise ValueError(f"requested path must look like /Area/name, not {path!r}")
    return Exposure(
        "requested",
        auth,
        "Requesting",
        path,
        client_input="client" if client else None,
        body=body,
        timeout_s=timeout_s,
        doc=doc,
    )
