"""Read NVIDIA stylegan2-ada-pytorch / stylegan3 network pickles without running any code they contain.

NVIDIA's own loader unpickles with the stock `pickle` module, which calls whatever the file names and then
`exec`s the Python source stored in it (torch_utils.persistence). A model downloaded from anywhere must not
get that power. Here the unpickler knows a short list of globals; the two NVIDIA ones are replaced by
stand-ins that only record their arguments, tensors are rebuilt through torch's own weights-only loader, and
any other global ends the load with an error naming it. From the records we read the generator's
constructor kwargs, build our StyleGAN2 or StyleGAN3 from them and copy the tensors by name.
"""

from __future__ import annotations

import _compat_pickle
import collections
import contextvars
import io
import pickle
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from .checkpoint_format import build_checked, check_file_tensors, list_names
from .errors import CheckpointError, cause_in_words, describe
from .nvidia_options import stylegan2_kwargs, stylegan3_kwargs
from .pickle_scan import scan_pickle_file, scan_torch_file
from .stylegan2 import StyleGAN2
from .stylegan3 import StyleGAN3


MAX_RECORDS = 20_000  # persistent module records in one network; NVIDIA's 1024² G_ema has ~300


class PersistentRecord:
    """What `torch_utils.persistence._reconstruct_persistent_obj(meta)` would have rebuilt, as plain data."""

    def __init__(self, meta: Any):
        if not isinstance(meta, dict) or not isinstance(meta.get("state"), dict):
            raise pickle.UnpicklingError("malformed persistent object record")
        # Only strings are kept: str() of an arbitrary object from the file could be made arbitrarily costly.
        name, src = meta.get("class_name"), meta.get("module_src")
        self.class_name = name if isinstance(name, str) else ""
        self.module_src = src if isinstance(src, str) else ""  # kept only to recognise the architecture; never run
        self.state: dict = meta["state"]

    def children(self) -> dict[str, Any]:
        modules = self.state.get("_modules") or {}
        if not isinstance(modules, dict) or not all(isinstance(k, str) for k in modules):
            raise pickle.UnpicklingError("malformed submodule table")
        return dict(modules)

    def own_tensors(self) -> dict[str, Any]:
        skip = self.state.get("_non_persistent_buffers_set") or ()
        skip = set(skip) if isinstance(skip, (set, frozenset, list, tuple)) else set()
        out = {}
        for group in ("_parameters", "_buffers"):
            table = self.state.get(group) or {}
            if not isinstance(table, dict):
                raise pickle.UnpicklingError(f"malformed {group} table")
            for name, t in table.items():
                if not isinstance(name, str):
                    raise pickle.UnpicklingError(f"malformed {group} table")
                if t is not None and name not in skip:
                    out[name] = t
        return out

    def tensors(self) -> dict[str, Any]:
        """Parameters and persistent buffers of this record and its children, named as in a state_dict.

        Iterative, and each record is visited once: a crafted file can share children between parents
        (a DAG with 2^48 paths in a 1 MB file) or nest them beyond Python's recursion limit.
        """
        out: dict[str, Any] = {}
        seen: set[int] = set()
        todo: list[tuple[str, PersistentRecord]] = [("", self)]
        while todo:
            prefix, record = todo.pop()
            if id(record) in seen:
                raise pickle.UnpicklingError("one submodule record appears in two places; real networks are trees")
            seen.add(id(record))
            if len(seen) > MAX_RECORDS:
                raise pickle.UnpicklingError(f"more than {MAX_RECORDS} submodule records")
            out.update((prefix + name, t) for name, t in record.own_tensors().items())
            for name, child in reversed(list(record.children().items())):
                if isinstance(child, PersistentRecord):
                    todo.append((f"{prefix}{name}.", child))
                elif child is not None:
                    raise pickle.UnpicklingError("a submodule is not a network record")
        return out


class RecordedDict(dict):
    """Stand-in for dnnlib.util.EasyDict: an ordinary dict."""


class _DTypeRecord:
    """Stand-in for numpy.dtype while unpickling; turned into a real dtype only for plain number kinds."""

    def __init__(self, name: Any, align: Any = False, copy: Any = False):
        self.name = name if isinstance(name, str) and len(name) <= 16 else "invalid"
        self.byteorder = "="

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, tuple) and len(state) > 1 and state[1] in ("<", ">", "|", "="):
            self.byteorder = state[1]

    def to_numpy(self) -> np.dtype:
        dt = np.dtype(self.name)
        if dt.kind not in "biufc":
            raise pickle.UnpicklingError(f"numpy values of dtype {self.name!r} are not accepted")
        return dt.newbyteorder(self.byteorder) if self.byteorder in "<>" else dt


