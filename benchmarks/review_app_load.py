"""Review app under load: queue and dashboard pages with 100,000 scorecards in the store.

    .venv/bin/qa-pipeline run data_samples/manifest.csv --out out     # real cards to copy
    .venv/bin/python benchmarks/review_app_load.py --out benchmarks/results/review_app_load.json

Builds a SQLite store (``benchmarks/tmp/``) with ``--cards`` scorecards for tenant ``acme``
(copies of the real ``out/*/scorecard.json`` cards, ~15 KB each, with varied agents, teams,
days, outcomes, sentiment and work-order types; one item row per criterion) plus 1,000 for a
second tenant, starts ``qa-pipeline serve``'s app in its own process on loopback, signs in as
a supervisor and requests each page ``--requests`` times from a thread pool in this process,
once with one request in flight and once with ``--concurrency``; all of it twice: with the
dashboard cache off (every dashboard computed from the store) and on (the app's default).
Reports p50 / p95 / p99.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
PASSWORD = "bench-password-123"

_SERVER = r"""
import sys, uvicorn
from pathlib import Path
from qa_pipeline.store import Store
from qa_pipeline.web import WebSettings, create_app
url, port, rubrics, cache = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
settings = WebSettings(secret_key=b"b" * 32, rubric_paths=(Path(rubrics),),
                       audio_roots=(Path.cwd(),), dashboard_cache_entries=cache)
uvicorn.run(create_app(Store(url), settings), host="127.0.0.1", port=port,
            log_level="warning")
