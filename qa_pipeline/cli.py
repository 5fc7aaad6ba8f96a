"""``qa-pipeline`` command line."""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from qa_pipeline.errors import QAPipelineError, RubricValidationError
from qa_pipeline.hooks import StageHook
from qa_pipeline.settings import configure, get_settings
from qa_pipeline.version import __version__

if TYPE_CHECKING:  # the runner imports the store: loaded only by the commands that run it
    from qa_pipeline.runner import RunOptions, RunReport
    from qa_pipeline.store import Store

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Automated QA for contact-center calls (zh + en).")
rubric_app = typer.Typer(no_args_is_help=True, help="Validate, test and export rubrics.")
models_app = typer.Typer(no_args_is_help=True, help="Model registry.")
app.add_typer(rubric_app, name="rubric")
app.add_typer(models_app, name="models")
users_app = typer.Typer(no_args_is_help=True, help="Users of the review app.")
app.add_typer(users_app, name="users")
db_app = typer.Typer(no_args_is_help=True, help="Database schema upgrades and backups.")
app.add_typer(db_app, name="db")
console = Console(stderr=True)


def _version(value: bool) -> None:
    if value:
        typer.echo(__version__)
        raise typer.Exit()


@app.callback()
def _root(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="debug logging")] = False,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="print the version")] = False,
    config_dir: Annotated[Path | None, typer.Option(
        "--config-dir", help="the site's configuration: tenants/*.yaml and rubrics/ that add "
        "to or replace the shipped ones (default: $QA_PIPELINE_CONFIG_DIR)")] = None,
) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if config_dir is not None and not config_dir.is_dir():
        raise typer.BadParameter(f"{config_dir} is not a folder", param_hint="--config-dir")
    configure(config_dir=config_dir.resolve() if config_dir is not None else None)


def _progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), TextColumn(
        "{task.completed}/{task.total}"), TimeElapsedColumn(), console=console, transient=False)


@contextmanager
def _progress_hook() -> Iterator[StageHook]:
    """A stage hook that shows one progress bar per step."""
    with _progress() as progress:
        tasks: dict[str, Any] = {}

        def hook(step: str, *, completed: int | None = None, total: int | None = None) -> None:
            if step not in tasks:
                tasks[step] = progress.add_task(step, total=total)
            progress.update(tasks[step], completed=completed or 0, total=total)

        yield hook


def run_batch(paths: Sequence[str | os.PathLike[str]], tenant: str | None,
              options: RunOptions, store: Store | None = None, *,
              conversations: bool = False) -> RunReport:
    """A batch through the runner in this process, with progress bars on standard error.

    Args:
        paths: files, folders, manifest CSVs or fsspec URLs.
        tenant: tenant of files and folders (manifests carry theirs per row).
        options: the run's options.
        store: where results, costs and quarantine rows go; None for a run whose results are
            the files under ``options.out_dir`` (``score``, ``transcribe``).
        conversations: folders also yield their ``conversation.json`` files (scored without
            a front end).
    """
    from qa_pipeline.runner import BatchRunner, list_sources

    sources = list_sources(paths, tenant, conversations=conversations)
    with _progress_hook() as hook:
        return BatchRunner(store, options, hook).run(sources)


def _summarise(report: RunReport, what: str) -> None:
    done = len(report.processed) + len(report.transcribed)
    console.print(f"{what}: {done} ok, {len(report.failed)} failed")
    for f in report.failed:
        console.print(f"[red]✗ {f.source_uri}[/red]: {f.failure.reason}: {f.failure.message}",
                      soft_wrap=True)
    if report.failed:
        raise typer.Exit(1)


@app.command()
def transcribe(
    paths: Annotated[list[Path], typer.Argument(help="audio files, folders or manifest CSVs")],
    out: Annotated[Path, typer.Option(help="output folder")],
    tenant: Annotated[str | None, typer.Option(help="tenant id (tenants/<id>.yaml)")] = None,
    asr_model: Annotated[str | None, typer.Option(
        help="Whisper model name (base, large-v3, large-v3-turbo) or local directory")] = None,
    diarizer: Annotated[str | None, typer.Option(
        help="mono diarization backend (offline, pyannote)")] = None,
    exports: Annotated[bool, typer.Option(help="also write RTTM, SRT and VTT")] = True,
    cache_dir: Annotated[Path, typer.Option(help="front-end cache and staging")
                         ] = Path(".qa_cache"),
) -> None:
    """Recordings -> OUT/<call_id>/conversation.json (+ .rttm/.srt/.vtt), under the tenant's
    privacy policy.
    """
    from qa_pipeline.runner import RunOptions

    options = RunOptions(cache_dir=cache_dir, out_dir=out, scoring=False, exports=exports,
                         asr_model=asr_model, diarizer=diarizer)
    _summarise(run_batch(paths, tenant, options), "transcribed")


