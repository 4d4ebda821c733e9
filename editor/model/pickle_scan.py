"""Read a pickle's opcode stream, building no objects, and refuse shapes no model file has before unpickling.

Unpickling is a stack machine; a file can drive it into states that are dangerous before any of our checks
on the result could run: tuples nested 10^5 deep crash CPython when hashed as dict keys (C recursion, a
segfault, not an exception), and millions of tiny opcodes take minutes. So every pickle we are about to
load (NVIDIA's .pkl, a torch .pt's data.pkl, torch's legacy blobs) is first walked with
`pickletools.genops`, which only decodes opcodes, while a shadow stack of nesting depths follows what the
real unpickler would build. Real network pickles are a few dozen levels deep and a few hundred thousand
opcodes long at most; the limits leave room for that and nothing near what hurts.

Two costs are not depth: dict keys that all hash alike (integers that are multiples of 2^61 - 1) make each
insert compare against every earlier key, so n of them cost n^2; the shadow stack counts what every
container receives and refuses a container of more than MAX_ITEMS or a file whose containers add up to
more than MAX_ITEM_WORK (the sum of their sizes squared, a bound on that quadratic cost).

A torch zip is checked as torch will read it: the one data.pkl under the first record's folder (torch's
rule), no other data.pkl anywhere (a decoy), and every record stored uncompressed, as torch writes them,
within the file's own size (a deflated record would be inflated by torch before any check of ours).
"""

from __future__ import annotations

import io
import os
import pickletools
import zipfile
from pathlib import Path
from typing import IO

from .errors import CheckpointError, cause_in_words, clean_text

MAX_DEPTH = 1_000           # nesting of containers and calls; NVIDIA's 1024² pickles need ~40
MAX_OPCODES = 1_000_000     # NVIDIA's 1024² G+D+G_ema pickle has ~10^5; scanning 10^6 takes a few seconds
MAX_STACK = 1_000_000       # items waiting on the unpickler's stack at once
MAX_ITEMS = 100_000         # items one dict, set, list or tuple receives; real ones hold at most ~10^3
MAX_ITEM_WORK = 10 ** 8     # sum over containers of items^2: ~2 s to unpickle even if every key collides

# Opcodes by what they do to the stack (pickletools' names). Anything not listed pushes one leaf value.
_NO_OP = {"PROTO", "FRAME", "STOP", "READONLY_BUFFER"}
_EMPTY_CONTAINER = {"EMPTY_LIST", "EMPTY_DICT", "EMPTY_SET", "EMPTY_TUPLE"}
_FROM_MARK = {"LIST", "TUPLE", "DICT", "FROZENSET", "OBJ", "INST"}  # pop to MARK, push one built object
_INTO_BELOW_MARK = {"APPENDS", "SETITEMS", "ADDITEMS"}              # pop to MARK into the container below it
_TUPLE_N = {"TUPLE1": 1, "TUPLE2": 2, "TUPLE3": 3}
_CALL = {"REDUCE": 2, "NEWOBJ": 2, "NEWOBJ_EX": 3, "STACK_GLOBAL": 2}  # pop n, push the result
_PUT = {"PUT", "BINPUT", "LONG_BINPUT", "MEMOIZE"}
_GET = {"GET", "BINGET", "LONG_BINGET"}
_INTS = {"INT", "BININT", "BININT1", "BININT2", "LONG", "LONG1", "LONG4"}
_STRUCTURAL = (_NO_OP | _EMPTY_CONTAINER | _FROM_MARK | _INTO_BELOW_MARK | set(_TUPLE_N) | set(_CALL) | _PUT | _GET
               | {"MARK", "POP_MARK", "APPEND", "SETITEM", "BUILD", "POP", "DUP", "BINPERSID"})


class _Refused(Exception):
    pass


class _Cell:
    """Nesting depth of one object on the shadow stack; shared through the memo like the object itself."""
    __slots__ = ("depth", "items", "ints")

    def __init__(self, depth: int, items: int = 0, ints: int = 0):
        # ints: a positive integer leaf's value, or for a tuple the sum of its integer leaves (the element
        # count a torch storage record declares: see scan_torch_file)
        self.depth, self.items, self.ints = depth, items, ints


class _Work:
    """The running sum of container sizes squared (see the module docstring)."""
    __slots__ = ("total",)

    def __init__(self):
        self.total = 0

    def add(self, cell: _Cell, n: int) -> None:
        if n <= 0:
            return
        before = cell.items
        cell.items = before + n
        if cell.items > MAX_ITEMS:
            raise _Refused(f"puts more than {MAX_ITEMS:,} items in one container")
        self.total += cell.items * cell.items - before * before
        if self.total > MAX_ITEM_WORK:
            raise _Refused(f"builds containers whose sizes squared add up to more than {MAX_ITEM_WORK:.0e} "
                           "(the cost of keys that all hash alike)")


