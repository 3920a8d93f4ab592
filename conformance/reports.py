"""Machine-readable reports of a run: JSON (every case × backend with its raw calls) and
JUnit XML (the schema GitLab, Jenkins and GitHub's test reporters read).

JSON, ``schema_version`` 1::

    {"schema_version": 1, "command": "numa-conformance ...", "simnuma_version": "0.1.0",
     "backends": [{"label", "kind", "release", "facts"}],
     "summary": {"pass": n, "FAIL": n, "ERROR": n, "skip": n, "n/a": n},
     "results": [{"case", "clause", "name", "backend", "outcome", "detail",
                  "calls": [{"name", "ret", "errno", "errno_name", "out", "why"}]}],
     "differential": null | [{"real", "simulator", "compared", "unexpected", "known",
                              "stale"}]}

``out`` is what the call wrote to the caller's arrays (move_pages' status, get_mempolicy's
mode then mask nodes), ``null`` where it could not be read; ``why`` the clauses the
simulator named for the call's answers (its return value's first), ``null`` for a real
kernel, which keeps no reasons.

JUnit: one ``<testsuite>`` per backend, a ``<testcase classname="<clause>" name="<case>
[<backend>]">`` per case; FAIL is a ``<failure>``, ERROR an ``<error>``, skip and n/a
are ``<skipped>`` with the reason.  With ``--compare`` a ``differential`` suite holds a
testcase per case compared, a ``<failure>`` for each unexpected difference.
"""

from __future__ import annotations

import dataclasses
import json
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from conformance.runner import Differential, Outcome, Result
from simnuma.abi import errno_name
from simnuma.abi.quirks import format_release

SCHEMA_VERSION = 1


