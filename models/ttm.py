"""TinyTimeMixer (TTM-R1) as a sequence of TTNN ops, with adaptive patching.

Matches granite-tsfm's ``tsfm_public`` ``TinyTimeMixerForPrediction`` in inference for the R1 family:
backbone (patcher, adaptive patching levels of mixer layers), decoder (adapter + mixer layers), forecast head,
std/mean/no instance scaling.  Not supported (raise): resolution prefix tuning, decoder raw residual,
categorical variables, forecast channel mixing / exogenous channels, prediction_channel_indices, self attention,
the R2/R3 extras (multi-scale, register tokens, FFT patches, multi-quantile head), distribution heads.

Adaptive patching: level ``i`` (run from ``adaptive_patching_levels - 1`` down to 0) reshapes
(B, C, N, D) -> (B, C, N * 2^i, D / 2^i), runs ``num_layers`` mixer layers at that resolution, and reshapes back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import blocks
from .base import OpModel, SpecBase


@dataclass
class TTMSpec(SpecBase):
    """The TinyTimeMixerConfig fields the inference graph depends on (defaults: tsfm_public's defaults)."""

    context_length: int = 64
    patch_length: int = 8
    patch_stride: int = 8
    num_input_channels: int = 1
    prediction_length: int = 16
    d_model: int = 16
    expansion_factor: int = 2
    num_layers: int = 3
    mode: str = "common_channel"
    gated_attn: bool = True
    norm_mlp: str = "LayerNorm"
    self_attn: bool = False
    use_positional_encoding: bool = False
    positional_encoding_type: str = "sincos"
    scaling: Any = "std"
    loss: str | None = "mse"
    norm_eps: float = 1e-5
    adaptive_patching_levels: int = 0
    resolution_prefix_tuning: bool = False
    decoder_num_layers: int = 8
    decoder_d_model: int = 8
    decoder_adaptive_patching_levels: int = 0
    decoder_raw_residual: bool = False
    decoder_mode: str = "common_channel"
    use_decoder: bool = True
    enable_forecast_channel_mixing: bool = False
    prediction_channel_indices: list | None = None
    exogenous_channel_indices: list | None = None
    prediction_filter_length: int | None = None
    categorical_vocab_size_list: list | None = None
    multi_scale: bool = False
    register_tokens: int = 0
    fft_length: int = 0
    multi_quantile_head: bool = False
    enable_base_norm_always: bool = False
    gate_mode: str = "softmax"
    head_dropout: float = 0.2
    dropout: float = 0.2

    @property
    def num_patches(self) -> int:
        return blocks.patch_count(self.context_length, self.patch_length, self.patch_stride)

    def check_supported(self):
        unsupported = {
            "resolution_prefix_tuning": self.resolution_prefix_tuning,
            "decoder_raw_residual": self.decoder_raw_residual,
            "enable_forecast_channel_mixing": self.enable_forecast_channel_mixing,
            "prediction_channel_indices": self.prediction_channel_indices is not None,
            "exogenous_channel_indices": self.exogenous_channel_indices is not None,
            "categorical_vocab_size_list": self.categorical_vocab_size_list is not None,
            "self_attn": self.self_attn,
            "multi_scale": self.multi_scale,
            "register_tokens": self.register_tokens > 0,
            "fft_length": self.fft_length > 0,
            "multi_quantile_head": self.multi_quantile_head,
            "loss='nll'": self.loss == "nll",
        }
        bad = [k for k, v in unsupported.items() if v]
        if bad:
            raise NotImplementedError(f"TTM features not supported by the op definition: {', '.join(bad)}")
        if self.patch_length != self.patch_stride:
            raise ValueError("TTM needs patch_length == patch_stride")
        for m in (self.mode, self.decoder_mode):
            if m not in ("common_channel", "mix_channel"):
                raise NotImplementedError(f"TTM mode {m!r}")
        if self.gate_mode not in ("softmax", "sigmoid"):
            raise NotImplementedError(f"TTM gate_mode {self.gate_mode!r}")

    def hf_config_dict(self) -> dict:
        """Keyword arguments for tsfm_public's TinyTimeMixerConfig."""
        d = self.to_dict()
        if d.get("gate_mode") == "softmax":
            d.pop("gate_mode")  # not a constructor argument; the reference reads it with getattr
        return d


# Hugging Face hub id of the released R1 checkpoints (needs network):
#   TinyTimeMixer.from_pretrained(TTM_R1_HUB_ID, revision=TTM_R1_REVISIONS["512-96"])
TTM_R1_HUB_ID = "ibm-granite/granite-timeseries-ttm-r1"
TTM_R1_REVISIONS = {"512-96": "main", "1024-96": "1024_96_v1"}

# granite-timeseries-ttm-r1, 512-96 (revision "main"): exactly 805,280 parameters.
TTM_R1_512_96 = TTMSpec(
    context_length=512, prediction_length=96, patch_length=64, patch_stride=64, num_input_channels=1,
    d_model=192, num_layers=2, expansion_factor=2, mode="common_channel", gated_attn=True, norm_mlp="LayerNorm",
    scaling="std", adaptive_patching_levels=3, use_decoder=True, decoder_d_model=128, decoder_num_layers=2,
    decoder_adaptive_patching_levels=0, decoder_mode="common_channel", head_dropout=0.7, dropout=0.2,
)


def level_factors(levels: int, d_model: int) -> list[int]:
    """Patch-split factor per adaptive-patching module, in execution order (the reference's rule:
    level i splits by 2^i, except that d_model // 2^i <= 4 disables the split)."""
    out = []
    for level in reversed(range(levels)):
        f = 2 ** level
        if d_model // f <= 4:
            f = 1
        if d_model % f:
            raise ValueError("d_model must be divisible by 2^level for every adaptive patching level")
        out.append(f)
    return out


class TinyTimeMixer(OpModel):
    kind = "ttm"
    spec_class = TTMSpec

    task = "forecast"

    def _dims(self, d_model: int, mode: str) -> blocks.MixerDims:
        s = self.spec
        return blocks.MixerDims(
            num_patches=s.num_patches, d_model=d_model, num_channels=s.num_input_channels,
            expansion=s.expansion_factor, mode=mode, gated=s.gated_attn, norm=blocks.norm_kind(s.norm_mlp),
            eps=s.norm_eps, gate_mode=s.gate_mode, single_patch_mixer=False, fuse_gelu=self.fuse_gelu,
        )

    def _stacks(self):
        """(our prefix, reference prefix, dims, adaptive levels, layers) for the backbone and the decoder."""
        s = self.spec
        out = [("backbone", "backbone.encoder.mlp_mixer_encoder", self._dims(s.d_model, s.mode),
                s.adaptive_patching_levels, s.num_layers)]
        if s.use_decoder:
            out.append(("decoder", "decoder.decoder_block", self._dims(s.decoder_d_model, s.decoder_mode),
                        s.decoder_adaptive_patching_levels, s.decoder_num_layers))
        return out

    # -- weights (host, load time) -----------------------------------------------------------------------
    def build_params(self, pb) -> None:
        s = self.spec
        n = s.num_patches
        pb.linear("backbone.patcher", "backbone.encoder.patcher", s.patch_length, s.d_model)
        if s.use_positional_encoding:
            pb.tensor("backbone.pos_enc", "backbone.encoder.positional_encoder.position_enc", (n, s.d_model))
        if s.enable_base_norm_always:
            pb.layer_norm("backbone.base_norm", "backbone.encoder.base_norm", n * s.d_model)
        for ours, ref, dims, levels, layers in self._stacks():
            if ours == "decoder" and s.d_model != s.decoder_d_model:
                pb.linear("decoder.adapter", "decoder.adapter", s.d_model, s.decoder_d_model)
            if levels > 0:
                for j, f in enumerate(level_factors(levels, dims.d_model)):
                    for i in range(layers):
                        blocks.build_mixer_layer(pb, f"{ours}.levels.{j}.mixers.{i}",
                                                 f"{ref}.mixers.{j}.mixer_layers.{i}", dims.at_level(f))
            else:
                for i in range(layers):
                    blocks.build_mixer_layer(pb, f"{ours}.mixers.{i}", f"{ref}.mixers.{i}", dims)
        head_d = s.decoder_d_model if s.use_decoder else s.d_model
        pb.linear("head.linear", "head.base_forecast_block", n * head_d, s.prediction_length)

    # -- the definition ----------------------------------------------------------------------------------
    def _stack(self, be, P, h, name, dims, levels, layers):
        if levels <= 0:
            for i in range(layers):
                h = blocks.mixer_layer(be, P, h, f"{name}.mixers.{i}", dims)
            return h
        b, c, n, d = be.shape(h)
        for j, f in enumerate(level_factors(levels, dims.d_model)):
            lvl = f"{name}.levels.{j}"
            if f > 1:
                h = be.reshape(h, (b, c, n * f, d // f), name=f"{lvl}.split")
            for i in range(layers):
                h = blocks.mixer_layer(be, P, h, f"{lvl}.mixers.{i}", dims.at_level(f))
            if f > 1:
                h = be.reshape(h, (b, c, n, d), name=f"{lvl}.merge")
        return h

    def forward(self, be, P, past_values):
        s = self.spec
        b, length, c = be.shape(past_values)
        if length != s.context_length:
            raise ValueError(f"past_values has {length} steps, the model's context_length is {s.context_length}")
        if "mix_channel" in (s.mode, s.decoder_mode) and c != s.num_input_channels:
            raise ValueError(f"mix_channel model for {s.num_input_channels} channels got {c}")
        x = be.permute(past_values, (0, 2, 1), name="input.permute")  # (B, C, L)
        x, loc, scale = blocks.scale_input(be, x, "backbone.scaler", blocks.scaler_kind(s.scaling))
        x = blocks.patchify(be, x, "backbone.patchify", s.patch_length, s.patch_stride)  # (B, C, N, P)
        h = blocks.linear(be, P, x, "backbone.patcher")  # (B, C, N, D)
        if s.use_positional_encoding:
            h = be.add(h, P["backbone.pos_enc"], name="backbone.pos_enc")
        if s.enable_base_norm_always:
            n, d = s.num_patches, s.d_model
            h = be.reshape(h, (b, c, n * d), name="backbone.base_norm.flatten")
            h = be.layer_norm(h, weight=P["backbone.base_norm.weight"], bias=P["backbone.base_norm.bias"],
                              epsilon=s.norm_eps, name="backbone.base_norm")
            h = be.reshape(h, (b, c, n, d), name="backbone.base_norm.unflatten")
        for name, _, dims, levels, layers in self._stacks():
            if name == "decoder" and s.d_model != s.decoder_d_model:
                h = blocks.linear(be, P, h, "decoder.adapter")
            h = self._stack(be, P, h, name, dims, levels, layers)
        return blocks.forecast_head(be, P, h, "head", loc, scale, s.prediction_filter_length)
