"""The run cache, the grid runner and the summaries over seeds."""

from dataclasses import replace

import pytest
import torch

from lsgan_lib.data import ImageData, ring_mixture
from lsgan_lib.experiments import (
    Run,
    by_setting,
    difference,
    fingerprint,
    load_cached,
    mean_std,
    run_grid,
    run_key,
    run_one,
    save_atomic,
    stratified_split,
    summarise,
    toy_evaluator,
)
from lsgan_lib.trainer import TrainConfig

RING = ring_mixture()
TOY = TrainConfig(steps=30, batch_size=32, latent_dim=4, width=8, sample_every=10,
                  n_samples=200, loss="ls", device="cpu")


@pytest.fixture(scope="module")
def points():
    return RING.sample(512, torch.Generator().manual_seed(0))


def test_a_cache_hit_returns_identical_results(points, tmp_path):
    evaluate, extra = toy_evaluator(RING)
    first = run_one(TOY, points, evaluate, extra=extra, cache_dir=tmp_path, keep=16)
    assert not first.cached and len(list(tmp_path.glob("*.pt"))) == 1
    second = run_one(TOY, points, evaluate, extra=extra, cache_dir=tmp_path, keep=16)
    assert second.cached
    assert second.stats == first.stats
    assert second.metrics == first.metrics
    assert torch.equal(second.final, first.final)
    assert first.samples.keys() == second.samples.keys()
    for step in first.samples:
        assert torch.equal(first.samples[step], second.samples[step])
    fresh = run_one(TOY, points, evaluate, extra=extra, cache_dir=None, keep=16)
    assert fresh.stats == first.stats  # the cache holds what a run gives


def test_a_corrupted_cache_file_is_recomputed_not_crashed_on(points, tmp_path):
    first = run_one(TOY, points, cache_dir=tmp_path)
    (path,) = tmp_path.glob("*.pt")
    path.write_bytes(path.read_bytes()[: 100])  # truncated mid-write
    with pytest.warns(UserWarning, match="unreadable cache"):
        again = run_one(TOY, points, cache_dir=tmp_path)
    assert not again.cached and again.stats == first.stats
    assert run_one(TOY, points, cache_dir=tmp_path).cached  # rewritten whole
    path.write_bytes(b"not a torch file")
    with pytest.warns(UserWarning):
        assert not run_one(TOY, points, cache_dir=tmp_path).cached


def test_a_file_with_foreign_contents_is_ignored(tmp_path):
    path = tmp_path / "x.pt"
    save_atomic({"something": 1}, path)
    with pytest.warns(UserWarning):
        assert load_cached(path, ("stats",)) is None
    assert load_cached(tmp_path / "missing.pt") is None


def test_save_is_atomic_and_leaves_no_temporary_files(tmp_path):
    path = tmp_path / "sub" / "record.pt"
    save_atomic({"a": torch.arange(3)}, path)
    save_atomic({"a": torch.arange(4)}, path)
    assert [p.name for p in path.parent.iterdir()] == ["record.pt"]
    assert torch.equal(load_cached(path)["a"], torch.arange(4))


def test_save_failure_keeps_the_old_file(tmp_path):
    path = tmp_path / "record.pt"
    save_atomic({"a": 1}, path)
    with pytest.raises(Exception):
        save_atomic({"a": lambda: 0}, path)  # cannot be pickled
    assert load_cached(path) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["record.pt"]


def test_the_key_changes_with_config_data_and_evaluation(points):
    data_id = fingerprint(points, "ring")
    key = run_key(TOY, data_id)
    assert key == run_key(replace(TOY), fingerprint(points.clone(), "ring"))
    assert key != run_key(replace(TOY, seed=1), data_id)
    assert key != run_key(replace(TOY, lr_d=1e-3), data_id)
    assert key != run_key(TOY, fingerprint(points, "another source"))
    assert key != run_key(TOY, fingerprint(points + 1e-6, "ring"))
    assert key != run_key(TOY, data_id, {"threshold": 3})


def test_grid_runs_every_setting_and_seed_and_summarises(points, tmp_path):
    evaluate, extra = toy_evaluator(RING)
    settings = {"ls": TOY, "gan-ns": replace(TOY, loss="gan-ns")}
    lines = []
    runs = run_grid(settings, [0, 1, 2], points, evaluate, extra=extra,
                    cache_dir=tmp_path, log=lines.append)
    assert [(r.setting, r.seed) for r in runs] == [
        (s, seed) for s in ("ls", "gan-ns") for seed in (0, 1, 2)
    ]
    assert all(r.config.loss == r.setting for r in runs)
    assert len(lines) == 6 and "trained" in lines[0]
    assert len({str(r.stats["g_loss"]) for r in runs}) == 6  # seeds differ
    again = run_grid(settings, [0, 1, 2], points, evaluate, extra=extra,
                     cache_dir=tmp_path, log=None)
    assert all(r.cached for r in again)
    modes = by_setting(runs, "modes")
    assert list(modes) == ["ls", "gan-ns"] and all(len(v) == 3 for v in modes.values())
    table = summarise(runs, {"modes": "modes covered", "high_quality": "HQ"}, 1)
    assert "modes covered" in table and table.count("±") == 4
    assert len(table.splitlines()) == 4


def run_with(setting, value):
    return Run(setting, TOY, {}, {}, torch.empty(0), {"m": value})


def test_summary_is_mean_and_sample_std():
    runs = [run_with("a", v) for v in (1.0, 2.0, 3.0)] + [run_with("b", 5.0)]
    table = summarise(runs, {"m": "metric"}, digits=2)
    assert "2.00 ± 1.00" in table and "5.00 ± 0.00" in table
    assert mean_std([1, 2, 3]) == (2.0, 1.0)


def test_difference_compares_with_the_spread_over_seeds():
    close = difference([1.0, 2.0, 3.0], [1.5, 2.5, 3.5])
    assert close.difference == pytest.approx(-0.5) and not close.clear
    far = difference([10.0, 10.5, 11.0], [1.0, 1.5, 2.0])
    assert far.clear and far.difference == pytest.approx(9.0)
    assert far.standard_error == pytest.approx((2 * 0.25 / 3) ** 0.5)
    assert "+9.00" in far.describe()


def test_stratified_split_is_deterministic_disjoint_and_balanced():
    labels = torch.arange(200) % 4
    images = torch.arange(200, dtype=torch.float32).reshape(200, 1, 1, 1).expand(
        200, 1, 28, 28).contiguous() / 200
    data = ImageData("toy", images, labels, "made up")
    train, held = stratified_split(data, per_class=10, seed=0)
    train2, held2 = stratified_split(data, per_class=10, seed=0)
    _, held3 = stratified_split(data, per_class=10, seed=1)
    assert torch.equal(held.images, held2.images)
    assert torch.equal(train.labels, train2.labels)
    assert not torch.equal(held.images, held3.images)
    assert len(held) == 40 and len(train) == 160
    assert torch.bincount(held.labels).tolist() == [10] * 4
    ids_train = set(train.images[:, 0, 0, 0].tolist())
    assert not ids_train & set(held.images[:, 0, 0, 0].tolist())
    assert len(ids_train) == 160
