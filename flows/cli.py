"""``qa-pipeline`` with the orchestrated commands: ``run`` (flow ``score_calls`` when a
Prefect API is configured, else the same stages in this process without importing Prefect),
``rescore`` (flow ``rescore``) and ``costs``. The other commands come from
:mod:`qa_pipeline.cli`; :func:`cli_app` adds these to it, so the library stays free of
Prefect. Importing this module registers nothing: the console script (:func:`main`) calls
:func:`cli_app`.
"""

from __future__ import annotations

import atexit
import gc
import json
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

import qa_pipeline.cli as base
from qa_pipeline.settings import overridden

console = base.console


def _prefect_settings(stack: ExitStack) -> None:
    # Heartbeats cost ~1 s per flow run and can only be switched off from Python
    # (../shared/PREFECT.md); the context manager must stay referenced while the flow runs.
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    stack.enter_context(temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}))


def _print_summary(summary: dict[str, Any], json_out: Path | None) -> None:
    for p in summary["processed"]:
        console.print(f"[green]✓[/green] {p['tenant_id']}/{p['call_id']}: "
                      f"{p['total_score']:.1f} {p['grade']}{' FATAL' if p['has_fatal'] else ''}"
                      f"{' (needs review)' if p['needs_review'] else ''}")
    console.print(f"processed: {len(summary['processed'])}, skipped as already done: "
                  f"{len(summary['skipped'])}, quarantined: {len(summary['failed'])}")
    if summary["failed"]:
        table = Table("tenant", "input", "reason", "error")
        for f in summary["failed"]:
            table.add_row(f["tenant_id"], f["source_uri"], f["reason"], f["message"])
        console.print(table)
    if json_out:
        json_out.write_text(json.dumps(summary, ensure_ascii=False, indent=1), encoding="utf-8")


def run(
    paths: Annotated[list[str], typer.Argument(
        help="recordings: files, folders, manifest CSVs or fsspec URLs (s3://...)")],
    tenant: Annotated[str | None, typer.Option(help="tenant of files and folders")] = None,
    db: Annotated[str | None, typer.Option(
        help="database URL (sqlite:///file.db, postgresql+psycopg://...); "
             "default $QA_PIPELINE_DB_URL or sqlite:///qa_pipeline.db")] = None,
    out: Annotated[Path | None, typer.Option(
        help="also write OUT/<call_id>/scorecard.json|html and conversation.json")] = None,
    cache_dir: Annotated[Path, typer.Option(help="front-end cache and staging")
                         ] = Path(".qa_cache"),
    shard_size: Annotated[int, typer.Option(help="calls per Prefect task (prefect only)")
                          ] = 16,
    asr_model: Annotated[str | None, typer.Option(help="Whisper model override")] = None,
    diarizer: Annotated[str | None, typer.Option(help="mono diarizer override")] = None,
    sentiment: Annotated[str | None, typer.Option(help="sentiment backend override")] = None,
    rubric: Annotated[str | None, typer.Option(help="rubric YAML override")] = None,
    orchestrator: Annotated[str | None, typer.Option(
        help="prefect (the score_calls flow; Prefect's API in-process unless one is "
             "configured), local (the same stages in this process, without Prefect) or auto "
             "(prefect when a Prefect API is configured, else local); default "
             "$QA_PIPELINE_ORCHESTRATOR or auto")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="write the summary as JSON")
                        ] = None,
) -> None:
    """Score recordings into the store: through Prefect when a Prefect API is configured,
    else in this process (see --orchestrator).
    """
    from flows.startup import resolve_orchestrator
    from qa_pipeline.settings import ORCHESTRATORS

    if orchestrator is not None and orchestrator not in ORCHESTRATORS:
        raise typer.BadParameter(f"unknown orchestrator {orchestrator!r}; valid: "
                                 f"{', '.join(ORCHESTRATORS)}", param_hint="--orchestrator")
    with overridden(db_url=db, orchestrator=orchestrator) as settings:
        how = resolve_orchestrator(settings.orchestrator)
        params: dict[str, Any] = {
            "out_dir": str(out) if out else None, "cache_dir": str(cache_dir),
            "asr_model": asr_model, "diarizer": diarizer, "sentiment": sentiment,
            "rubric": rubric}
        if how == "local":
            summary = _run_local(paths, tenant, params)
        else:
            summary = _run_prefect(paths, tenant, shard_size, params)
    _print_summary(summary, json_out)
    if summary["failed"]:
        raise typer.Exit(1)


def _run_local(paths: list[str], tenant: str | None, params: dict[str, Any]
               ) -> dict[str, Any]:
    """The flow's stages in this process, without Prefect: the same runner, store, options
    and summary keys as :func:`flows.score_calls.score_calls`.
    """
    from flows.common import open_store, options_from
    from qa_pipeline.settings import get_settings

    report = base.run_batch(paths, tenant, options_from(params), open_store())
    summary = report.to_dict()
    return {"run_id": summary["run_id"], "worker": get_settings().worker_name,
            "processed": summary["processed"], "skipped": summary["skipped"],
            "failed": summary["failed"]}