def version() -> str:
    """The installed simnuma's version; from a checkout that is not installed, say so."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("simnuma")
    except PackageNotFoundError:
        return "0+unknown (not installed)"


@dataclass(frozen=True)
class Pair:
    """A real backend, the simulator mirroring it, and what the differential found."""

    real: str
    simulator: str
    compared: tuple[str, ...]  # the case ids that ran on the real backend
    diff: Differential


def backend_facts(backend: object) -> dict[str, Any]:
    """label, kind, release and (real backends) the probed facts, for the JSON report."""
    label = str(getattr(backend, "label", "?"))
    kind = type(backend).__name__.removesuffix("Backend").lower() or "?"
    release = getattr(backend, "release", None)
    facts = getattr(backend, "facts", None)
    if dataclasses.is_dataclass(facts) and not isinstance(facts, type):
        facts = dataclasses.asdict(facts)
    topology = getattr(backend, "topology", None)
    if facts is None and callable(topology):  # the simulator: the nodes it was given
        nodes = topology().nodes
        facts = {
            "nodes": sorted(nodes),
            "memory_nodes": sorted(n for n, spec in nodes.items() if spec.memory),
        }
    return {
        "label": label,
        "kind": kind,
        "release": format_release(release) if release is not None else None,
        "facts": facts,
    }


def _call(call: tuple[object, ...], why: tuple[str, ...] | None) -> dict[str, Any]:
    name, ret, err, out = call
    return {
        "name": name,
        "ret": ret,
        "errno": err,
        "errno_name": errno_name(err) if isinstance(err, int) and err else None,
        "out": list(out) if isinstance(out, tuple) else None,
        "why": list(why) if why else None,  # the simulator's clauses; None elsewhere
    }


def to_json(
    results: Sequence[Result],
    backends: Sequence[object],
    *,
    command: str,
    pairs: Sequence[Pair] | None = None,
) -> dict[str, Any]:
    """The run as a JSON-able dict (see the module's docstring)."""
    return {
        "schema_version": SCHEMA_VERSION,
        "command": command,
        "simnuma_version": version(),
        "backends": [backend_facts(b) for b in backends],
        "summary": {o.value: sum(1 for r in results if r.outcome is o) for o in Outcome},
        "results": [
            {
                "case": r.case.id,
                "clause": r.case.clause.id,
                "name": r.case.name,
                "backend": r.backend,
                "outcome": r.outcome.value,
                "detail": r.detail,
                "seconds": round(r.seconds, 6),
                "calls": [
                    _call(c, r.why[i] if i < len(r.why) else None) for i, c in enumerate(r.calls)
                ],
            }
            for r in results
        ],
        "differential": None
        if pairs is None
        else [
            {
                "real": p.real,
                "simulator": p.simulator,
                "compared": list(p.compared),
                "unexpected": p.diff.unexpected,
                "known": p.diff.known,
                "stale": p.diff.stale,
            }
            for p in pairs
        ],
    }


def write_json(path: str, report: dict[str, Any]) -> None:
    with open(path, "w", encoding="utf-8") as out:
        json.dump(report, out, indent=1, default=str)
        out.write("\n")


def _testcase(suite: ET.Element, classname: str, name: str, seconds: float = 0.0) -> ET.Element:
    return ET.SubElement(suite, "testcase", classname=classname, name=name, time=f"{seconds:.6f}")


def _message(text: str) -> str:
    """The first line, for the message attribute (the whole text goes in the element)."""
    return text.splitlines()[0] if text else ""


def to_junit(
    results: Sequence[Result], backends: Sequence[object], *, pairs: Sequence[Pair] | None = None
) -> ET.ElementTree[ET.Element]:
    """The run as a JUnit ``<testsuites>`` tree (see the module's docstring)."""
    root = ET.Element("testsuites", name="numa-conformance")
    release_of = label_releases(backends)
    for label in release_of:
        mine = [r for r in results if r.backend == label]
        suite = ET.SubElement(root, "testsuite", name=label)
        for r in mine:
            case = _testcase(suite, r.case.clause.id, f"{r.case.name} [{label}]", r.seconds)
            if r.outcome is Outcome.FAIL:
                ET.SubElement(case, "failure", message=_message(r.detail)).text = r.detail
            elif r.outcome is Outcome.ERROR:
                ET.SubElement(case, "error", message=_message(r.detail)).text = r.detail
            elif r.outcome is Outcome.SKIP:
                ET.SubElement(case, "skipped", message=r.detail)
            elif r.outcome is Outcome.NA:
                release = release_of[label]
                ET.SubElement(
                    case,
                    "skipped",
                    message=f"clause does not hold in {release} (it holds in "
                    f"{r.case.clause.releases})",
                )
        _count(suite)
    if pairs is not None:
        suite = ET.SubElement(root, "testsuite", name="differential")
        for p in pairs:
            for case_id in p.compared:
                case = _testcase(suite, "differential", f"{case_id} [{p.real} vs {p.simulator}]")
                lines = [line for line in p.diff.unexpected if line.startswith(f"{case_id}:")]
                for line in lines:
                    ET.SubElement(case, "failure", message=_message(line)).text = line
                notes = [
                    f"known: {line}" for line in p.diff.known if line.startswith(f"{case_id}:")
                ] + [f"stale: {line}" for line in p.diff.stale if line.startswith(f"{case_id}:")]
                if notes:
                    ET.SubElement(case, "system-out").text = "\n".join(notes)
        _count(suite)
    for key in ("tests", "failures", "errors", "skipped"):
        root.set(key, str(sum(int(s.get(key, "0")) for s in root)))
    ET.indent(root)
    return ET.ElementTree(root)


def label_releases(backends: Sequence[object]) -> dict[str, str]:
    """label -> release as shown in a n/a reason ("6.1", "2.6.18"), in order."""
    found: dict[str, str] = {}
    for b in backends:
        release = getattr(b, "release", None)
        found[str(getattr(b, "label", ""))] = format_release(release) if release else "?"
    return found


def _count(suite: ET.Element) -> None:
    cases = suite.findall("testcase")
    suite.set("tests", str(len(cases)))
    suite.set("failures", str(sum(1 for c in cases if c.find("failure") is not None)))
    suite.set("errors", str(sum(1 for c in cases if c.find("error") is not None)))
    suite.set("skipped", str(sum(1 for c in cases if c.find("skipped") is not None)))
    suite.set("time", f"{sum(float(c.get('time', '0')) for c in cases):.6f}")


def write_junit(path: str, tree: ET.ElementTree[ET.Element]) -> None:
    tree.write(path, encoding="utf-8", xml_declaration=True)
