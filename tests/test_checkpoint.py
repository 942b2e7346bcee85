"""Checkpoints, resume and failure handling of the trainer.

The first test pins the trainer to the loop it replaced: for a run that does
not resume, the order and number of random draws must never change, or the
notebooks' stored outputs would stop matching.
"""

from dataclasses import replace
from pathlib import Path

import pytest
import torch

from lsgan_lib import trainer
from lsgan_lib.checkpoint import (
    CheckpointError,
    load_checkpoint,
    load_module_state,
    save_checkpoint,
)
from lsgan_lib.losses import make_loss
from lsgan_lib.models import Generator
from lsgan_lib.trainer import (
    CollapseWarning,
    TrainConfig,
    build_models,
    collapse_check,
    seed_everything,
    train,
)

TINY = TrainConfig(steps=10, batch_size=8, width=4, latent_dim=8, sample_every=3)


@pytest.fixture(scope="module")
def images():
    g = torch.Generator().manual_seed(0)
    return torch.rand(40, 1, 28, 28, generator=g) * 2 - 1


def state(module):
    return {k: v.clone() for k, v in module.state_dict().items()}


def assert_same_run(first, second, samples=True):
    for a, b in [(first.generator, second.generator),
                 (first.discriminator, second.discriminator)]:  # fmt: skip
        sa, sb = state(a), state(b)
        assert sa.keys() == sb.keys()
        assert all(torch.equal(sa[k], sb[k]) for k in sa)
    h1, h2 = first.history, second.history
    for name in ("d_loss_real", "d_loss_fake", "g_loss", "d_real", "d_fake"):
        assert getattr(h1, name) == getattr(h2, name), name
    if samples:
        assert sorted(h1.samples) == sorted(h2.samples)
    assert all(torch.equal(h1.samples[k], h2.samples[k]) for k in h1.samples)


def the_loop_before_checkpoints(config, images):
    """The trainer's loop as it was written first, step spelled out in full."""
    seed_everything(config.seed)
    generator, discriminator = build_models(config, tuple(images.shape[1:]))
    opt_g = torch.optim.Adam(generator.parameters(), config.lr_g, betas=config.betas)
    opt_d = torch.optim.Adam(discriminator.parameters(), config.lr_d, betas=config.betas)
    loss = make_loss(config.loss, config.coding)
    per_epoch, position, g_losses = len(images) // config.batch_size, None, []
    for _ in range(config.steps):
        if position in (None, per_epoch):
            order, position = torch.randperm(len(images)), 0
        start = position * config.batch_size
        real = images[order[start : start + config.batch_size]]
        position += 1
        z = torch.randn(config.batch_size, config.latent_dim)
        fake = generator(z)
        d_loss = loss.discriminator(discriminator(real), discriminator(fake.detach()))
        opt_d.zero_grad()
        d_loss.total.backward()
        opt_d.step()
        for p in discriminator.parameters():
            p.requires_grad_(False)
        g_loss = loss.generator(discriminator(fake))
        for p in discriminator.parameters():
            p.requires_grad_(True)
        opt_g.zero_grad()
        g_loss.backward()
        opt_g.step()
        g_losses.append(g_loss.item())
    return generator, discriminator, g_losses


@pytest.mark.parametrize("loss", ["ls", "gan-ns"])
def test_a_run_draws_its_random_numbers_as_the_first_trainer_did(images, loss):
    config = replace(TINY, loss=loss)
    result = train(config, images)
    generator, discriminator, g_losses = the_loop_before_checkpoints(config, images)
    assert all(torch.equal(a, b) for a, b in
               zip(state(result.generator).values(), state(generator).values()))  # fmt: skip
    assert all(torch.equal(a, b) for a, b in
               zip(state(result.discriminator).values(),
                   state(discriminator).values()))  # fmt: skip
    assert result.history.g_loss == g_losses


def test_checkpoints_change_nothing_in_the_run(images, tmp_path):
    plain = train(TINY, images)
    saved = train(TINY, images, out=tmp_path, checkpoint_every=2)
    assert_same_run(plain, saved)
    assert saved.checkpoint == tmp_path / "checkpoint.pt"
    assert load_checkpoint(saved.checkpoint)["step"] == 10


def crash_at(monkeypatch, call, action):
    """Make the ``call``-th training step run ``action`` (raise or stop)."""
    real_step, calls = trainer.gan_step, [0]

    def step(*args):
        calls[0] += 1
        if calls[0] == call:
            action()
        return real_step(*args)

    monkeypatch.setattr(trainer, "gan_step", step)


def test_a_crashed_run_resumes_bitwise_as_if_never_stopped(images, tmp_path, monkeypatch):
    whole = train(TINY, images)

    def crash():
        raise RuntimeError("power cut")

    crash_at(monkeypatch, 8, crash)  # during step 8; the last checkpoint is step 4
    with pytest.raises(RuntimeError, match="power cut"):
        train(TINY, images, out=tmp_path, checkpoint_every=4)
    assert load_checkpoint(tmp_path)["step"] == 4
    monkeypatch.undo()
    torch.manual_seed(123)  # resume must not depend on the stream it finds
    resumed = train(TINY, images, out=tmp_path, checkpoint_every=4, resume=True)
    # 40 images at batch 8: steps 6 to 10 draw a new permutation after resume
    assert_same_run(whole, resumed)
    assert resumed.history.stop_reason == "finished"