@app.command()
def score(
    paths: Annotated[list[Path], typer.Argument(
        help="audio files, conversation.json files, folders or manifest CSVs")],
    out: Annotated[Path, typer.Option(help="output folder")],
    tenant: Annotated[str | None, typer.Option(help="tenant id (tenants/<id>.yaml)")] = None,
    rubric: Annotated[Path | None, typer.Option(
        help="rubric YAML (default: the tenant's rubric for the call's language)")] = None,
    asr_model: Annotated[str | None, typer.Option(help="Whisper model name or directory")] = None,
    diarizer: Annotated[str | None, typer.Option(help="mono diarization backend")] = None,
    sentiment: Annotated[str | None, typer.Option(
        help="sentiment backend (embedded, transformers, none; default: the tenant's)")] = None,
    cache_dir: Annotated[Path, typer.Option(help="front-end cache and staging")
                         ] = Path(".qa_cache"),
) -> None:
    """Audio or conversation.json -> OUT/<call_id>/scorecard.json + scorecard.html, under the
    tenant's privacy policy.
    """
    from qa_pipeline.runner import RunOptions

    if rubric is not None:
        from qa_pipeline.rubric.loader import load_rubric
        from qa_pipeline.tenants import load_tenant

        # Fail before any audio is processed (the rubric may name the tenant's own acts).
        load_rubric(rubric, tuple(load_tenant(tenant).acts) if tenant else ())
    options = RunOptions(cache_dir=cache_dir, out_dir=out, asr_model=asr_model,
                         diarizer=diarizer, sentiment=sentiment,
                         rubric=str(rubric) if rubric else None)
    report = run_batch(paths, tenant, options, conversations=True)
    for c in report.processed:
        console.print(f"[green]✓[/green] {c.call_id}: {c.total_score:.1f} {c.grade}"
                      f"{' FATAL' if c.has_fatal else ''}"
                      f"{' (needs review)' if c.needs_review else ''}")
    _summarise(report, "scored")


@rubric_app.command("validate")
def rubric_validate(files: Annotated[list[Path], typer.Argument(help="rubric YAML files")]) -> None:
    """Check rubric files; errors name file, line and key."""
    from qa_pipeline.rubric.loader import load_rubric

    bad = 0
    for f in files:
        try:
            r = load_rubric(f)
            typer.echo(f"ok  {f}  {r.ref}  ({len(r.criteria())} criteria)")
        except RubricValidationError as e:
            bad += 1
            typer.echo(f"ERR {e}", err=True)
    if bad:
        raise typer.Exit(1)


@rubric_app.command("schema")
def rubric_schema(
    output: Annotated[Path | None, typer.Option("--output", "-o")] = None,
) -> None:
    """Print (or write) the JSON Schema of rubric files for editors."""
    from qa_pipeline.rubric.loader import rubric_json_schema_text

    text = rubric_json_schema_text()
    if output:
        output.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)


