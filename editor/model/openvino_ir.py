"""Read an OpenVINO IR (v10/v11 `.xml` + `.bin`) as a plain graph with numpy constants.

Only what the converter needs: nodes, edges, and the constant tensors. Nothing is executed, and
OpenVINO itself is not needed (it is only a test dependency, to check our port against the original).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import CheckpointError

_DTYPES = {"f32": np.float32, "f16": np.float16, "i64": np.int64, "i32": np.int32, "u8": np.uint8,
           "i8": np.int8, "boolean": np.bool_}


@dataclass
class Node:
    id: int
    type: str
    name: str
    attrs: dict[str, str]
    out_shapes: list[tuple[int, ...]]
    inputs: list[int] = field(default_factory=list)  # producer ids, in input-port order


class IRGraph:
    """The graph of one IR file. `const(node)` reads a Const node's tensor from the `.bin`."""

    def __init__(self, xml_path: str | Path):
        self.xml_path = Path(xml_path)
        self.bin_path = self.xml_path.with_suffix(".bin")
        try:
            root = ET.parse(self.xml_path).getroot()
            self._blob = np.fromfile(self.bin_path, dtype=np.uint8)
        except (OSError, ET.ParseError) as exc:
            raise CheckpointError(self.xml_path, f"cannot read OpenVINO IR: {exc}") from exc
        layers, edges = root.find("layers"), root.find("edges")
        if layers is None or edges is None:
            raise CheckpointError(self.xml_path, "not an OpenVINO IR file (no <layers>/<edges>)")
        self.nodes: dict[int, Node] = {}
        for layer in layers:
            data = layer.find("data")
            out = layer.find("output")
            shapes = []
            if out is not None:
                for port in out:
                    shapes.append(tuple(int(d.text) for d in port.findall("dim")))
            node_id = int(layer.get("id"))
            self.nodes[node_id] = Node(node_id, layer.get("type"), layer.get("name", ""),
                                       dict(data.attrib) if data is not None else {}, shapes)
        wired: dict[int, list[tuple[int, int]]] = {}
        self.consumers: dict[int, list[int]] = {i: [] for i in self.nodes}
        for edge in edges:
            src, dst, port = int(edge.get("from-layer")), int(edge.get("to-layer")), int(edge.get("to-port"))
            wired.setdefault(dst, []).append((port, src))
            self.consumers[src].append(dst)
        for dst, ins in wired.items():
            self.nodes[dst].inputs = [src for _, src in sorted(ins)]
        self._by_name = {n.name: n for n in self.nodes.values()}

    def node(self, node_id: int) -> Node:
        return self.nodes[node_id]

    def by_name(self, name: str) -> Node:
        try:
            return self._by_name[name]
        except KeyError:
            raise CheckpointError(self.xml_path, f"the IR has no node named {name!r}") from None

    def names(self) -> list[str]:
        return list(self._by_name)

    def input(self, node: Node, port: int) -> Node:
        return self.nodes[node.inputs[port]]

    def only_consumer(self, node: Node, type_: str | None = None) -> Node:
        users = [self.nodes[i] for i in self.consumers[node.id]]
        if type_ is not None:
            users = [u for u in users if u.type == type_]
        if len(users) != 1:
            raise CheckpointError(self.xml_path, f"unexpected graph shape after node {node.name!r}: "
                                                 f"{len(users)} consumers of type {type_}")
        return users[0]

    def const(self, node: Node) -> np.ndarray:
        if node.type != "Const":
            raise CheckpointError(self.xml_path, f"node {node.name!r} is a {node.type}, not a constant")
        a = node.attrs
        dtype = _DTYPES.get(a.get("element_type", ""))
        if dtype is None:
            raise CheckpointError(self.xml_path, f"constant {node.name!r} has unsupported type {a.get('element_type')}")
        offset, size = int(a["offset"]), int(a["size"])
        if offset + size > self._blob.size:
            raise CheckpointError(self.bin_path, f"truncated: constant {node.name!r} lies past the end of the file")
        shape = tuple(int(s) for s in a.get("shape", "").split(",") if s.strip())
        arr = self._blob[offset:offset + size].view(dtype)
        return arr.reshape(shape).copy()

    def const_input(self, node: Node, port: int) -> np.ndarray:
        return self.const(self.input(node, port))

    def topo_order(self) -> list[Node]:
        """Kahn's order, ties broken by id, so walks along a chain are deterministic."""
        indeg = {i: len(n.inputs) for i, n in self.nodes.items()}
        ready = sorted(i for i, d in indeg.items() if d == 0)
        order = []
        import heapq
        heapq.heapify(ready)
        while ready:
            i = heapq.heappop(ready)
            order.append(self.nodes[i])
            for j in self.consumers[i]:
                indeg[j] -= 1
                if indeg[j] == 0:
                    heapq.heappush(ready, j)
        return order
