from __future__ import annotations

import pytest
from pao_common.settings import Profile, Settings
from pao_common.topics import Topics


def test_profiles_pick_fetch_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings(profile=Profile.TEST).fetch_max_wait_ms == 5
    assert Settings(profile=Profile.PRODUCTION).fetch_max_wait_ms == 500
    monkeypatch.setenv("PAO_KAFKA_FETCH_MAX_WAIT_MS", "50")
    assert Settings(profile=Profile.PRODUCTION).fetch_max_wait_ms == 50


def test_env_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAO_PROFILE", "production")
    monkeypatch.setenv("PAO_REDIS_URL", "")
    s = Settings()
    assert s.profile is Profile.PRODUCTION
    assert not s.redis_enabled


def test_topics_with_suffix() -> None:
    t = Topics(".t-1")
    assert t.request_commands == "pao.requests.commands.t-1"
    assert t.actions("debug.log") == "pao.actions.debug.t-1"
    assert t.actions("github-workflow") == "pao.actions.github-workflow.t-1"
    assert len(t.core()) == 6
