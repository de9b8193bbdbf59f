"""The GPU queue (`img2music gpu pack|run|merge`): pack on the CPU, run with JAX alone, merge into the tables.

End to end at scale "tiny" on the built-in data (under KERAS_BACKEND=jax, `make test-jax`): the pack
queues the Trans_enc3_dec3_VA_Loss run, the queue runs in a process where TensorFlow, music21,
muspy, pretty_midi and Pillow cannot be imported (the GPU machine has none of them), and the merge
renders the three artefacts from it. The run equals a CPU training of the same preset with the same
seed (`study.pipeline.train_model`), history and greedy music alike; the tables' numbers are the CPU
pipeline's from the same tokens.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import time
import types
from pathlib import Path

import keras
import pytest

from conftest import REPO
from img2music_tf import cli, experiments
from img2music_tf.errors import UserError
from img2music_tf.experiments import ARTEFACTS, SCALES, queue_order, training_plan
from img2music_tf.study import gpu_pack, gpu_queue, gpu_run, gpu_window, pipeline
from img2music_tf.study.artefacts import Settings

VA_RUN = "Trans_enc3_dec3_VA_Loss"
TABLES = Path("results") / "builtin" / "tiny"  # where the merge renders the artefacts of the tiny packs
PACK = ["--scale", "tiny", "--data", "builtin", "--epochs", "1", "--image-weights", "none"]
NOT_ON_THE_GPU = ("tensorflow", "music21", "muspy", "pretty_midi", "PIL", "sklearn", "matplotlib")
jax_only = pytest.mark.skipif(keras.backend.backend() != "jax", reason="the GPU queue runs under KERAS_BACKEND=jax")


def test_the_queue_starts_with_the_runs_that_serve_the_most_rows():
    assert queue_order(training_plan()) == [VA_RUN, "LSTM_enc2", "Trans_enc3_dec3_Inception", "Trans_enc4",
                                            "Trans_enc2_dec2"]


def test_the_paper_queue_runs_both_regimes_first_then_the_seeds_then_the_fidelity_runs():
    parts = experiments.QUEUES["paper"]
    order = [(parts[i].data, parts[i].fidelity, preset, seed) for i, preset, seed in gpu_queue.queue_entries(parts)]
    assert order[:4] == [("authors", "paper", VA_RUN, 0), ("eimg", "paper", VA_RUN, 0),
                         ("authors", "paper", "LSTM_enc2", 0), ("eimg", "paper", "LSTM_enc2", 0)]  # the 15-epoch runs
    assert {o[0] for o in order[:10]} == {"authors", "eimg"} and {o[3] for o in order[:10]} == {0}
    assert sorted(o[1] for o in order[:10]) == ["paper"] * 10  # every artefact of both regimes
    seeds = order[10:26]  # Table 1's 2-epoch runs, seed by seed, in the paper's regime
    assert [o[3] for o in seeds] == [1] * 4 + [2] * 4 + [3] * 4 + [4] * 4 and {o[0] for o in seeds} == {"authors"}
    assert "Trans_enc3_dec3_Inception" not in {o[2] for o in seeds}  # random CNN per seed: one seed only
    assert [o[1:3] for o in order[26:]] == [("file-order", VA_RUN), ("script-rates", "LSTM_enc2"),
                                            ("script-rates", "Trans_enc4"), ("script-rates", "Trans_enc2_dec2")]
    assert all(part.plan()[preset] == (2,) for part in parts[3:] for preset in part.plan())  # 2 epochs each
    assert len(order) == len(set(order)) == 30


def test_the_fidelity_runs_change_one_switch_each():
    from img2music_tf.presets import FIDELITIES, get_preset

    paper = get_preset(VA_RUN, scale="paper", fidelity="paper")
    assert paper.shuffle_songs and get_preset(VA_RUN, scale="paper", fidelity="file-order") == dataclasses.replace(
        paper, fidelity="file-order", shuffle_songs=False)
    fc2 = get_preset(VA_RUN, scale="paper", fidelity="fc2")
    assert fc2.image_features == get_preset(VA_RUN, scale="paper", fidelity="code").image_features
    assert fc2.image_dim == 4096 and fc2.learning_rate == paper.learning_rate and fc2.shuffle_songs
    rates = get_preset("Trans_enc4", scale="paper", fidelity="script-rates")
    assert rates.learning_rate == 1e-4 and get_preset("Trans_enc4", scale="paper").learning_rate == 1e-5
    assert {name: switches.va_batchnorm for name, switches in FIDELITIES.items()} == {
        "paper": True, "code": False, "file-order": True, "fc2": True, "script-rates": True}


def test_weights_travel_as_bf16_within_half_a_percent():
    import numpy as np

    weights = np.random.default_rng(0).normal(size=(64, 32)).astype(np.float32)
    bits = gpu_pack.to_bf16(weights)
    assert bits.dtype == np.uint16 and bits.nbytes == weights.nbytes // 2
    back = gpu_pack.from_bf16(bits)
    assert np.all(np.abs(back - weights) <= np.abs(weights) * 2**-8)  # 8 bits of mantissa, rounded to nearest
    assert np.array_equal(gpu_pack.from_bf16(gpu_pack.to_bf16(back)), back)  # bf16 values travel exactly


def test_the_budget_starts_only_runs_that_can_finish():
    budget = gpu_run.Budget(100 + gpu_run.RESERVE_S)
    assert budget.estimate(1000) is None and budget.refuses(10**9) is None  # nothing measured: the first run starts
    budget.learn(cost=1000, steady=20.0, decode=10.0, compile_s=20.0)  # 0.02 s per unit, 30 s fixed
    assert budget.estimate(2000) == pytest.approx(70.0)
    assert budget.refuses(2000) is None
    assert budget.refuses(4000).startswith("estimated 110 s")
    # a run compiled ahead (`rehearse`) is expected to compile a share of a cold run, until one has finished
    assert budget.estimate(4000, rehearsed=True) == pytest.approx(80 + 10 + 20 * gpu_run.WARM_SHARE)
    budget.learn(cost=1000, steady=10.0, decode=5.0, compile_s=2.0, rehearsed=True)
    assert budget.estimate(4000, rehearsed=True) == pytest.approx(80 + 10 + 2)  # the worst pace and decoding
    assert budget.estimate(4000) == pytest.approx(80 + 10 + 20)
    budget.deadline -= 200
    assert budget.refuses(1).startswith("no time left")


def test_a_run_stops_as_soon_as_its_epochs_say_it_cannot_finish(monkeypatch):
    clock = [0.0]
    monkeypatch.setattr(gpu_run, "time", types.SimpleNamespace(monotonic=lambda: clock[0]))
    entry = gpu_pack.Entry("builtin-paper", VA_RUN, 0, epochs=15, snapshot_epochs=(15,), rows=(), features="", run_info={}, cost=1)
    budget = gpu_run.Budget(60 + gpu_run.RESERVE_S)
    watch = gpu_run.RunWatch(entry, None, [], None, 32, budget, gpu_run.Compilations())
    watch.set_model(types.SimpleNamespace(stop_training=False))
    clock[0] = 3.0
    watch.on_epoch_end(0)  # 14 more epochs of 3 s: 42 s + the final decoding (guessed 3 s) < 57 s left
    assert watch.model.stop_training is False and watch.stopped is None
    clock[0] = 8.0
    watch.on_epoch_end(1)  # 13 more epochs of 5 s: 65 s + 5 s > 52 s left
    assert watch.model.stop_training is True and watch.stopped.startswith("stopped after epoch 2: 13 more epoch(s)")
    assert watch.epoch_seconds == [3.0, 5.0]



def test_a_run_that_cannot_finish_goes_on_to_a_snapshot_epoch_that_fits(monkeypatch):
    clock = [0.0]
    monkeypatch.setattr(gpu_run, "time", types.SimpleNamespace(monotonic=lambda: clock[0]))
    entry = gpu_pack.Entry("builtin-paper", VA_RUN, 0, epochs=15, snapshot_epochs=(2, 15), rows=(), features="", run_info={}, cost=1)
    budget = gpu_run.Budget(30 + gpu_run.RESERVE_S)
    monkeypatch.setattr(gpu_run, "generate_tokens", lambda *args, **kwargs: [])  # decoding takes no time here
    watch = gpu_run.RunWatch(entry, None, [], None, 32, budget, gpu_run.Compilations())
    watch.set_model(types.SimpleNamespace(stop_training=False, net=None))
    watch.decode_seconds[0] = 1.0  # the guess for the epoch-2 decoding
    clock[0] = 10.0
    watch.on_epoch_end(0)  # 15 epochs cannot finish in 20 s, but epoch 2 (10 s + 1 s decoding) can
    assert watch.model.stop_training is False and watch.stopped is None
    clock[0] = 21.0
    watch.on_epoch_end(1)  # epoch 2 reached, its snapshot taken; 13 more epochs cannot finish in 9 s
    assert watch.model.stop_training is True and watch.stopped.startswith("stopped after epoch 2: 13 more epoch(s)")

def test_run_folders_are_named_after_the_backend(tmp_path):
    settings = Settings(scale=SCALES["tiny"], seeds=(0,), data="builtin", out=tmp_path, work=tmp_path,
                        fidelity="paper", backend="jax")
    assert settings.run_dir(VA_RUN, 0).name == f"{VA_RUN}_paper_songs8_none_jax_seed0"
    default = Settings(scale=SCALES["tiny"], seeds=(0,), data="builtin", out=tmp_path, work=tmp_path, fidelity="paper")
    assert default.backend == keras.backend.backend()


def test_unavailable_imagenet_weights_fail_before_any_other_work(tmp_path, monkeypatch, capsys):
    from img2music_tf.models import image_encoder

    def offline(spec, weights, seed=0):
        raise UserError(f"cannot get the ImageNet weights of {spec.encoder} (offline); {image_encoder.OFFLINE_HINT}")

    def too_late(*args, **kwargs):
        raise AssertionError("the data was prepared before the weights were checked")

    monkeypatch.setattr(image_encoder, "build_cnn", offline)
    monkeypatch.setattr(image_encoder.torchvision_vgg16, "checkpoint_path", lambda: None)  # no offline fallback
    monkeypatch.setattr(pipeline, "prepare_data", too_late)
    imagenet = [*PACK[:4], "--image-weights", "imagenet", "--work", str(tmp_path / "work")]
    assert cli.main(["reproduce", "table1", *imagenet, "--out", str(tmp_path)]) == 2
    assert cli.main(["gpu", "pack", *imagenet, "--out", str(tmp_path / "pack")]) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 2 and all("cannot get the ImageNet weights of" in line for line in errors)
    assert sorted(path.name for path in tmp_path.iterdir()) == []


def test_wheels_never_replace_a_file_or_a_folder_of_other_files(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(gpu_queue.subprocess, "run", lambda *a, **k: pytest.fail("pip ran"))
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "thesis.tex").write_text("mine")
    assert cli.main(["gpu", "wheels", "--out", str(tmp_path / "notes.txt")]) == 2
    assert cli.main(["gpu", "wheels", "--out", str(tmp_path / "home")]) == 2
    errors = capsys.readouterr().err.splitlines()
    assert errors == [f"img2music: error: cannot write {tmp_path / 'notes.txt'}: it is a file, not a folder",
                      f"img2music: error: {tmp_path / 'home'} holds other files (no keras-*.whl), which writing it "
                      "would delete: name a new or empty folder, or remove it first"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home", "notes.txt"]
    assert [p.name for p in (tmp_path / "home").iterdir()] == ["thesis.tex"]


def test_bad_queue_inputs_are_one_line(tmp_path, capsys):
    assert cli.main(["gpu", "pack", *PACK, "--presets", "Trans_enc3_dec3", "--out", str(tmp_path / "p"),
                     "--work", str(tmp_path)]) == 2
    assert cli.main(["gpu", "merge", str(tmp_path)]) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert "Trans_enc3_dec3 is not trained by any artefact; choose from LSTM_enc2" in errors[0]
    assert "cannot read the GPU's results" in errors[1] and len(errors) == 2
    (tmp_path / "list.json").write_text("[]")
    assert cli.main(["gpu", "merge", str(tmp_path / "list.json")]) == 2
    assert capsys.readouterr().err == (f"img2music: error: {tmp_path / 'list.json'} is not the GPU's results "
                                       "(a JSON object written by `img2music gpu run`)\n")
    assert cli.main(["gpu", "run", "--pack", str(tmp_path), "--out", str(tmp_path / "out"), "--warm", "-1"]) == 2
    assert capsys.readouterr().err == "img2music: error: --warm must be 0 (no warming processes) or more, got -1\n"
    with pytest.raises(SystemExit) as exit_:
        cli.main(["gpu", "warm", "--jobs", "0:early"])
    assert exit_.value.code == 2 and "PART is late or all" in capsys.readouterr().err


def test_a_failed_pack_removes_the_work_folders_it_made_and_nothing_else(tmp_path, capsys, monkeypatch):
    import errno

    (tmp_path / "notes.txt").write_text("mine")
    args = ["gpu", "pack", *PACK, "--presets", VA_RUN, "--work", str(tmp_path / "work" / "x")]
    assert cli.main([*args, "--out", str(tmp_path / "notes.txt")]) == 2  # said before any work
    assert capsys.readouterr().err == f"img2music: error: cannot write {tmp_path / 'notes.txt'}: it is a file, not a folder\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]

    def full(*args, **kwargs):  # the queue, the pack's last file
        raise OSError(errno.ENOSPC, "No space left on device")

    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "mine.txt").write_text("mine")
    monkeypatch.setattr(gpu_queue, "write_json", full)
    assert cli.main([*args, "--out", str(tmp_path / "gpu" / "pack")]) == 2
    assert capsys.readouterr().err == f"img2music: error: cannot write {tmp_path / 'gpu' / 'pack'}: No space left on device\n"
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")) == ["notes.txt", "work", "work/mine.txt"]


def test_the_makefile_passes_the_image_weights_and_runs_the_queue_without_setup():
    def dry_run(*args):
        return subprocess.run(["make", "-n", "-B", *args], cwd=REPO, capture_output=True, text=True, check=True).stdout

    assert "--image-weights none" in dry_run("table1", "SCALE=paper", "WEIGHTS=none")
    assert "--image-weights" not in dry_run("table1")
    pack = dry_run("paper-gpu-pack")  # real image features by default: torchvision's ImageNet VGG16, offline
    assert "--presets" not in pack and "--queue paper --feature-dtype float16 --image-weights torchvision" in pack
    assert "--data authors --seeds 1 --fidelity paper --presets LSTM_enc2 Trans_enc4 --image-weights torchvision " \
           "--out gpu/pack" in dry_run("paper-gpu-pack", "PRESETS=LSTM_enc2 Trans_enc4")
    assert "--data eimg --seeds 1 --fidelity paper --image-weights none --out" in dry_run(
        "paper-gpu-pack", "QUEUE=", "DATA=eimg", "WEIGHTS=none")
    gpu = dry_run("paper-gpu", "OUT=/tmp/out")
    assert "--target gpu/site gpu/wheels/*.whl" in gpu and "KERAS_BACKEND=jax" in gpu and "--out /tmp/out" in gpu
    assert "venv" not in gpu  # the GPU machine has no internet for `make setup`
    assert "--lanes 4" in gpu and "--lanes 1 --warm 2" in dry_run("paper-gpu", "OUT=/tmp/out", "LANES=1", "WARM=2")
    assert "--warm" not in gpu


def _rehearsals_running(pack, wait_s: float = 0.0) -> list[str]:
    """Command lines of running `gpu warm` processes of `pack` (Linux /proc), waiting up to `wait_s` seconds
    for one to show: Popen returns once exec has closed its pipe, a moment before the kernel gives the new
    program its command line."""
    deadline = time.monotonic() + wait_s
    while not (running := _processes_with(pack)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return running


def _processes_with(pack) -> list[str]:
    running = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            words = cmdline.read_bytes().decode(errors="replace").split("\0")
        except OSError:  # the process ended meanwhile
            continue
        if "warm" in words and str(pack) in words:
            running.append(" ".join(words))
    return running


@pytest.fixture(scope="module")
def queue(tmp_path_factory):
    """Pack (tiny, built-in data, the VA-loss run only), run the queue in a process without the CPU-only
    libraries, merge into results/."""
    root = tmp_path_factory.mktemp("gpu_queue")
    work, pack, out = root / "work", root / "pack", root / "gpu_out"
    assert cli.main(["gpu", "pack", *PACK, "--presets", VA_RUN, "--work", str(work), "--out", str(pack)]) == 0
    program = f"""
