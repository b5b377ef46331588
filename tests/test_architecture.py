"""The layering rules, read from the source with ``ast``.

- conceptkit imports nothing of the app (concepts, syncs, services, server, worker),
  and neither do its tests (tests/conceptkit), directly or through other test modules;
- conceptkit's modules are private but the package and its command (conceptkit.cli),
  and everything else imports the package only: its ``__all__`` is the public API;
- a concept module imports no other module of concepts/ (a concept reaches the
  world through ports, and other concepts only through syncs); a concept may be a
  package, concepts/X/, whose modules are private to it: they may import concepts.X.*,
  nothing else of concepts/;
- concepts and syncs import nothing of services/ but the ports' own definitions
  (their types and errors): adapters come through ports, handed over at start-up;
- outside syncs/, no module names a concept by string to query or invoke it;
- no concept writes its own compare-and-set retry loop (conceptkit's ``Store.change``
  and ``change_or_create`` are the one loop): no loop around a write filtered on
  ``version``, around a ``Store`` write, or retrying an insert a unique key refused;
- no product module is over 400 lines;
- Twilio's vocabulary (its webhook field names, call statuses and answering-machine
  verdicts) stays at the edge: services/webhooks, the Twilio REST adapter and its
  status table in services/telephony, and the development tooling;
- the production entry points (server.py, worker.py) reach no development tooling,
  nor a dependency only the tooling has.

Each rule lists the places that break it today, so the rule holds for everything
else and an entry can only be removed (issue 13 removes them): a new break fails
here, and so does an entry that no longer breaks the rule.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
APP_PACKAGES = {"concepts", "syncs", "services", "server", "worker"}
LINE_BUDGET = 400

# Known breaks, with today's size where the rule is the line budget.
CONCEPT_HELPERS_IMPORTED: set[tuple[str, str]] = set()
STRING_CONCEPT_CALLS: set[str] = set()  # the worker and simulator ask syncs/queries.py
PORTS = {"services.telephony", "services.completion"}  # the interfaces concepts are given
# ... but not the adapters in them (nor Twilio's status table): those come through the port
NOT_PORTS = {"services.telephony.twilio", "services.telephony.mock", "services.telephony.progress"}
ADAPTERS_IMPORTED = {("syncs/plugin.py", "services.app.adapters")}  # the plugin registers them
OVER_BUDGET: dict[str, int] = {}
# the failure counter's writes are no action's effect: through Store they would carry the
# login's mark, and a replayed login would return a charge (concepts/accounts/throttle.py)
OWN_CAS_LOOPS = {
    ("concepts/accounts/throttle.py", "FailureCounter.charge"),
    ("concepts/accounts/throttle.py", "FailureCounter.record"),
}


def modules(*packages: str) -> list[Path]:
    found: list[Path] = []
    for package in packages:
        path = ROOT / package
        found += sorted(path.rglob("*.py")) if path.is_dir() else [ROOT / f"{package}.py"]
    return found


def rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def imported(path: Path) -> set[str]:
    """Absolute module names ``path`` imports (relative imports resolved)."""
    package = rel(path).rsplit("/", 1)[0].replace("/", ".") if "/" in rel(path) else ""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            names.add(module)
            names |= {f"{module}.{alias.name}" for alias in node.names}
    return names


def module_of(name: str) -> str:
    """The module (or package) an imported name lives in: ``a.b.C`` -> ``a.b``."""
    parts = name.split(".")
    while parts:
        base = ROOT / "/".join(parts)
        if base.with_suffix(".py").exists() or (base / "__init__.py").exists():
            return ".".join(parts)
        parts.pop()
    return name


def is_port(name: str) -> bool:
    module = module_of(name)
    inside = any(module == p or module.startswith(p + ".") for p in PORTS)
    return inside and module not in NOT_PORTS


def top(name: str) -> str:
    return name.split(".", 1)[0]


def test_conceptkit_imports_nothing_of_the_app():
    breaks = {
        (rel(p), n) for p in modules("conceptkit") for n in imported(p) if top(n) in APP_PACKAGES
    }
    assert breaks == set()


def test_conceptkit_tests_reach_nothing_of_the_app():
    """tests/conceptkit has fixtures of its own (its own database too), so conceptkit can be
    tested, and taken elsewhere, without the app built on it."""
    breaks = set()
    for path in modules("tests/conceptkit"):
        module = rel(path).removesuffix(".py").replace("/", ".")
        breaks |= {(rel(path), m) for m in reached_from(module) if top(m) in APP_PACKAGES}
    assert breaks == set()


def test_conceptkit_modules_are_private_but_the_package_and_its_command():
    public = {("cli.py",)}
    breaks = {
        rel(p)
        for p in modules("conceptkit")
        if (parts := p.relative_to(ROOT / "conceptkit").parts) not in public
        and not parts[0].startswith("_")
    }
    assert breaks == set(), "name internals with a leading _ (conceptkit/_name.py, _name/)"


def test_outside_conceptkit_only_its_public_api_is_imported():
    """The app, its tests, the benchmarks and the example plugins import ``conceptkit``
    itself, never one of its modules (conceptkit's own tests may test internals)."""
    breaks = set()
    for path in modules(*sorted(APP_PACKAGES), "tests", "bench", "examples"):
        if rel(path).startswith("tests/conceptkit/"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module or ""]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            breaks |= {(rel(path), n) for n in names if n.startswith("conceptkit.")}
    assert breaks == set(), "import from conceptkit (its __all__), not from its modules"


def _concept_of(path: Path) -> str:
    """The concept a module of concepts/ belongs to: concepts/X.py and concepts/X/* are X."""
    parts = path.relative_to(ROOT / "concepts").parts
    return "concepts." + (parts[0] if len(parts) > 1 else path.stem)


def test_a_concept_imports_no_other_module_of_concepts():
    breaks = set()
    for path in modules("concepts"):
        own = _concept_of(path)
        for name in imported(path):
            module = ".".join(name.split(".")[:2])
            base = ROOT / module.replace(".", "/")
            is_module = base.with_suffix(".py").exists() or (base / "__init__.py").exists()
            if top(name) == "concepts" and module not in (own, "concepts") and is_module:
                breaks.add((rel(path), module))
    assert breaks == CONCEPT_HELPERS_IMPORTED


def test_a_concept_package_is_read_by_the_rule():
    """concepts/X/a.py importing concepts.X.b is its own; importing concepts.Y is not."""
    assert _concept_of(ROOT / "concepts" / "phone_call" / "calls.py") == "concepts.phone_call"
    assert _concept_of(ROOT / "concepts" / "prompts.py") == "concepts.prompts"
    assert "concepts.phone_call.statuses" in imported(ROOT / "concepts/phone_call/calls.py")


def test_the_plugin_registers_every_concept_defined_in_concepts():
    """A concept moved into a package of its own is still found: the plugin lists them all."""
    from syncs.plugin import conceptkit_concepts

    assert {c.name for c in conceptkit_concepts()} >= _concept_names()


def test_concepts_and_syncs_import_no_adapter():
    breaks = set()
    for path in modules("concepts", "syncs"):
        for name in imported(path):
            if top(name) in {"services", "server", "worker"} and not is_port(name):
                breaks.add((rel(path), module_of(name)))
    assert breaks == ADAPTERS_IMPORTED


def _concept_names() -> set[str]:
    names = set()
    for path in modules("concepts"):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.ClassDef) and any(
                isinstance(b, ast.Name) and b.id == "Concept" for b in node.bases
            ):
                names.add(node.name)
    return names


