"""Where numbers were measured: Keras backend and versions, Python, the device, and the code's commit.

Every result file records this, so a reader can tell a 2-core CPU smoke run from a GPU run.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import subprocess
from pathlib import Path

from img2music_tf.paths import repo_root


def environment() -> dict:
    """Backend, its version, Keras, Python and the device."""
    import keras

    backend = keras.backend.backend()
    return {
        "backend": backend,
        "backend_version": importlib.metadata.version("tensorflow" if backend == "tensorflow" else backend),
        "keras": keras.__version__,
        "python": platform.python_version(),
        "device": device_name(),
        "commit": git_commit(),
    }


def git_commit() -> str | None:
    """The checkout's commit (with "+changes" when the working tree differs from it), or None outside one."""
    root = repo_root()
    if root is None:
        return None
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=20)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return None
    if head.returncode != 0:
        return None
    return head.stdout.strip() + ("+changes" if dirty.stdout.strip() else "")


def device_name() -> str:
    """The GPU name(s) from nvidia-smi, else the CPU model and core count."""
    try:
        found = subprocess.run(
            ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True, text=True, timeout=20
        )
        gpus = [line.strip() for line in found.stdout.splitlines() if line.strip()] if found.returncode == 0 else []
    except (OSError, subprocess.SubprocessError):
        gpus = []
    if gpus:
        return "GPU: " + ", ".join(gpus)
    cpu = platform.processor() or "unknown CPU"
    if Path("/proc/cpuinfo").is_file():
        names = [line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                 if line.startswith("model name")]
        cpu = names[0] if names else cpu
    return f"CPU: {cpu} ({os.cpu_count()} cores)"