import sys

class NotOnTheGPU:  # imports of these fail, as on a machine that lacks them
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {NOT_ON_THE_GPU!r}:
            raise ImportError(name + " is not on the GPU machine")

sys.meta_path.insert(0, NotOnTheGPU())
from img2music_tf.cli import main
sys.exit(main(["gpu", "run", "--pack", {str(pack)!r}, "--budget-s", "600", "--out", {str(out)!r},
               "--jax-cache", {str(root / "jax-cache")!r}, "--lanes", "1", "--warm", "1"]))
"""
    env = {**os.environ, "KERAS_BACKEND": "jax", "PYTHONPATH": str(REPO)}
    ran = subprocess.run([sys.executable, "-c", program], env=env, capture_output=True, text=True, timeout=600)
    assert ran.returncode == 0, ran.stderr[-3000:]
    assert cli.main(["gpu", "merge", str(out), "--out", str(root / "results")]) == 0
    results = json.loads((out / experiments.RESULTS_FILE).read_text())
    tables = {name: json.loads((root / TABLES / f"{name}.json").read_text()) for name in ARTEFACTS}
    return {"root": root, "pack": pack, "results": results, "tables": tables}


@jax_only
def test_the_pack_holds_what_the_gpu_needs_and_is_small(queue):
    pack = queue["pack"]
    assert sorted(path.name for path in pack.iterdir()) == sorted([gpu_pack.QUEUE_FILE, "builtin"])
    assert sorted(path.name for path in (pack / "builtin").iterdir()) == sorted([
        "vocabulary.json", gpu_pack.SONGS_FILE, gpu_pack.FEATURES_FILE, "va_predictor-0", gpu_pack.VA_TABLES_FILE])
    queued = json.loads((pack / gpu_pack.QUEUE_FILE).read_text())
    (entry,) = queued["entries"]
    assert (entry["part"], entry["preset"], entry["epochs"], entry["snapshot_epochs"]) == ("builtin-paper", VA_RUN, 1, [1])
    assert entry["va_predictor"] == "builtin/va_predictor-0" and entry["keep_weights"] is False
    assert queued["parts"]["builtin-paper"]["artefacts"] == {"table1": [0], "table2": [0], "figure3": [0]}
    assert "table2/Trans_enc3_dec3" in entry["rows"] and entry["cost"] > 0
    assert gpu_queue._mib(pack) < experiments.PACK_LIMIT_MIB  # noqa: SLF001


@jax_only
def test_the_queue_runs_without_the_cpu_only_libraries_and_reports_timings(queue):
    results = queue["results"]
    (run,) = results["runs"]
    assert run["finished"] and run["stopped"] is None and results["not_started"] == []
    test_images = json.loads((queue["pack"] / gpu_pack.QUEUE_FILE).read_text())["parts"]["builtin-paper"]["test_images"]
    assert sorted(run["tokens"]["1"]) == test_images
    assert all(line.split()[0] == "<start>" for line in run["tokens"]["1"].values())
    assert (queue["root"] / "gpu_out" / "warm-0.log").is_file()  # a rehearsal ran beside it (--warm 1)
    timings = run["timings"]
    assert timings["compilations"] > 0 and len(timings["epoch_seconds"]) == 1 and "1" in timings["decode_seconds"]
    programs = timings["programs"]  # each XLA program's compilations and seconds, the slowest first
    assert sum(program["compilations"] for program in programs) == timings["compilations"]
    assert any("train_step" in program["name"] for program in programs)
    assert [program["seconds"] for program in programs] == sorted((p["seconds"] for p in programs), reverse=True)
    assert results["environment"]["backend"] == "jax" and results["environment"]["device"]
    assert results["warm"] == 1 and run["timings"]["rehearsed"] is False  # the first run compiles for itself
    assert run["history"][0]["va_loss"] is not None  # L_VA logged from the packed predictor and tables


@jax_only
def test_a_rehearsal_compiles_every_program_the_run_then_reads_from_the_cache(queue, tmp_path):
    cache, out = tmp_path / "cache", tmp_path / "out"
    env = {**os.environ, "KERAS_BACKEND": "jax", "PYTHONPATH": str(REPO)}
    warm = [sys.executable, "-m", "img2music_tf", "gpu", "warm", "--pack", str(queue["pack"]), "--jobs", "0:all",
            "--jax-cache", str(cache), "--done", str(tmp_path)]
    ran = subprocess.run(warm, env=env, capture_output=True, text=True, timeout=600)
    assert ran.returncode == 0, ran.stderr[-3000:]
    assert (tmp_path / "0").is_file() and f"{VA_RUN} seed 0: " in ran.stdout
    run = [sys.executable, "-m", "img2music_tf", "gpu", "run", "--pack", str(queue["pack"]), "--budget-s", "600",
           "--out", str(out), "--jax-cache", str(cache), "--lanes", "1"]
    ran = subprocess.run(run, env=env, capture_output=True, text=True, timeout=600)
    assert ran.returncode == 0, ran.stderr[-3000:]
    (record,) = json.loads((out / experiments.RESULTS_FILE).read_text())["runs"]
    timings = record["timings"]
    assert timings["compilations"] > 0 and timings["cache_hits"] == timings["compilations"]  # none compiled anew
    untimed = [[{k: v for k, v in row.items() if k != "seconds"} for row in run["history"]]
               for run in (record, queue["results"]["runs"][0])]
    assert untimed[0] == untimed[1]  # and the run is the same


@jax_only
def test_rehearsal_processes_stop_when_the_queue_ends(queue, tmp_path):
    with gpu_run.rehearsals(queue["pack"], tmp_path, tmp_path / "cache", entries=1, processes=1) as rehearsed:
        assert len(_rehearsals_running(queue["pack"], wait_s=30)) == 1 and not rehearsed(0)  # still starting
    assert _rehearsals_running(queue["pack"]) == []
    assert (tmp_path / "warm-0.log").is_file()


@jax_only
def test_a_run_that_fails_is_recorded_and_the_queue_goes_on(queue, tmp_path, monkeypatch, capsys):
    data = gpu_run.PackData(queue["pack"])
    (entry,) = data.entries
    data.entries = [dataclasses.replace(entry, preset="LSTM_enc2"), entry]
    monkeypatch.setattr(gpu_run, "PackData", lambda folder: data)

    def train(entry, info, data, budget, rehearsed, weights_dir):
        if entry.preset == "LSTM_enc2":
            raise RuntimeError("cuDNN is not there")
        return {"part": entry.part, "preset": entry.preset, "seed": entry.seed, "finished": True}

    monkeypatch.setattr(gpu_run, "_train_entry", train)
    results = gpu_run.run_queue(queue["pack"], tmp_path, budget_s=100)
    failed, done = results["runs"]
    assert failed["stopped"] == "failed: RuntimeError: cuDNN is not there" and not failed["finished"]
    assert failed["history"] == [] and done == {"index": 1, "part": entry.part, "preset": VA_RUN, "seed": entry.seed,
                                                "finished": True}
    assert "builtin-paper LSTM_enc2 seed 0: failed: RuntimeError: cuDNN is not there" in capsys.readouterr().out
    assert json.loads((tmp_path / experiments.RESULTS_FILE).read_text())["runs"] == results["runs"]


@jax_only
def test_the_merge_renders_every_artefact_from_the_runs_present(queue):
    tables = queue["tables"]
    assert set(tables["table2"]["rows"]) == {"Trans_enc3_dec3", VA_RUN}
    assert set(tables["table1"]["rows"]) == {"Trans_enc3_dec3_VGG"}
    assert set(tables["figure3"]["curves"]) == {VA_RUN}
    (seed,) = tables["table2"]["rows"][VA_RUN]["seeds"]
    assert seed["timings"]["device"] == queue["results"]["environment"]["device"]
    tokens = queue["results"]["runs"][0]["tokens"]["1"]
    assert {piece["image_id"]: piece["tokens"] for piece in seed["pieces"]} == {
        piece["image_id"]: tokens[piece["image_id"]] for piece in seed["pieces"]}
    markdown = (queue["root"] / TABLES / "table1.md").read_text()
    assert "| Trans_enc3_dec3_VGG | ours, tiny |" in markdown and "| LSTM_enc2 | ours" not in markdown
    assert "Missing at paper scale:** LSTM_enc2" in markdown and "by the GPU queue" in markdown


@jax_only
def test_a_run_stopped_early_draws_its_curve_and_names_the_rows_it_cannot_serve(queue, tmp_path):
    """The window ran out after epoch 1 of 2, before the snapshot epoch 2: the run is merged, Figure 3 draws
    its one epoch and says it stopped, and the tables name their rows missing instead of scoring epoch 1."""
    results = copy.deepcopy(queue["results"])
    results["parts"]["builtin-paper"]["settings"]["scale"]["epochs"] = 2  # the run was planned for 2 epochs
    (run,) = results["runs"]
    run.update(finished=False, stopped="stopped after epoch 1: 1 more epoch(s) need about 9 s, 3 s left")
    (tmp_path / experiments.RESULTS_FILE).write_text(json.dumps(results))
    work = shutil.copytree(queue["root"] / "work", tmp_path / "work")
    tables = {result["artefact"]: result for result in gpu_queue.merge(tmp_path, tmp_path / "results", work)}
    assert tables["table1"]["rows"] == {} and tables["table2"]["rows"] == {}
    (curve,) = tables["figure3"]["curves"][VA_RUN]
    assert (curve["epochs_trained"], curve["epochs_planned"], len(curve["history"])) == (1, 2, 1)
    markdown = (tmp_path / TABLES / "figure3.md").read_text()
    assert f"Stopped early, when the GPU window ran out: {VA_RUN} seed 0 trained 1 of its 2 epochs" in markdown
    assert (tmp_path / TABLES / "figure3.png").stat().st_size > 0


@jax_only
def test_the_gpu_run_equals_a_cpu_training_of_the_same_preset(queue, tmp_path):
    """The same code, seed and inputs: the CPU pipeline trains the same weights (same history) and, from the
    music it generates, gives the numbers the merged table shows."""
    import jax

    from img2music_tf.metrics import aggregate_pieces
    from img2music_tf.run_folder import HISTORY_FILE, RunInfo, read_history

    (run,) = queue["results"]["runs"]
    table = queue["tables"]["table2"]
    (seed,) = table["rows"][VA_RUN]["seeds"]
    settings = gpu_queue.settings_from_record(queue["results"]["parts"]["builtin-paper"]["settings"], tmp_path)
    prepared = pipeline.prepare_data("builtin", "builtin", settings.data_root / "prepared", settings.scale)
    va_predictor = settings.data_root / "va_predictor-paper"
    info = RunInfo.from_dict(run["run_info"])
    jax.config.update("jax_compilation_cache_dir", str(queue["root"] / "jax-cache"))  # the queue's programs
    try:
        cpu_run = pipeline.train_model(prepared, info.model, tmp_path / "cpu_run", seed=info.seed,
                                       image_weights="none", va_predictor=va_predictor, max_songs=info.max_songs,
                                       verbose=0)
    finally:
        jax.config.update("jax_compilation_cache_dir", None)
    for cpu_row, gpu_row in zip(read_history(cpu_run / HISTORY_FILE), run["history"], strict=True):
        for column in ("loss", "cross_entropy", "va_loss", "val_loss"):
            assert cpu_row[column] == pytest.approx(gpu_row[column], rel=1e-5), column
    songs = pipeline.trained_songs(prepared, info.max_songs)
    pieces = pipeline.generate_test_music(prepared, cpu_run, songs, va_predictor)
    assert [p["tokens"] for p in pieces] == [p["tokens"] for p in seed["pieces"]]
    assert [p["metrics"] for p in pieces] == [p["metrics"] for p in seed["pieces"]]
    expected = aggregate_pieces(pieces, tuple(table["reference"]["training_music"]))
    assert expected["all"]["music_quality_loss"] == pytest.approx(seed["aggregate"]["all"]["music_quality_loss"])


def test_the_gpu_steps_that_need_jax_say_so_in_one_line_where_it_is_missing(tmp_path, capsys, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "jax" else real(name, *a))
    for words in (["run", "--pack", str(tmp_path), "--out", str(tmp_path / "out")],
                  ["warm", "--pack", str(tmp_path), "--jobs", "0:all"]):
        assert cli.main(["gpu", *words]) == 2
        err = capsys.readouterr().err
        assert err.startswith("img2music: error: the GPU queue runs under JAX, which is not installed here")
    assert not (tmp_path / "out").exists()


@pytest.fixture(scope="module")
def lanes(queue):
    """A pack of two runs (the VA-loss run, whose weights come back, and Trans_enc4), trained by `gpu run` one
    after the other (--lanes 1) and side by side (--lanes 2), sharing the queue's compilation cache."""
    root = queue["root"]
    pack = root / "pack2"
    assert cli.main(["gpu", "pack", *PACK, "--presets", VA_RUN, "Trans_enc4", "--work", str(root / "work"),
                     "--out", str(pack)]) == 0
    queued = json.loads((pack / gpu_pack.QUEUE_FILE).read_text())
    queued["entries"][0]["keep_weights"] = True  # as experiments.KEEP_WEIGHTS marks the paper queue's
    (pack / gpu_pack.QUEUE_FILE).write_text(json.dumps(queued))
    env = {**os.environ, "KERAS_BACKEND": "jax", "PYTHONPATH": str(REPO)}
    results = {}
    for count in (1, 2):
        out = root / f"lanes{count}"
        command = [sys.executable, "-m", "img2music_tf", "gpu", "run", "--pack", str(pack), "--budget-s", "900",
                   "--out", str(out), "--jax-cache", str(root / "jax-cache"), "--lanes", str(count)]
        ran = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
        assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-3000:]
        results[count] = json.loads((out / experiments.RESULTS_FILE).read_text())
    return {"root": root, "pack": pack, "results": results}


