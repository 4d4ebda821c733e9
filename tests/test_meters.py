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


def test_identity_row_measures_against_the_photo_in_the_edit_and_warns_for_another_person(qtbot, default_fp32):
    from editor.edit import EditState, Source
    from editor.model import to_uint8
    from editor.measures.identity import descriptor
    from editor.qt import meters
    from editor.render import RenderResult

    g = default_fp32
    me, other = (to_uint8(g.synthesis(g.mapping(g.z_from_seed(s), psi=0.7), size=512))[0] for s in (900010, 900012))
    photo = Source.from_latent(np.zeros((g.num_ws, g.w_dim), np.float32), "photo: me.jpg")
    state = EditState.new(g.fingerprint, g.num_ws).with_source("a", photo)
    panel = meters.MeterPanel()
    qtbot.addWidget(panel)
    label = panel.labels["identity"]
    try:
        panel.measure(RenderResult(1, "view", state, 512, [me]))  # no photo known yet: no identity figure
        qtbot.waitUntil(lambda: bool(panel.values), timeout=60_000)
        assert "identity" not in panel.values and "no photo" in label.text()
        assert not label.isVisibleTo(panel) and not panel.items["identity"].isVisibleTo(panel)  # nothing to keep
        panel.remember_photo(photo, descriptor(me))
        panel.measure(RenderResult(2, "view", state, 512, [me]))
        qtbot.waitUntil(lambda: "identity" in panel.values, timeout=60_000)
        assert panel.values["identity"] < 0.1 and "same person" in label.text() and label.styleSheet() == ""
        assert label.isVisibleTo(panel) and panel.items["identity"].isVisibleTo(panel)
        # B takes over when the mix leans to it; a seed B has no photo, so A's photo is still the reference.
        assert panel.reference_for(state.with_group_mix(range(g.num_ws), 1.0)) is panel.photos[photo]
        panel.values = {}
        panel.measure(RenderResult(3, "view", state, 512, [other]))
        qtbot.waitUntil(lambda: "identity" in panel.values, timeout=60_000)
        assert panel.values["identity"] >= 0.6 and "another person" in label.text()
        assert label.styleSheet() == meters.WARNING_STYLE
    finally:
        panel.stop()


def test_drag_frames_are_measured_at_most_every_interval_full_renders_always(qtbot, monkeypatch):
    from editor.qt import meters
    from editor.render import RenderResult

    panel = meters.MeterPanel()
    qtbot.addWidget(panel)
    sent = []
    monkeypatch.setattr(panel.worker, "submit", lambda stamp, image, ref: sent.append(stamp))
    clock = [100.0]
    monkeypatch.setattr(meters.time, "perf_counter", lambda: clock[0])
    frame = [np.zeros((8, 8, 3), np.uint8)]
    for stamp in range(1, 8):  # a drag: a frame every 0.125 s
        panel.measure(RenderResult(stamp, "view", None, 512, frame), full=False)
        clock[0] += 0.125
    assert sent == [1, 4, 7]  # every meters.DRAG_MEASURE_INTERVAL_S (0.3 s)
    panel.measure(RenderResult(8, "view", None, 1024, frame))  # released: the full render, at once
    assert sent[-1] == 8


def test_readings_of_any_width_leave_the_line_where_it_is(qtbot):
    """During a drag the figures change width ("5 y" -> "100 y", "+3°" -> "-45°"): the items keep their places."""
    from editor.qt import meters
    panel = meters.MeterPanel()
    qtbot.addWidget(panel)
    panel.resize(900, 40)
    panel.show()
    panel._full = False  # no lock to tell

    def places(values):
        panel._show(panel._stamp, values)
        qtbot.wait(20)
        return [panel.items[k].geometry().topLeft().toTuple() for k in ("p_male", "smile", "yaw")]
    try:
        narrow = places({"age": 5.0, "p_male": 0.5, "smile": 0.5, "yaw": 3.0})
        wide = places({"age": 100.0, "p_male": 0.5, "smile": 0.5, "yaw": -45.0})
        assert panel.labels["age"].text() == "100 y" and panel.labels["yaw"].text() == "-45°"
        assert narrow == wide
    finally:
        panel.stop()
