"""Build hook: compile the rubric engine's C kernels (qa_pipeline/_kernels.c).

The extension is built in place, beside its pure-Python twin (qa_pipeline/kernels.py),
so an editable install imports it from the source tree and a wheel carries it. Without a
working C compiler the install still succeeds, with a warning, and the library runs the
pure-Python twins; set QA_PIPELINE_REQUIRE_NATIVE=1 (CI does) to make that an error instead.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

EXTENSION = "qa_pipeline._kernels"
SOURCE = "qa_pipeline/_kernels.c"


def compile_kernels(root: Path) -> Path:
    """Compile the extension into the source tree; returns the built file."""
    from setuptools import Distribution, Extension
    from setuptools.command.build_ext import build_ext

    here = Path.cwd()
    os.chdir(root)  # setuptools wants sources relative to the project
    try:
        with tempfile.TemporaryDirectory(prefix="qa-kernels-") as tmp:
            ext = Extension(EXTENSION, [SOURCE])
            dist = Distribution({"name": "qa-pipeline-kernels", "ext_modules": [ext]})
            cmd = build_ext(dist)
            cmd.build_lib = str(Path(tmp) / "lib")
            cmd.build_temp = str(Path(tmp) / "temp")
            cmd.ensure_finalized()
            cmd.run()
            built = Path(cmd.get_ext_fullpath(EXTENSION))
            target = root / built.relative_to(cmd.build_lib)
            shutil.copyfile(built, target)
            return target
    finally:
        os.chdir(here)


class KernelsBuildHook(BuildHookInterface):  # type: ignore[type-arg]
    """Compiles the kernels for wheel (standard and editable) builds."""

    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        """Build the extension; mark the wheel platform-specific when it was built."""
        if self.target_name != "wheel":
            return
        root = Path(self.root)
        try:
            built = compile_kernels(root)
        except Exception as exc:  # any compiler or setuptools failure
            if os.environ.get("QA_PIPELINE_REQUIRE_NATIVE", "") not in ("", "0"):
                raise RuntimeError(f"building {SOURCE} failed: {exc}") from exc
            self.app.display_warning(
                f"qa-pipeline: could not build {SOURCE} ({exc}); rubric evaluation will use "
                "the pure-Python kernels (slower, same results)")
            return
        build_data["pure_python"] = False
        build_data["infer_tag"] = True
        if version != "editable":
            build_data["force_include"][str(built)] = str(built.relative_to(root))
