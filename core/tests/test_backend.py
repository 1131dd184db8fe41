"""Backends and dispatch: which implementation of an op runs, and the errors for bad choices."""

from __future__ import annotations

import numpy as np
import pytest

from sparsehub import backend as backend_mod
from sparsehub import ops
from sparsehub.backend import Backend, ReferenceBackend, backend, backends, kernels, resolve
from sparsehub.discovery import Plugins
from sparsehub.errors import BackendError, PluginLoadError
from sparsehub.hookspecs import hookimpl
from sparsehub.method import OPS, KernelImpl
from sparsehub.tensor import SparseTensor


def _scaled_spmm(scale):
    def spmm(indptr, indices, values, shape, B):
        dense = SparseTensor.csr(indptr, indices, values, shape).to_dense()
        return scale * (dense @ B)

    return spmm


class FastBackend(Backend):
    name, priority = "fast", 50

    def ops(self):
        return {"spmm": _scaled_spmm(2.0)}


class SlowBackend(Backend):
    name, priority = "slow", 5

    def ops(self):
        return {"spmm": _scaled_spmm(3.0), "sddmm": "sparsehub_no_such_module.kernels:sddmm"}


class OfflineBackend(Backend):
    name, priority = "offline", 1000

    def available(self):
        return False

    def ops(self):
        return {"spmm": _scaled_spmm(5.0)}


class Impostor(Backend):
    name = "reference"

    def ops(self):
        return {"spmm": _scaled_spmm(7.0)}


class FakeHardware:
    @hookimpl
    def sparsehub_backends(self):
        return [FastBackend(), SlowBackend(), OfflineBackend(), Impostor()]

    @hookimpl
    def sparsehub_kernels(self):
        return [
            KernelImpl("spmm", "slow", "tiled", _scaled_spmm(11.0), "a second slow spmm", priority=3),
            KernelImpl("spmm", "reference", "hash", _scaled_spmm(13.0), "a kernel plugin on the reference"),
            KernelImpl("spmm", "not-installed", "ghost", _scaled_spmm(17.0)),
        ]


@pytest.fixture
def fake_plugins(monkeypatch):
    """Dispatch sees only the reference backend plus the FakeHardware plugin."""
    found = Plugins.discover(group="sparsehub-tests-no-such-group")
    found.register(FakeHardware(), name="fake-hardware")
    monkeypatch.setattr(backend_mod, "_plugins", lambda: found)
    return found


@pytest.fixture
def no_plugins(monkeypatch):
    found = Plugins.discover(group="sparsehub-tests-no-such-group")
    monkeypatch.setattr(backend_mod, "_plugins", lambda: found)
    return found


A = SparseTensor.from_dense(np.array([[1.0, 0.0, 2.0], [0.0, 3.0, 0.0]]))
B = np.arange(6.0).reshape(3, 2)


def test_reference_backend_implements_every_op_and_is_always_available(no_plugins):
    ref = backends()["reference"]
    assert isinstance(ref, ReferenceBackend) and ref.available()
    assert set(ref.ops()) == set(OPS)
    assert all(resolve(op).backend == "reference" for op in OPS)
    assert ref.priority < 0


def test_every_reference_op_is_a_lazy_string_that_loads(no_plugins):
    for impl in kernels():
        assert isinstance(impl.fn, str)
        assert callable(impl.load())


def test_highest_priority_available_backend_wins(fake_plugins):
    impl = resolve("spmm")
    assert (impl.backend, impl.algorithm) == (
        "fast",
        "default",
    )  # offline has more priority but is unavailable
    np.testing.assert_allclose(ops.spmm(A, B), 2.0 * (A.to_dense() @ B))


def test_op_without_other_implementations_falls_back_to_reference(fake_plugins):
    assert resolve("spgemm").backend == "reference"
    assert resolve("nm_matmul").backend == "reference"


def test_named_backend_and_algorithm_are_used(fake_plugins):
    np.testing.assert_allclose(ops.spmm(A, B, backend="slow"), 3.0 * (A.to_dense() @ B))
    np.testing.assert_allclose(ops.spmm(A, B, backend="slow", algorithm="tiled"), 11.0 * (A.to_dense() @ B))
    np.testing.assert_allclose(ops.spmm(A, B, backend="reference"), A.to_dense() @ B)


def test_algorithm_without_backend_picks_the_best_backend_offering_it(fake_plugins):
    assert resolve("spmm", algorithm="tiled").backend == "slow"
    assert resolve("spmm", algorithm="hash").backend == "reference"


