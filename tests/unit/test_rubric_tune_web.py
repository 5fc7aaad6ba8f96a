"""The calibration page shows the tenant's last rubric tuning: before / after agreement per
criterion on the held-out reviews, what changed, and whether it was published (zh-CN, en).
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
from fastapi.testclient import TestClient

from qa_pipeline.review.tuning import tuning_report
from qa_pipeline.rubric.loader import load_rubric_text
from qa_pipeline.rubric.tune import (
    Comparison,
    ComparisonRow,
    Counts,
    CriterionTuning,
    TuneOptions,
    TuningResult,
)
from qa_pipeline.settings import overridden
from qa_pipeline.web.app import create_app
from qa_pipeline.web.settings import WebSettings
from tests.review_fixtures import PASSWORD, RUBRIC, build_world


def _report(published: bool) -> dict:
    current = load_rubric_text(RUBRIC)
    candidate = load_rubric_text(RUBRIC.replace("version: 3", "version: 4"))
    greeting = ComparisonRow("greeting", Counts(10, 4, 4, 6, 0), Counts(10, 10, 4, 0, 0))
    closing = ComparisonRow("closing", Counts(10, 9, 1, 0, 1),
                            Counts(10, 9 if published else 7, 1, 0, 1))
    comparison = Comparison(current.ref, candidate.ref, 10, (greeting, closing))
    change = CriterionTuning("greeting", "min_probability", "rule", 0.99, 0.45, 0.5, 0.96, 24)
    other = CriterionTuning("closing", "min_probability", "rule.anchor", None, 0.3, 0.9, 0.95,
                            24)
    result = TuningResult({}, candidate, (change, other), (), tuple(f"t{i}" for i in range(24)),
                          tuple(f"h{i}" for i in range(10)))
    return tuning_report("acme", current, candidate, result, comparison, TuneOptions(),
                         reviewed=34, missing=0, created_at=dt.datetime(2026, 12, 6, 12, 0),
                         publish=published, dry_run=False,
                         reason="" if published else "regressed on held-out reviews: closing")


@pytest.fixture
def site(tmp_path):
    world = build_world(tmp_path)
    settings = WebSettings(secret_key=b"k" * 32, rubric_paths=(world.rubric_dir,),
                           audio_roots=(world.audio_dir,))
    client = TestClient(create_app(world.store, settings))
    r = client.post("/login", data={"username": "admin", "password": PASSWORD},
                    follow_redirects=False)
    assert r.status_code == 303
    config = tmp_path / "config"
    (config / "tuning" / "acme").mkdir(parents=True)
    yield client, config
    world.store.close()


def _write(config, report: dict) -> None:
    (config / "tuning" / "acme" / "last-report.json").write_text(json.dumps(report),
                                                                  encoding="utf-8")


def test_calibration_page_shows_the_last_tuning_in_english_and_chinese(site):
    client, config = site
    _write(config, _report(published=True))
    with overridden(config_dir=config):
        client.get("/lang/en?next=/")
        page = client.get("/t/acme/calibration").text
        assert "Last rubric tuning from reviews" in page
        assert "review_demo@3 → review_demo@4" in page
        assert "24 reviewed calls" in page and "10 held-out calls" in page
        assert "Published: the tenant now scores with review_demo@4." in page
        row = page.split('data-criterion="greeting">', 2)[-1].split("</tr>")[0]
        assert "40.0%" in row and "100.0%" in row and "improved" in row
        assert "act probability threshold" in page and "0.99" in page and "0.45" in page
        # None: the act model's own threshold.
        assert "<td>model threshold</td><td>0.3</td>" in page
        client.get("/lang/zh_CN?next=/")
        zh = client.get("/t/acme/calibration").text
        for text in ("最近一次基于复核结果的规则调优", "已发布", "提升", "调优前一致率",
                     "动作概率阈值", "模型默认阈值"):
            assert text in zh, text
        # Another tenant's page shows no tuning (none was run for it).
        assert "tuning-comparison" not in client.get("/t/globex/calibration").text


def test_a_refused_tuning_names_what_regressed(site):
    client, config = site
    _write(config, _report(published=False))
    with overridden(config_dir=config):
        client.get("/lang/en?next=/")
        page = client.get("/t/acme/calibration").text
    assert "Not published: kept as a candidate file." in page
    assert "Regressed: closing" in page
    assert 'class="change-regressed" data-criterion="closing"' in page


def test_no_tuning_no_section(site):
    client, _config = site
    assert "Last rubric tuning" not in client.get("/t/acme/calibration").text
