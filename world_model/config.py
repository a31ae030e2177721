"""Configs of the world model, its sequences, data, optimizer and training run.

``TrainConfig`` nests one dataclass per component; presets live in ``configs/*.yaml`` and are
merged with ``tv2tv.config.build_config``. Fields of ``ModelConfig`` marked "from data" are
filled in by ``resolve_config`` from the episode store, so an exported ``config.json`` holds
everything needed to rebuild the network.

Example:
    >>> from tv2tv.config import build_config
    >>> cfg = build_config(TrainConfig, "tiny", ["model.depth=2"])
    >>> cfg.model.depth
    2
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

VariantName = Literal["text", "no-text", "action-id", "plan-first"]
# What each variant does is in ``variants.py`` (``variant_of``).
VARIANTS: tuple[str, ...] = ("text", "no-text", "action-id", "plan-first")

# Lightning's precision names (``Trainer(precision=)``) and ours, ``auto``.
PRECISIONS = ("auto", "32-true", "32", "16-mixed", "16", "bf16-mixed", "bf16", "16-true", "bf16-true",
              "64-true", "64", "transformer-engine", "transformer-engine-float16")


def check_precision(precision: str) -> str:
    """``precision`` if Lightning (or ``auto``) knows it, else ``ValueError`` naming it."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}; got {precision!r}")
    return precision