def test_outside_syncs_no_module_queries_or_invokes_a_concept_by_name():
    concepts = _concept_names()
    breaks = set()
    for path in modules("services", "server", "worker"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in {"query", "invoke"}
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and node.args[0].value in concepts
            ):
                breaks.add(rel(path))
    assert breaks == STRING_CONCEPT_CALLS


VERSIONED_WRITES = {"update_one", "replace_one", "find_one_and_update", "find_one_and_replace"}
STORE_WRITES = {"change", "change_or_create", "claim", "create"}


def _is_cas_retry(loop: ast.For | ast.AsyncFor | ast.While) -> bool:
    """A loop that writes on a ``version`` filter, writes through a ``Store`` (whose
    helpers loop already), or goes round again when an insert hits a unique key."""
    for node in ast.walk(loop):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            filt = node.args[0] if node.args else None
            if node.func.attr in STORE_WRITES or (
                node.func.attr in VERSIONED_WRITES
                and isinstance(filt, ast.Dict)
                and any(isinstance(k, ast.Constant) and k.value == "version" for k in filt.keys)
            ):
                return True
        if (
            isinstance(node, ast.ExceptHandler)
            and node.type is not None
            and "DuplicateKeyError" in ast.unparse(node.type)
            and any(isinstance(n, ast.Continue) for b in node.body for n in ast.walk(b))
        ):
            return True
    return False


