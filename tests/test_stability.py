"""The joint-batch ablation of the trainer and the stability chapter's code."""

from dataclasses import replace

import pytest
import torch

from lsgan_lib import stability as S
from lsgan_lib import trainer
from lsgan_lib.checkpoint import load_checkpoint, save_checkpoint
from lsgan_lib.experiments import Run
from lsgan_lib.models import Discriminator
from lsgan_lib.trainer import TrainConfig, train

TINY = TrainConfig(steps=6, batch_size=8, width=4, latent_dim=8, sample_every=3)


@pytest.fixture(scope="module")
def images():
    g = torch.Generator().manual_seed(0)
    return torch.rand(40, 1, 28, 28, generator=g) * 2 - 1


class Recording(Discriminator):
    def __init__(self, batch_norm=True):
        super().__init__(width=4, batch_norm=batch_norm)
        self.batches = []

    def forward(self, x):
        self.batches.append(x.detach().clone())
        return super().forward(x)


def test_joint_batch_feeds_real_and_fake_to_d_in_one_pass(images):
    d = Recording()
    train(replace(TINY, d_joint_batch=True), images, discriminator=d)
    rows = {tuple(r.flatten()[:50].tolist()) for r in images}
    # per step: one joint batch for D's update, the fakes alone for G's
    assert len(d.batches) == 2 * TINY.steps
    for joint, fakes in zip(d.batches[0::2], d.batches[1::2]):
        is_real = [tuple(r.flatten()[:50].tolist()) in rows for r in joint]
        assert len(joint) == 2 * TINY.batch_size
        assert is_real == [True] * TINY.batch_size + [False] * TINY.batch_size
        assert len(fakes) == TINY.batch_size
        assert torch.equal(fakes, joint[TINY.batch_size :])


def test_without_batch_norm_in_d_the_joint_batch_changes_nothing(images):
    """Batch norm is the only layer that mixes samples: without it in D, one
    joint pass gives the separate passes' scores up to rounding."""
    plain = replace(TINY, d_batch_norm=False)
    separate = train(plain, images)
    joint = train(replace(plain, d_joint_batch=True), images)
    assert torch.allclose(torch.tensor(separate.history.g_loss),
                          torch.tensor(joint.history.g_loss), atol=1e-5)  # fmt: skip
    # with batch norm in D it does change the run
    with_bn = train(replace(TINY, d_joint_batch=True), images)
    assert with_bn.history.g_loss != train(TINY, images).history.g_loss


def test_the_default_step_is_still_gan_step(images, monkeypatch):
    calls = []
    real_step = trainer.gan_step

    def step(*args):
        calls.append(len(args))
        return real_step(*args)

    monkeypatch.setattr(trainer, "gan_step", step)
    train(TINY, images)
    assert calls == [8] * TINY.steps
    calls.clear()
    train(replace(TINY, d_joint_batch=True), images)
    assert calls == []


def test_a_checkpoint_from_before_the_new_fields_still_resumes(images, tmp_path):
    train(replace(TINY, steps=3), images, out=tmp_path)
    path = tmp_path / "checkpoint.pt"
    state = load_checkpoint(path)
    for name in ("d_joint_batch", "num_classes"):
        del state["config"][name]
    save_checkpoint(state, path)
    resumed = train(TINY, images, out=tmp_path, resume=True)
    assert resumed.history.g_loss == train(TINY, images).history.g_loss
    with pytest.raises(ValueError, match="d_joint_batch"):
        train(replace(TINY, d_joint_batch=True), images, out=tmp_path, resume=True)


def test_blank_means_no_clear_strokes():
    background = torch.full((1, 1, 28, 28), -1.0)
    digit = background.clone()
    digit[..., 10:18, 12:15] = 1.0  # 24 pixels of ink: 3%
    faint = digit * 0.4  # a smudge: no pixel above 0.5
    all_ink = torch.ones(1, 1, 28, 28)
    grey = torch.full((1, 1, 28, 28), 0.1)
    images = torch.cat([background, digit, faint, all_ink, grey])
    assert S.blank_mask(images).tolist() == [True, False, True, True, True]
    assert S.blank_share(images) == pytest.approx(0.8)
    assert S.blank_share(images[:0]) == 0.0
    assert S.ink_share(digit) == pytest.approx(24 / 784)


