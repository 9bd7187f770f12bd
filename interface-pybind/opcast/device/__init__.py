"""opcast.device: everything about a ttnn device, ttnn's mock Wormhole n150 or a real Wormhole.

Needs ttnn (the Python 3.12 environment ``.venv-mock`` of ``scripts/setup_mock.sh``: ttnn 0.81.1,
numpy, stand-ins for tt's RISC-V compiler; or a hardware host). Importing it needs neither ttnn nor
torch: ttnn is imported on first use, after the mock environment is set (ttnn reads it when it
starts), and torch never (ttnn's own Python I/O recording would import it, so captures switch it off).

    from opcast import device, vocabulary as v
    with device.open_device("mock") as dev:           # or "wormhole": ttnn.open_device(0), same code after
        a = device.empty((1, 1, 32, 32), v.BFLOAT16, v.TILE, v.L1_INTERLEAVED)
        r = device.capture(ttnn.add, a, a)             # NO_DISPATCH: ttnn's verdict and L1 per core
        r.ok, r.error, r.l1_peak_per_core, r.l1_limit_per_core, r.fits_l1, r.ops
        device.short_form(a)                           # the query's short-form tensor (opcast.vocabulary.Tensor)

One file per idea: ``environment`` (the mock's recipe, importing ttnn), ``session`` (opening a device,
its L1 figures), ``tensors`` (the vocabulary's words in ttnn, device tensors, a device tensor described
back), ``capture`` (legality and L1 per core of a call), ``fixtures`` (the TensorSpec JSON checked
against ttnn's own records). ``python -m opcast.device --smoke`` opens the mock and captures one op.
"""

from .capture import REJECTIONS, CaptureResult, capture, capture_on, clean_error
from .environment import (
    CLUSTER_DESCRIPTOR,
    TTNN_VERSION,
    apply_mock_environment,
    default_cache_dir,
    import_ttnn,
    mock_environment,
    ttnn_available,
    use_hardware,
)
from .fixtures import fixture_document, fixture_examples, write_fixtures
from .session import (
    COMPUTE_GRID,
    DEVICE_KINDS,
    current_device,
    device_info,
    l1_allocated_per_bank,
    l1_limits,
    open_device,
)
from .tensors import (
    ENUMS,
    auto_shard,
    empty,
    from_numpy,
    live_enum_values,
    memory_config,
    short_form,
    tensor_spec_json,
    ttnn_dtype,
    ttnn_layout,
    ttnn_math_fidelity,
)

__all__ = [
    "CLUSTER_DESCRIPTOR",
    "COMPUTE_GRID",
    "DEVICE_KINDS",
    "ENUMS",
    "REJECTIONS",
    "TTNN_VERSION",
    "CaptureResult",
    "apply_mock_environment",
    "auto_shard",
    "capture",
    "capture_on",
    "clean_error",
    "current_device",
    "default_cache_dir",
    "device_info",
    "empty",
    "fixture_document",
    "fixture_examples",
    "from_numpy",
    "import_ttnn",
    "l1_allocated_per_bank",
    "l1_limits",
    "live_enum_values",
    "memory_config",
    "mock_environment",
    "open_device",
    "short_form",
    "tensor_spec_json",
    "ttnn_available",
    "ttnn_dtype",
    "ttnn_layout",
    "ttnn_math_fidelity",
    "use_hardware",
]