def test_a_stop_request_saves_the_step_and_resume_finishes(images, tmp_path, monkeypatch):
    import threading

    whole = train(TINY, images)
    stop = threading.Event()
    crash_at(monkeypatch, 5, stop.set)
    first = train(TINY, images, out=tmp_path, stop=stop)
    assert first.history.stop_reason == "interrupted after step 5"
    assert len(first.history.g_loss) == 5
    monkeypatch.undo()
    resumed = train(TINY, images, out=tmp_path, resume=True)
    assert_same_run(whole, resumed)


def test_resume_may_extend_a_finished_run(images, tmp_path):
    whole = train(replace(TINY, steps=14), images)
    train(TINY, images, out=tmp_path)
    longer = train(replace(TINY, steps=14), images, out=tmp_path, resume=True)
    assert_same_run(whole, longer, samples=False)  # longer also has step 10


def test_ctrl_c_while_saving_keeps_the_previous_checkpoint(images, tmp_path, monkeypatch):
    train(replace(TINY, steps=4), images, out=tmp_path)
    good = (tmp_path / "checkpoint.pt").read_bytes()

    def interrupted_save(obj, f):
        f.write(b"PK\x03\x04 half a checkpoint")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", interrupted_save)
    with pytest.raises(KeyboardInterrupt):
        train(replace(TINY, steps=6), images, out=tmp_path, resume=True)
    monkeypatch.undo()
    assert (tmp_path / "checkpoint.pt").read_bytes() == good
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.pt"]


class ExplodingDiscriminator(torch.nn.Module):
    """Scores turn to NaN from the ``after``-th call on (3 calls per step)."""

    def __init__(self, after):
        super().__init__()
        self.net, self.calls, self.after = build_models(TINY, (1, 28, 28))[1], 0, after

    def forward(self, x):
        self.calls += 1
        out = self.net(x)
        return out * float("nan") if self.calls > self.after else out


def test_a_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(
    images, tmp_path, capsys
):
    d = ExplodingDiscriminator(after=3 * 5)  # step 6 is the first bad one
    result = train(TINY, images, discriminator=d, out=tmp_path, checkpoint_every=4)
    assert result.history.stop_reason == "non-finite loss at step 6"
    assert "non-finite loss at step 6" in capsys.readouterr().err
    kept = load_checkpoint(tmp_path)
    assert kept["step"] == 4
    assert all(torch.isfinite(v).all() for v in kept["discriminator"].values()
               if v.is_floating_point())  # fmt: skip


def test_blank_samples_are_reported_as_a_warning(images):
    assert collapse_check(torch.full((4, 1, 28, 28), -1.0)).startswith("blank")
    assert collapse_check(images) is None

    class Blank(Generator):
        def forward(self, z):
            return super().forward(z) * 0 - 1

    with pytest.warns(CollapseWarning, match="step 3"):
        result = train(TINY, images, generator=Blank(TINY.latent_dim, TINY.width))
    assert len(result.history.warnings) == 4  # steps 3, 6, 9 and 10


@pytest.mark.parametrize(
    "damage", [lambda b: b[: len(b) // 2], lambda b: b"not a checkpoint at all"]
)
def test_a_damaged_checkpoint_is_a_clear_error(images, tmp_path, damage):
    train(replace(TINY, steps=2), images, out=tmp_path)
    path = tmp_path / "checkpoint.pt"
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        train(TINY, images, out=tmp_path, resume=True)


def test_loading_never_runs_code_from_the_file(tmp_path):
    class Payload:
        def __reduce__(self):
            return (print, ("this ran",))

    path = tmp_path / "checkpoint.pt"
    torch.save({"format": 1, "x": Payload()}, path)
    with pytest.raises(CheckpointError):
        load_checkpoint(path)


def test_another_architecture_is_a_clear_error(images, tmp_path):
    train(replace(TINY, steps=2), images, out=tmp_path)
    with pytest.raises(ValueError, match="config differs.*width 4 -> 8"):
        train(replace(TINY, width=8), images, out=tmp_path, resume=True)
    wider = Generator(TINY.latent_dim, 8)
    stored = load_checkpoint(tmp_path)["generator"]
    with pytest.raises(CheckpointError, match="another architecture"):
        load_module_state(wider, stored, "generator", tmp_path)


def test_other_data_is_refused_on_resume(images, tmp_path):
    train(replace(TINY, steps=2), images, out=tmp_path)
    with pytest.raises(ValueError, match="trained on 40 samples"):
        train(TINY, images[:32], out=tmp_path, resume=True)


def test_an_unwritable_output_folder_is_a_clear_error(images, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(ValueError, match="cannot write to the output folder"):
        train(TINY, images, out=blocker / "run")


def test_resume_without_a_checkpoint_is_a_clear_error(images, tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoint at"):
        train(TINY, images, out=tmp_path, resume=True)


def test_saving_is_atomic_and_leaves_no_temporary_file(tmp_path):
    path = save_checkpoint({"x": torch.ones(2)}, tmp_path / "c.pt")
    assert torch.equal(load_checkpoint(path)["x"], torch.ones(2))
    assert [p.name for p in Path(tmp_path).iterdir()] == ["c.pt"]