def test_real_digits_are_not_blank():
    from lsgan_lib.data import load_images

    try:
        data = load_images("mnist", verbose=False, download=False)
    except Exception:  # no offline copy here: nothing to check
        pytest.skip("no offline MNIST")
    assert S.blank_share(data.images) == 0.0


@pytest.mark.parametrize("blank, expected", [
    ([1.0, 1.0, 0.2, 0.0], 100),
    ([1.0, 0.2, 0.9, 0.4], 150),  # strokes, blank again, then strokes
    ([1.0, 0.2, 0.3, 0.6], None),  # blank at the end
    ([1.0, 0.5, 0.5, 0.5], 50),  # exactly half is not more than half
])  # fmt: skip
def test_strokes_from_is_where_the_samples_stay_drawn(blank, expected):
    assert S.strokes_from([0, 50, 100, 150], blank) == expected


def metrics(**changes):
    base = {"stop_reason": "finished", "blank": 0.0, "classes": 10}
    return {**base, **changes}


@pytest.mark.parametrize("changes, why", [
    ({}, []),
    ({"blank": 0.51}, ["blank"]),
    ({"blank": 0.5}, []),
    ({"classes": 5}, ["few classes"]),
    ({"classes": 6}, []),
    ({"stop_reason": "non-finite loss at step 3", "blank": 1.0},
     ["non-finite", "blank"]),
])  # fmt: skip
def test_failure_rule(changes, why):
    assert S.failure_reasons(metrics(**changes)) == why


def test_settings_are_named_by_what_they_choose():
    stress = S.stress_settings(TrainConfig())
    assert len(stress) == 6
    assert "ls | Adam 2e-4 | D | (-1, 1, 0) | separate" in stress
    assert "gan-ns | RMSprop 2e-4 | - | - | separate" in stress
    tutorial = S.tutorial_settings(TrainConfig())
    recipe = tutorial["ls | RMSprop 5e-5 | G, D | (-1, 1, 1) | joint"]
    assert (recipe.lr_d, recipe.lr_g, recipe.optimizer) == (5e-5, 5e-5, "rmsprop")
    assert recipe.d_joint_batch and recipe.coding == "tutorial"
    assert "gan-ns | RMSprop 5e-5 | G, D | - | separate" in tutorial
    assert not set(stress) & set(tutorial)


def fake_run(setting, seed, failed, strokes=None, fid=100.0):
    why = ["blank"] if failed else []
    config = replace(TrainConfig(), seed=seed)
    found = {"failed": failed, "why": why, "strokes_from": strokes, "fid": fid,
             "classes": 10 - 5 * failed}  # fmt: skip
    return Run(setting, config, {}, {}, torch.empty(0), found)


def test_failure_table_counts_runs_per_setting():
    runs = [fake_run("a", 0, True, fid=300), fake_run("a", 1, False, 50, fid=100),
            fake_run("b", 0, False, 100), fake_run("b", 1, False, 200)]  # fmt: skip
    assert S.failed_share(runs, "a") == (1, 2)
    table = S.failure_table(runs).splitlines()
    assert "failed" in table[0] and "strokes from" in table[0]
    assert table[2].split()[-10:] == ["1/2", "blank", "50", "(1/2)", "200", "±",
                                      "141", "7.5", "±", "3.5"]  # fmt: skip
    assert table[3].split()[-10:-6] == ["0/2", "-", "150", "(2/2)"]
    assert "never (0/1)" in S.failure_table(runs[:1])
    assert S.first_failure(runs).seed == 0
    with pytest.raises(KeyError):
        S.failed_share(runs, "c")
