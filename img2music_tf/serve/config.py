"""The settings of `img2music serve`."""

from __future__ import annotations

import dataclasses

MB = 1 << 20


@dataclasses.dataclass(frozen=True)
class ServeConfig:
    """How the page is served and what it accepts.

    run_dir: the trained run folder; None = the model shipped in the package.
    va_predictor: a music VA predictor folder (default: the one the run names, if it exists).
    host, port: where to listen; 127.0.0.1 keeps the page on this machine.
    max_upload_bytes: the largest picture accepted.
    file_lifetime_s: how long a finished piece's files are kept; all are removed at exit too.
    max_queue: pictures waiting at most; one more is refused with a message, never dropped silently.
    wav: render a WAV per piece (FluidSynth).
    """

    run_dir: str | None = None
    va_predictor: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    max_upload_bytes: int = 20 * MB
    file_lifetime_s: float = 3600.0
    max_queue: int = 100
    wav: bool = True
