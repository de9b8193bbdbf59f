"""Where numbers were measured: Keras backend and versions, Python, and the device that ran them.

Every result file records this, so a reader can tell a 2-core CPU smoke run from a GPU run.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import subprocess
from pathlib import Path


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
    }


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