@jax_only
def test_two_lanes_train_side_by_side_what_one_lane_trains_in_turn(lanes):
    one, two = lanes["results"][1], lanes["results"][2]
    assert (one["lanes"], two["lanes"]) == (1, 2)
    assert [(run["preset"], run["finished"]) for run in two["runs"]] == [(VA_RUN, True), ("Trans_enc4", True)]
    first, second = (run["timings"] for run in two["runs"])
    assert second["started_s"] < first["epoch_ends_s"][-1] and first["started_s"] < second["epoch_ends_s"][-1]
    for alone, beside in zip(one["runs"], two["runs"], strict=True):
        untimed = [[{k: v for k, v in row.items() if k != "seconds"} for row in run["history"]]
                   for run in (alone, beside)]
        assert untimed[0] == untimed[1] and alone["tokens"] == beside["tokens"]
    log = (lanes["root"] / "lanes2" / gpu_pack.LANES_LOG).read_text()
    assert "===== lane 0" in log and "===== lane 1" in log and not (lanes["root"] / "lanes1" / "lanes.log").exists()


@jax_only
def test_the_weights_of_a_marked_run_come_back_in_bf16_and_merge_into_a_model(lanes):
    import numpy as np

    from img2music_tf.run_folder import load_run

    one, two = (lanes["root"] / f"lanes{count}" for count in (1, 2))
    (name,) = {run["weights"] for run in lanes["results"][2]["runs"]} - {None}
    assert name == f"weights-builtin-paper-{VA_RUN}-seed0.npz"
    with np.load(one / name) as alone, np.load(two / name) as beside:
        assert alone.files == beside.files and all(np.array_equal(alone[k], beside[k]) for k in alone.files)
        expected = [gpu_pack.from_bf16(beside[f"w{i}"]) for i in range(len(beside.files))]
    work = shutil.copytree(lanes["root"] / "work", lanes["root"] / "work-lanes")
    gpu_queue.merge(two, lanes["root"] / "merged", work)
    run_dir = gpu_queue.settings_from_record(lanes["results"][2]["parts"]["builtin-paper"]["settings"],
                                             lanes["root"], work).run_dir(VA_RUN, 0)
    run = load_run(run_dir)
    assert all(np.array_equal(w, e) for w, e in zip(run.model.get_weights(), expected, strict=True))
    report = (lanes["root"] / "merged" / gpu_queue.WINDOW_REPORT).read_text()
    assert report == gpu_window.window_report(lanes["results"][2]) and "2 lane(s)" in report
    assert {row["preset"] for row in gpu_window.lane_scaling(lanes["results"][2]["runs"])} == {VA_RUN, "Trans_enc4"}
    assert not any(Path(p).name == "model.keras" for p in gpu_queue.settings_from_record(
        lanes["results"][2]["parts"]["builtin-paper"]["settings"], lanes["root"], work).run_dir("Trans_enc4", 0).iterdir())


