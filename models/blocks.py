"""Building blocks shared by the PatchTSMixer and TTM definitions, written against the backend op interface.

Every function here issues ops through ``be`` (a backend) only; ``P`` is the bound parameter dict (backend
tensors by name).  Matching ``build_*`` functions declare the same blocks' weights on a
:class:`~opcast.models.params.ParamBuilder` (host side, load time).

Tensor layout inside the mixers is the references': ``(batch, channels, patches, features)``.  The input
``past_values`` ``(batch, time, channels)`` is permuted once to ``(batch, channels, time)`` so that the scaler
reduces over the last dimension and patching is a reshape.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

# ---------------------------------------------------------------------------------------------------------
# Small layers
# ---------------------------------------------------------------------------------------------------------


def linear(be, P, x, name: str, activation: str | None = None):
    """``ttnn.linear`` with the weight ``{name}.weight`` (in, out) and the bias ``{name}.bias`` if bound."""
    return be.linear(x, P[f"{name}.weight"], bias=P.get(f"{name}.bias"), activation=activation, name=name)


def norm(be, P, x, name: str, kind: str, eps: float):
    """LayerNorm over the last dim, or inference BatchNorm folded to a per-feature scale and shift."""
    if kind == "batch":
        x = be.multiply(x, P[f"{name}.scale"], name=f"{name}.scale")
        return be.add(x, P[f"{name}.shift"], name=f"{name}.shift")
    return be.layer_norm(x, weight=P[f"{name}.weight"], bias=P[f"{name}.bias"], epsilon=eps, name=name)


def mlp(be, P, x, name: str, fuse_gelu: bool = False):
    """fc1 -> GELU (exact, erf) -> fc2; no dropout at inference."""
    if fuse_gelu:
        h = linear(be, P, x, f"{name}.fc1", activation="gelu")
    else:
        h = linear(be, P, x, f"{name}.fc1")
        h = be.gelu(h, name=f"{name}.gelu")
    return linear(be, P, h, f"{name}.fc2")


def gate(be, P, x, name: str, mode: str = "softmax"):
    """Gated attention: x * softmax(linear(x)) over the last dim (TTM also has a sigmoid gate)."""
    w = linear(be, P, x, f"{name}.linear")
    if mode == "softmax":
        w = be.softmax(w, -1, name=f"{name}.softmax")
    elif mode == "sigmoid":
        w = be.sigmoid(w, name=f"{name}.sigmoid")
    else:
        raise NotImplementedError(f"gate mode {mode!r}")
    return be.multiply(x, w, name=f"{name}.mul")


# ---------------------------------------------------------------------------------------------------------
# Mixer layers
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MixerDims:
    """What one mixer layer needs to know (one adaptive-patching level has its own patches / features)."""

    num_patches: int
    d_model: int
    num_channels: int
    expansion: int
    mode: str = "common_channel"  # or "mix_channel"
    gated: bool = True
    norm: str = "layer"  # or "batch"
    eps: float = 1e-5
    gate_mode: str = "softmax"
    single_patch_mixer: bool = True  # TTM drops the patch mixer when there is a single patch
    fuse_gelu: bool = False

    def at_level(self, factor: int) -> "MixerDims":
        return replace(self, num_patches=self.num_patches * factor, d_model=self.d_model // factor)

    @property
    def has_patch_mixer(self) -> bool:
        return self.num_patches > 1 or self.single_patch_mixer


def norm_kind(norm_mlp: str) -> str:
    return "batch" if "batch" in norm_mlp.lower() else "layer"


def build_norm(pb, ours: str, ref: str, dims: MixerDims):
    if dims.norm == "batch":
        pb.batch_norm(ours, f"{ref}.norm.batchnorm", dims.d_model, dims.eps)
    else:
        pb.layer_norm(ours, f"{ref}.norm", dims.d_model)


def build_mixer_block(pb, ours: str, ref: str, features: int, dims: MixerDims):
    """One of the three mixer blocks: norm (over d_model), MLP and gate over ``features``."""
    build_norm(pb, f"{ours}.norm", f"{ref}.norm", dims)
    hidden = features * dims.expansion
    pb.linear(f"{ours}.mlp.fc1", f"{ref}.mlp.fc1", features, hidden)
    pb.linear(f"{ours}.mlp.fc2", f"{ref}.mlp.fc2", hidden, features)
    if dims.gated:
        pb.linear(f"{ours}.gate.linear", f"{ref}.gating_block.attn_layer", features, features)


def build_mixer_layer(pb, ours: str, ref: str, dims: MixerDims):
    if dims.mode == "mix_channel":
        build_mixer_block(pb, f"{ours}.channel_mixer", f"{ref}.channel_feature_mixer", dims.num_channels, dims)
    if dims.has_patch_mixer:
        build_mixer_block(pb, f"{ours}.patch_mixer", f"{ref}.patch_mixer", dims.num_patches, dims)
    build_mixer_block(pb, f"{ours}.feature_mixer", f"{ref}.feature_mixer", dims.d_model, dims)


def channel_mixer(be, P, x, name: str, dims: MixerDims):
    """Mix across channels: norm, move channels last, gate, MLP, move back, residual."""
    h = norm(be, P, x, f"{name}.norm", dims.norm, dims.eps)
    h = be.permute(h, (0, 3, 2, 1), name=f"{name}.permute_in")  # (B, D, N, C)
    if dims.gated:
        h = gate(be, P, h, f"{name}.gate", dims.gate_mode)
    h = mlp(be, P, h, f"{name}.mlp", dims.fuse_gelu)
    h = be.permute(h, (0, 3, 2, 1), name=f"{name}.permute_out")  # (B, C, N, D)
    return be.add(h, x, name=f"{name}.residual")


def patch_mixer(be, P, x, name: str, dims: MixerDims):
    """Mix across patches: norm, patches last, MLP, gate, patches back, residual."""
    h = norm(be, P, x, f"{name}.norm", dims.norm, dims.eps)
    h = be.transpose(h, -2, -1, name=f"{name}.transpose_in")  # (B, C, D, N)
    h = mlp(be, P, h, f"{name}.mlp", dims.fuse_gelu)
    if dims.gated:
        h = gate(be, P, h, f"{name}.gate", dims.gate_mode)
    h = be.transpose(h, -2, -1, name=f"{name}.transpose_out")  # (B, C, N, D)
    return be.add(h, x, name=f"{name}.residual")


def feature_mixer(be, P, x, name: str, dims: MixerDims):
    """Mix across hidden features: norm, MLP, gate, residual."""
    h = norm(be, P, x, f"{name}.norm", dims.norm, dims.eps)
    h = mlp(be, P, h, f"{name}.mlp", dims.fuse_gelu)
    if dims.gated:
        h = gate(be, P, h, f"{name}.gate", dims.gate_mode)
    return be.add(h, x, name=f"{name}.residual")


def mixer_layer(be, P, x, name: str, dims: MixerDims):
    if dims.mode == "mix_channel":
        x = channel_mixer(be, P, x, f"{name}.channel_mixer", dims)
    if dims.has_patch_mixer:
        x = patch_mixer(be, P, x, f"{name}.patch_mixer", dims)
    return feature_mixer(be, P, x, f"{name}.feature_mixer", dims)


# ---------------------------------------------------------------------------------------------------------
# Input scaling, patching, output de-scaling
# ---------------------------------------------------------------------------------------------------------


def scaler_kind(scaling) -> str | None:
    """The references' rule: "mean" -> mean scaler, "std" or True -> std scaler, anything else -> none."""
    if scaling == "mean":
        return "mean"
    if scaling == "std" or scaling is True:
        return "std"
    return None


