"""PatchTSMixer as a sequence of TTNN ops: forecasting, classification and regression heads.

Matches Hugging Face transformers' ``PatchTSMixerForPrediction``, ``PatchTSMixerForTimeSeriesClassification``
and ``PatchTSMixerForRegression`` in inference (no dropout, batch norm with running statistics):
modes common_channel / mix_channel, gated attention on/off, batch or layer norm, positional encoding on/off,
instance scaling std / mean / none.  Not supported (raise): self attention, distribution heads (loss="nll"),
prediction_channel_indices, overlapping patches.

Op sequence (B batch, L context, C channels, N patches, P patch length, D d_model)::

    past_values (B, L, C) -> permute (B, C, L) -> scaler -> patchify (B, C, N, P) -> patcher linear (B, C, N, D)
    -> [+ positional encoding] -> num_layers x {[channel mixer], patch mixer, feature mixer} -> head
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import blocks
from .base import OpModel, SpecBase

ARCHITECTURES = {
    "PatchTSMixerForPrediction": "forecast",
    "PatchTSMixerForTimeSeriesClassification": "classification",
    "PatchTSMixerForRegression": "regression",
}
TASK_ARCHITECTURE = {v: k for k, v in ARCHITECTURES.items()}


@dataclass
class PatchTSMixerSpec(SpecBase):
    """The PatchTSMixerConfig fields the inference graph depends on (defaults: transformers' defaults)."""

    context_length: int = 32
    patch_length: int = 8
    patch_stride: int = 8
    num_input_channels: int = 1
    d_model: int = 8
    expansion_factor: int = 2
    num_layers: int = 3
    mode: str = "common_channel"
    gated_attn: bool = True
    norm_mlp: str = "LayerNorm"
    self_attn: bool = False
    self_attn_heads: int = 1
    use_positional_encoding: bool = False
    positional_encoding_type: str = "sincos"
    scaling: Any = "std"
    norm_eps: float = 1e-5
    loss: str = "mse"
    prediction_length: int = 16
    prediction_channel_indices: list | None = None
    num_targets: int = 3
    output_range: list | None = None
    head_aggregation: str | None = "max_pool"
    task: str = "forecast"  # forecast | classification | regression (from config.json's architectures)

    @classmethod
    def from_dict(cls, d: dict, **overrides):
        if "task" not in overrides and "task" not in d:
            archs = [a for a in d.get("architectures") or [] if a in ARCHITECTURES]
            overrides["task"] = ARCHITECTURES[archs[0]] if archs else "forecast"
        return super().from_dict(d, **overrides)

    @property
    def num_patches(self) -> int:
        return blocks.patch_count(self.context_length, self.patch_length, self.patch_stride)

    def check_supported(self):
        if self.task not in ("forecast", "classification", "regression"):
            raise ValueError(f"unknown PatchTSMixer task {self.task!r}")
        if self.mode not in ("common_channel", "mix_channel"):
            raise NotImplementedError(f"PatchTSMixer mode {self.mode!r}")
        if self.self_attn:
            raise NotImplementedError("PatchTSMixer self_attn=True")
        if self.loss != "mse" and self.task != "classification":
            raise NotImplementedError(f"distribution heads (loss={self.loss!r})")
        if self.prediction_channel_indices is not None:
            raise NotImplementedError("prediction_channel_indices")
        if self.patch_stride != self.patch_length:
            raise NotImplementedError("patch_stride != patch_length")
        if self.head_aggregation not in (None, "use_last", "max_pool", "avg_pool"):
            raise ValueError(f"head_aggregation {self.head_aggregation!r}")

    def hf_config_dict(self) -> dict:
        """Keyword arguments for transformers' PatchTSMixerConfig."""
        d = self.to_dict()
        d.pop("task")
        return d


# The public TT-NN port's configuration (ETTh2, 512 -> 96): 187,120 parameters.
PATCHTSMIXER_PORT = PatchTSMixerSpec(
    context_length=512, prediction_length=96, patch_length=8, patch_stride=8, num_input_channels=7,
    d_model=16, num_layers=4, expansion_factor=2, mode="common_channel", gated_attn=True, norm_mlp="LayerNorm",
    scaling="std", use_positional_encoding=False,
)


class PatchTSMixer(OpModel):
    kind = "patchtsmixer"
    spec_class = PatchTSMixerSpec

    @property
    def task(self) -> str:
        return self.spec.task

    def dims(self) -> blocks.MixerDims:
        s = self.spec
        return blocks.MixerDims(
            num_patches=s.num_patches, d_model=s.d_model, num_channels=s.num_input_channels,
            expansion=s.expansion_factor, mode=s.mode, gated=s.gated_attn, norm=blocks.norm_kind(s.norm_mlp),
            eps=s.norm_eps, single_patch_mixer=True, fuse_gelu=self.fuse_gelu,
        )

    @property
    def scaler(self) -> str | None:
        return blocks.scaler_kind(self.spec.scaling)

    @property
    def injects_scale(self) -> bool:
        # The references add InjectScalerStatistics4D for scaling in ["std", "mean", True].
        return self.task != "forecast" and self.scaler is not None

    # -- weights (host, load time) -----------------------------------------------------------------------
    def build_params(self, pb) -> None:
        s, dims = self.spec, self.dims()
        n, d, c = s.num_patches, s.d_model, s.num_input_channels
        enc = "model.encoder"
        pb.linear("patcher", f"{enc}.patcher", s.patch_length, d)
        if s.use_positional_encoding:
            pb.tensor("pos_enc", f"{enc}.positional_encoder.position_enc", (n, d))
        for i in range(s.num_layers):
            blocks.build_mixer_layer(pb, f"mixers.{i}", f"{enc}.mlp_mixer_encoder.mixers.{i}", dims)
        if self.task == "forecast":
            pb.linear("head.linear", "head.base_forecast_block", n * d, s.prediction_length)
            return
        if self.injects_scale:
            ref = "inject_scale"
            if self.scaler == "std":  # statistics = concat([loc, scale])
                pb.linear("inject.stats_fc1", f"{ref}.map_scale_expansion", 2, 4)
            else:  # mean scaler: loc is identically zero, only the scale column of the weight matters
                pb.linear_split_in(("inject.stats_fc1",), f"{ref}.map_scale_expansion", (1, 1), 4, select=(1,))
            pb.linear("inject.stats_fc2", f"{ref}.map_scale_compression", 4, 2)
            # linear(concat([h, stats], -1)) == linear(h, W_h) + linear(stats, W_s, b): no repeat/concat needed
            pb.linear_split_in(("inject.fc1_hidden", "inject.fc1_stats"), f"{ref}.inverse_trans_expansion",
                               (d, 2), 2 * d, bias_to=1)
            pb.linear("inject.fc2", f"{ref}.inverse_trans_compression", 2 * d, d)
        if s.head_aggregation is None:
            # The reference flattens (C, D, N) (after its transpose); we flatten (C, N, D).
            pb.linear_permuted_in("head.linear", "head.projection", (c, d, n), (0, 2, 1), s.num_targets)
        else:
            pb.linear("head.linear", "head.projection", c * d, s.num_targets)

    # -- the definition ----------------------------------------------------------------------------------
    def forward(self, be, P, past_values):
        s, dims = self.spec, self.dims()
        b, length, c = be.shape(past_values)
        if length != s.context_length:
            raise ValueError(f"past_values has {length} steps, the model's context_length is {s.context_length}")
        if s.mode == "mix_channel" and c != s.num_input_channels:
            raise ValueError(f"mix_channel model for {s.num_input_channels} channels got {c}")
        x = be.permute(past_values, (0, 2, 1), name="input.permute")  # (B, C, L)
        x, loc, scale = blocks.scale_input(be, x, "scaler", self.scaler)
        x = blocks.patchify(be, x, "patchify", s.patch_length, s.patch_stride)  # (B, C, N, P)
        h = blocks.linear(be, P, x, "patcher")  # (B, C, N, D)
        if s.use_positional_encoding:
            h = be.add(h, P["pos_enc"], name="pos_enc")
        for i in range(s.num_layers):
            h = blocks.mixer_layer(be, P, h, f"mixers.{i}", dims)
        if self.task == "forecast":
            return blocks.forecast_head(be, P, h, "head", loc, scale)
        return self._linear_head(be, P, h, loc, scale)

    def _linear_head(self, be, P, h, loc, scale):
        """Classification / regression: inject scaler statistics, aggregate patches, flatten, project."""
        s = self.spec
        b, c, n, d = be.shape(h)
        if self.injects_scale:
            stats = scale if loc is None else be.concat([loc, scale], -1, name="inject.stats")  # (B, C, k)
            stats = be.reshape(stats, (b, c, 1, be.shape(stats)[-1]), name="inject.stats_reshape")
            stats = blocks.linear(be, P, stats, "inject.stats_fc1")
            stats = blocks.linear(be, P, stats, "inject.stats_fc2")  # (B, C, 1, 2)
            hidden = blocks.linear(be, P, h, "inject.fc1_hidden")  # (B, C, N, 2D), no bias
            stats = blocks.linear(be, P, stats, "inject.fc1_stats")  # (B, C, 1, 2D), with the bias
            h = be.add(hidden, stats, name="inject.fc1_add")
            h = blocks.linear(be, P, h, "inject.fc2")  # (B, C, N, D)
        agg = s.head_aggregation
        if agg == "max_pool":
            h = be.max(h, -2, False, name="head.max_pool")  # (B, C, D)
        elif agg == "avg_pool":
            h = be.mean(h, -2, False, name="head.avg_pool")
        elif agg == "use_last":
            h = be.slice(h, [0, 0, n - 1, 0], [b, c, n, d], name="head.use_last")
        h = be.reshape(h, (b, -1), name="head.flatten")
        y = blocks.linear(be, P, h, "head.linear")  # (B, num_targets)
        if s.output_range is not None:
            lo, hi = float(s.output_range[0]), float(s.output_range[1])
            y = be.sigmoid(y, name="head.range.sigmoid")
            y = be.multiply(y, hi - lo, name="head.range.scale")
            y = be.add(y, lo, name="head.range.shift")
        return y


# ---------------------------------------------------------------------------------------------------------
# The modes the equivalence checks cover
# ---------------------------------------------------------------------------------------------------------

PORT_MODE = "common_channel/gated/layernorm/no_pe/std"


def forecast_modes() -> dict[str, PatchTSMixerSpec]:
    """Every forecasting mode: channel mode x gate x norm x positional encoding x scaling (48)."""
    out = {}
    for mode in ("common_channel", "mix_channel"):
        for gated in (True, False):
            for norm in ("LayerNorm", "BatchNorm"):
                for pe in (False, True):
                    for scaling in ("std", "mean", None):
                        key = "/".join([mode, "gated" if gated else "no_gate", norm.lower(),
                                        "pe" if pe else "no_pe", scaling or "none"])
                        out[key] = PATCHTSMIXER_PORT.replace(mode=mode, gated_attn=gated, norm_mlp=norm,
                                                             use_positional_encoding=pe, scaling=scaling)
    return out


def head_modes() -> dict[str, PatchTSMixerSpec]:
    """Classification and regression heads: every aggregation, every scaler, output range, both channel modes."""
    p = PATCHTSMIXER_PORT
    cls = dict(task="classification", num_targets=5)
    reg = dict(task="regression", num_targets=3)
    return {
        "classification/max_pool/std": p.replace(**cls, head_aggregation="max_pool", scaling="std"),
        "classification/avg_pool/mean": p.replace(**cls, head_aggregation="avg_pool", scaling="mean",
                                                  mode="mix_channel", norm_mlp="BatchNorm"),
        "classification/use_last/none": p.replace(**cls, head_aggregation="use_last", scaling=None,
                                                  gated_attn=False),
        "classification/flatten/std": p.replace(**cls, head_aggregation=None, scaling="std",
                                                use_positional_encoding=True),
        "regression/max_pool/std": p.replace(**reg, head_aggregation="max_pool", scaling="std"),
        "regression/avg_pool/std/output_range": p.replace(**reg, head_aggregation="avg_pool", scaling="std",
                                                          output_range=[-1.0, 4.0], mode="mix_channel"),
        "regression/flatten/mean": p.replace(**reg, head_aggregation=None, scaling="mean",
                                             norm_mlp="BatchNorm"),
        "regression/use_last/none/output_range": p.replace(**reg, head_aggregation="use_last", scaling=None,
                                                           output_range=[0.0, 1.0]),
    }


def all_modes() -> dict[str, PatchTSMixerSpec]:
    return {**forecast_modes(), **head_modes()}
