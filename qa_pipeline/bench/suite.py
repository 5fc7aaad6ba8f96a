"""What the evaluation harness measures: cases read from manifests with their references.

Four manifest formats, told apart by their columns:

* **call manifest** (CSV with ``path``; the format ``qa-pipeline run`` reads): whole calls
  through the pipeline. Optional reference columns ``rttm``, ``uem``, ``transcript``,
  ``labels``, ``num_speakers``; where a column is absent or empty, the files
  ``reference/<audio stem>.rttm``, ``.transcript.tsv`` and ``.labels.json`` beside the
  manifest are used when they exist (the layout of ``data_samples/``).
* **diarization manifest** (TSV/CSV with ``audio`` and ``rttm``, e.g.
  ``../shared/eval/manifests/der.tsv``): whole recordings diarized and transcribed as mono
  calls, scored against RTTM (filtered by the audio's stem as URI) and optional UEM.
  ``num_speakers`` that is not a number ("(see rttm)") means the reference's speaker count.
* **ASR manifest** (``audio`` and ``reference``, e.g. ``asr_zh.tsv`` / ``asr_en.tsv``):
  clips transcribed alone; ``file#chN`` picks channel N (1-based), ``start_s``/``end_s`` cut
  a turn; a Chinese reference is scored by CER, any other by WER.
* **sentiment set** (``label`` and ``text`` columns, or the headerless
  ``neg|neu|pos<TAB>text`` lines of ``qa_pipeline/sentiment/corpus``): texts classified by
  the tenant's sentiment model.

Relative paths resolve against the manifest's folder, then its parent (the layout of
``../shared/eval``, whose manifests sit in ``manifests/``).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from qa_pipeline.bench.metrics import Region, Turn
from qa_pipeline.errors import ConfigError
from qa_pipeline.manifest import CallMeta, read_manifest

REFERENCE_COLUMNS = ("rttm", "uem", "transcript", "labels", "num_speakers")
_SENTIMENT = {"neg": "negative", "neu": "neutral", "pos": "positive", "negative": "negative",
              "neutral": "neutral", "positive": "positive"}
_OUTCOMES = ("pass", "fail", "not_applicable", "needs_review")


@dataclass(frozen=True)
class CallCase:
    """One recording through the whole pipeline, with whatever references exist."""

    meta: CallMeta
    source: str
    turns: tuple[Turn, ...] | None = None
    uem: tuple[Region, ...] | None = None
    transcript: str | None = None
    labels: Mapping[str, str] | None = None
    num_speakers: int | None = None
    force_mono: bool = False

    @property
    def name(self) -> str:
        """The call id, else the audio file's stem."""
        return self.meta.call_id or Path(self.meta.path).stem


@dataclass(frozen=True)
class AsrCase:
    """One clip transcribed alone against a reference text."""

    path: str
    reference: str
    source: str
    channel: int | None = None
    start_s: float | None = None
    end_s: float | None = None

    @property
    def name(self) -> str:
        """Path, channel and span."""
        ch = f"#ch{self.channel + 1}" if self.channel is not None else ""
        span = f"@{self.start_s}-{self.end_s}" if self.start_s is not None else ""
        return f"{Path(self.path).name}{ch}{span}"


@dataclass(frozen=True)
class SentimentCase:
    """One labelled sentence."""

    text: str
    label: str
    source: str


@dataclass(frozen=True)
class BenchSuite:
    """Everything one harness run measures."""

    calls: tuple[CallCase, ...] = ()
    asr: tuple[AsrCase, ...] = ()
    sentiment: tuple[SentimentCase, ...] = ()
    manifests: tuple[str, ...] = field(default=())

    def __add__(self, other: BenchSuite) -> BenchSuite:
        return BenchSuite(self.calls + other.calls, self.asr + other.asr,
                          self.sentiment + other.sentiment, self.manifests + other.manifests)

    def limited(self, n: int | None) -> BenchSuite:
        """At most ``n`` cases of each kind per source (quick runs)."""
        if n is None:
            return self

        def first(cases: Sequence[CallCase | AsrCase | SentimentCase]) -> tuple:  # type: ignore[type-arg]
            seen: dict[str, int] = {}
            out = []
            for c in cases:
                seen[c.source] = seen.get(c.source, 0) + 1
                if seen[c.source] <= n:
                    out.append(c)
            return tuple(out)

        return BenchSuite(first(self.calls), first(self.asr), first(self.sentiment),
                          self.manifests)


