"""Screenshots of the review app in zh-CN and en (queue, call page, case library, dashboard,
a completed blind calibration session).

    .venv/bin/python docs/screenshots/take_screenshots.py

Builds the review test world (tests/review_fixtures.py: two tenants, three scored calls,
users of every role) in a temporary folder, serves it on 127.0.0.1 and photographs the pages
in Debian's Chromium. The files land beside this script.
"""

from __future__ import annotations

import dataclasses
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from tests.review_fixtures import PASSWORD, build_world  # noqa: E402


def main() -> None:
    """Build the world, serve it and take the screenshots."""
    import uvicorn
    from playwright.sync_api import sync_playwright

    from qa_pipeline.web.app import create_app
    from qa_pipeline.web.i18n import TenantDisplay
    from qa_pipeline.web.settings import WebSettings

    tmp = Path(tempfile.mkdtemp(prefix="callqa-shots-"))
    world = build_world(tmp)
    session_id = _calibration_session(world)
    settings = WebSettings(secret_key=b"s" * 32, rubric_paths=(world.rubric_dir,),
                           audio_roots=(world.audio_dir,),
                           tenant_display=lambda t: TenantDisplay(("zh", "en"), "Asia/Shanghai"))
    settings = dataclasses.replace(settings)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    server = uvicorn.Server(uvicorn.Config(create_app(world.store, settings), host="127.0.0.1",
                                           port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    base = f"http://127.0.0.1:{port}"
    pages = {"queue": "/t/acme/queue",
             "call": f"/t/acme/scorecards/{world.card_ids['call-fatal']}",
             "cases": "/t/acme/cases?criterion_id=unauthorized_promise",
             "dashboard": "/t/acme/dashboard?all_time=true",
             "session": f"/t/acme/calibration/sessions/{session_id}"}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True,
                                    args=["--no-sandbox", "--disable-gpu",
                                          "--disable-background-networking"])
        for lang in ("zh_CN", "en"):
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(f"{base}/login")
            page.fill("input[name=username]", "super")
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url(f"{base}/t/*/queue")
            page.goto(f"{base}/lang/{lang}")
            for name, url in pages.items():
                page.goto(base + url)
                page.screenshot(path=str(HERE / f"{name}_{lang}.png"), full_page=True)
            page.close()
        browser.close()
    server.should_exit = True
    world.store.close()


def _calibration_session(world: object) -> int:
    """A blind calibration session two monitors have handed in (they disagree on the
    unsure call's promise), for its results page.
    """
    from qa_pipeline.review.calibration_sessions import CalibrationSessions
    from qa_pipeline.review.users import UserDirectory

    store = world.store  # type: ignore[attr-defined]
    UserDirectory(store).create("monitor2", PASSWORD, role="qa_monitor", tenants=("acme",))
    sessions = CalibrationSessions(store.tenant("acme"))
    calls = ["call-good", "call-fatal", "call-unsure"]
    sid = sessions.create("Week 45", calls, ["monitor", "monitor2"], created_by="super")
    criteria = sessions.criteria(sid)
    for user, fails in (("monitor", {("call-fatal", "unauthorized_promise"),
                                     ("call-unsure", "unauthorized_promise"),
                                     ("call-unsure", "closing")}),
                        ("monitor2", {("call-fatal", "unauthorized_promise"),
                                      ("call-unsure", "closing")})):
        sessions.submit(sid, user, {
            (call, c["criterion_id"]): ("fail" if (call, c["criterion_id"]) in fails
                                        else "pass", "")
            for call in calls for c in criteria[call]})
    return sid


if __name__ == "__main__":
    main()