def test_a_lane_that_dies_is_recorded_against_its_run_and_an_entry_no_lane_took_as_not_started(tmp_path):
    """`gpu_run._gathered` at the end: lane 0 finished entry 0; lane 1 took entry 1 and was killed; entry 2
    was never taken."""
    entries = [gpu_pack.Entry("builtin-paper", preset, 0, 1, (1,), (), "f", {}, 1) for preset in
               (VA_RUN, "LSTM_enc2", "Trans_enc4")]
    data = types.SimpleNamespace(entries=entries)
    (tmp_path / "claims").mkdir()
    gpu_run.Claims(tmp_path / "claims", 0).take(0)
    gpu_run.Claims(tmp_path / "claims", 1).take(1)
    assert not gpu_run.Claims(tmp_path / "claims", 0).take(1)  # taken once only
    done = {"index": 0, "part": "builtin-paper", "preset": VA_RUN, "seed": 0, "finished": True}
    (tmp_path / "lane-0.json").write_text(json.dumps({"environment": {"device": "GPU"}, "runs": [done],
                                                      "not_started": [], "vocabularies": {"builtin": ["a"]}}))
    (tmp_path / "lane-1.log").write_text("Epoch 1/1\nKilled\n")
    base = gpu_run._results({"parts": {}}, 100.0, {}, warm=0, lanes=2)  # noqa: SLF001
    processes = [types.SimpleNamespace(returncode=0), types.SimpleNamespace(returncode=-9)]
    results = gpu_run._gathered(base, tmp_path, data, processes, final=True)  # noqa: SLF001
    assert results["environment"] == {"device": "GPU"} and results["vocabularies"] == {"builtin": ["a"]}
    ran, died = results["runs"]
    assert ran == done and (died["index"], died["preset"], died["finished"]) == (1, "LSTM_enc2", False)
    assert died["stopped"] == "failed: lane 1 ended (exit code -9) during this run: Killed"
    (never,) = results["not_started"]
    assert (never["index"], never["preset"], never["reason"]) == (2, "Trans_enc4", "no lane took it before the end")


