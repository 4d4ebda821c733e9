"""The document and undo stack, and the panels bound to it: one drag is one undo step, seeds are steps of
their own, and the document drives the widgets without echo."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

pytest.importorskip("pytestqt")
from editor.qt.document import Document  # noqa: E402
from editor.qt.panels import AdjustPanel, MixPanel, ModelInfo, SourcePanel  # noqa: E402

from tests.support import FAKE_STATE, GROUPS, NUM_WS, drag  # noqa: E402

pytestmark = pytest.mark.usefixtures("private_home")

# ============================================================================= document and panels
INFO = ModelInfo("fake", "fake", NUM_WS, tuple(2 ** (2 + i // 2) for i in range(NUM_WS)), dict(GROUPS),
                 "cpu", "float32")


@pytest.fixture
def panels(qtbot):
    """The panels bound to one document, wired as MainWindow wires them (doc.changed -> sync)."""
    doc = Document(FAKE_STATE)
    mix, source, adjust = MixPanel(doc, INFO), SourcePanel("a", doc), AdjustPanel(doc)
    for p in (mix, source, adjust):
        qtbot.addWidget(p)
        doc.changed.connect(p.sync)
    return SimpleNamespace(doc=doc, stack=doc.undo_stack, mix=mix, coarse=mix.groups["coarse"],
                           source=source, adjust=adjust)


def test_slider_drag_is_one_undo_step(panels):
    p = panels
    drag(p.coarse, 0.1, 0.3, 0.5)
    expected = FAKE_STATE.with_group_mix(GROUPS["coarse"], 0.5)
    assert p.stack.count() == 1
    assert p.doc.state == expected
    assert not p.doc.dragging

    p.stack.undo()
    assert p.doc.state == FAKE_STATE
    assert p.coarse.value() == 0.0 and p.mix.layers[0].value() == 0.0
    p.stack.redo()
    assert p.doc.state == expected
    assert p.coarse.value() == 0.5 and all(p.mix.layers[i].value() == 0.5 for i in GROUPS["coarse"])
    assert p.mix.layers[4].value() == 0.0
    assert p.stack.count() == 1  # syncing the widgets pushed nothing


def test_two_drags_are_two_undo_steps(panels):
    p = panels
    drag(p.coarse, 0.2, 0.4)
    drag(p.coarse, 0.6, 0.8)
    drag(p.adjust.psi, 0.9, 1.1)
    assert p.stack.count() == 3
    s1 = FAKE_STATE.with_group_mix(GROUPS["coarse"], 0.4)
    s2 = s1.with_group_mix(GROUPS["coarse"], 0.8)
    s3 = s2.with_psi(1.1)
    assert p.doc.state == s3
    p.stack.undo()
    assert p.doc.state == s2 and p.adjust.psi.value() == 0.7 and p.coarse.value() == 0.8
    p.stack.undo()
    assert p.doc.state == s1 and p.coarse.value() == 0.4
    p.stack.undo()
    assert p.doc.state == FAKE_STATE and p.coarse.value() == 0.0
    for _ in range(3):
        p.stack.redo()
    assert p.doc.state == s3 and p.coarse.value() == 0.8 and p.adjust.psi.value() == 1.1


def test_seed_changes_are_separate_steps(panels):
    p = panels
    for seed in (5, 6, 7):
        p.source.seed.setValue(seed)
    assert p.stack.count() == 3
    assert p.doc.state.source_a.seed == 7
    p.stack.undo()
    assert p.doc.state.source_a.seed == 6 and p.source.seed.value() == 6
    p.stack.undo()
    assert p.doc.state.source_a.seed == 5 and p.source.seed.value() == 5
    p.stack.redo()
    assert p.doc.state.source_a.seed == 6 and p.source.seed.value() == 6
    assert p.doc.state == FAKE_STATE.with_source("a", FAKE_STATE.source_a.from_seed(6))
    assert p.stack.count() == 3


def test_document_drives_the_widgets_without_echo(panels):
    p = panels
    seen = []
    p.doc.changed.connect(seen.append)
    new = (FAKE_STATE.with_group_mix(GROUPS["middle"], 0.75).with_layer_mix(12, 0.25).with_psi(0.9)
           .with_noise(mode="off", strength=1.5).with_source("a", FAKE_STATE.source_a.from_seed(42)))
    p.doc.set_state(new, "Load")
    assert p.stack.count() == 1 and seen == [new]  # one command, one change: the widgets did not echo
    assert p.doc.state == new
    assert p.mix.groups["middle"].value() == 0.75 and p.coarse.value() == 0.0
    assert p.mix.layers[12].value() == 0.25 and p.mix.layers[5].value() == 0.75
    assert p.mix.groups["fine"].value() == round(0.25 / 13, 2)  # the mean of its rows
    assert p.adjust.psi.value() == 0.9 and p.adjust.strength.value() == 1.5
    assert p.adjust.noise_mode.currentText() == "off"
    assert p.source.seed.value() == 42
    p.stack.undo()
    assert p.doc.state == FAKE_STATE and len(seen) == 2 and p.stack.count() == 1
    assert p.mix.groups["middle"].value() == 0.0 and p.adjust.noise_mode.currentText() == "const"
    assert p.source.seed.value() == 0