class _ArrayRecord:
    """Stand-in for a pickled numpy array (stylegan3 layers keep sizes as arrays): recorded as inert data, never
    read: our modules recompute every such value from the checked init kwargs."""

    def __init__(self, *args: Any):
        self.args, self.state = args, None

    def __setstate__(self, state: Any) -> None:
        self.state = state


def _numpy_scalar(dtype: Any, data: Any = None) -> int | float | complex | bool:
    if not isinstance(dtype, _DTypeRecord) or not isinstance(data, bytes):
        raise pickle.UnpicklingError("malformed numpy scalar")
    return np.frombuffer(data, dtype=dtype.to_numpy(), count=1)[0].item()


def _codecs_encode(text: Any, encoding: str = "utf-8") -> bytes:
    # Protocol-2 pickles spell bytes objects as _codecs.encode(str, 'latin1').
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError("unexpected _codecs.encode call")
    return text.encode("latin1")


def _load_storage(data: Any) -> Any:
    # torch pickles each storage as _load_from_bytes(<a legacy torch.save blob>); torch's weights-only loader
    # reads such a blob without calling anything it does not itself allow.
    if not isinstance(data, bytes):
        raise pickle.UnpicklingError("malformed tensor storage")
    scan_torch_file(_current_path.get(), blob=data)  # the blob is a pickle too: same limits before loading
    storage = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    if not isinstance(storage, (torch.TypedStorage, torch.UntypedStorage)):
        raise pickle.UnpicklingError("tensor storage record holds something else")
    return storage


def _rebuild_tensor(storage: Any, offset: Any, size: Any, stride: Any, *_ignored: Any) -> torch.Tensor:
    # The trailing requires_grad / backward hooks / metadata are irrelevant for inference and dropped.
    shape_ok = (isinstance(size, tuple) and isinstance(stride, tuple) and len(size) == len(stride) <= 8
                and all(type(v) is int and 0 <= v < 1 << 40 for v in (offset, *size, *stride)))
    if not (isinstance(storage, (torch.TypedStorage, torch.UntypedStorage)) and shape_ok):
        raise pickle.UnpicklingError("malformed tensor record")
    return torch._utils._rebuild_tensor_v2(storage, offset, size, stride, False, collections.OrderedDict())


def _rebuild_parameter(data: Any, *_ignored: Any) -> torch.Tensor:
    if not isinstance(data, torch.Tensor):
        raise pickle.UnpicklingError("malformed parameter record")
    return data


# (module, name) -> what the unpickler gets instead. Nothing here can run code from the file: each entry is
# a plain container, a recorder, or a validating wrapper around torch's own weights-only machinery.
_NUMPY_CORE = ("numpy.core", "numpy._core")  # numpy 1 pickles say numpy.core, numpy 2 ones numpy._core
_ALLOWED: dict[tuple[str, str], Callable] = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("_codecs", "encode"): _codecs_encode,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    ("torch.storage", "_load_from_bytes"): _load_storage,
    ("torch_utils.persistence", "_reconstruct_persistent_obj"): PersistentRecord,
    ("dnnlib.util", "EasyDict"): RecordedDict,
    ("dnnlib", "EasyDict"): RecordedDict,
    ("numpy", "dtype"): _DTypeRecord,
    ("numpy", "ndarray"): _ArrayRecord,
    **{(f"{core}.multiarray", "scalar"): _numpy_scalar for core in _NUMPY_CORE},
    **{(f"{core}.multiarray", "_reconstruct"): _ArrayRecord for core in _NUMPY_CORE},
    **{(f"{core}.numeric", "_frombuffer"): _ArrayRecord for core in _NUMPY_CORE},
}


class RestrictedUnpickler(pickle.Unpickler):
    """pickle.Unpickler that resolves only the globals in _ALLOWED."""

    def __init__(self, file: Any, path: str | Path):
        super().__init__(file)
        self.path = path

    def find_class(self, module: str, name: str) -> Any:
        # Protocol-2 pickles spell some names the Python 2 way (__builtin__.set); the stock find_class
        # translates them, so ours must too before consulting the allow-list.
        module, name = _compat_pickle.NAME_MAPPING.get((module, name), (module, name))
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        target = _ALLOWED.get((module, name))
        if target is None and module.startswith("dnnlib.tflib"):
            raise CheckpointError(self.path, f"is a TensorFlow StyleGAN pickle ('{module}.{name}'), which this editor "
                                             "cannot read; convert it to PyTorch first (stylegan2-ada-pytorch's "
                                             "legacy.py, or rosinality's convert_weight.py)")
        if target is None:
            raise CheckpointError(self.path, f"refuses to load global '{module}.{name}': a network pickle never "
                                             "needs it, and loading it could run code from the file")
        return target

    def persistent_load(self, pid: Any) -> Any:
        raise CheckpointError(self.path, "uses pickle persistent ids, which NVIDIA network pickles never do")