def _scan_one(f: IO[bytes]) -> int:
    """Walk one pickle (up to its STOP); returns the elements its persistent ids declare (torch storages).
    Raises _Refused or ValueError."""
    stack: list = []     # _Cell per pushed object
    marks: list[int] = []
    memo: dict = {}
    work = _Work()
    count = declared = 0
    for op, arg, _pos in pickletools.genops(f):
        count += 1
        if count > MAX_OPCODES:
            raise _Refused(f"has more than {MAX_OPCODES:,} pickle opcodes")
        name = op.name
        if name not in _STRUCTURAL:  # a leaf (numbers, strings, bytes, None, GLOBAL, ...): most opcodes, first
            stack.append(_Cell(0, 0, arg if name in _INTS and type(arg) is int and arg > 0 else 0))
            if len(stack) > MAX_STACK:
                raise _Refused(f"puts more than {MAX_STACK:,} items on the pickle stack")
            continue
        if name in _NO_OP:
            continue
        if name == "MARK":
            marks.append(len(stack))
            if len(marks) > MAX_DEPTH:
                raise _Refused(f"nests pickle marks more than {MAX_DEPTH} deep")
            continue
        if name in _FROM_MARK or name in _INTO_BELOW_MARK or name == "POP_MARK":
            if not marks:
                raise ValueError(f"{name} without a MARK")
            start = marks.pop()
            items, stack[start:] = stack[start:], []
            deepest = max((c.depth for c in items), default=0)
            n = len(items) // 2 if name in ("DICT", "SETITEMS") else len(items)
            if name in _FROM_MARK:
                ints = sum(c.ints for c in items if c.depth == 0) if name == "TUPLE" else 0
                stack.append(_Cell(deepest + 1, 0, ints))
                work.add(stack[-1], n)
            elif name in _INTO_BELOW_MARK:
                if not stack:
                    raise ValueError(f"{name} with no container")
                stack[-1].depth = max(stack[-1].depth, deepest + 1)
                work.add(stack[-1], n)
        elif name in _EMPTY_CONTAINER:
            stack.append(_Cell(1))
        elif name in _TUPLE_N:
            n = _TUPLE_N[name]
            if len(stack) < n:
                raise ValueError(f"{name} on a short stack")
            items, stack[-n:] = stack[-n:], []
            stack.append(_Cell(max(c.depth for c in items) + 1, n, sum(c.ints for c in items if c.depth == 0)))
        elif name in _CALL:
            n = _CALL[name]
            if len(stack) < n:
                raise ValueError(f"{name} on a short stack")
            items, stack[-n:] = stack[-n:], []
            stack.append(_Cell(max(c.depth for c in items) + 1))
        elif name in ("APPEND", "SETITEM", "BUILD"):
            n = 2 if name == "SETITEM" else 1
            if len(stack) < n + 1:
                raise ValueError(f"{name} on a short stack")
            items, stack[-n:] = stack[-n:], []
            stack[-1].depth = max(stack[-1].depth, max(c.depth for c in items) + 1)
            if name != "BUILD":
                work.add(stack[-1], 1)
        elif name == "POP":
            if not stack:
                raise ValueError("POP on an empty stack")
            stack.pop()
        elif name == "DUP":
            if not stack:
                raise ValueError("DUP on an empty stack")
            stack.append(stack[-1])
        elif name in _PUT:
            if not stack:
                raise ValueError(f"{name} on an empty stack")
            if name != "MEMOIZE" and not 0 <= arg <= MAX_OPCODES:
                # CPython's unpickler grows its memo array to twice the index, and clears every new slot
                raise _Refused(f"stores a memo entry at index {arg:,}; a pickler numbers them from 0 up")
            memo[len(memo) if name == "MEMOIZE" else arg] = stack[-1]
        elif name in _GET:
            if arg not in memo:
                raise ValueError("memo reference to nothing")
            stack.append(memo[arg])
        elif name == "BINPERSID":
            if not stack:
                raise ValueError("BINPERSID on an empty stack")
            declared += stack[-1].ints
            stack[-1] = _Cell(stack[-1].depth + 1)
        if stack and stack[-1].depth > MAX_DEPTH:
            raise _Refused(f"nests objects more than {MAX_DEPTH} deep")
        if len(stack) > MAX_STACK:
            raise _Refused(f"puts more than {MAX_STACK:,} items on the pickle stack")
    return declared


