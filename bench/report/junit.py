"""JUnit XML for CI: one test case per comparison and gate; a tripped gate is a failure."""

from __future__ import annotations

from collections.abc import Sequence
from xml.etree import ElementTree as ET

from bench.analysis.gates import GateResult


def junit_xml(results: Sequence[GateResult], subjects: Sequence[str], suite: str = "auditbench.compare") -> str:
    cases: list[ET.Element] = []
    for subject in subjects:
        # A passing case per comparison so a run with no gates still shows up in CI.
        cases.append(ET.Element("testcase", classname=subject, name="compared"))
    for r in results:
        case = ET.Element("testcase", classname=r.subject, name=r.gate.text)
        if r.tripped:
            value = "not measured" if r.value is None else f"{r.value:.6g}"
            fail = ET.SubElement(case, "failure", message=f"gate {r.outcome}: {r.gate.text} (value {value})",
                                 type="GateTripped" if r.outcome == "tripped" else "GateInconclusive")
            fail.text = f"{r.gate.name} = {value}; gate '{r.gate.text}' {r.outcome}. {r.note}".strip()
        cases.append(case)
    failures = sum(1 for r in results if r.tripped)
    root = ET.Element("testsuites", tests=str(len(cases)), failures=str(failures))
    ts = ET.SubElement(root, "testsuite", name=suite, tests=str(len(cases)), failures=str(failures), errors="0")
    ts.extend(cases)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