def _run_prefect(paths: list[str], tenant: str | None, shard_size: int,
                 params: dict[str, Any]) -> dict[str, Any]:
    """The ``score_calls`` flow (Prefect's API in this process unless one is configured)."""
    from flows.common import open_store, options_from
    from flows.score_calls import score_calls
    from flows.startup import warm_start
    from qa_pipeline.runner import BatchRunner, warmup

    options = options_from(params)
    # The URL reaches the flow's tasks through the settings, never as a flow parameter
    # (Prefect stores and shows parameters; the URL may hold a password).
    with ExitStack() as stack:
        _prefect_settings(stack)
        # The store opens and the models load in a thread while Prefect's API starts (in
        # this process, unless one is configured), and beside the flow's first calls (the
        # tasks find them in the process's caches or wait for them); without --tenant, only
        # the models every tenant needs.
        # The warm-up ends before the settings above are restored; the local API stops
        # first, once the run's events and logs are recorded.
        stack.callback(warmup.wait)

        def prepare() -> None:
            open_store()
            BatchRunner(None, options).prepare([tenant] if tenant else [])

        stack.enter_context(warm_start(prepare))
        summary: dict[str, Any] = score_calls(
            inputs=paths, tenant=tenant, shard_size=shard_size, **params)
    return summary


def rescore(
    tenant: Annotated[str, typer.Option(help="tenant whose stored calls to re-score")],
    rubric: Annotated[str | None, typer.Option(help="rubric YAML (default: the tenant's)")
                      ] = None,
    since: Annotated[str | None, typer.Option(help="calls started at or after (ISO 8601)")
                     ] = None,
    until: Annotated[str | None, typer.Option(help="calls started before (ISO 8601)")] = None,
    db: Annotated[str | None, typer.Option(help="database URL")] = None,
    out: Annotated[Path | None, typer.Option(help="also write scorecard files here")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="write the summary as JSON")
                        ] = None,
) -> None:
    """Re-score stored conversations with a new rubric version (no ASR)."""
    from flows.common import open_store
    from flows.rescore import rescore as rescore_flow
    from flows.startup import warm_start
    from qa_pipeline.runner import BatchRunner, RunOptions, warmup

    with ExitStack() as stack:
        stack.enter_context(overridden(db_url=db))
        _prefect_settings(stack)
        stack.callback(warmup.wait)

        def prepare() -> None:  # no audio: the scoring models only
            open_store()
            BatchRunner(None, RunOptions(rubric=rubric)).prepare([tenant], frontend=False)

        stack.enter_context(warm_start(prepare))
        summary = rescore_flow(tenant=tenant, rubric=rubric, since=since, until=until,
                               out_dir=str(out) if out else None)
    summary.setdefault("skipped", [])
    _print_summary(summary, json_out)
    if summary["failed"]:
        raise typer.Exit(1)


def costs(
    tenant: Annotated[str, typer.Option(help="tenant")],
    db: Annotated[str | None, typer.Option(help="database URL")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of a table")
                       ] = False,
) -> None:
    """Processing seconds per business line (and per call) of one tenant."""
    from qa_pipeline.store import Store

    rows = Store(db).tenant(tenant).cost_rollup()
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=1))
        return
    table = Table("business line", "calls", "wall s", "CPU s", "GPU s", "wall s/call",
                  "CPU s/call", "GPU s/call")
    for r in rows:
        table.add_row(r["business_line"] or "-", str(r["calls"]), f"{r['wall_s']:.1f}",
                      f"{r['cpu_s']:.1f}", f"{r['gpu_s']:.1f}", f"{r['wall_s_per_call']:.2f}",
                      f"{r['cpu_s_per_call']:.2f}", f"{r['gpu_s_per_call']:.2f}")
    console.print(table)


_COMMANDS: dict[str, Callable[..., None]] = {"run": run, "rescore": rescore, "costs": costs}


def cli_app() -> typer.Typer:
    """The full ``qa-pipeline`` app: the library's commands plus the orchestrated ones
    (added once; later calls return the same app).
    """
    registered = {c.name for c in base.app.registered_commands}
    for name, command in _COMMANDS.items():
        if name not in registered:
            base.app.command(name)(command)
    return base.app


def main() -> None:
    """Console-script entry point (``qa-pipeline``)."""
    from flows import prefect_defaults

    prefect_defaults()
    # Registered first, so it runs after every other exit handler (Prefect's server stop and
    # log flush). The interpreter's last garbage collections walk every object of the
    # loaded libraries (Prefect's server, librosa, Whisper) for seconds, only to free memory
    # the process is about to give back; frozen objects are left out of them. Everything
    # the commands write is closed or committed before they return.
    atexit.register(gc.freeze)
    cli_app()
    base.main()


if __name__ == "__main__":
    main()
