"""Compose labelled synthetic calls with planted violations for every default criterion.

Each call is assembled from script blocks (greeting, verification, disclosure, complaint,
empathy, forbidden phrase, abuse, promise, dead air or announced hold, interruption, closing);
a seeded draw decides which blocks misbehave, and the labels follow from the draw. The
scripts are pure data (no TTS here), so the same seed always yields the same set:

    python benchmarks/labelled_calls.py --list            # show the plan
    /tmp/tts/bin/python benchmarks/labelled_calls.py --render benchmarks/tmp/labelled

Rendering needs the TTS venv of data_samples/README.md; audio goes to a git-ignored folder.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from dataclasses import replace
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "data_samples"))

from scripts import Call, Turn  # noqa: E402

A, C = "agent", "customer"

BLOCKS = {
    "zh": {
        "greeting_ok": "您好，很高兴为您服务，请问有什么可以帮您？",
        "greeting_bad": "喂，什么事？",
        "customer_opening": "你好，我想问一下我的订单。",
        "ask_verify": "好的，请先提供一下您的手机号后四位，我帮您核实身份。",
        "customer_verify": "后四位是二四六八。",
        "verified": "好的，身份已经核实，谢谢您。",
        "disclose": "您的账户余额是一百二十元，订单已经发货了。",
        "complaint": "都一个星期了还没到，我要投诉你们！",
        "empathy": "非常抱歉给您带来不便，我马上帮您催一下。",
        "no_empathy": "订单在路上了，您再等等。",
        "forbidden": "这个我不清楚，这不归我管。",
        "abuse": "你听不懂吗？真是有病。",
        "promise": "我保证明天给您送到，再给您赔偿五十元。",
        "hold": "请稍等，我帮您查一下。",
        "after_hold": "让您久等了，已经查到了。",
        "filler_agent": "物流显示包裹已经到达本地的分拣中心了。",
        "filler_customer": "好的，那大概什么时候能送到？",
        "answer": "预计两到三天内送达，请您留意快递员的电话。",
        "closing_ask": "请问还有其他可以帮您的吗？",
        "customer_bye": "没有了，谢谢。",
        "closing_thanks": "感谢您的来电，祝您生活愉快，再见。",
        "curt_end": "行，那就这样。",
    },
    "en": {
        "greeting_ok": "Thank you for calling Acme support. How can I help you today?",
        "greeting_bad": "Yeah, what is it?",
        "customer_opening": "Hi, I have a question about my order.",
        "ask_verify": ("Sure, before I look at your account, can you please verify your "
                       "date of birth?"),
        "customer_verify": "It is the fifth of June, nineteen eighty.",
        "verified": "Thank you, you are verified.",
        "disclose": "Your account balance is one hundred dollars and your order was shipped.",
        "complaint": "It has been a week and it still has not arrived. I want to make a complaint.",
        "empathy": "I am so sorry for the inconvenience, let me chase that for you.",
        "no_empathy": "The parcel is on its way, just wait.",
        "forbidden": "I do not know, that is not my problem.",
        "abuse": "Are you deaf? That is a stupid question.",
        "promise": "I guarantee it will arrive tomorrow and you will get a full refund.",
        "hold": "Please hold while I check that.",
        "after_hold": "Thanks for waiting, I found it.",
        "filler_agent": "The tracking shows it reached the local depot this morning.",
        "filler_customer": "Okay, so when will it be delivered?",
        "answer": "It should be delivered within two to three days.",
        "closing_ask": "Is there anything else I can help you with?",
        "customer_bye": "No, that is all, thanks.",
        "closing_thanks": "Thank you for calling, have a great day.",
        "curt_end": "Okay, bye.",
    },
}

CRITERIA = ("greeting", "identity_verification", "forbidden_phrases", "abusive_language",
            "unauthorized_promise", "empathy_on_complaint", "closing", "dead_air",
            "interruption", "customer_complaint")


def plan(seed: int = 20261123, per_language: int = 24) -> list[tuple[Call, dict[str, str]]]:
    """The labelled calls: (script, expected outcome per criterion)."""
    rng = random.Random(seed)
    calls = []
    for lang in ("zh", "en"):
        b = BLOCKS[lang]
        for i in range(per_language):
            # Violations are drawn so each criterion has both outcomes in the set; call 0 of
            # each language is clean and call 1 breaks everything.
            p = 0.0 if i == 0 else 1.0 if i == 1 else 0.3
            bad = {c: rng.random() < p for c in CRITERIA}
            complaint = bad["customer_complaint"] or bad["empathy_on_complaint"]
            disclose = rng.random() < 0.8 or bad["identity_verification"]
            hold = not bad["dead_air"] and rng.random() < 0.3
            turns: list[Turn] = [Turn(A, b["greeting_bad" if bad["greeting"] else "greeting_ok"])]
            turns.append(Turn(C, b["complaint"] if complaint else b["customer_opening"]))
            if complaint:
                turns.append(Turn(A, b["no_empathy" if bad["empathy_on_complaint"] else
                                       "empathy"]))
                turns.append(Turn(C, b["filler_customer"]))
            if bad["identity_verification"]:
                turns.append(Turn(A, b["disclose"]))
            else:
                turns += [Turn(A, b["ask_verify"]), Turn(C, b["customer_verify"]),
                          Turn(A, b["verified"])]
                if disclose:
                    turns.append(Turn(A, b["disclose"]))
            if hold:
                turns += [Turn(A, b["hold"], pause_s=10.0), Turn(A, b["after_hold"])]
            if bad["dead_air"]:
                # 9 s of unannounced silence after the agent's last turn. (Not after the
                # customer's next turn: an interruption there would overlap it away.)
                turns[-1] = replace(turns[-1], pause_s=9.0)
            turns.append(Turn(C, b["filler_customer"]))
            if bad["interruption"]:
                turns.append(Turn(A, b["filler_agent"], overlap_s=1.5))
            else:
                turns.append(Turn(A, b["answer"]))
            if bad["forbidden_phrases"]:
                turns.append(Turn(A, b["forbidden"]))
            if bad["abusive_language"]:
                turns.append(Turn(A, b["abuse"]))
            if bad["unauthorized_promise"]:
                turns.append(Turn(A, b["promise"]))
            if bad["closing"]:
                turns.append(Turn(A, b["curt_end"]))
            else:
                turns += [Turn(A, b["closing_ask"]), Turn(C, b["customer_bye"]),
                          Turn(A, b["closing_thanks"])]
            layout = "stereo" if i % 2 == 0 else "mono"
            expected = {c: ("fail" if bad[c] else "pass") for c in CRITERIA}
            if not complaint:
                expected["empathy_on_complaint"] = "not_applicable"
            expected["customer_complaint"] = "fail" if complaint else "pass"
            call = Call(
                name=f"{lang}_{i:02d}_{layout}", language=lang, tenant="default", layout=layout,
                sample_rate_hz=8000, turns=tuple(turns), expected=expected,
                customer_pitch_cents=-450 if lang == "zh" else 400,
                subtype="ULAW" if i % 3 == 0 else "PCM_16",
                agent_id=f"agent-{i % 5:03d}", team_id=f"team-{lang}",
                started_at=f"2026-11-{1 + i % 7:02d}T10:00:00+08:00",
            )
            calls.append((call, expected))
    return calls


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--render", type=Path, help="folder for audio + labels (needs TTS venv)")
    args = ap.parse_args()
    calls = plan()
    if args.list or not args.render:
        for call, expected in calls:
            bad = [c for c, v in expected.items() if v == "fail"]
            print(f"{call.name:16s} {len(call.turns):2d} turns  violations: {', '.join(bad)}")
        return
    import generate

    out = args.render
    generate.OUT_CALLS = out / "calls"
    generate.OUT_REF = out / "reference"
    rows = [generate.write_call(call) for call, _ in calls]
    import csv

    with open(out / "manifest.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    (out / "plan.json").write_text(json.dumps(
        {c.name: e for c, e in calls}, ensure_ascii=False, indent=1), encoding="utf-8")
    print(f"rendered {len(rows)} calls into {out}")


if __name__ == "__main__":
    main()
