"""Benchmark: files per second for tokenising EIMG MIDI, cold cache with 1 and 2 workers, then warm.

Expected: music21 parsing dominates, about 6-8 files/s for one worker on a free core; 2 workers
approach 2x only when both cores are free (with the cores shared by other jobs, load 6-9 on
2 cores, they gave no gain); a warm cache reads over 10,000 files/s.
Runtime: about 1.5 minutes (300 files).
Command:  python reproduce/bench_tokenize.py [--source ../shared/data/eimg/dataset.zip] [--limit 300]
Writes results/bench_tokenize.csv and results/bench_tokenize.md.
"""

from __future__ import annotations

import sys
import os
import platform
import tempfile
import time
from pathlib import Path

from img2music_tf.cli import Parser, run_reporting
from img2music_tf.commands import integer
from img2music_tf.paths import project_dir, results_dir

DEFAULT_SOURCE = Path(os.environ.get("IMG2MUSIC_EIMG_SOURCE", project_dir().parent / "shared" / "data" / "eimg"))


def measure(files, workers: int, use_cache: bool) -> dict:
    from img2music_tf.corpus import tokenize_files

    start = time.perf_counter()
    results = tokenize_files(files, workers=workers, use_cache=use_cache, progress=False)
    seconds = time.perf_counter() - start
    return {"workers": workers, "cache": "warm" if use_cache else "cold", "files": len(files),
            "tokenised": sum(r.tokens is not None for r in results), "seconds": round(seconds, 2),
            "files_per_second": round(len(files) / seconds, 2)}


def main() -> None:
    parser = Parser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE,
                        help="EIMG folder (holding dataset.zip), the zip itself, or any folder of .mid files")
    parser.add_argument("--limit", type=integer(0), default=300, help="first N files (default 300; 0 = all)")
    parser.add_argument("--out", type=Path, default=results_dir(), help="folder for the CSV and Markdown")
    args = parser.parse_args()

    from img2music_tf.corpus import read_midi_source
    from img2music_tf.files import write_text

    source = args.source / "dataset.zip" if (args.source / "dataset.zip").is_file() else args.source
    files = read_midi_source(source)
    files = files[: args.limit] if args.limit else files
    with tempfile.TemporaryDirectory() as home:
        os.environ["IMG2MUSIC_HOME"] = home  # a fresh, empty cache: the cold runs really parse
        rows = [measure(files, 1, use_cache=False), measure(files, 2, use_cache=False),
                measure(files, 2, use_cache=True)]
    columns = list(rows[0])
    csv = "\n".join([",".join(columns)] + [",".join(str(r[c]) for c in columns) for r in rows]) + "\n"
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    machine = f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, load average {load}"
    md = "\n".join([
        "# Tokenising EIMG MIDI: files per second",
        "",
        f"Source `{source.name}`, first {len(files)} files; {machine}. "
        f"Command: `python reproduce/bench_tokenize.py --limit {args.limit}`.",
        "",
        "| " + " | ".join(columns) + " |",
        "|" + "---|" * len(columns),
        *["| " + " | ".join(str(r[c]) for c in columns) + " |" for r in rows],
        "",
    ])
    write_text(args.out / "bench_tokenize.csv", csv)
    write_text(args.out / "bench_tokenize.md", md)
    print(md)


if __name__ == "__main__":
    sys.exit(run_reporting(main))
