"""Assign ASR words to diarization speakers and merge them into utterances.

Pure functions: no audio, no models. Word-to-turn lookup uses a sorted interval index, so a
call with thousands of words costs O(words log turns).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

from qa_pipeline.types import Role, SpeakerTurn, Utterance, Word

UNKNOWN_SPEAKER = "unknown"


@dataclass(frozen=True, slots=True)
class AlignmentOptions:
    """How words are grouped into utterances."""

    # A silence longer than this inside one speaker's speech starts a new utterance.
    max_gap_s: float = 1.2
    # Words farther than this from any turn keep the speaker of the nearest turn anyway,
    # unless the distance exceeds this bound (then the word is UNKNOWN).
    max_snap_s: float = 1.5
    # Whisper's word timestamps stretch a word's start back over the pause before it; for
    # speaker assignment only the last ``max_word_s`` of a word counts.
    max_word_s: float = 0.4


@dataclass(frozen=True, slots=True)
class SpeakerWord:
    """A word with the speaker (and channel) it was assigned to."""

    word: Word
    speaker: str
    channel: int | None = None


class _TurnIndex:
    def __init__(self, turns: tuple[SpeakerTurn, ...] | list[SpeakerTurn]) -> None:
        self.turns = sorted(turns, key=lambda t: t.start_s)
        self.starts = [t.start_s for t in self.turns]
        # Longest turn bounds how far back an overlapping turn can start.
        self.max_len = max((t.duration_s for t in self.turns), default=0.0)

    def best(self, start: float, end: float, max_snap_s: float) -> SpeakerTurn | None:
        lo = bisect.bisect_left(self.starts, start - self.max_len)
        hi = bisect.bisect_right(self.starts, end)
        best_turn: SpeakerTurn | None = None
        best_overlap = 0.0
        for turn in self.turns[lo:hi]:
            overlap = min(end, turn.end_s) - max(start, turn.start_s)
            if overlap > best_overlap:
                best_turn, best_overlap = turn, overlap
        if best_turn is not None:
            return best_turn
        # No overlap: snap to the nearest turn boundary.
        mid = (start + end) / 2
        i = bisect.bisect_left(self.starts, mid)
        candidates = self.turns[max(0, i - 2): i + 2]
        nearest = min(
            candidates,
            key=lambda t: min(abs(mid - t.start_s), abs(mid - t.end_s)),
            default=None,
        )
        if nearest is None:
            return None
        distance = min(abs(mid - nearest.start_s), abs(mid - nearest.end_s))
        return nearest if distance <= max_snap_s else None


def assign_words(
    words: tuple[Word, ...] | list[Word],
    turns: tuple[SpeakerTurn, ...],
    options: AlignmentOptions | None = None,
) -> list[SpeakerWord]:
    """Give each word the speaker whose (exclusive) turn overlaps it most."""
    opts = options or AlignmentOptions()
    index = _TurnIndex(turns)
    out: list[SpeakerWord] = []
    for w in words:
        start = max(w.start_s, w.end_s - opts.max_word_s)
        turn = index.best(start, w.end_s, opts.max_snap_s)
        if turn is None:
            out.append(SpeakerWord(w, UNKNOWN_SPEAKER, None))
        else:
            out.append(SpeakerWord(w, turn.speaker, turn.channel))
    return out


def clamp_to_regions(words: tuple[Word, ...] | list[Word],
                     regions: list[tuple[float, float]], min_overlap_s: float = 0.1
                     ) -> list[Word]:
    """Trim word times that spill out of the speech regions (VAD or diarization turns).

    Whisper stretches a segment's last word over the silence after it and a first word over
    the silence before it; the regions say where speech really is. A word that overlaps a
    region by at least ``min_overlap_s`` is trimmed to it; any other word is left alone (the
    VAD may have missed it, and moving it would be a guess).
    """
    if not regions:
        return list(words)
    spans = sorted(regions)
    starts = [s for s, _ in spans]
    out = []
    for w in words:
        i = bisect.bisect_right(starts, w.end_s)
        candidates = spans[max(0, i - 3): i + 1]
        best = max(candidates, key=lambda r: min(w.end_s, r[1]) - max(w.start_s, r[0]))
        overlap = min(w.end_s, best[1]) - max(w.start_s, best[0])
        if overlap >= min_overlap_s:
            out.append(Word(max(w.start_s, best[0]), min(w.end_s, best[1]), w.text,
                            w.probability))
        else:
            out.append(w)
    return out


def join_words(words: list[Word] | tuple[Word, ...], language: str) -> str:
    """Join word texts: no spaces between CJK tokens, single spaces otherwise.

    In Chinese, digits are written against each other and against characters ("320元"):
    the recogniser splits "320" into "3" + "20", which must not come back as "3 20".
    """
    chinese = language.startswith("zh")
    text = ""
    for w in words:
        token = w.text.strip()
        if not token:
            continue
        tight = _is_cjk(text[-1]) and _is_cjk(token[0]) if text else True
        if chinese and text:
            tight = tight or ((_is_cjk(text[-1]) or text[-1].isdigit())
                              and (_is_cjk(token[0]) or token[0].isdigit()))
        if text and not tight and not _is_closing(token):
            text += " "
        text += token
    return text


def _is_cjk(ch: str) -> bool:
    code = ord(ch)
    return (0x3400 <= code <= 0x9FFF) or (0x3000 <= code <= 0x303F) or (0xFF00 <= code <= 0xFFEF)


def _is_closing(token: str) -> bool:
    return token[0] in ",.!?;:%)]}'\"，。！？；：、）" or token.startswith("'")


def _split_at_turn_taking(groups: list[list[SpeakerWord]], min_pause_s: float = 0.15
                          ) -> list[list[SpeakerWord]]:
    """Split a speaker's group where another speaker took the floor during one of its pauses.

    If the other party starts talking while this speaker is silent, this speaker's next words
    are a new turn, even when the pause is short: that is what makes "the agent cut in while
    the customer was still talking" visible as two overlapping utterances.
    """
    starts_by_speaker: dict[str, list[float]] = {}
    for g in groups:
        starts_by_speaker.setdefault(g[0].speaker, []).append(g[0].word.start_s)
    # Turn starts of everyone but the speaker, sorted once per speaker.
    others_of = {spk: sorted(t for other, ts in starts_by_speaker.items() if other != spk
                             for t in ts) for spk in starts_by_speaker}
    out: list[list[SpeakerWord]] = []
    for g in groups:
        others = others_of[g[0].speaker]
        current: list[SpeakerWord] = [g[0]]
        for prev, sw in zip(g, g[1:], strict=False):
            pause_start, pause_end = prev.word.end_s, sw.word.start_s
            if pause_end - pause_start >= min_pause_s:
                i = bisect.bisect_left(others, pause_start)
                if i < len(others) and others[i] < pause_end:
                    out.append(current)
                    current = []
            current.append(sw)
        out.append(current)
    return out


def build_utterances(
    speaker_words: list[SpeakerWord],
    language_of: dict[str, str] | str,
    options: AlignmentOptions | None = None,
) -> tuple[Utterance, ...]:
    """Merge consecutive same-speaker words into utterances (roles are filled later).

    ``language_of`` is either one language for the call or a per-speaker mapping (stereo
    calls detect language per channel).
    """
    opts = options or AlignmentOptions()
    # Group per speaker first, then order the groups: in a stereo call both parties can talk
    # at once, and a global time sort would interleave their words.
    by_speaker: dict[str, list[SpeakerWord]] = {}
    for sw in sorted(speaker_words, key=lambda sw: (sw.word.start_s, sw.word.end_s)):
        by_speaker.setdefault(sw.speaker, []).append(sw)
    groups: list[list[SpeakerWord]] = []
    for words_of_speaker in by_speaker.values():
        current: list[SpeakerWord] = []
        for sw in words_of_speaker:
            if current and sw.word.start_s - current[-1].word.end_s > opts.max_gap_s:
                groups.append(current)
                current = []
            current.append(sw)
        if current:
            groups.append(current)
    groups = _split_at_turn_taking(groups)
    groups.sort(key=lambda g: (g[0].word.start_s, g[-1].word.end_s))
    utterances: list[Utterance] = []
    for i, group in enumerate(groups):
        speaker = group[0].speaker
        lang = language_of if isinstance(language_of, str) else language_of.get(speaker, "")
        words = tuple(sw.word for sw in group)
        utterances.append(
            Utterance(
                index=i,
                speaker=speaker,
                role=Role.UNKNOWN,
                role_confidence=0.0,
                start_s=words[0].start_s,
                end_s=max(w.end_s for w in words),
                text=join_words(words, lang),
                language=lang,
                words=words,
                channel=group[0].channel,
            )
        )
    return tuple(utterances)