_current_path: contextvars.ContextVar = contextvars.ContextVar("nvidia_pickle_path", default=None)


def read_pickle(path: str | Path) -> Any:
    """Unpickle `path` with RestrictedUnpickler, after the opcode pre-scan (pickle_scan); every failure
    becomes a CheckpointError naming the file."""
    token = _current_path.set(path)
    try:
        scan_pickle_file(path)
        with open(path, "rb") as f:
            return RestrictedUnpickler(f, path).load()
    except CheckpointError:
        raise
    except OSError as e:
        raise CheckpointError(path, f"cannot be read ({e.strerror or type(e).__name__})") from None
    except (RecursionError, MemoryError, OverflowError) as e:
        raise CheckpointError(path, f"is not a usable network pickle: {cause_in_words(e)}") from None
    except Exception as e:  # truncated, corrupt or not a pickle: all surface the same way
        # Only the unpickler's own messages are shown; others may quote values from the file.
        if isinstance(e, pickle.UnpicklingError) and "Weights only load failed" in str(e):
            from .rosinality import torch_load_problem  # a storage blob torch's weights-only loader refused
            raise CheckpointError(path, f"has a tensor storage that {torch_load_problem(e)}") from None
        detail = f": {e}" if isinstance(e, pickle.UnpicklingError) else f": {cause_in_words(e)}"
        raise CheckpointError(path, f"is not a readable network pickle ({type(e).__name__}{detail})") from None
    finally:
        _current_path.reset(token)


def _is_stylegan3(g: PersistentRecord) -> bool:
    synthesis = g.children().get("synthesis")
    kinds = {c.class_name for c in synthesis.children().values()} if isinstance(synthesis, PersistentRecord) else set()
    return "SynthesisInput" in kinds or "class SynthesisInput(" in g.module_src  # SG3's Fourier-feature input


def load_nvidia_pickle(path: str | Path) -> tuple[StyleGAN2 | StyleGAN3, torch.Tensor | None]:
    """An NVIDIA network pickle -> (our StyleGAN2 or StyleGAN3 with G_ema's weights, in eval mode on CPU;
    w_avg [w_dim]).

    w_avg is G_ema.mapping.w_avg, or None for the rare StyleGAN2 trained without one (w_avg_beta=None): the
    caller (loading.cached_w_avg) estimates it once and caches it beside the file.
    """
    data = read_pickle(path)
    if not isinstance(data, dict):
        raise CheckpointError(path, f"holds {describe(data)}, not NVIDIA's dict of networks")
    if "G_ema" not in data:
        keys = ", ".join(describe(k) for k in list(data)[:8]) or "none"
        raise CheckpointError(path, f"has no 'G_ema' generator (keys: {keys})")
    g = data["G_ema"]
    if not isinstance(g, PersistentRecord):
        raise CheckpointError(path, f"'G_ema' is {describe(g)}, not a pickled network")
    try:
        sg3 = _is_stylegan3(g)
        if g.class_name.rsplit(".", 1)[-1] != "Generator":
            raise CheckpointError(path, f"'G_ema' is a {g.class_name}, not a StyleGAN{3 if sg3 else 2} Generator")
        kwargs = (stylegan3_kwargs if sg3 else stylegan2_kwargs)(g.state, path)
        tensors = g.tensors()
    except CheckpointError:
        raise
    except Exception as e:  # records are attacker-shaped data: any surprise in them is a bad file, not a bug
        detail = str(e) if isinstance(e, pickle.UnpicklingError) else cause_in_words(e)  # our own messages only
        raise CheckpointError(path, f"G_ema is malformed ({type(e).__name__}: {detail})") from None
    check_file_tensors(tensors, path, "G_ema")
    if sg3:
        # Each layer divides by sqrt(magnitude_ema): zero or negative would render NaN at the first frame.
        bad = [k for k, t in tensors.items() if k.endswith(".magnitude_ema") and not (t.numel() == 1 and float(t) > 0)]
        if bad:
            raise CheckpointError(path, f"G_ema has non-positive input magnitudes in {list_names(bad)}")
        net = build_checked(lambda: StyleGAN3(**kwargs), tensors, path, "G_ema", arch="StyleGAN3")
    else:
        net = build_checked(lambda: StyleGAN2(**kwargs), tensors, path, "G_ema")
    w_avg = net.mapping.w_avg.clone() if hasattr(net.mapping, "w_avg") else None
    return net, w_avg