def test_plugin_backend_cannot_replace_the_reference_and_is_reported(fake_plugins):
    assert isinstance(backends()["reference"], ReferenceBackend)
    assert any("reference" in where and "already taken" in why for where, why in fake_plugins.errors.items())


def test_kernel_for_an_uninstalled_backend_is_never_chosen(fake_plugins):
    assert any(k.backend == "not-installed" for k in kernels("spmm"))
    with pytest.raises(BackendError, match=r"algorithm='ghost'"):
        resolve("spmm", algorithm="ghost")
    with pytest.raises(BackendError, match=r"backend='not-installed'"):
        resolve("spmm", backend="not-installed")


def test_kernels_lists_defaults_with_backend_priority_then_plugin_kernels(fake_plugins):
    spmm = kernels("spmm")
    assert all(k.op == "spmm" for k in spmm)
    defaults = {k.backend: k for k in spmm if k.algorithm == "default"}
    assert set(defaults) == {"reference", "fast", "slow", "offline"}
    assert defaults["fast"].priority == 50 and defaults["reference"].priority == -100
    assert {(k.backend, k.algorithm) for k in spmm if k.algorithm != "default"} == {
        ("slow", "tiled"),
        ("reference", "hash"),
        ("not-installed", "ghost"),
    }
    assert {k.op for k in kernels()} == set(OPS)


def test_unknown_backend_error_names_argument_value_and_choices(fake_plugins):
    with pytest.raises(BackendError) as err:
        resolve("spmm", backend="tpu")
    msg = str(err.value)
    assert "backend='tpu'" in msg and "fast" in msg and "reference" in msg and "slow" in msg
    assert "offline" not in msg.split("expected")[1]  # only usable choices are offered


def test_unavailable_backend_error_says_it_is_not_available(fake_plugins):
    with pytest.raises(BackendError, match=r"backend='offline'.*not available on this machine"):
        resolve("spmm", backend="offline")


def test_backend_without_the_op_error_says_so(fake_plugins):
    with pytest.raises(BackendError, match=r"backend='fast'.*does not implement spgemm"):
        resolve("spgemm", backend="fast")


def test_unknown_algorithm_error_lists_that_backends_algorithms(fake_plugins):
    with pytest.raises(BackendError, match=r"algorithm='magic'.*backend 'slow': default, tiled"):
        resolve("spmm", backend="slow", algorithm="magic")


def test_unknown_op_is_rejected_with_the_list_of_ops(no_plugins):
    with pytest.raises(BackendError, match=r"op='matmul'.*spmm"):
        resolve("matmul")
    with pytest.raises(BackendError, match=r"op='matmul'"):
        kernels("matmul")


def test_backend_lookup_by_name(fake_plugins):
    assert backend("fast").priority == 50
    with pytest.raises(BackendError, match=r"backend='gpu'.*fast, offline, reference, slow"):
        backend("gpu")


def test_string_kernel_is_imported_only_when_called(fake_plugins):
    impl = resolve("sddmm", backend="slow")  # resolving does not import the module
    assert impl.fn == "sparsehub_no_such_module.kernels:sddmm"
    with pytest.raises(PluginLoadError, match="sparsehub_no_such_module"):
        impl.load()


def test_describe_names_device_priority_state_and_ops(fake_plugins):
    assert backend("offline").describe() == "offline (cpu, priority 1000, not available): spmm"
    assert backend("slow").describe() == "slow (cpu, priority 5, available): sddmm, spmm"


def test_failed_dispatch_leaves_inputs_untouched(fake_plugins):
    before = B.copy()
    with pytest.raises(BackendError):
        ops.spmm(A, B, backend="offline")
    np.testing.assert_array_equal(B, before)


class BrokenProbeBackend(Backend):
    name, priority = "broken-probe", 2000

    def available(self):
        raise OSError("driver exploded")

    def ops(self):
        return {"spmm": _scaled_spmm(19.0)}


class BrokenProbe:
    @hookimpl
    def sparsehub_backends(self):
        return [BrokenProbeBackend()]


def test_backend_whose_probe_raises_is_skipped_and_reported(no_plugins):
    no_plugins.register(BrokenProbe(), name="broken-probe")
    assert resolve("spmm").backend == "reference"
    assert "OSError: driver exploded" in no_plugins.errors["backend broken-probe"]


def test_naming_a_backend_probes_no_other_backend(no_plugins):
    no_plugins.register(BrokenProbe(), name="broken-probe")
    assert resolve("spmm", backend="reference").backend == "reference"
    assert "backend broken-probe" not in no_plugins.errors