def scale_input(be, x, name: str, kind: str | None, minimum_scale: float | None = None):
    """Instance scaling over time (last dim) of ``x`` (B, C, L); returns (scaled, loc | None, scale | None).

    std:  loc = mean(x), scale = sqrt(mean((x - loc)^2) + minimum_scale), scaled = (x - loc) / scale
    mean: scale = max(mean(|x|), minimum_scale), scaled = x / scale (loc is zero: no op is issued for it)
    All values are observed (no observed mask): the references' mask of ones reduces to plain means.
    """
    if kind is None:
        return x, None, None
    if kind == "std":
        eps = 1e-5 if minimum_scale is None else minimum_scale
        loc = be.mean(x, -1, True, name=f"{name}.loc")
        centered = be.subtract(x, loc, name=f"{name}.center")
        sq = be.multiply(centered, centered, name=f"{name}.square")
        var = be.mean(sq, -1, True, name=f"{name}.variance")
        var = be.add(var, eps, name=f"{name}.add_minimum")
        scale = be.sqrt(var, name=f"{name}.scale")
        return be.divide(centered, scale, name=f"{name}.normalize"), loc, scale
    if kind == "mean":
        eps = 1e-10 if minimum_scale is None else minimum_scale
        a = be.abs(x, name=f"{name}.abs")
        scale = be.mean(a, -1, True, name=f"{name}.mean_abs")
        scale = be.clamp(scale, min=eps, name=f"{name}.scale")
        return be.divide(x, scale, name=f"{name}.normalize"), None, scale
    raise ValueError(f"unknown scaler {kind!r}")


def patch_count(context_length: int, patch_length: int, patch_stride: int) -> int:
    return (max(context_length, patch_length) - patch_length) // patch_stride + 1


def patchify(be, x, name: str, patch_length: int, patch_stride: int):
    """(B, C, L) -> (B, C, N, P): keep the last ``P + S (N - 1)`` steps, cut them into patches."""
    b, c, length = be.shape(x)
    n = patch_count(length, patch_length, patch_stride)
    if patch_stride != patch_length:
        raise NotImplementedError("overlapping or gapped patches (patch_stride != patch_length)")
    start = length - (patch_length + patch_stride * (n - 1))
    if start:
        x = be.slice(x, [0, 0, start], [b, c, length], name=f"{name}.slice")
    return be.reshape(x, (b, c, n, patch_length), name=f"{name}.reshape")


def descale_output(be, y, name: str, loc, scale):
    """Undo instance scaling on a forecast ``y`` (B, C, H): y * scale + loc (each only if present)."""
    if scale is not None:
        y = be.multiply(y, scale, name=f"{name}.scale")
    if loc is not None:
        y = be.add(y, loc, name=f"{name}.loc")
    return y


def forecast_head(be, P, h, name: str, loc, scale, filter_length: int | None = None):
    """(B, C, N, D) -> flatten -> linear -> (B, C, H) -> [keep first filter_length] -> de-scale -> (B, H, C)."""
    b, c, n, d = be.shape(h)
    h = be.reshape(h, (b, c, n * d), name=f"{name}.flatten")
    y = linear(be, P, h, f"{name}.linear")
    if filter_length is not None:
        y = be.slice(y, [0, 0, 0], [b, c, filter_length], name=f"{name}.filter")
    y = descale_output(be, y, f"{name}.descale", loc, scale)
    return be.permute(y, (0, 2, 1), name=f"{name}.permute")
