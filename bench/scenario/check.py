"""Everything about a scenario that can be checked before a cluster starts.

A run may last an hour; a mistake found by its first variant wastes a cluster start at
best and every variant at worst. So before anything starts, the scenario file is
validated, every policy is loaded as kube-apiserver loads it and linted, the matrix is
expanded, and each variant's audit settings are rendered to the apiserver flags it will
get. Lint findings are reported, not refused: a policy that writes secrets at
RequestResponse is a legitimate thing to measure. What the apiserver would refuse, or
what the harness cannot measure, is refused with the file and field named.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from bench.errors import InputError
from bench.policy.lint import Finding, lint
from bench.policy.loader import load_policy
from bench.policy.model import Policy
from bench.scenario.loader import load_scenario, policy_name, resolve_policy
from bench.scenario.matrix import Variant, expand
from bench.scenario.model import Scenario
from bench.scenario.validation import input_error


@dataclass(frozen=True)
class CheckedScenario:
    path: Path
    scenario: Scenario
    variants: list[Variant]
    policies: dict[str, Policy]  # policy name -> the policy as the apiserver reads it
    findings: dict[str, list[Finding]]  # policy name -> lint findings

    def notes(self) -> list[str]:
        """One line per policy with lint errors or decode warnings, for the run's start."""
        lines = []
        for name, policy in self.policies.items():
            errors = sorted({f.rule_id for f in self.findings[name] if f.severity == "error"})
            parts = [f"lint errors {', '.join(errors)}"] if errors else []
            parts += [f"kube-apiserver warns: {w}" for w in policy.warnings]
            if parts:
                lines.append(f"policy {name}: " + "; ".join(parts) + " (measured as written; "
                             f"`auditbench policy lint {policy.source}` for details)")
        return lines


def check_scenario(path: str | Path, *, backend: str | None = None, policies: Path | None = None) -> CheckedScenario:
    """Load and check ``path`` whole; raises InputError naming the file and field.

    ``backend``: the backend that must run it (None: the one the scenario names).
    """
    scenario = load_scenario(path, policies=policies)
    where = Path(path)
    if backend is not None and scenario.backend != backend:
        raise InputError(where, "backend", f"this needs backend: {backend}, not {scenario.backend}")
    loaded: dict[str, Policy] = {}
    findings: dict[str, list[Finding]] = {}
    for i, entry in enumerate(scenario.policies if scenario.backend != "external" else []):
        file = resolve_policy(entry, policies)
        try:
            policy = load_policy(file)
        except InputError as exc:  # name the scenario field that points at the bad file
            raise InputError(where, f"policies[{i}]", exc.line()) from None
        loaded[policy_name(entry)] = policy
        findings[policy_name(entry)] = lint(policy, str(file))
    try:
        variants = expand(scenario, policies)
    except InputError as exc:
        raise InputError(where, exc.field, exc.reason) from None
    for variant in variants:
        if variant.backend != "external":  # an external cluster's flags are not ours to render
            _check_flags(where, variant)
    return CheckedScenario(where, scenario, variants, loaded, findings)


def _check_flags(where: Path, variant: Variant) -> None:
    """Render the variant's apiserver flags as the backend will, so a setting the flags
    cannot carry fails now rather than when its cluster starts."""
    from bench.controlplane.audit import audit_flags
    from bench.measure.settings import audit_settings

    try:
        settings = audit_settings(variant)
    except ValidationError as exc:
        error = input_error(exc, where)
        raise InputError(where, "audit", f"variant {variant.id}: {error.field or ''} {error.reason}".strip()) from None
    audit_flags(settings, Path("audit.log"), Path("webhook.kubeconfig"))