@dataclass
class ModelConfig:
    """The MoT network (``mot.MoT``).

    Args:
        dim: model width D. depth: number of layers. heads: attention heads (dim % heads == 0).
        ffn_mult: SwiGLU hidden width as a multiple of ``dim`` (before the 2/3 correction).
        mot: separate text and video towers (True, TV2TV) or one shared dense tower (False).
        rope_theta: rotary base. norm_eps: RMSNorm epsilon.
        prediction: what the video head predicts: ``"x0"`` (the clean chunk, turned into the
            velocity ``(x_t - x0) / max(t, x0_min_t)``) or ``"velocity"`` directly. Pixel patches
            (8x8x3 = 192 values) are wider than a small model, and a network narrower than its
            tokens cannot pass the noise through to predict a velocity; predicting x0 keeps the
            noise out of the network (Li & He 2025, "Back to Basics: Let Denoising Generative
            Models Denoise").
        x0_min_t: the smallest t divided by when converting an x0 prediction to a velocity.
        residual: with ``prediction="x0"``, predict a chunk as the last frame before it (the
            *anchor*, tiled over the chunk's frames) plus a learned change. The zero-initialised
            head then starts as the copy-last baseline and learns only what moves: in games
            most pixels of the next frame are the last frame's. A chunk with no frame before
            it (the first of a training window) has a zero anchor.
        text_cond: a direct path from a chunk's text to its frames, besides attention: the
            mean embedding of the text placed before the chunk (its bytes; for ``action-id``
            its action tokens) goes through a small MLP, zero-initialised, and is added to
            every video token of the chunk, as DiT and DIAMOND add their class or action
            embedding. Attention over the window's bytes alone was measured to be too weak a
            path at laptop budgets (issue 12). Off for ``plan-first``, whose text is one plan.
            (The summary is a max-pool of the ids' own embeddings: a mean of ~30 byte
            embeddings hid the few bytes in which "up" and "down" differ.)
        anchor_input: a noisy chunk's tokens also read their anchor (the last frame before the
            chunk, see ``residual``) at their own place, through a linear projection added to
            their input embedding, as DIAMOND stacks past frames on the noisy frame's channels.
            Without it a token learns what was at its place only by attending to the clean
            chunk, which every prediction, even plain denoising, has to learn first.
        text_loss_trains_video: whether the text loss may change the video side of the network.
            Text tokens attend to the frames (a player's next action depends on what it sees),
            so the next-byte loss also trains the video tower through the keys and values the
            text reads; its gradients were measured to swamp the flow loss's on those weights
            and to stop the frames from following the text (issue 12). ``False``: text queries
            read the video keys and values as constants in training (the same forward pass; no
            gradient flows from any loss through a text token into the video side).
        vocab_size, token_dim, tokens_per_frame, frames_per_chunk: from data (0 = unresolved).
        words: the text model's word ids (``tokenizer.learn_words``, from ``sequence.text_words``),
            learned from the training episodes' texts; rollouts encode text with the same words.
    """

    dim: int = 128
    depth: int = 4
    heads: int = 4
    ffn_mult: float = 4.0
    mot: bool = True
    rope_theta: float = 10000.0
    norm_eps: float = 1e-6
    prediction: str = "x0"
    x0_min_t: float = 0.05
    residual: bool = True
    text_cond: bool = False
    anchor_input: bool = False
    text_loss_trains_video: bool = True
    vocab_size: int = 0
    token_dim: int = 0
    tokens_per_frame: int = 0
    frames_per_chunk: int = 0
    words: tuple[str, ...] = ()

    def validate(self) -> None:
        """Raise ``ValueError`` naming a bad or unresolved field."""
        for name in ("dim", "depth", "heads", "vocab_size", "token_dim", "tokens_per_frame",
                     "frames_per_chunk"):
            if getattr(self, name) < 1:
                raise ValueError(f"model.{name} must be >= 1, got {getattr(self, name)} "
                                 f"(data-derived fields are set by resolve_config)")
        if self.prediction not in ("x0", "velocity"):
            raise ValueError(f"model.prediction must be 'x0' or 'velocity', got {self.prediction!r}")
        if self.residual and self.prediction != "x0":
            raise ValueError(f"model.residual needs model.prediction='x0', got {self.prediction!r}")
        if not 0 < self.x0_min_t <= 1:
            raise ValueError(f"model.x0_min_t must be in (0, 1], got {self.x0_min_t}")
        if self.dim % self.heads or (self.dim // self.heads) % 2:
            raise ValueError(f"model.dim ({self.dim}) / model.heads ({self.heads}) must be an even integer")


@dataclass
class SequenceConfig:
    """How an episode window becomes one interleaved sequence (``sequence.py``).

    Args:
        frames_per_chunk: consecutive frames per video chunk.
        window_frames: frames per training window (a multiple of ``frames_per_chunk``).
        patch: square patch size in pixels (the ``PatchCodec``).
        text_separator: joins the texts placed before one chunk.
        max_text_bytes: most ids (bytes, or words) of the text before one chunk; longer ones are
            cut (with a warning).
        text_words: how many of the most frequent words (``tokenizer.learn_words``, two uses at
            least) of the training episodes' texts become one id each (0: bytes only). Shorter
            sequences: a faster step.
        context_chunks: leading chunks of each window that carry no flow loss (pure context).
        p_uncond: probability of dropping all text of a window (trains the CFG branch).
        p_noisy_context: probability that a clean chunk copy is slightly noised (exposure bias).
        noisy_context_max_t: the largest flow time used for such a noised context chunk.
        video_positions: rotary positions of video tokens. ``"stream"``: their index in the clean
            stream, so the distance between a patch and the same patch one chunk earlier grows
            with the text between them, which differs from window to window; ``"chunk"``: chunk
            k's token i sits at ``k * n + i`` (n tokens per chunk), a fixed distance whatever
            the text, as a model without text has it. Text keeps its stream positions.
    """

    frames_per_chunk: int = 2
    window_frames: int = 8
    patch: int = 8
    text_separator: str = "; "
    max_text_bytes: int = 96
    text_words: int = 0
    context_chunks: int = 1
    p_uncond: float = 0.1
    p_noisy_context: float = 0.0
    noisy_context_max_t: float = 0.1
    video_positions: Literal["stream", "chunk"] = "stream"

    def validate(self) -> None:
        if self.frames_per_chunk < 1:
            raise ValueError(f"sequence.frames_per_chunk must be >= 1, got {self.frames_per_chunk}")
        if self.window_frames < self.frames_per_chunk or self.window_frames % self.frames_per_chunk:
            raise ValueError(f"sequence.window_frames ({self.window_frames}) must be a positive multiple "
                             f"of sequence.frames_per_chunk ({self.frames_per_chunk})")
        if self.patch < 1:
            raise ValueError(f"sequence.patch must be >= 1, got {self.patch}")
        if self.text_words < 0:
            raise ValueError(f"sequence.text_words must be >= 0, got {self.text_words}")
        if not 0 <= self.context_chunks < self.window_frames // self.frames_per_chunk:
            raise ValueError(f"sequence.context_chunks must be in [0, chunks per window), got "
                             f"{self.context_chunks}")
        if self.video_positions not in ("stream", "chunk"):
            raise ValueError(f"sequence.video_positions must be 'stream' or 'chunk', "
                             f"got {self.video_positions!r}")
        for name in ("p_uncond", "p_noisy_context", "noisy_context_max_t"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"sequence.{name} must be in [0, 1], got {getattr(self, name)}")

    @property
    def chunks_per_window(self) -> int:
        return self.window_frames // self.frames_per_chunk


@dataclass
class FlowConfig:
    """Flow matching (``flow.py``): time sampling, the loss and the sampler for validation.

    Args:
        time_mu, time_sigma: flow times are ``sigmoid(mu + sigma * n)``; ``mu > 0`` spends more
            samples near noise (t = 1), where the input no longer shows the answer and the model
            must predict the frame from its context and text.
        loss_weight: the flow loss's weight against the text loss.
        loss: ``"velocity"``: squared velocity error (with an x0 head that is the x0 error over
            t², dominated by nearly clean chunks, where neither dynamics nor text are needed);
            ``"x0"``: squared error of the predicted clean chunk, equal at every t (needs
            ``model.prediction="x0"``).
        change_weight: extra weight on values that differ from the chunk's anchor (the last frame
            before it) by more than ``change_threshold`` in [-1, 1] units: in Pong about 0.2%
            of the pixels move, and a plain mean over the frame rewards copying the last frame.
        sample_steps, sample_method: the ODE sampler for ``val/psnr``.
    """

    time_mu: float = 0.0
    time_sigma: float = 1.4
    loss_weight: float = 1.0
    loss: Literal["velocity", "x0"] = "velocity"
    change_weight: float = 0.0
    change_threshold: float = 0.05
    sample_steps: int = 8
    sample_method: Literal["euler", "heun", "midpoint"] = "euler"

    def validate(self) -> None:
        if self.loss not in ("velocity", "x0"):
            raise ValueError(f"flow.loss must be 'velocity' or 'x0', got {self.loss!r}")
        if not self.change_weight >= 0:
            raise ValueError(f"flow.change_weight must be >= 0, got {self.change_weight}")
        if not self.change_threshold >= 0:
            raise ValueError(f"flow.change_threshold must be >= 0, got {self.change_threshold}")


@dataclass
class DataConfig:
    """The episode data module (``data.py``).

    Args:
        path: the episode store directory.
        batch_size: windows per batch and device.
        num_workers: DataLoader worker processes.
        val_fraction: share of episodes held out for validation (split by episode, seeded).
        val_windows_per_episode: fixed validation windows taken from each held-out episode.
    """

    path: str = ""
    batch_size: int = 8
    num_workers: int = 0
    val_fraction: float = 0.1
    val_windows_per_episode: int = 2


@dataclass
class OptimConfig:
    """AdamW with linear warmup and cosine decay to ``min_lr_ratio * lr`` at ``schedule_steps``
    (``None``: the run's ``max_steps``; set it to stop a run early on the same schedule).

    ``ema_decay``: keep an exponential moving average of the weights (0: off), updated after
    every optimizer step with decay ``min(ema_decay, (1 + step) / (10 + step))`` so that it
    follows the first steps closely. The average is what validation, snapshots and the exported
    ``model.safetensors`` use; both sets of weights are in every checkpoint (exact resume).
    Averaging weights removes the step-to-step noise of a high learning rate, which a rollout
    otherwise paints into the pixels that do not move (issue 12).
    """

    lr: float = 1e-3
    weight_decay: float = 0.01
    betas: tuple[float, float] = (0.9, 0.95)
    warmup_steps: int = 100
    min_lr_ratio: float = 0.1
    grad_clip: float = 1.0
    schedule_steps: int | None = None
    ema_decay: float = 0.0


@dataclass
class TrainConfig:
    """One training run: the variant, every component config and the loop settings.

    Args:
        variant: ``text`` (TV2TV), ``no-text`` (video only), ``action-id`` (action tokens) or
            ``plan-first`` (the paper's Think2V: all text of a window, then all its frames).
        seed: seeds the split, the windows, the flow noise and the initial weights.
        max_steps: optimizer steps (also the cosine horizon). max_minutes: wall-clock limit.
        precision: Lightning precision; ``auto`` is bf16-mixed where the device supports it.
        val_every_steps, ckpt_every_steps, log_every_steps: in optimizer steps.
        val_batches: validation batches per check. sample_val: compute ``val/psnr`` by sampling.
    """

    variant: VariantName = "text"
    seed: int = 0
    max_steps: int = 2000
    max_minutes: float | None = None
    precision: str = "auto"
    val_every_steps: int = 200
    ckpt_every_steps: int = 500
    log_every_steps: int = 10
    val_batches: int = 4
    sample_val: bool = True
    model: ModelConfig = field(default_factory=ModelConfig)
    sequence: SequenceConfig = field(default_factory=SequenceConfig)
    flow: FlowConfig = field(default_factory=FlowConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)

    def validate(self) -> None:
        if self.variant not in VARIANTS:
            raise ValueError(f"variant must be one of {VARIANTS}, got {self.variant!r}")
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed}")
        if self.max_steps < 1:
            raise ValueError(f"max_steps must be >= 1, got {self.max_steps}")
        if self.data.batch_size < 1:
            raise ValueError(f"data.batch_size must be >= 1, got {self.data.batch_size}")
        self.sequence.validate()
        self.flow.validate()
        if self.flow.loss == "x0" and self.model.prediction != "x0":
            raise ValueError(f"flow.loss='x0' needs model.prediction='x0', got {self.model.prediction!r}")
        # loop, data and optimizer settings that would fail only once a run started
        # (``data.num_workers=-1``), or never (``optim.lr=nan`` trains NaNs)
        fin, o, d, f = math.isfinite, self.optim, self.data, self.flow
        m = self.max_minutes
        rules: list[tuple[str, Any, bool, str]] = [
            ("max_minutes", m, m is None or (fin(m) and m > 0), "a number of minutes > 0 (or unset)"),
            ("data.num_workers", d.num_workers, d.num_workers >= 0, ">= 0"),
            ("data.val_fraction", d.val_fraction, 0 <= d.val_fraction < 1, "in [0, 1)"),
            ("data.val_windows_per_episode", d.val_windows_per_episode,
             d.val_windows_per_episode >= 1, ">= 1"),
            ("optim.lr", o.lr, fin(o.lr) and o.lr > 0, "a finite number > 0"),
            ("optim.weight_decay", o.weight_decay, fin(o.weight_decay) and o.weight_decay >= 0,
             "a finite number >= 0"),
            ("optim.betas", o.betas, all(0 <= b < 1 for b in o.betas), "two numbers in [0, 1)"),
            ("optim.warmup_steps", o.warmup_steps, o.warmup_steps >= 0, ">= 0"),
            ("optim.min_lr_ratio", o.min_lr_ratio, 0 <= o.min_lr_ratio <= 1, "in [0, 1]"),
            ("optim.grad_clip", o.grad_clip, fin(o.grad_clip) and o.grad_clip >= 0,
             "a finite number >= 0 (0: off)"),
            ("optim.schedule_steps", o.schedule_steps, o.schedule_steps is None or o.schedule_steps >= 1,
             ">= 1 (or unset)"),
            ("optim.ema_decay", o.ema_decay, 0 <= o.ema_decay < 1, "in [0, 1) (0: off)"),
            ("flow.loss_weight", f.loss_weight, fin(f.loss_weight) and f.loss_weight >= 0,
             "a finite number >= 0"),
            ("flow.time_mu", f.time_mu, fin(f.time_mu), "a finite number"),
            ("flow.time_sigma", f.time_sigma, fin(f.time_sigma) and f.time_sigma > 0, "a finite number > 0"),
            ("flow.sample_steps", f.sample_steps, f.sample_steps >= 1, ">= 1"),
            *[(k, getattr(self, k), getattr(self, k) >= 1, ">= 1")
              for k in ("val_every_steps", "ckpt_every_steps", "log_every_steps")],
            ("val_batches", self.val_batches, self.val_batches >= 0, ">= 0"),
        ]
        for name, value, ok, what in rules:
            if not ok:
                raise ValueError(f"{name} must be {what}, got {value!r}")
        check_precision(self.precision)
