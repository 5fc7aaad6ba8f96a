"""Tuning a tenant's rubric from its QA reviews (``qa-pipeline rubric tune``): collect the
completed reviews from the store, write the candidate rubric and its tuning report into the
site's config directory, and publish the candidate to the tenant only when it agrees with
the reviewers at least as well on every criterion of the held-out calls, and better on one.

Files (``<config>`` is the site's config directory, never the package data):

- ``<config>/tuning/<tenant>/<rubric id>@<version>.yaml``: the candidate, with a
  ``# tuned_from: id@version`` header;
- ``<config>/tuning/<tenant>/<rubric id>@<version>.report.json``: its tuning report, and
  ``last-report.json``: the tenant's latest report (the calibration page shows it);
- on publishing, ``<config>/rubrics/tuned/<tenant>/<rubric id>@<version>.yaml`` (found by the
  review app's rubric catalogue, so cards scored under it can be re-scored) and
  ``<config>/tenants/<tenant>.yaml`` pointing the tenant's languages at it.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from qa_pipeline.errors import ConfigError, NotFoundError, RubricError
from qa_pipeline.rubric.loader import load_rubric, load_rubric_text
from qa_pipeline.rubric.schema import Rubric
from qa_pipeline.rubric.tune import (
    Comparison,
    ReviewedCall,
    TuneOptions,
    TuningResult,
    compare_rubrics,
    dump_rubric,
    split_calls,
    tune_rubric,
)
from qa_pipeline.settings import config_path, get_settings, rubric_dirs

if TYPE_CHECKING:
    from qa_pipeline.acts.track import ActTagger
    from qa_pipeline.store import TenantStore

LAST_REPORT = "last-report.json"


def reviewed_calls(tenant: TenantStore, rubric_id: str) -> tuple[list[ReviewedCall], int]:
    """The tenant's calls with a completed review of a card scored under ``rubric_id`` (any
    version; the newest reviewed card of each call), and how many of them had no stored
    conversation to evaluate.
    """
    from sqlalchemy import select

    from qa_pipeline.store.tables import ScorecardDocument, ScorecardRow

    # Only the documents of reviewed cards are read, not every card of the tenant.
    stmt = (select(ScorecardRow.call_id, ScorecardDocument.data)
            .join(ScorecardDocument, ScorecardDocument.scorecard_id == ScorecardRow.id)
            .where(ScorecardRow.rubric_id == rubric_id, ScorecardRow.human_reviewed.is_(True))
            .order_by(ScorecardRow.id))
    latest: dict[str, dict[str, Any]] = {}
    with tenant.session() as s:
        for call_id, data in s.execute(stmt).tuples():
            card = dict(tenant.unseal(data))
            if card.get("human_reviewed"):
                latest[call_id] = card  # the newest reviewed card of each call comes last
    calls, missing = [], 0
    for call_id, card in sorted(latest.items()):
        try:
            conversation, _ = tenant.conversation(call_id)
        except NotFoundError:
            missing += 1
            continue
        calls.append(ReviewedCall.from_card(card, conversation))
    return calls, missing


def _config_dir() -> Path:
    config = get_settings().config_dir
    if config is None:
        raise ConfigError("tuned rubrics are written into the site's config directory, never "
                          "into the package: pass --config-dir DIR or set "
                          "$QA_PIPELINE_CONFIG_DIR")
    return config


def tuning_dir(tenant_id: str) -> Path:
    """``<config>/tuning/<tenant>``: candidates and tuning reports."""
    from qa_pipeline.tenants import validate_tenant_id

    return _config_dir() / "tuning" / validate_tenant_id(tenant_id)


def tenant_rubric(tenant_id: str, rubric_id: str | None = None
                  ) -> tuple[Rubric, Path, tuple[str, ...]]:
    """The tenant's rubric ``rubric_id`` (or its only one): the rubric, its file and the
    languages it serves.

    Raises:
        ConfigError: no such rubric for the tenant, or several and none named.
    """
    from qa_pipeline.tenants import load_tenant

    cfg = load_tenant(tenant_id)
    by_id: dict[str, tuple[Rubric, Path, list[str]]] = {}
    for language, path in cfg.rubrics.items():
        p = config_path(path)
        r = load_rubric(p)
        by_id.setdefault(r.id, (r, p, []))[2].append(language)
    if rubric_id is None:
        if len(by_id) != 1:
            raise ConfigError(f"tenant {tenant_id!r} uses rubrics {', '.join(sorted(by_id))}; "
                              "name one with --rubric")
        rubric_id = next(iter(by_id))
    if rubric_id not in by_id:
        raise ConfigError(f"tenant {tenant_id!r} does not use rubric {rubric_id!r}; its "
                          f"rubrics: {', '.join(sorted(by_id)) or 'none'}")
    r, p, langs = by_id[rubric_id]
    return r, p, tuple(langs)


def next_version(rubric: Rubric) -> int:
    """One more than the highest integer version of ``rubric.id`` published anywhere the
    rubric catalogue looks (two tenants' tunings never share an ``id@version``).
    """
    def as_int(v: int | str) -> int:
        try:
            return int(v)
        except ValueError:
            raise RubricError(f"rubric {rubric.ref}: only integer versions can be tuned "
                              "(version + 1)") from None
    highest = as_int(rubric.version)
    for folder in rubric_dirs():
        for f in sorted(folder.rglob("*.yaml")):
            try:
                other = load_rubric(f)
            except RubricError:
                continue  # taxonomies and other YAML live beside rubrics
            if other.id == rubric.id:
                try:
                    highest = max(highest, int(other.version))
                except ValueError:
                    continue
    return highest + 1


def candidate_text(result: TuningResult, current: Rubric, version: int, tenant_id: str,
                   now: dt.datetime, like: str | None = None) -> str:
    """The candidate rubric's YAML: same id, the new version, a ``tuned_from`` note; the
    comments and layout of ``like`` (the current rubric's text) are kept.
    """
    data = dict(result.data)
    data["version"] = version
    note = (f"Tuned from {current.ref} on the QA reviews of tenant {tenant_id} "
            f"({now:%Y-%m-%d}).")
    data["description"] = f"{data.get('description', '')}\n{note}".strip()
    body = dump_rubric(data, like)
    header = (f"# tuned_from: {current.ref}\n"
              f"# written by `qa-pipeline rubric tune --tenant {tenant_id}` on "
              f"{now:%Y-%m-%d %H:%M} UTC; report: {current.id}@{version}.report.json\n")
    text = header + body
    load_rubric_text(text, f"{current.id}@{version} (candidate)")  # refuse to write a bad one
    return text


@dataclass(frozen=True, slots=True)
class TuningOutcome:
    """What ``rubric tune`` did.

    Attributes:
        report: the tuning report (JSON form).
        comparison: current vs candidate on the held-out calls.
        candidate_path: where the candidate was written (None on a dry run).
        published_path: where the published rubric lies (None when not published).
    """

    report: dict[str, Any]
    comparison: Comparison
    candidate_path: Path | None
    published_path: Path | None


def tune_tenant(tenant: TenantStore, rubric_id: str | None, options: TuneOptions, *,
                dry_run: bool = False, base_model: ActTagger | None = None,
                actor: str = "qa-pipeline rubric tune",
                now: dt.datetime | None = None) -> TuningOutcome:
    """Tune the tenant's rubric on its reviews, compare on the held-out calls, write the
    candidate and report, and publish when no criterion regresses and one improves.

    Raises:
        ConfigError: no config directory (unless ``dry_run``), or no such rubric.
        RubricError: no reviewed call to learn from.
    """
    from qa_pipeline.rubric.tune import base_act_model

    stamp = now or dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    folder = None if dry_run else tuning_dir(tenant.tenant_id)
    current, current_path, languages = tenant_rubric(tenant.tenant_id, rubric_id)
    calls, missing = reviewed_calls(tenant, current.id)
    if not calls:
        raise RubricError(f"tenant {tenant.tenant_id!r} has no completed review of a call "
                          f"scored under {current.id}; nothing to learn from")
    model = base_model if base_model is not None else base_act_model()
    current_text = current_path.read_text(encoding="utf-8")
    data = yaml.safe_load(current_text)
    result = tune_rubric(data, current, calls, model, options)
    version = next_version(current)
    text = candidate_text(result, current, version, tenant.tenant_id, stamp, current_text)
    candidate = load_rubric_text(text, f"{current.id}@{version} (candidate)")
    comparison = compare_rubrics(current, candidate, calls, result.test_calls, model)
    publish = comparison.publishable
    if not result.changes:
        reason = "tuning changed nothing"
        publish = False
    elif comparison.regressed:
        reason = "regressed on held-out reviews: " + ", ".join(comparison.regressed)
    elif not comparison.improved:
        reason = "no criterion improves on the held-out reviews"
    else:
        reason = "no criterion regresses and " + ", ".join(comparison.improved) + " improve(s)"
    report = tuning_report(tenant.tenant_id, current, candidate, result, comparison, options,
                           reviewed=len(calls), missing=missing, created_at=stamp,
                           publish=publish, dry_run=dry_run, reason=reason)
    decision = report["decision"]
    if folder is None:
        return TuningOutcome(report, comparison, None, None)
    folder.mkdir(parents=True, exist_ok=True)
    candidate_path = folder / f"{candidate.id}@{version}.yaml"
    candidate_path.write_text(text, encoding="utf-8")
    published = None
    if publish:
        published = publish_rubric(tenant.tenant_id, candidate_path, languages)
        decision["published_path"] = str(published)
        tenant.audit(actor, "rubric.publish", "rubric", candidate.ref,
                     before={"rubric": current.ref},
                     after={"rubric": candidate.ref, "tuned_from": current.ref,
                            "improved": list(comparison.improved)})
    for name in (f"{candidate.id}@{version}.report.json", LAST_REPORT):
        (folder / name).write_text(json.dumps(report, ensure_ascii=False, indent=1),
                                   encoding="utf-8")
    return TuningOutcome(report, comparison, candidate_path, published)


def tuning_report(tenant_id: str, current: Rubric, candidate: Rubric, result: TuningResult,
                  comparison: Comparison, options: TuneOptions, *, reviewed: int, missing: int,
                  created_at: dt.datetime, publish: bool, dry_run: bool, reason: str
                  ) -> dict[str, Any]:
    """The tuning report (JSON form) that ``rubric tune`` prints and writes, and the
    calibration page shows.
    """
    return {
        "tenant": tenant_id, "rubric_id": current.id, "tuned_from": current.ref,
        "candidate": candidate.ref,
        "created_at": created_at.isoformat(timespec="seconds") + "Z",
        "split": {"holdout_share": options.holdout_share, "seed": options.seed,
                  "tune_calls": len(result.tune_calls), "test_calls": len(result.test_calls)},
        "reviewed_calls": reviewed, "calls_without_conversation": missing,
        "min_examples": options.min_examples,
        "changes": [c.to_dict() for c in result.changes],
        "unchanged": [u.to_dict() for u in result.unchanged],
        "comparison": comparison.to_dict(),
        "decision": {"published": bool(publish and not dry_run), "would_publish": publish,
                     "dry_run": dry_run, "reason": reason},
    }


def publish_rubric(tenant_id: str, candidate_path: Path, languages: tuple[str, ...]) -> Path:
    """Make the tenant score ``languages`` with the candidate: copy it among the site's
    rubrics and point the tenant's file (``<config>/tenants/<tenant>.yaml``, written from
    the tenant's current file) at it.
    """
    from qa_pipeline.tenants import tenant_file

    config = _config_dir()
    rubric = load_rubric(candidate_path)
    relative = Path("rubrics") / "tuned" / tenant_id / f"{rubric.ref}.yaml"
    target = config / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(candidate_path.read_text(encoding="utf-8"), encoding="utf-8")
    source = tenant_file(tenant_id)
    raw = yaml.safe_load(source.read_text(encoding="utf-8"))
    raw["rubrics"] = {**(raw.get("rubrics") or {}),
                      **{lang: relative.as_posix() for lang in languages}}
    site = config / "tenants" / f"{tenant_id}.yaml"
    site.parent.mkdir(parents=True, exist_ok=True)
    if site.exists():  # the site's own file: keep its earlier text beside it
        site.with_name(f"{tenant_id}.yaml.bak").write_text(site.read_text(encoding="utf-8"),
                                                           encoding="utf-8")
    site.write_text(f"# rubrics last published by `qa-pipeline rubric tune` ({rubric.ref})\n"
                    + yaml.safe_dump(raw, allow_unicode=True, sort_keys=False),
                    encoding="utf-8")
    return target


def compare_candidate(tenant: TenantStore, candidate_path: Path, current_path: Path | None,
                      options: TuneOptions, *, base_model: ActTagger | None = None
                      ) -> Comparison:
    """``rubric test`` in comparison mode: the tenant's current rubric (or ``current_path``)
    against a candidate, per criterion, on the held-out part of the tenant's reviews. The
    split is the one in the candidate's tuning report (beside it, or in the tenant's tuning
    folder), else ``options``'.
    """
    from qa_pipeline.rubric.tune import base_act_model

    candidate = load_rubric(candidate_path)
    current = (load_rubric(current_path) if current_path is not None
               else tenant_rubric(tenant.tenant_id, candidate.id)[0])
    if current.id != candidate.id:
        raise RubricError(f"{candidate.ref} is not a version of {current.id}")
    # The candidate's report lies beside it, or (for a published copy) in the tuning folder.
    reports = [candidate_path.with_suffix(".report.json")]
    if get_settings().config_dir is not None:
        reports.append(tuning_dir(tenant.tenant_id) / f"{candidate.ref}.report.json")
    holdout, seed = options.holdout_share, options.seed
    for report in reports:
        if report.is_file():
            split = json.loads(report.read_text(encoding="utf-8")).get("split") or {}
            holdout = float(split.get("holdout_share", holdout))
            seed = int(split.get("seed", seed))
            break
    calls, _ = reviewed_calls(tenant, candidate.id)
    _, test = split_calls((c.call_id for c in calls), holdout, seed)
    model = base_model if base_model is not None else base_act_model()
    return compare_rubrics(current, candidate, calls, test, model)


def latest_report(tenant_id: str) -> dict[str, Any] | None:
    """The tenant's latest tuning report, or None (no config directory, no tuning yet, or an
    unreadable file).
    """
    from qa_pipeline.tenants import validate_tenant_id

    config = get_settings().config_dir
    if config is None:
        return None
    try:
        path = config / "tuning" / validate_tenant_id(tenant_id) / LAST_REPORT
    except ConfigError:
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
