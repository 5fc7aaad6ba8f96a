"""The review app over a review world (tests/review_fixtures.py)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from qa_pipeline.web.app import create_app
from qa_pipeline.web.settings import WebSettings
from tests.review_fixtures import PASSWORD, build_world


@pytest.fixture
def world(tmp_path):
    w = build_world(tmp_path)
    yield w
    w.store.close()


@pytest.fixture
def settings(world):
    return WebSettings(secret_key=b"k" * 32, rubric_paths=(world.rubric_dir,),
                       audio_roots=(world.audio_dir,), login_attempts=3)


@pytest.fixture
def app(world, settings):
    return create_app(world.store, settings)


@pytest.fixture
def client_for(app):
    def make(user: str | None) -> TestClient:
        c = TestClient(app)
        if user is not None:
            r = c.post("/login", data={"username": user, "password": PASSWORD},
                       follow_redirects=False)
            assert r.status_code == 303, r.text
        return c
    return make