@rubric_app.command("test")
def rubric_test(
    rubric: Annotated[Path, typer.Argument(help="rubric YAML (with --tenant: the candidate)")],
    cases: Annotated[Path | None, typer.Option(help="folder of labelled cases")] = None,
    tenant: Annotated[str | None, typer.Option(
        help="compare with the tenant's current rubric on its held-out QA reviews")] = None,
    against: Annotated[Path | None, typer.Option(
        help="with --tenant: the current rubric file (default: the tenant's)")] = None,
    db: Annotated[str | None, typer.Option(help="database URL (with --tenant)")] = None,
    holdout_share: Annotated[float, typer.Option(
        help="share of reviewed calls held out (when no tuning report lies beside the "
             "candidate)", min=0.01, max=0.99)] = 0.3,
    seed: Annotated[int, typer.Option(help="seed of the tune / test split")] = 0,
    json_out: Annotated[Path | None, typer.Option("--json", help="write the report as JSON "
                                                  "(- for standard output)")] = None,
) -> None:
    """Per-criterion precision / recall of a rubric on labelled conversations, or (with
    --tenant) current vs candidate on the tenant's held-out reviews.

    CASES holds ``*.conversation.json`` files, each with a ``*.labels.json`` beside it
    (``{"expected": {criterion_id: pass|fail|not_applicable}}``). With --tenant, the reviewed
    calls are split by call id as ``rubric tune`` split them (the split recorded in the
    candidate's tuning report), and only the held-out ones are scored.
    """
    from qa_pipeline.rubric.loader import load_rubric

    if (cases is None) == (tenant is None):
        raise typer.BadParameter("give either --cases or --tenant", param_hint="--cases")
    if tenant is not None:
        _compare_on_reviews(rubric, tenant, against, db, holdout_share, seed, json_out)
        return
    from qa_pipeline.rubric.evaluation import evaluate_cases, load_cases

    assert cases is not None
    report = evaluate_cases(load_rubric(rubric), load_cases(cases))
    table = Table("criterion", "severity", "tp", "fp", "fn", "tn", "precision", "recall", "f1")
    for row in report.rows:
        c = row.counts
        table.add_row(row.criterion_id, row.severity, str(c.tp), str(c.fp), str(c.fn),
                      str(c.tn), f"{c.precision:.3f}", f"{c.recall:.3f}", f"{c.f1:.3f}")
    Console().print(table)
    typer.echo(f"cases: {report.cases}  needs_review items: {report.needs_review}")
    _write_json(json_out, report.to_dict())


def _write_json(target: Path | None, data: dict[str, Any]) -> None:
    if target is None:
        return
    text = json.dumps(data, indent=1, ensure_ascii=False)
    if str(target) == "-":
        typer.echo(text)
    else:
        target.write_text(text, encoding="utf-8")


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}"


def _comparison_table(comparison: Any) -> Table:
    table = Table("criterion", "n", "agreement", "fail precision", "fail recall", "change",
                  title=f"{comparison.current_ref} -> {comparison.candidate_ref} on "
                        f"{comparison.test_calls} held-out calls")
    for row in comparison.rows:
        a, b = row.current, row.candidate
        style = {"improved": "green", "regressed": "red"}.get(row.change, "")
        table.add_row(row.criterion_id, str(a.n), f"{_fmt(a.agreement)} -> {_fmt(b.agreement)}",
                      f"{_fmt(a.fail_precision)} -> {_fmt(b.fail_precision)}",
                      f"{_fmt(a.fail_recall)} -> {_fmt(b.fail_recall)}",
                      f"[{style}]{row.change}[/{style}]" if style else row.change)
    return table


def _compare_on_reviews(candidate: Path, tenant: str, against: Path | None, db: str | None,
                        holdout_share: float, seed: int, json_out: Path | None) -> None:
    from qa_pipeline.review.tuning import compare_candidate
    from qa_pipeline.rubric.tune import TuneOptions
    from qa_pipeline.store import Store

    store = Store(db)
    try:
        comparison = compare_candidate(store.tenant(tenant), candidate, against,
                                       TuneOptions(holdout_share=holdout_share, seed=seed))
    finally:
        store.close()
    Console().print(_comparison_table(comparison))
    _write_json(json_out, comparison.to_dict())


