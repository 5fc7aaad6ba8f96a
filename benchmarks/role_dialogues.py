"""Dialogues with known agent / customer roles, for the role-assignment evaluation.

Real sets are read from ``../shared/eval`` at run time and never written anywhere (their
licences do not allow redistribution): MUSIED phone conversations and MobileCS (zh), SpokenWOZ
transcripts, the Harper Valley excerpt and the ABCD sample chats (en).
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from qa_pipeline.diarization.role_train import RoleDialogue as Dialogue  # noqa: E402

# ``../shared/eval`` of the main checkout; a git worktree sits one level deeper.
EVAL_DIR = next((p / "shared" / "eval" for p in (REPO.parent, REPO.parent.parent)
                 if (p / "shared" / "eval").is_dir()), REPO.parent / "shared" / "eval")
_MUSIED_ROLES = {"客服": "agent", "用户": "customer"}


def musied(eval_dir: Path) -> list[Dialogue]:
    """MUSIED dev ``Phone Conversations`` (客服: / 用户: lines; the prefix is removed)."""
    docs = json.loads((eval_dir / "text_callcenter_zh" / "musied" / "dev.json")
                      .read_text(encoding="utf-8"))
    out = []
    for doc in docs:
        if doc.get("domain") != "Phone Conversations":
            continue
        turns = []
        for line in doc["content"]:
            prefix, sep, text = str(line).replace("：", ":").partition(":")
            text = text.strip().rstrip(",，").strip()
            if sep and prefix.strip() in _MUSIED_ROLES and text:
                turns.append((_MUSIED_ROLES[prefix.strip()], text))
        out.append(Dialogue("musied", "zh", str(doc["id"]), tuple(turns)))
    return out


def mobilecs(eval_dir: Path) -> list[Dialogue]:
    """MobileCS example dialogues ([SPEAKER 1] agent, then [SPEAKER 2] user, per turn)."""
    data = json.loads((eval_dir / "text_callcenter_zh" / "mobilecs" / "example.json")
                      .read_text(encoding="utf-8"))
    out = []
    for dialog in data:
        turns = []
        for turn in dialog["content"]:
            for key, role in (("[SPEAKER 1]", "agent"), ("[SPEAKER 2]", "customer")):
                text = str(turn.get(key, "")).strip()
                if text:
                    turns.append((role, text))
        out.append(Dialogue("mobilecs", "zh", str(dialog["id"]), tuple(turns)))
    return out


def spokenwoz(eval_dir: Path) -> list[Dialogue]:
    """SpokenWOZ word transcripts: a run of one speaker's words is a turn (A user, B agent)."""
    out = []
    for path in sorted((eval_dir / "spokenwoz_jmoshi" / "text").glob("*.json")):
        words = json.loads(path.read_text(encoding="utf-8"))
        turns: list[tuple[str, list[str]]] = []
        for w in sorted(words, key=lambda w: float(w["start"])):
            role = "customer" if w["speaker"] == "A" else "agent"
            if turns and turns[-1][0] == role:
                turns[-1][1].append(str(w["word"]))
            else:
                turns.append((role, [str(w["word"])]))
        out.append(Dialogue("spokenwoz", "en", path.stem,
                            tuple((r, " ".join(ws)) for r, ws in turns)))
    return out


def harper_valley(eval_dir: Path) -> list[Dialogue]:
    """Harper Valley excerpt: human transcripts of the agent and caller segments, by offset."""
    out = []
    for path in sorted((eval_dir / "text_callcenter_en" / "harper_valley_excerpt")
                       .glob("*.segments.tsv")):
        with path.open(encoding="utf-8", newline="") as f:
            rows = sorted(csv.DictReader(f, delimiter="\t"), key=lambda r: int(r["offset_ms"]))
        turns = tuple(("agent" if r["speaker_role"] == "agent" else "customer",
                       r["human_transcript"].strip())
                      for r in rows if r["human_transcript"].strip())
        out.append(Dialogue("harper_valley", "en", path.name.split(".")[0], turns))
    return out


def abcd(eval_dir: Path) -> list[Dialogue]:
    """ABCD sample chats (agent and customer lines; system actions left out)."""
    data = json.loads((eval_dir / "text_callcenter_en" / "abcd" / "abcd_sample.json")
                      .read_text(encoding="utf-8"))
    return [Dialogue("abcd", "en", str(d["convo_id"]),
                     tuple((role, str(text).strip()) for role, text in d["original"]
                           if role in ("agent", "customer") and str(text).strip()))
            for d in data]


REAL_SETS = {"musied": musied, "mobilecs": mobilecs, "spokenwoz": spokenwoz,
             "harper_valley": harper_valley, "abcd": abcd}