def cas_loops(tree: ast.AST, scope: str = "") -> set[str]:
    """The functions (``Class.method``) of ``tree`` that hold a compare-and-set retry loop."""
    found: set[str] = set()
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            found |= cas_loops(node, f"{scope}{node.name}.")
        elif isinstance(node, ast.For | ast.AsyncFor | ast.While) and _is_cas_retry(node):
            found.add(scope.removesuffix("."))
        else:
            found |= cas_loops(node, scope)
    return found


def test_no_concept_writes_its_own_compare_and_set_loop():
    breaks = {
        (rel(path), where)
        for path in modules("concepts")
        for where in cas_loops(ast.parse(path.read_text()))
    }
    assert breaks == OWN_CAS_LOOPS


@pytest.mark.parametrize(
    "source",
    [
        "def f(c):\n    for _ in range(3):\n        c.update_one({'_id': 1, 'version': 2}, {})",
        "def f(s):\n    while True:\n        if s.store('x').change({}, d, missing={}):\n            return",
        "def f(c):\n    while True:\n        try:\n            c.insert_one({})\n"
        "        except DuplicateKeyError:\n            continue",
    ],
)
def test_the_compare_and_set_rule_sees_a_hand_written_loop(source):
    assert cas_loops(ast.parse(source)) == {"f"}


def test_the_compare_and_set_rule_leaves_other_loops_alone():
    source = (
        "async def f(c):\n    async for doc in c.find({}):\n"
        "        await c.update_one({'_id': doc['_id']}, {'$set': {'a': 1}})"
    )
    assert cas_loops(ast.parse(source)) == set()


def test_no_product_module_grows_past_the_line_budget():
    sizes = {
        rel(p): len(p.read_text().splitlines())
        for p in modules("conceptkit", "concepts", "syncs", "services", "server", "worker")
    }
    over = {name: n for name, n in sizes.items() if n > LINE_BUDGET}
    grown = {n: (over[n], OVER_BUDGET.get(n)) for n in over if over[n] > OVER_BUDGET.get(n, 0)}
    assert grown == {}, f"over {LINE_BUDGET} lines (now, allowed): {grown}; split by job"
    fixed = set(OVER_BUDGET) - set(over)
    assert fixed == set(), f"{fixed} fit the budget now: take them off OVER_BUDGET"


# Twilio's words, as string constants in the code (field names are exact; the status
# and answering-machine words are Twilio's own spelling, which no neutral name shares).
TWILIO_FIELDS = {
    "AccountSid",
    "AnsweredBy",
    "CallDuration",
    "CallSid",
    "CallStatus",
    "Digits",
    "RecordingSid",
    "RecordingStatus",
    "RecordingUrl",
    "SequenceNumber",
    "SpeechResult",
    "TranscriptionText",
}
TWILIO_WORDS = {
    "in-progress",
    "no-answer",
    "canceled",
    "machine_start",
    "machine_end_beep",
    "machine_end_silence",
    "machine_end_other",
}
TWILIO_EDGE = (
    "services/webhooks/",
    "services/telephony/twilio.py",  # the REST adapter
    "services/telephony/progress.py",  # its table: Twilio's statuses in neutral words
    "services/devtools/",  # the Twilio stand-ins
)


def _string_constants(path: Path) -> set[str]:
    return _string_constants_of(path.read_text())


def _string_constants_of(source: str) -> set[str]:
    return {
        node.value
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    }


def _outside_the_edge() -> list[Path]:
    found = modules("conceptkit", "concepts", "syncs", "services", "server", "worker")
    return [path for path in found if not rel(path).startswith(TWILIO_EDGE)]


def test_twilio_vocabulary_stays_at_the_edge():
    fields, words = set(), set()
    for path in _outside_the_edge():
        found = _string_constants(path)
        fields |= {(rel(path), name) for name in found & TWILIO_FIELDS}
        words |= {(rel(path), word) for word in found & TWILIO_WORDS}
    assert fields == set(), "Twilio's field names belong in services/webhooks/twilio_events.py"
    assert words == set(), "Twilio's statuses belong at the edge (services/telephony/progress.py)"


def test_the_vocabulary_rule_reads_the_concepts_the_syncs_and_the_port():
    """The rule scans what speaks the port's words (every concept, sync and port module, the
    mock included) and would catch a Twilio status or field name written there."""
    scanned = {rel(p) for p in _outside_the_edge()}
    for must in (
        "concepts/dialer/records.py",
        "concepts/dialer/reconciling.py",
        "concepts/phone_call/statuses.py",
        "syncs/invariants.py",
        "syncs/call_progress.py",
        "services/telephony/port.py",
        "services/telephony/mock.py",
    ):
        assert must in scanned, must
    assert {rel(p) for p in modules("concepts", "syncs")} <= scanned
    caught = _string_constants_of('LIVE = frozenset({"ringing", "in-progress"})')
    assert caught & TWILIO_WORDS == {"in-progress"}
    assert _string_constants_of('sid = form["CallSid"]') & TWILIO_FIELDS == {"CallSid"}