@rubric_app.command("tune")
def rubric_tune(
    tenant: Annotated[str, typer.Option(help="tenant whose QA reviews to learn from")],
    rubric: Annotated[str | None, typer.Option(
        help="rubric id (default: the tenant's only rubric)")] = None,
    holdout_share: Annotated[float, typer.Option(
        help="share of reviewed calls held out for the comparison", min=0.01, max=0.99)
                             ] = 0.3,
    seed: Annotated[int, typer.Option(help="seed of the tune / test split by call id")] = 0,
    min_examples: Annotated[int, typer.Option(
        help="fewest reviewed items of a criterion on the tune part to tune it", min=1)] = 10,
    dry_run: Annotated[bool, typer.Option(
        help="tune and compare, but write and publish nothing")] = False,
    db: Annotated[str | None, typer.Option(help="database URL")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="write the tuning report "
                                                  "as JSON (- for standard output)")] = None,
) -> None:
    """Refit a tenant's rubric on its completed QA reviews: act thresholds, its own acts'
    examples and question review bands, chosen on a tune part of the reviewed calls.

    The candidate (same id, version + 1) and its report go to <config>/tuning/<tenant>/. It
    is published (the tenant scores with it from then on) only when no criterion agrees less
    with the reviewers on the held-out calls and one agrees more; otherwise the command
    names what regressed and exits with status 1.
    """
    from qa_pipeline.review.tuning import tune_tenant
    from qa_pipeline.rubric.tune import TuneOptions
    from qa_pipeline.store import Store

    options = TuneOptions(holdout_share=holdout_share, seed=seed, min_examples=min_examples)
    store = Store(db)
    try:
        outcome = tune_tenant(store.tenant(tenant), rubric, options, dry_run=dry_run)
    finally:
        store.close()
    report = outcome.report
    split = report["split"]
    console.print(f"{report['tuned_from']}: {report['reviewed_calls']} reviewed calls, "
                  f"{split['tune_calls']} to tune, {split['test_calls']} held out")
    changes = Table("criterion", "what", "where", "before", "after", "tune agreement",
                    title="changes (tune part)")
    for c in report["changes"]:
        def shown(value: Any) -> str:
            return "model threshold" if value is None else json.dumps(value, ensure_ascii=False)
        changes.add_row(c["criterion_id"], c["what"], c["where"], shown(c["before"]),
                        shown(c["after"]),
                        f"{_fmt(c['tune_before'])} -> {_fmt(c['tune_after'])}")
    Console().print(changes)
    for u in report["unchanged"]:
        console.print(f"unchanged {u['criterion_id']}: {u['reason']}")
    Console().print(_comparison_table(outcome.comparison))
    _write_json(json_out, report)
    decision = report["decision"]
    if outcome.candidate_path is not None:
        console.print(f"candidate {report['candidate']}: {outcome.candidate_path}")
    if decision["published"]:
        console.print(f"[green]published {report['candidate']}[/green] for {tenant}: "
                      f"{decision['reason']}")
        return
    verb = "would publish" if dry_run and decision["would_publish"] else "not published"
    console.print(f"[yellow]{verb}[/yellow]: {decision['reason']}")
    if not decision["would_publish"]:
        raise typer.Exit(1)


@app.command()
def redact(
    path: Annotated[str, typer.Argument(
        help="text file, conversation.json, scorecard.json, or - for standard input")] = "-",
    as_json: Annotated[bool, typer.Option("--json", help="print {redacted, removed} as JSON")
                       ] = False,
) -> None:
    """Remove phone numbers, resident IDs, bank cards and emails (written or spoken, zh/en).

    Prints the redacted text or document; the removed spans go to standard error (or into
    the JSON with --json).
    """
    from qa_pipeline.privacy import redact_conversation, redact_scorecard, redact_text
    from qa_pipeline.types import Conversation

    raw = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    doc: Any = None
    if path.endswith(".json"):
        try:
            doc = json.loads(raw)
        except ValueError as e:
            raise QAPipelineError(f"{path}: not valid JSON ({e})") from e
    removed: list[dict[str, Any]]
    if isinstance(doc, dict) and "utterances" in doc:
        conv, spans = redact_conversation(Conversation.from_dict(doc))
        out: Any = conv.to_dict()
        removed = [s.to_dict() for s in spans]
    elif isinstance(doc, dict) and "items" in doc:
        out, n = redact_scorecard(doc)
        removed = [{"evidence_quotes_redacted": n}]
    else:
        out, text_spans = redact_text(raw)
        removed = [s.to_dict() for s in text_spans]
    if as_json:
        typer.echo(json.dumps({"redacted": out, "removed": removed}, ensure_ascii=False,
                              indent=1))
        return
    typer.echo(out if isinstance(out, str) else json.dumps(out, ensure_ascii=False, indent=1),
               nl=not isinstance(out, str) or not out.endswith("\n"))
    for r in removed:
        console.print(json.dumps(r, ensure_ascii=False))


@app.command()
def retention(
    tenant: Annotated[str, typer.Option(help="tenant whose old calls to delete")],
    days: Annotated[int | None, typer.Option(
        help="delete calls older than this (default: the tenant's privacy.retention_days)")
                    ] = None,
    db: Annotated[str | None, typer.Option(help="database URL")] = None,
    cache_dir: Annotated[Path | None, typer.Option(help="front-end cache to clean too")
                         ] = None,
    out: Annotated[Path | None, typer.Option(help="output folder to clean too")] = None,
) -> None:
    """Delete a tenant's calls past retention: rows, cached transcripts, staged audio, files."""
    from qa_pipeline.runner.retention import purge_tenant
    from qa_pipeline.store import Store

    report = purge_tenant(Store(db), tenant, days=days, cache_dir=cache_dir, out_dir=out)
    console.print(f"{tenant}: deleted {len(report.call_ids)} call(s) started before "
                  f"{report.before:%Y-%m-%d %H:%M} UTC and {report.files_deleted} file(s)")


