"""What the two model definitions share: construction from checkpoints, binding weights to a backend, running
on the host, tracing."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, ClassVar

from ..plans import Plan, Trace, default_plan
from .params import ParamBuilder, ShapeOnly, read_config, read_state_dict, resolve_checkpoint
from .trace import TraceBackend


class SpecBase:
    """Config dataclass mixin: built from a Hugging Face config dict, unknown keys ignored."""

    @classmethod
    def from_dict(cls, d: dict, **overrides):
        names = {f.name for f in dataclasses.fields(cls)}
        kwargs = {k: v for k, v in d.items() if k in names}
        kwargs.update(overrides)
        spec = cls(**kwargs)
        spec.check_supported()
        return spec

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def replace(self, **changes):
        spec = dataclasses.replace(self, **changes)
        spec.check_supported()
        return spec

    def check_supported(self):  # pragma: no cover - overridden
        pass


class OpModel:
    """A model written once as a sequence of TTNN-style ops (``forward``), plus its prepared weights.

    Subclasses define ``spec_class``, ``build_params(pb)`` (host: weights onto our names) and
    ``forward(be, P, past_values)`` (the definition: backend ops only).
    """

    kind: ClassVar[str] = ""
    spec_class: ClassVar[type] = SpecBase

    def __init__(self, spec, params: dict[str, Any] | None = None, *, num_parameters: int | None = None,
                 fuse_gelu: bool = False):
        self.spec = spec
        self.fuse_gelu = fuse_gelu
        if params is None or num_parameters is None:
            pb = ParamBuilder(mode="shapes")
            self.build_params(pb)
            shapes = pb.finish()
            num_parameters = pb.num_parameters if num_parameters is None else num_parameters
            params = shapes if params is None else params
        self.params = params
        self.num_parameters = num_parameters
        self._bound: tuple[Any, dict] | None = None

    # -- construction ------------------------------------------------------------------------------------
    @classmethod
    def from_state_dict(cls, spec, state_dict, strict: bool = True, **kwargs) -> "OpModel":
        """Weights from a reference state dict (torch tensors or numpy arrays), prepared at load time."""
        pb = ParamBuilder(state_dict, mode="load")
        probe = cls(spec, {}, num_parameters=0, **kwargs)
        probe.build_params(pb)
        return cls(spec, pb.finish(strict), num_parameters=pb.num_parameters, **kwargs)

    @classmethod
    def random(cls, spec, seed: int = 0, **kwargs) -> "OpModel":
        """Random weights of the right shapes (benchmarks, traces); no reference needed."""
        pb = ParamBuilder(mode="random", seed=seed)
        probe = cls(spec, {}, num_parameters=0, **kwargs)
        probe.build_params(pb)
        return cls(spec, pb.finish(), num_parameters=pb.num_parameters, **kwargs)

    @classmethod
    def from_reference(cls, reference, **kwargs) -> "OpModel":
        """From a live Hugging Face model object (its config and state dict)."""
        config = reference.config.to_dict()
        if not config.get("architectures"):  # only written by save_pretrained; the class says the task
            config["architectures"] = [type(reference).__name__]
        spec = cls.spec_from_config(config)
        return cls.from_state_dict(spec, reference.state_dict(), **kwargs)

    @classmethod
    def from_pretrained(cls, path_or_id: str | Path, revision: str | None = None, **kwargs) -> "OpModel":
        """A ``save_pretrained`` folder (config.json + model.safetensors / pytorch_model.bin), or a hub id."""
        folder = resolve_checkpoint(path_or_id, revision)
        spec = cls.spec_from_config(read_config(folder))
        return cls.from_state_dict(spec, read_state_dict(folder), **kwargs)

    @classmethod
    def spec_from_config(cls, config: dict):
        return cls.spec_class.from_dict(config)

    # -- the definition ----------------------------------------------------------------------------------
    def build_params(self, pb: ParamBuilder) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def forward(self, be, P: dict, past_values):  # pragma: no cover - overridden
        raise NotImplementedError

    # -- execution ---------------------------------------------------------------------------------------
    def bind(self, be) -> dict:
        """Upload every weight to ``be`` (once per backend object) and return the bound parameter dict."""
        if self._bound is not None and self._bound[0] is be:
            return self._bound[1]
        if any(isinstance(v, ShapeOnly) for v in self.params.values()) and not isinstance(be, TraceBackend):
            raise ValueError(f"this {self.kind} model has no weights (shapes only): it can only be traced")
        P = {name: be.from_torch(value, name=name) for name, value in self.params.items()}
        self._bound = (be, P)
        return P

    def run(self, past_values, be=None):
        """Host convenience: upload ``past_values`` (B, L, C), run the definition, bring the output back."""
        if be is None:
            from .backend import TorchBackend

            be = TorchBackend()
        P = self.bind(be)
        x = be.from_torch(past_values, name="past_values")
        return be.to_torch(self.forward(be, P, x))

    __call__ = run

    def trace(self, batch: int, channels: int | None = None, plan: Plan | None = None) -> Trace:
        """The op trace for this model at ``batch``: the definition run under TraceBackend."""
        plan = plan or default_plan(self.kind)
        be = TraceBackend(plan)
        P = self.bind(be)
        channels = channels or self.spec.num_input_channels
        x = be.from_torch(ShapeOnly((batch, self.spec.context_length, channels)), name="past_values")
        out = self.forward(be, P, x)
        be.trace.meta = {
            "model": self.kind,
            "task": getattr(self, "task", "forecast"),
            "config": self.spec.to_dict(),
            "batch": batch,
            "channels": channels,
            "plan": plan.name,
            "num_parameters": self.num_parameters,
            "output": out.tensor.to_dict(),
        }
        self._bound = None  # placeholders are not worth keeping
        return be.trace
