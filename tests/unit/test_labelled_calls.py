"""benchmarks/labelled_calls.py: the labelled call plan, its phrasing halves and their data."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "benchmarks"))

import labelled_calls as lc  # noqa: E402


def _fingerprint(calls: list[lc.PlannedCall]) -> list[tuple[object, ...]]:
    return [(pc.call.name, pc.call.layout, pc.call.subtype, tuple(pc.expected.items()),
             pc.phrasing_ids, tuple((t.role, t.text, t.pause_s, t.overlap_s)
                                    for t in pc.call.turns)) for pc in calls]


@pytest.mark.parametrize("half", lc.HALVES)
def test_every_block_has_five_phrasings_per_language(half: str) -> None:
    phrasings = lc.load_phrasings(lc.PHRASING_FILES[half], half)
    for lang in lc.LANGS:
        for block in lc.BLOCK_NAMES:
            texts = {p.text for p in phrasings[(lang, block)]}
            assert len(texts) >= 5, (half, lang, block)


def test_the_count_check_rejects_a_short_block() -> None:
    phrasings = dict(lc.half_phrasings("tune"))
    phrasings[("en", "abuse")] = phrasings[("en", "abuse")][:4]
    with pytest.raises(ValueError, match="en abuse: 4"):
        lc.check_counts(phrasings)


@pytest.mark.parametrize("half", lc.HALVES)
def test_plan_is_deterministic(half: str) -> None:
    assert _fingerprint(lc.plan(half)) == _fingerprint(lc.plan(half))
    assert _fingerprint(lc.plan(half)) != _fingerprint(lc.plan(half, seed=7))


@pytest.mark.parametrize("half", lc.HALVES)
def test_a_call_draws_every_turn_from_its_own_half(half: str) -> None:
    by_id = {p.id: p for group in lc.half_phrasings(half).values() for p in group}
    for pc in lc.plan(half):
        assert pc.half == half and len(pc.phrasing_ids) == len(pc.call.turns)
        for turn, pid in zip(pc.call.turns, pc.phrasing_ids, strict=True):
            assert pid.startswith(f"{half}:{pc.call.language}:")
            assert by_id[pid].text == turn.text
        assert pc.to_dict()["turns"][0]["phrasing"] == pc.phrasing_ids[0]


def test_halves_share_the_violation_draw_and_differ_in_wording() -> None:
    tune, test = lc.plan("tune"), lc.plan("test")
    assert [pc.expected for pc in tune] == [pc.expected for pc in test]
    assert [(pc.call.layout, pc.call.subtype, len(pc.call.turns)) for pc in tune] == \
        [(pc.call.layout, pc.call.subtype, len(pc.call.turns)) for pc in test]
    assert {pc.call.name for pc in tune}.isdisjoint(pc.call.name for pc in test)
    differ = [a.call.turns[0].text != b.call.turns[0].text
              for a, b in zip(tune, test, strict=True)]
    assert sum(differ) > 24


@pytest.mark.parametrize("half", lc.HALVES)
def test_each_language_has_24_calls_half_stereo_half_mono_and_both_outcomes(half: str) -> None:
    calls = lc.plan(half)
    for lang in lc.LANGS:
        mine = [pc for pc in calls if pc.call.language == lang]
        assert len(mine) == 24
        assert sum(pc.call.layout == "mono" for pc in mine) == 12
        assert sum(pc.call.layout == "stereo" for pc in mine) == 12
        for criterion in lc.CRITERIA:
            assert {pc.expected[criterion] for pc in mine} >= {"pass", "fail"}, criterion


def test_the_deal_uses_every_phrasing_of_a_block_before_repeating() -> None:
    phrasings = lc.half_phrasings("test")
    calls = lc.plan("test")
    greetings = [pid for pc in calls if pc.call.language == "zh"
                 for pid in pc.phrasing_ids if ":greeting_ok:" in pid]
    n = len(phrasings[("zh", "greeting_ok")])
    assert len(greetings) >= n
    assert len(set(greetings[:n])) == n


def test_bad_phrasing_files_are_rejected(tmp_path: Path) -> None:
    path = tmp_path / "p.tsv"
    path.write_text("lang\tblock\n", encoding="utf-8")
    with pytest.raises(ValueError, match="first line"):
        lc.load_phrasings(path, "tune")
    path.write_text("lang\tblock\ttext\nen\tgreeting_maybe\tHello.\n", encoding="utf-8")
    with pytest.raises(ValueError, match="unknown block"):
        lc.load_phrasings(path, "tune")
    path.write_text("lang\tblock\ttext\nfr\tabuse\tIdiot.\n", encoding="utf-8")
    with pytest.raises(ValueError, match="language"):
        lc.load_phrasings(path, "tune")
    path.write_text("lang\tblock\ttext\nen\tabuse\tIdiot.\nen\tabuse\tIdiot.\n",
                    encoding="utf-8")
    with pytest.raises(ValueError, match="repeats"):
        lc.load_phrasings(path, "tune")
    with pytest.raises(ValueError, match="half"):
        lc.plan("dev")