def scan_pickles(f: IO[bytes], path: str | Path, count: int = 1, what: str = "pickle") -> int:
    """Check the next `count` pickles in `f` (torch's legacy format is several in a row). CheckpointError if
    any is malformed or beyond the limits; the file position is left after the last one. Returns the
    elements their persistent ids (torch storage records) declare in all."""
    declared = 0
    try:
        for _ in range(count):
            declared += _scan_one(f)
    except _Refused as e:
        raise CheckpointError(path, f"{what} {e}; no model file does, so it was not unpickled") from None
    except (ValueError, EOFError, IndexError, KeyError, TypeError) as e:
        # genops raises ValueError on unknown opcodes and truncated arguments (its messages quote no data)
        raise CheckpointError(path, f"is not a readable {what}: it is truncated or corrupt where its pickle is "
                                    f"({type(e).__name__}: {e})") from None
    return declared


def scan_pickle_file(path: str | Path) -> None:
    with open(path, "rb") as f:
        scan_pickles(f, path, what="network pickle")


def scan_torch_file(path: str | Path, blob: bytes | None = None) -> None:
    """A torch.save file (or, given `blob`, those bytes, reported as `path`): the zip's data.pkl, or the legacy
    format's leading pickles (magic, protocol, system info, the object, the storage keys; raw storage bytes
    follow and are not pickle)."""
    what = "torch checkpoint" if blob is None else "tensor record"
    try:
        source = io.BytesIO(blob) if blob is not None else open(path, "rb")
        with source as f:
            if zipfile.is_zipfile(f):
                size = len(blob) if blob is not None else os.fstat(f.fileno()).st_size
                with zipfile.ZipFile(f) as z:
                    data = z.read(_torch_data_pkl(z, size, path, what))
                scan_pickles(io.BytesIO(data), path, what=what)
            else:
                # torch's legacy loader allocates each storage at the size its record declares, before reading
                # the bytes: a 1 KB file may declare 10^12 elements. Every element takes at least a byte.
                size = len(blob) if blob is not None else os.fstat(f.fileno()).st_size
                f.seek(0)
                declared = scan_pickles(f, path, 5, what=what)
                if declared > size:
                    raise CheckpointError(path, f"{what} declares tensor storages of {declared:,} elements in a "
                                                f"file of {size:,} bytes; a real one stores every element")
    except CheckpointError:
        raise
    except (OSError, zipfile.BadZipFile, RuntimeError, EOFError, ValueError) as e:
        raise CheckpointError(path, f"is not a readable {what}: {cause_in_words(e)}") from None


MAX_ZIP_RECORDS = 100_000  # a torch zip holds one record per storage, plus a few; a 1024² model has ~1000


def _torch_data_pkl(z: zipfile.ZipFile, size: int, path, what: str) -> zipfile.ZipInfo:
    """The record torch.load will unpickle, after every record of the zip is checked as torch writes them."""
    infos = z.infolist()
    if not infos:
        raise CheckpointError(path, f"{what} is an empty zip file")
    if len(infos) > MAX_ZIP_RECORDS:
        raise CheckpointError(path, f"{what} holds {len(infos):,} zip records; torch writes one per tensor "
                                    f"storage (at most {MAX_ZIP_RECORDS:,} here)")
    names = [i.filename for i in infos]
    if len(set(names)) != len(names):
        raise CheckpointError(path, f"{what} holds two zip records of one name; torch never writes that, and "
                                    "which one it would read is not defined")
    for i in infos:
        if i.compress_type != zipfile.ZIP_STORED or i.flag_bits & 0x1:
            kind = "encrypted" if i.flag_bits & 0x1 else f"compressed (zip method {i.compress_type})"
            raise CheckpointError(path, f"{what} has a {kind} record; torch writes every record stored "
                                        "uncompressed, and would inflate this one before any check")
        if i.file_size != i.compress_size or i.file_size > size:
            raise CheckpointError(path, f"{what} has a record declaring {i.file_size:,} bytes in a file of "
                                        f"{size:,}; a stored record cannot be larger than the file")
    total = sum(i.file_size for i in infos)
    if total > size:
        raise CheckpointError(path, f"{what}'s records declare {total:,} bytes in all, more than the file's "
                                    f"{size:,}")
    # torch reads <folder of the first record>/data.pkl (PyTorchStreamReader); a second data.pkl is a decoy.
    folder, slash, _ = infos[0].filename.partition("/")
    expected = f"{folder}/data.pkl"
    pickles = [n for n in names if n == "data.pkl" or n.endswith("/data.pkl")]
    if not slash:
        raise CheckpointError(path, f"{what}'s first zip record '{clean_text(folder, 80)}' is not in a folder; "
                                    "torch reads <folder of the first record>/data.pkl")
    if expected not in names:
        raise CheckpointError(path, f"{what} is a zip file without a torch data.pkl (torch reads "
                                    f"'{clean_text(expected, 80)}')")
    if len(pickles) > 1:
        raise CheckpointError(path, f"{what} holds {len(pickles)} data.pkl records; torch writes one, and "
                                    "only that one could be checked before loading")
    return z.getinfo(expected)
