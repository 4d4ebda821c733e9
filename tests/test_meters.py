"""The live meter panel: real figures of a real face, measured off the GUI thread, newest render wins."""

import threading

import numpy as np
import pytest
import torch

pytest.importorskip("PySide6")


def test_meters_read_a_smiling_face_off_the_gui_thread(qtbot, default_fp32, monkeypatch):
    from editor.model import to_uint8
    from editor.qt import meters
    from editor.render import RenderResult

    g = default_fp32
    z = g.z_from_seed(100047)  # by eye: a young woman with a broad smile, facing us
    face = to_uint8(torch.nn.functional.interpolate(g.synthesis(g.mapping(z, psi=0.8)), size=(512, 512),
                                                    mode="area"))[0]
    threads = []
    real = meters.measure_face

    def spy(image, scorers):
        threads.append(threading.get_ident())
        return real(image, scorers)
    monkeypatch.setattr(meters, "measure_face", spy)

    panel = meters.MeterPanel()
    qtbot.addWidget(panel)
    try:
        panel.measure(RenderResult(1, "view", None, 512, [np.full_like(face, 128)]))
        panel.measure(RenderResult(2, "view", None, 512, [face]))
        qtbot.waitUntil(lambda: bool(panel.values), timeout=60_000)
    finally:
        panel.stop()
    assert threads and threading.get_ident() not in threads
    v = panel.values  # only stamp 2's figures are ever shown
    assert v["smile"] > 0.8 and v["p_male"] < 0.3 and 10 < v["age"] < 40 and abs(v["yaw"]) < 15
    assert panel.labels["smile"].text() == f"{v['smile']:.2f}" and panel.labels["age"].text().endswith(" y")