# --- reference files -----------------------------------------------------------------------
def read_rttm(path: Path, uri: str | None = None) -> tuple[Turn, ...]:
    """SPEAKER lines of an RTTM file as (start_s, end_s, speaker), only ``uri``'s if given."""
    turns = []
    for n, line in enumerate(_read(path).splitlines(), 1):
        parts = line.split()
        if not parts or parts[0] != "SPEAKER":
            continue
        try:
            if uri is not None and parts[1] != uri:
                continue
            start, dur = float(parts[3]), float(parts[4])
            speaker = parts[7]
        except (IndexError, ValueError) as e:
            raise ConfigError(f"{path}:{n}: malformed RTTM line ({e})") from e
        if dur < 0:
            raise ConfigError(f"{path}:{n}: negative duration")
        turns.append((start, start + dur, speaker))
    if not turns:
        raise ConfigError(f"{path}: no SPEAKER lines" + (f" for {uri!r}" if uri else ""))
    return tuple(turns)


def read_uem(path: Path, uri: str | None = None) -> tuple[Region, ...]:
    """Scored regions of a UEM file (``uri channel start end`` per line)."""
    regions = []
    for n, line in enumerate(_read(path).splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        try:
            if uri is not None and parts[0] != uri:
                continue
            regions.append((float(parts[2]), float(parts[3])))
        except (IndexError, ValueError) as e:
            raise ConfigError(f"{path}:{n}: malformed UEM line ({e})") from e
    if not regions:
        raise ConfigError(f"{path}: no regions" + (f" for {uri!r}" if uri else ""))
    return tuple(regions)


def read_transcript(path: Path) -> str:
    """Reference text of a whole call: a ``.transcript.tsv`` (start_s, end_s, role, text;
    joined in time order) or a plain text file.
    """
    text = _read(path)
    if path.name.endswith(".tsv"):
        rows = list(csv.DictReader(text.splitlines(), delimiter="\t"))
        if not rows or "text" not in rows[0]:
            raise ConfigError(f"{path}: a transcript TSV needs a 'text' column")
        try:
            rows.sort(key=lambda r: float(r.get("start_s") or 0.0))
        except ValueError as e:
            raise ConfigError(f"{path}: bad start_s ({e})") from e
        return " ".join((r["text"] or "").strip() for r in rows)
    return text.strip()


def read_labels(path: Path) -> dict[str, str]:
    """Expected outcome per criterion id: ``{"expected": {criterion_id: outcome}}``."""
    try:
        data = json.loads(_read(path))
        expected = data["expected"]
    except (ValueError, KeyError, TypeError) as e:
        raise ConfigError(f"{path}: labels must be JSON with an 'expected' mapping ({e})") from e
    if not isinstance(expected, dict):
        raise ConfigError(f"{path}: 'expected' must map criterion ids to outcomes")
    bad = {k: v for k, v in expected.items() if v not in _OUTCOMES}
    if bad:
        raise ConfigError(f"{path}: unknown outcome(s) {bad}; valid: {', '.join(_OUTCOMES)}")
    return {str(k): str(v) for k, v in expected.items()}


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except OSError as e:
        raise ConfigError(f"cannot read reference file {path}: {e}") from e


def _resolve(manifest: Path, raw: str) -> Path:
    p = Path(raw)
    if p.is_absolute():
        return p
    for base in (manifest.parent, manifest.parent.parent):
        if (base / p).exists():
            return base / p
    raise ConfigError(f"{manifest}: {raw!r} found neither in {manifest.parent} nor in "
                      f"{manifest.parent.parent}")


# --- manifests -----------------------------------------------------------------------------
def load_suite(paths: Sequence[str | Path], default_tenant: str = "default") -> BenchSuite:
    """Read every manifest (formats in the module docstring) into one suite."""
    suite = BenchSuite()
    for raw in paths:
        path = Path(raw)
        if not path.is_file():
            raise ConfigError(f"{path}: no such manifest")
        suite = suite + _load_one(path, default_tenant)
    return suite


def _rows(path: Path) -> list[dict[str, str]]:
    delimiter = "\t" if path.suffix.lower() in (".tsv", ".txt") else ","
    with open(path, newline="", encoding="utf-8-sig") as fh:
        return [{k: (v or "").strip() for k, v in row.items() if k is not None}
                for row in csv.DictReader(fh, delimiter=delimiter)]


def _load_one(path: Path, default_tenant: str) -> BenchSuite:
    with open(path, encoding="utf-8-sig") as fh:
        header = fh.readline()
    columns = {c.strip() for c in header.replace("\t", ",").split(",")}
    if path.suffix.lower() == ".txt" and header.split("\t", 1)[0] in _SENTIMENT:
        return _sentiment_corpus(path)
    if "path" in columns:
        return _call_manifest(path, default_tenant)
    if {"audio", "rttm"} <= columns:
        return _diarization_manifest(path, default_tenant)
    if {"audio", "reference"} <= columns:
        return _asr_manifest(path)
    if {"label", "text"} <= columns:
        return _sentiment_table(path)
    raise ConfigError(f"{path}: not a benchmark manifest: expected columns 'path' (calls), "
                      "'audio'+'rttm' (diarization), 'audio'+'reference' (ASR) or "
                      "'label'+'text' (sentiment)")


def _call_manifest(path: Path, default_tenant: str) -> BenchSuite:
    metas = read_manifest(path, default_tenant, extra_columns=REFERENCE_COLUMNS)
    rows = _rows(path)
    reference_dir = path.parent / "reference"
    cases = []
    for line, (meta, row) in enumerate(zip(metas, rows, strict=True), start=2):
        stem = Path(meta.path).stem

        def ref(column: str, suffix: str, row: dict[str, str] = row, stem: str = stem
                ) -> Path | None:
            if row.get(column):
                return _resolve(path, row[column])
            candidate = reference_dir / f"{stem}{suffix}"
            return candidate if candidate.is_file() else None

        rttm, uem, transcript = ref("rttm", ".rttm"), ref("uem", ".uem"), ref(
            "transcript", ".transcript.tsv")
        labels = ref("labels", ".labels.json")
        cases.append(CallCase(
            meta=meta, source=path.name,
            turns=read_rttm(rttm) if rttm else None,
            uem=read_uem(uem) if uem else None,
            transcript=read_transcript(transcript) if transcript else None,
            labels=read_labels(labels) if labels else None,
            num_speakers=_int(row.get("num_speakers", ""), path, line),
        ))
    return BenchSuite(calls=tuple(cases), manifests=(str(path),))


def _diarization_manifest(path: Path, default_tenant: str) -> BenchSuite:
    cases = []
    for line, row in enumerate(_rows(path), start=2):
        audio = _resolve(path, row["audio"])
        uri = audio.name.split(".")[0]
        turns = read_rttm(_resolve(path, row["rttm"]), uri)
        uem = read_uem(_resolve(path, row["uem"]), uri) if row.get("uem") else None
        raw_n = row.get("num_speakers", "")
        n = _int(raw_n, path, line) if raw_n.isdigit() else len({t[2] for t in turns})
        cases.append(CallCase(
            meta=CallMeta(path=str(audio), tenant_id=default_tenant, call_id=uri),
            source=f"{path.name}:{Path(row['audio']).parts[0]}", turns=turns, uem=uem,
            num_speakers=n, force_mono=True))
    return BenchSuite(calls=tuple(cases), manifests=(str(path),))


def _asr_manifest(path: Path) -> BenchSuite:
    cases = []
    for line, row in enumerate(_rows(path), start=2):
        audio, _, channel = row["audio"].partition("#ch")
        if channel and not channel.isdigit():
            raise ConfigError(f"{path}:{line}: channel must be '#chN' with N >= 1")
        if not row.get("reference"):
            raise ConfigError(f"{path}:{line}: empty reference")
        start, end = row.get("start_s", ""), row.get("end_s", "")
        try:
            start_s = float(start) if start else None
            end_s = float(end) if end else None
        except ValueError as e:
            raise ConfigError(f"{path}:{line}: bad start_s/end_s ({e})") from e
        cases.append(AsrCase(
            path=str(_resolve(path, audio)), reference=row["reference"],
            source=row.get("source") or path.name,
            channel=int(channel) - 1 if channel else None, start_s=start_s, end_s=end_s))
    return BenchSuite(asr=tuple(cases), manifests=(str(path),))


def _sentiment_table(path: Path) -> BenchSuite:
    cases = []
    for line, row in enumerate(_rows(path), start=2):
        label = _SENTIMENT.get(row["label"].lower())
        if label is None:
            raise ConfigError(f"{path}:{line}: label {row['label']!r} is not one of "
                              "negative, neutral, positive")
        cases.append(SentimentCase(row["text"], label, path.name))
    return BenchSuite(sentiment=tuple(cases), manifests=(str(path),))


def _sentiment_corpus(path: Path) -> BenchSuite:
    cases = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        short, _, text = line.partition("\t")
        if short not in _SENTIMENT or not text.strip():
            raise ConfigError(f"{path}:{n}: expected 'neg|neu|pos<TAB>text'")
        cases.append(SentimentCase(text.strip(), _SENTIMENT[short], path.name))
    return BenchSuite(sentiment=tuple(cases), manifests=(str(path),))


def _int(raw: str, path: Path, line: int) -> int | None:
    if not raw:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{path}:{line}: num_speakers {raw!r} is not a whole number") from None
    if value < 1:
        raise ConfigError(f"{path}:{line}: num_speakers must be at least 1")
    return value