def test_the_window_report_times_epochs_against_the_runs_at_once_and_sets_losses_beside_the_authors_log():
    def run(part, losses, started, ends):
        starts = [started, *ends[:-1]]
        return {"part": part, "preset": VA_RUN, "seed": 0, "finished": True, "stopped": None,
                "run_info": {"model": {"learning_rate": 1e-5}, "image_weights": "torchvision"},
                "history": [{"loss": loss} for loss in losses],
                "timings": {"started_s": started, "epoch_ends_s": ends, "compile_seconds": 30.0,
                            "steady_seconds": [end - start for start, end in zip(starts, ends)]}}

    results = {"environment": {"device": "GPU: NVIDIA H200"}, "lanes": 2, "budget_s": 540, "seconds": 100,
               "not_started": [], "runs": [run("authors-paper", [5.88, 5.11], 0, [50, 60]),
                                           run("authors-file-order", [5.77, 4.93], 0, [40, 100])]}
    # epochs [0, 50], [50, 60] and [0, 40] had both runs training at their midpoints, [40, 100] only one
    assert gpu_window.lane_scaling(results["runs"]) == [
        {"preset": VA_RUN, "busy": 1, "epochs": 1, "steady_s": 60, "compile_s": None},
        {"preset": VA_RUN, "busy": 2, "epochs": 3, "steady_s": 40, "compile_s": 30.0}]
    report = gpu_window.window_report(results)
    assert "GPU: NVIDIA H200" in report and "2 of 2 queued run(s) finished" in report
    assert f"| authors-paper | {VA_RUN} | 0 | torchvision | 2 | 30 | 30.0 | finished |" in report
    # the four logged runs of this network reach 4.898-4.945 after epoch 2, mean 4.912
    assert f"| authors-paper | {VA_RUN} | 0 | 1e-05 | 5.880 | 5.110 | 4.898-4.945 (4) | 1e-05 | +0.198 |" in report
    assert f"| authors-file-order | {VA_RUN} | 0 | 1e-05 | 5.770 | 4.930 | 4.898-4.945 (4) | 1e-05 | +0.018 |" in report


def test_the_first_window_s_results_are_still_merged():
    """results/gpu/2026-12-01-h200-authors.json was written in the first format (one part): the merge reads it as
    the current one, and the window report shows its runs against the log."""
    first = json.loads((REPO / "results" / "gpu" / "2026-12-01-h200-authors.json").read_text())
    assert first["format"] == gpu_queue.FORMAT_1
    record = gpu_queue.upgraded(first)
    assert record["format"] == gpu_pack.FORMAT and list(record["parts"]) == ["authors-paper"]
    assert record["parts"]["authors-paper"]["artefacts"] == {name: [0] for name in ARTEFACTS}
    assert record["vocabularies"]["authors"] == first["vocabulary"]
    assert {run["part"] for run in record["runs"] + record["not_started"]} == {"authors-paper"}
    report = gpu_window.window_report(record)
    assert "0 of 5 queued run(s) finished, 3 stopped or failed, 2 not started" in report
    assert f"| authors-paper | {VA_RUN} | 0 | 1e-05 | 5.885 | 5.110 | 4.898-4.945 (4) | 1e-05 | +0.198 |" in report
