"""The statuses of a sweep vector: tt-metal's sweep framework's, and how its result files write them."""

from __future__ import annotations

PASS = "PASS"
FAIL_ASSERT_EXCEPTION = "FAIL_ASSERT_EXCEPTION"  # ttnn refused the op (TT_FATAL / TT_THROW)
FAIL_L1_OUT_OF_MEM = "FAIL_L1_OUT_OF_MEM"
FAIL_CRASH_HANG = "FAIL_CRASH_HANG"  # the worker died or gave no result within the timeout
FAIL_WATCHER = "FAIL_WATCHER"
FAIL_UNSUPPORTED_DEVICE_PERF = "FAIL_UNSUPPORTED_DEVICE_PERF"  # --device-perf without a profiler build
NOT_RUN = "NOT_RUN"  # invalid vector: the reason is the message
STATUSES = (PASS, FAIL_ASSERT_EXCEPTION, FAIL_L1_OUT_OF_MEM, FAIL_CRASH_HANG, FAIL_WATCHER,
            FAIL_UNSUPPORTED_DEVICE_PERF, NOT_RUN)

# tt-metal's allocator says this when a buffer does not fit (tt-metal's runner keys on it too).
OUT_OF_MEMORY = "Out of Memory: Not enough space to allocate"
# ... and this when a program's statically allocated circular (dataflow) buffers outgrow a core's L1
# ("... grow to 9049440 B which is beyond max L1 size of 1499136 B": a gelu on 2 big height shards).
CIRCULAR_BUFFERS_BEYOND_L1 = "beyond max L1 size"

# The status words of tt-metal's current result files (results_export/*.json, OpTest records).
OPTEST_STATUS = {PASS: "pass", FAIL_ASSERT_EXCEPTION: "fail_assert_exception", FAIL_L1_OUT_OF_MEM: "fail_l1_out_of_mem",
                 FAIL_CRASH_HANG: "fail_crash_hang", FAIL_WATCHER: "fail_watcher",
                 FAIL_UNSUPPORTED_DEVICE_PERF: "fail_unsupported_device_perf", NOT_RUN: "skipped"}


def of_error(message: str) -> str:
    """The status of a run that ttnn refused with ``message``."""
    out_of_l1 = OUT_OF_MEMORY in message or CIRCULAR_BUFFERS_BEYOND_L1 in message
    return FAIL_L1_OUT_OF_MEM if out_of_l1 else FAIL_ASSERT_EXCEPTION


def from_file(word: str) -> str:
    """A status as either of tt-metal's result files writes it (``pass``, ``TestStatus.PASS``,
    ``skipped``); ValueError for any other word."""
    text = str(word).strip()
    if text.startswith("TestStatus."):
        text = text.split(".", 1)[1]
    if text.upper() in STATUSES:
        return text.upper()
    for status, written in OPTEST_STATUS.items():
        if text.lower() == written:
            return status
    raise ValueError(f"unknown sweep status {word!r}; expected one of {', '.join(STATUSES)} "
                     f"or {', '.join(OPTEST_STATUS.values())}")
