"""What one GPU window measured besides the artefacts it served: `window_report(results)` renders the GPU's
results.json (`gpu_run.run_queue`) as Markdown, written by `gpu_queue.merge` to results/gpu_window.md.

- Runs: each run's part, lane count, epochs, compile seconds and how it ended.
- Lanes: steady epoch seconds (compilation and decoding left out) against how many runs were training at
  the epoch's midpoint: the scaling table of issue 21, read from any window with several lanes.
- Fidelity: each run's training loss after epochs 1 and 2 in the authors' regime beside the runs of the same
  model in the authors' log (`paper_numbers.AUTHORS_LOG`, Keras' per-epoch loss): which of the code's
  switches (the parts at fidelities file-order, script-rates, ...) closes the gap.
"""

from __future__ import annotations

import statistics

from img2music_tf.experiments import trained_preset
from img2music_tf.paper_numbers import AUTHORS_LOG


def busy_at(runs: list[dict], moment: float) -> int:
    """How many of `runs` were training at `moment` (seconds from the queue's origin)."""
    return sum(run["timings"]["started_s"] <= moment <= run["timings"]["epoch_ends_s"][-1] for run in runs)


def lane_scaling(runs: list[dict]) -> list[dict]:
    """Per preset and number of runs training at once: the epochs measured and their median steady seconds,
    and the median compile seconds of the runs that started with that many training."""
    timed = [run for run in runs if run.get("timings", {}).get("epoch_ends_s")]
    epochs: dict[tuple[str, int], list[float]] = {}
    compiles: dict[tuple[str, int], list[float]] = {}
    for run in timed:
        timings = run["timings"]
        starts = [timings["started_s"], *timings["epoch_ends_s"][:-1]]
        for start, end, steady in zip(starts, timings["epoch_ends_s"], timings["steady_seconds"]):
            epochs.setdefault((run["preset"], busy_at(timed, (start + end) / 2)), []).append(steady)
        compiles.setdefault((run["preset"], busy_at(timed, timings["started_s"])), []).append(
            timings["compile_seconds"])
    return [{"preset": preset, "busy": busy, "epochs": len(seconds), "steady_s": statistics.median(seconds),
             "compile_s": statistics.median(compiles[(preset, busy)]) if (preset, busy) in compiles else None}
            for (preset, busy), seconds in sorted(epochs.items())]


def logged(preset: str) -> list:
    """The authors' logged runs (`paper_numbers.LoggedRun`) of the model `preset` trains (its bit-identical
    aliases too) that reached epoch 2."""
    return [run for run in AUTHORS_LOG if trained_preset(run.model) == preset and len(run.losses) > 1]


def window_report(results: dict) -> str:
    """The Markdown of `results` (the GPU's results.json): runs, lane scaling and fidelity losses."""
    env, runs = results["environment"], results["runs"]
    finished = sum(run["finished"] for run in runs)
    lines = [
        "# The last GPU window",
        "",
        f"{env.get('device', 'unknown device')} ({', '.join(env.get('jax_devices', [])) or 'devices not recorded'}); "
        f"JAX {env.get('backend_version', '?')}, Keras {env.get('keras', '?')}, commit {env.get('commit')}. "
        f"{results.get('lanes', 1)} lane(s), budget {results['budget_s']:.0f} s, took {results.get('seconds', 0):.0f} s: "
        f"{finished} of {len(runs) + len(results['not_started'])} queued run(s) finished, {len(runs) - finished} "
        f"stopped or failed, {len(results['not_started'])} not started. Rendered by `img2music gpu merge`.",
        "",
        "## Runs",
        "",
        "| Part | Model | Seed | Image weights | Epochs | Compile (s) | Steady epoch (s, median) | Ended |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for run in runs:
        timings = run.get("timings") or {}
        steady = f"{statistics.median(timings['steady_seconds']):.1f}" if timings.get("steady_seconds") else ""
        compile_s = f"{timings['compile_seconds']:.0f}" if "compile_seconds" in timings else ""
        ended = "finished" if run["finished"] else (run["stopped"] or "stopped")
        lines.append(f"| {run['part']} | {run['preset']} | {run['seed']} | {run['run_info']['image_weights']} | "
                     f"{len(run['history'])} | {compile_s} | {steady} | {ended} |")
    for entry in results["not_started"]:
        lines.append(f"| {entry['part']} | {entry['preset']} | {entry['seed']} | | 0 | | | not started: "
                     f"{entry['reason']} |")
    scaling = lane_scaling(runs)
    if scaling:
        lines += ["", "## Lanes: epoch time against runs training at once", "",
                  "Steady epoch seconds leave compilation and decoding out; \"at once\" counts the runs training at "
                  "the epoch's midpoint (for compile seconds: when the run started).", "",
                  "| Model | Runs at once | Epochs | Steady epoch (s, median) | Compile (s, median) |",
                  "|---|---|---|---|---|"]
        lines += [f"| {row['preset']} | {row['busy']} | {row['epochs']} | {row['steady_s']:.1f} | "
                  + ("" if row["compile_s"] is None else f"{row['compile_s']:.0f}") + " |" for row in scaling]
    fidelity = [run for run in runs if run["part"].startswith("authors-") and len(run["history"]) >= 2
                and logged(run["preset"])]
    if fidelity:
        lines += ["", "## Training loss against the authors' log (the paper's regime)", "",
                  "Keras' per-epoch training loss; the log's values are its \"loss improved from A to B\" numbers "
                  "(docs/fidelity.md); the log's LSTM is their 3-LSTM model, ours at fidelity `paper` Mendis' 2 LSTMs. Parts "
                  "other than `authors-paper` change one of the code's switches (`presets.FIDELITIES`; "
                  "`authors-code`: all of them).", "",
                  "| Part | Model | Seed | Learning rate | Epoch 1 | Epoch 2 | Log, epoch 2 (runs) | Log's learning rate "
                  "| Ours - log |", "|---|---|---|---|---|---|---|---|---|"]
        for run in fidelity:
            runs_logged = logged(run["preset"])
            log = [logged_run.losses[1] for logged_run in runs_logged]
            rates = "/".join(sorted({f"{logged_run.learning_rate:g}" for logged_run in runs_logged}))
            gap = run["history"][1]["loss"] - statistics.mean(log)
            lines.append(f"| {run['part']} | {run['preset']} | {run['seed']} | "
                         f"{run['run_info']['model']['learning_rate']:g} | {run['history'][0]['loss']:.3f} | "
                         f"{run['history'][1]['loss']:.3f} | {min(log):.3f}-{max(log):.3f} ({len(log)}) | {rates} | "
                         f"{gap:+.3f} |")
    return "\n".join(lines) + "\n"