"""


def build_store(url: str, n_cards: int, seed: int = 7) -> dict[str, Any]:
    """Fill a store with ``n_cards`` current scorecards (plus 1,000 of another tenant)."""
    from sqlalchemy import insert

    from qa_pipeline.review.users import UserDirectory
    from qa_pipeline.store import Store
    from qa_pipeline.store.summary import best_word_probability
    from qa_pipeline.store.tables import Call, ScorecardDocument, ScorecardItemRow, ScorecardRow

    templates = [json.loads(p.read_text(encoding="utf-8"))
                 for p in sorted((REPO / "out").glob("*/scorecard.json"))]
    if not templates:
        sys.exit("no out/*/scorecard.json: run README's first command first")
    rng = random.Random(seed)
    store = Store(url)
    t0 = time.perf_counter()
    today = dt.date.today()
    reasons = ["inquiry", "lookup", "complaint", "request", ""]
    next_id = 1
    for tenant, count in (("acme", n_cards), ("globex", 1000)):
        store.register_tenant(tenant)
        calls, cards, docs, items = [], [], [], []
        for k in range(count):
            tpl = templates[k % len(templates)]
            call_id = f"{tenant}-{k:07d}"
            agent = f"agent-{rng.randrange(200):03d}"
            team = f"team-{int(agent[-3:]) // 15:02d}"
            day = today - dt.timedelta(days=rng.randrange(60))
            start = dt.datetime.combine(day, dt.time(8)) + dt.timedelta(
                seconds=rng.randrange(10 * 3600))
            fatal = rng.random() < 0.04
            non_fatal = rng.random() < 0.15
            review = rng.random() < 0.08
            score = 0.0 if fatal else round(rng.uniform(60, 100), 2)
            grade = ("A" if score >= 95 else "B" if score >= 90 else "C" if score >= 80
                     else "D" if score > 70 else "E")
            calls.append({"tenant_id": tenant, "call_id": call_id, "sha256": f"{k:064x}",
                          "source_uri": "", "agent_id": agent, "team_id": team,
                          "business_line": "", "started_at": start.isoformat(),
                          "started_at_utc": start, "direction": "inbound",
                          "channel_layout": "stereo", "duration_s": 300.0, "language": "zh",
                          "config_key": "", "status": "scored", "updated_at": start})
            data = {**tpl, "call_id": call_id, "tenant_id": tenant, "total_score": score,
                    "grade": grade, "has_fatal": fatal, "has_non_fatal_error": non_fatal,
                    "needs_review": review,
                    "call": {**tpl["call"], "call_id": call_id, "agent_id": agent,
                             "team_id": team, "started_at": start.isoformat()}}
            cards.append({"id": next_id, "tenant_id": tenant, "call_id": call_id,
                          "rubric_id": tpl["rubric_id"], "rubric_version": tpl["rubric_version"],
                          "total_score": score, "grade": grade, "has_fatal": fatal,
                          "has_non_fatal_error": non_fatal, "needs_review": review,
                          "data": data, "run_id": "bench", "created_at": start, "current": True,
                          "agent_id": agent, "team_id": team, "started_at_utc": start,
                          "call_day": day.isoformat(),
                          "sentiment_end": rng.choice(["negative", "neutral", "positive"]),
                          "call_reason": rng.choice(reasons),
                          "human_reviewed": rng.random() < 0.02})
            docs.append({"scorecard_id": next_id, "tenant_id": tenant, "data": data})
            for it in tpl["items"]:
                status = it["status"]
                if fatal and it["severity"] == "fatal" and it["kind"] == "error":
                    status = "fail"
                items.append({"tenant_id": tenant, "scorecard_id": next_id,
                              "criterion_id": it["criterion_id"], "severity": it["severity"],
                              "status": status, "points_earned": it["points_earned"],
                              "points_possible": it["points_possible"],
                              "provisional_status": it["provisional_status"],
                              "human_status": None, "verdict": status, "current": True,
                              "call_day": day.isoformat(), "agent_id": agent, "team_id": team,
                              "evidence_confidence": best_word_probability(it)})
            next_id += 1
            if len(cards) >= 2000 or k == count - 1:
                with store.engine.begin() as conn:
                    conn.execute(insert(Call), calls)
                    conn.execute(insert(ScorecardRow), cards)
                    conn.execute(insert(ScorecardDocument), docs)
                    conn.execute(insert(ScorecardItemRow), items)
                calls, cards, docs, items = [], [], [], []
    with store.engine.begin() as conn:
        # The failure tallies the store keeps in step with items (as migration 0002 fills them).
        conn.exec_driver_sql(
            "INSERT INTO failure_tallies (tenant_id, call_day, agent_id, team_id, criterion_id, "
            "severity, failures) SELECT tenant_id, call_day, agent_id, team_id, criterion_id, "
            "severity, count(*) FROM scorecard_items WHERE current AND verdict = 'fail' "
            "GROUP BY tenant_id, call_day, agent_id, team_id, criterion_id, severity")
        conn.exec_driver_sql(
            "INSERT INTO failure_tallies (tenant_id, call_day, agent_id, team_id, criterion_id, "
            "severity, failures) SELECT tenant_id, call_day, '*', '*', criterion_id, "
            "severity, count(*) FROM scorecard_items WHERE current AND verdict = 'fail' "
            "GROUP BY tenant_id, call_day, criterion_id, severity")
        conn.exec_driver_sql("ANALYZE")
    UserDirectory(store).create("bench", PASSWORD, role="supervisor", tenants=("acme",))
    store.close()
    return {"cards": n_cards, "other_tenant_cards": 1000, "build_s": round(
        time.perf_counter() - t0, 1)}


def _free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = int(s.getsockname()[1])
    s.close()
    return port


def measure(base: str, paths: list[str], requests: int, concurrency: int) -> dict[str, Any]:
    """Latency per path: ``requests`` GETs with ``concurrency`` in flight."""
    import httpx

    login = httpx.post(f"{base}/login", data={"username": "bench", "password": PASSWORD})
    cookie = login.cookies.get("callqa_session") or next(
        (r.cookies.get("callqa_session") for r in login.history), None)
    if not cookie:
        raise RuntimeError(f"sign-in failed: {login.status_code}")
    out = {}
    with httpx.Client(base_url=base, cookies={"callqa_session": cookie}, timeout=60,
                      limits=httpx.Limits(max_connections=concurrency)) as client:
        for path in paths:
            client.get(path).raise_for_status()  # warm (imports, templates, page cache)

            def one(_: int, path: str = path) -> float:
                t = time.perf_counter()
                r = client.get(path)
                r.raise_for_status()
                return (time.perf_counter() - t) * 1000

            t0 = time.perf_counter()
            with ThreadPoolExecutor(concurrency) as pool:
                ms = sorted(pool.map(one, range(requests)))
            wall = time.perf_counter() - t0
            q = statistics.quantiles(ms, n=100)
            out[path] = {"p50_ms": round(q[49], 1), "p95_ms": round(q[94], 1),
                         "p99_ms": round(q[98], 1), "mean_ms": round(statistics.fmean(ms), 1),
                         "requests_per_s": round(requests / wall, 1)}
    return out


@contextlib.contextmanager
def _server(url: str, cache_entries: int) -> Iterator[str]:
    """The app in its own process on a free loopback port."""
    import httpx

    port = _free_port()
    server = subprocess.Popen([sys.executable, "-c", _SERVER, url, str(port),
                               str(REPO / "rubrics"), str(cache_entries)], cwd=REPO,
                              env={**os.environ, "PYTHONPATH": str(REPO)})
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("server did not start")
            time.sleep(0.2)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--db", type=Path, default=REPO / "benchmarks/tmp/review_load.db")
    ap.add_argument("--cards", type=int, default=100_000)
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--rebuild", action="store_true", help="rebuild the store even if present")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks/results/review_app_load.json")
    a = ap.parse_args()
    url = f"sqlite:///{a.db}"
    build: dict[str, Any] = {"reused": True}
    if a.rebuild or not a.db.exists():
        a.db.parent.mkdir(parents=True, exist_ok=True)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{a.db}{suffix}").unlink(missing_ok=True)
        build = build_store(url, a.cards)
        print(f"built {a.cards} cards in {build['build_s']} s", file=sys.stderr)
    day = (dt.date.today() - dt.timedelta(days=7)).isoformat()
    paths = ["/t/acme/queue", "/t/acme/queue?needs_review=true",
             "/t/acme/queue?agent=agent-017", "/t/acme/queue?team=team-03&fatal=true",
             f"/t/acme/queue?grade=E&day_from={day}", "/t/acme/queue?sentiment=negative",
             "/t/acme/queue?offset=5000", "/api/t/acme/queue?limit=50",
             "/t/acme/dashboard", "/t/acme/dashboard?grouping=day",
             "/t/acme/dashboard?grouping=team_day", f"/t/acme/dashboard?day_from={day}",
             "/t/acme/dashboard?team=team-03"]
    results: dict[str, Any] = {}
    # Cold: every dashboard computed from the store. Cached: the app reuses a dashboard while
    # the tenant's data version is unchanged (its default), as between two batches.
    for label, cache in (("cold", 0), ("cached", 256)):
        with _server(url, cache) as base:
            results[f"{label}_serial"] = measure(base, paths, a.requests, 1)
            results[f"{label}_concurrency_{a.concurrency}"] = measure(base, paths, a.requests,
                                                                      a.concurrency)
    worst = {k: max(v["p95_ms"] for v in r.values()) for k, r in results.items()}
    doc = {"date": dt.date.today().isoformat(), "machine": f"{os.cpu_count()} cores",
           "store": {"backend": "sqlite", **build, "db_bytes": a.db.stat().st_size},
           "requests_per_path": a.requests, "worst_p95_ms": worst, "results": results}
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    for mode, r in results.items():
        print(f"\n{mode}\n| path | p50 ms | p95 ms | p99 ms | req/s |\n|---|---|---|---|---|")
        for path, m in r.items():
            print(f"| `{path}` | {m['p50_ms']} | {m['p95_ms']} | {m['p99_ms']} | "
                  f"{m['requests_per_s']} |")
    print(f"\nworst p95: {worst}")


if __name__ == "__main__":
    main()
