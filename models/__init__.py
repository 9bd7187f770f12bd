"""opcast.models: models: TinyTimeMixer (TTM-R1) and PatchTSMixer, one definition run on host, mock device and Wormhole.

Each model is written once (``patchtsmixer.py``, ``ttm.py``) as a sequence of TTNN ops issued through a backend
(``backend.py``): :class:`TorchBackend` runs it on the host in float32 (equal to the Hugging Face references),
:class:`TraceBackend` records the op trace under a plan (``trace.py``; plans and traces are :mod:`opcast.plans`),
and ``ttnn_backend.TtnnBackend`` issues the same ops to a ttnn device (:mod:`opcast.device`: the mock Wormhole
n150, or a real one).  Weights come from Hugging Face ``save_pretrained`` folders (``params.py``); ``data.py``
reads ETTh2-format CSVs; ``validate.py`` and ``cli.py`` check the definitions against the references
(``opcast validate``) and print traces (``opcast trace``).

Importing this package needs numpy only; torch is imported by :class:`TorchBackend`, and the references need
transformers (PatchTSMixer) and granite-tsfm (TinyTimeMixer).
"""

from .backend import Backend, TorchBackend
from .cli import register_cli
from .patchtsmixer import PATCHTSMIXER_PORT, PatchTSMixer, PatchTSMixerSpec
from .trace import TraceBackend
from .ttm import TTM_R1_512_96, TinyTimeMixer, TTMSpec

__all__ = [
    "Backend",
    "TorchBackend",
    "TraceBackend",
    "PatchTSMixer",
    "PatchTSMixerSpec",
    "PATCHTSMIXER_PORT",
    "TinyTimeMixer",
    "TTMSpec",
    "TTM_R1_512_96",
    "register_cli",
]