@app.command()
def bench(
    manifests: Annotated[list[Path], typer.Argument(
        help="call manifests (CSV with path), der.tsv / asr_*.tsv style manifests, or "
             "labelled sentiment sets")],
    out: Annotated[Path, typer.Option(help="JSON result file")] = Path("bench.json"),
    markdown: Annotated[Path | None, typer.Option(
        help="Markdown table file (default: beside --out, .md)")] = None,
    naive: Annotated[bool, typer.Option(
        help="also run the naive baseline (models reloaded per file) for a speed ratio")
                     ] = True,
    device: Annotated[str | None, typer.Option(
        help="cpu or cuda for ASR and sentiment (default: each tenant's setting)")] = None,
    compute_type: Annotated[str | None, typer.Option(
        help="CTranslate2 compute type, e.g. float16 on GPUs")] = None,
    asr_batch_size: Annotated[int | None, typer.Option(
        help="batched Whisper decoding (GPU)", min=1, max=64)] = None,
    collar_s: Annotated[float, typer.Option(
        help="DER collar in seconds, centred on reference boundaries", min=0.0)] = 0.25,
    skip_overlap: Annotated[bool, typer.Option(help="do not score overlapped speech")] = False,
    limit: Annotated[int | None, typer.Option(
        help="at most N cases of each kind per manifest (quick runs)", min=1)] = None,
    tenant: Annotated[str, typer.Option(
        help="tenant for manifests that name none (der / asr / sentiment)")] = "default",
) -> None:
    """Measure accuracy (DER, roles, WER/CER, criteria, sentiment), speed and cost on
    labelled calls; writes JSON and a Markdown table.
    """
    from qa_pipeline.bench import BenchOptions, load_suite, markdown_report, run_bench

    suite = load_suite(manifests, default_tenant=tenant).limited(limit)
    options = BenchOptions(collar_s=collar_s, skip_overlap=skip_overlap, naive_baseline=naive,
                           device=device, compute_type=compute_type,
                           asr_batch_size=asr_batch_size, default_tenant=tenant)
    with _progress_hook() as hook:
        result = run_bench(suite, options, hook)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1, ensure_ascii=False), encoding="utf-8")
    md = markdown_report(result)
    md_path = markdown or out.with_suffix(".md")
    md_path.write_text(md, encoding="utf-8")
    typer.echo(md)
    console.print(f"wrote {out} and {md_path}")


@models_app.command("list")
def models_list() -> None:
    """Registered model names and their sources."""
    from qa_pipeline.weights import load_manifest

    for kind, entries in load_manifest().items():
        for name, entry in entries.items():
            typer.echo(f"{kind:16s} {name:16s} {entry['source']:10s} "
                       f"{entry.get('repo_id') or entry.get('pip', '')}")


@models_app.command("resolve")
def models_resolve(
    name: Annotated[str, typer.Argument(help="model name or local path")],
    kind: Annotated[str, typer.Option(help="whisper or speaker_encoder")] = "whisper",
) -> None:
    """Assemble / verify a model and print where it lives."""
    from qa_pipeline.weights import resolve

    try:
        resolved = resolve(kind, name)
    except QAPipelineError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"{resolved.model_id}\n{resolved.path}")


@app.command()
def serve(
    db: Annotated[str | None, typer.Option(help="database URL")] = None,
    host: Annotated[str, typer.Option(help="interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port", min=1, max=65535)] = 8000,
    audio_root: Annotated[list[str] | None, typer.Option(
        help="folder whose recordings may be served, for every tenant (DIR) or for one "
             "tenant only (TENANT=DIR); repeatable; default: the working directory")] = None,
    rubrics: Annotated[list[Path] | None, typer.Option(
        help="rubric files or folders holding every published version (repeatable; "
             "default: the config directory's rubrics/ and the shipped ones)")] = None,
    secure_cookies: Annotated[bool, typer.Option(
        help="mark the session cookie Secure (behind HTTPS)")] = False,
) -> None:
    """Start the review web app (queue, call pages, reviews, disputes, calibration, case
    library, dashboards). The session secret comes from $QA_PIPELINE_SECRET_KEY or the file
    $QA_PIPELINE_SECRET_KEY_FILE; add users with `qa-pipeline users add`.
    """
    import uvicorn

    from qa_pipeline.settings import rubric_dirs
    from qa_pipeline.store import Store
    from qa_pipeline.web.app import create_app
    from qa_pipeline.web.settings import WebSettings, parse_audio_roots, secret_from_env

    shared_roots, tenant_roots = parse_audio_roots(audio_root or [])
    settings = WebSettings(
        secret_key=secret_from_env(),
        rubric_paths=tuple(rubrics or rubric_dirs()),
        audio_roots=shared_roots or (() if tenant_roots else (Path.cwd(),)),
        tenant_audio_roots=tenant_roots, secure_cookies=secure_cookies)
    store = Store(db)
    from qa_pipeline.web.app import empty_store_warning

    warning = empty_store_warning(store)
    if warning:
        console.print(f"[yellow]warning:[/yellow] {warning}")
    uvicorn.run(create_app(store, settings), host=host, port=port, log_level="info")