def test_the_shape_of_a_phone_number_is_written_once():
    """E.164 is services/telephony/numbers.py's rule; a regex of it elsewhere drifts (it did:
    three copies had two ranges, and ``\\d`` with ``$`` let full-width digits and a trailing
    newline through)."""
    home = "services/telephony/numbers.py"
    copies = {
        rel(path)
        for path in modules("conceptkit", "concepts", "syncs", "services", "server", "worker")
        if rel(path) != home and any("\\+[1-9]" in text for text in _string_constants(path))
    }
    assert copies == set(), "use services.telephony's E164_PATTERN or is_e164"
    assert "\\+[1-9]" in "".join(_string_constants(ROOT / home))


def test_the_edge_speaks_only_what_phone_call_takes():
    """Every Twilio status and verdict the edge translates is a value PhoneCall accepts."""
    from typing import get_args

    from concepts.phone_call.statuses import PROGRESS, Answerer
    from services.telephony import ENDED_PROGRESS, LIVE_PROGRESS, CallProgress
    from services.telephony import Answerer as PortAnswerer
    from services.telephony.progress import PROGRESS as TABLE
    from services.telephony.progress import answerer

    assert set(TABLE.values()) == set(PROGRESS)
    verdicts = ("human", "machine_start", "machine_end_beep", "fax", "unknown", "", None)
    assert {answerer(v) for v in verdicts} == {*get_args(Answerer), None}
    # the port speaks the same words: one vocabulary, from the adapter to PhoneCall
    assert set(get_args(CallProgress)) == set(PROGRESS)
    assert set(get_args(PortAnswerer)) == set(get_args(Answerer))
    assert set(PROGRESS) == LIVE_PROGRESS | ENDED_PROGRESS and not LIVE_PROGRESS & ENDED_PROGRESS


@pytest.mark.parametrize("rule", ["concepts", "strings", "loops"])
def test_the_known_breaks_are_still_real(rule):
    """An entry that no longer breaks its rule must leave its list (the lists only shrink)."""
    if rule == "concepts":
        for path, module in CONCEPT_HELPERS_IMPORTED:
            assert module in imported(ROOT / path), (path, module)
    elif rule == "strings":
        for path in STRING_CONCEPT_CALLS:
            assert (ROOT / path).exists(), path
    else:
        for path, where in OWN_CAS_LOOPS:
            assert where in cas_loops(ast.parse((ROOT / path).read_text())), (path, where)


# Development tooling: all of services/devtools (mock mode mounts the simulator through the
# hooks of services/app/mock_mode.py, registered by an entry point) and the tests.
TOOLING = {
    rel(p).removesuffix(".py").removesuffix("/__init__").replace("/", ".")
    for p in modules("services/devtools")
}


def reached_from(*entry_points: str) -> set[str]:
    """Every app module the entry points import, directly or through other app modules."""
    seen: set[str] = set()
    todo = list(entry_points)
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        path = ROOT / (module.replace(".", "/") + ".py")
        if not path.exists():
            path = ROOT / module.replace(".", "/") / "__init__.py"
        if not path.exists():
            continue
        seen.add(module)
        for name in imported(path):
            for candidate in (name, name.rsplit(".", 1)[0]):
                if top(candidate) in APP_PACKAGES | {"conceptkit", "tests"}:
                    todo.append(candidate)
    return seen


def test_production_reaches_no_development_tooling():
    assert "services.devtools.phone_simulator" in TOOLING  # the rule sees the tooling
    reached = reached_from("server", "worker")
    assert {m for m in reached if m in TOOLING or top(m) == "tests"} == set()


TOOLING_DEPENDENCIES = {"httpx"}  # pyproject.toml's `devtools` extra, not a runtime dependency


def test_production_imports_no_tooling_dependency():
    reached = reached_from("server", "worker")
    breaks = set()
    for module in reached:
        path = ROOT / (module.replace(".", "/") + ".py")
        if not path.exists():
            path = ROOT / module.replace(".", "/") / "__init__.py"
        breaks |= {(module, n) for n in imported(path) if top(n) in TOOLING_DEPENDENCIES}
    assert breaks == set()
