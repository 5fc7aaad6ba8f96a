"""Audio ingest: decode, validate and resample recordings."""

from qa_pipeline.audio.io import AudioOptions, load_audio, sha256_file

__all__ = ["AudioOptions", "load_audio", "sha256_file"]
