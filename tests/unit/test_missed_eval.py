"""benchmarks/missed_eval.py: the monitors it plays point at the turn that carries each
planted violation, which is the utterance of the same index in the text call."""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "benchmarks"))

import labelled_calls as lc  # noqa: E402
import labelled_eval as le  # noqa: E402
import missed_eval as me  # noqa: E402
import scripted_calls as sc  # noqa: E402


def test_planted_turns_are_the_utterances_that_say_the_violation():
    blocks = lc.half_phrasings("tune")
    seen = set()
    for pc in lc.plan("tune", per_language=8):
        conv = sc.to_conversation(le.to_scripted(pc))
        for cid, label in pc.expected.items():
            turns = me.planted_turns(pc, cid)
            if cid in ("abusive_language", "unauthorized_promise", "forbidden_phrases",
                       "closing", "greeting"):
                # A planted violation has its turn; a clean call has none of these blocks.
                assert bool(turns) == (label == "fail"), (pc.call.name, cid)
            for i in turns:
                block = me.PLANTED[cid]
                texts = {p.text.strip() for b in block
                         for p in blocks[(pc.call.language, b)]}
                assert conv.utterances[i].text in texts
                seen.add(cid)
    assert {"abusive_language", "unauthorized_promise"} <= seen