@users_app.command("add")
def users_add(
    user_id: Annotated[str, typer.Argument(help="sign-in name")],
    role: Annotated[str, typer.Option(
        help="admin, supervisor, qa_monitor, trainer or agent")],
    tenant: Annotated[list[str], typer.Option(help="tenant the user may see (repeatable)")],
    agent_id: Annotated[str, typer.Option(help="for agents: the agent id on their calls")] = "",
    db: Annotated[str | None, typer.Option(help="database URL")] = None,
    password_file: Annotated[Path | None, typer.Option(
        help="read the password from this file (default: $QA_PIPELINE_NEW_PASSWORD, else "
             "asked for)")] = None,
) -> None:
    """Add a user of the review app (the password is never taken from the command line)."""
    from qa_pipeline.review.users import UserDirectory
    from qa_pipeline.store import Store

    if password_file is not None:
        password = password_file.read_text(encoding="utf-8").strip()
    else:
        configured = get_settings().new_password
        password = (configured.get_secret_value() if configured else "") or typer.prompt(
            "password", hide_input=True, confirmation_prompt=True)
    store = Store(db)
    for t in tenant:
        store.register_tenant(t)
    u = UserDirectory(store).create(user_id, password, role=role, tenants=tuple(tenant),
                                    agent_id=agent_id)
    console.print(f"added {u.user_id} ({u.role}) for {', '.join(u.tenants)}")


@app.command("new-key")
def new_key() -> None:
    """Print a new tenant key for encryption at rest (privacy.mode:
    encrypt_and_redact_on_display). Keep it in $QA_PIPELINE_TENANT_KEY_<TENANT> or
    $QA_PIPELINE_KEYS_DIR/<tenant>.key; data sealed with a lost key cannot be read.
    """
    from cryptography.fernet import Fernet

    typer.echo(Fernet.generate_key().decode())


@users_app.command("list")
def users_list(db: Annotated[str | None, typer.Option(help="database URL")] = None) -> None:
    """List users, roles and tenants."""
    from qa_pipeline.review.users import UserDirectory
    from qa_pipeline.store import Store

    for u in UserDirectory(Store(db)).list():
        fields = [u.user_id, u.role, ",".join(u.tenants), u.agent_id]
        typer.echo("\t".join(fields + (["disabled"] if u.disabled else [])))


@db_app.command("upgrade")
def db_upgrade(
    db: Annotated[str | None, typer.Option(
        help="database URL (default: $QA_PIPELINE_DB_URL or sqlite:///qa_pipeline.db)")] = None,
) -> None:
    """Bring the store's schema to this version (run once per release, before workers)."""
    from qa_pipeline.store import Store

    store = Store(db, migrate="skip")
    before = store.schema_revision()
    store.migrate()
    after = store.schema_revision()
    store.close()
    console.print(f"schema {before or '(empty)'} -> {after}" if before != after
                  else f"schema already at {after}")


@db_app.command("backup")
def db_backup(
    file: Annotated[Path, typer.Argument(help="new SQLite file to write the copy to")],
    db: Annotated[str | None, typer.Option(
        help="database URL (default: $QA_PIPELINE_DB_URL or sqlite:///qa_pipeline.db)")] = None,
) -> None:
    """Copy the embedded SQLite store while it is in use (the copy includes the -wal file's
    content).
    """
    from qa_pipeline.store import backup_sqlite, default_db_url

    calls = backup_sqlite(db or default_db_url(), file)
    console.print(f"backed up {calls} calls to {file}")


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except QAPipelineError as e:
        console.print(f"[red]error:[/red] {e}")
        sys.exit(2)
