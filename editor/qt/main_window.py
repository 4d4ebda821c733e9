"""The main window: face view in the middle, controls on the right, gallery on the left.

Data flows one way: control -> Document (new EditState) -> RenderRequest -> RenderWorker (the scheduler's
view slot) -> stamped RenderResult -> view. While a slider is held the worker renders the preview size; once input rests
(or the slider is released) it renders full resolution.
"""

from __future__ import annotations

import itertools

from PySide6.QtCore import QSettings, Qt, QTimer, Signal
from PySide6.QtWidgets import (QDockWidget, QGroupBox, QLabel, QMainWindow, QMessageBox, QProgressBar, QScrollArea,
                               QVBoxLayout, QWidget)

from ..directions import load_library
from ..edit import EditState, Source
from ..render import RenderResult, render
from .direction_tools import FitDirectionsRunner, SefaPanel, TeachPanel
from .document import Document
from .files import FileActions
from .gallery import Gallery
from .gui_gc import collect_in_gui_thread
from .photo_import import PhotoImporter
from .background import BackgroundWorker
from .blend_panel import BlendPanel
from .breed_panel import BreedPanel
from .lock_loop import LockLoop
from .menus import build_menus, redo_shortcuts  # noqa: F401 - redo_shortcuts: tests import it here
from .meters import MeterPanel
from .panels import AdjustPanel, DirectionsPanel, MixPanel, ModelInfo, PaintPanel, SourcePanel
from .render_worker import RenderWorker
from .render_requests import RenderRequests
from .source_faces import SourceFaces
from .viewer import FaceView, RenderTimePlot

REST_MS = 200  # input counts as resting after this long without a change
BUSY_AFTER_MS = 150  # the busy sign appears only for renders the user would notice waiting for
GALLERY_WIDTH = 200
CONTROLS_WIDTH = 350  # the controls dock: with a ~200 px gallery, a 1024 px window leaves the face ~470 px


class MainWindow(RenderRequests, QMainWindow):
    full_render_shown = Signal(object)  # RenderResult, once a full-resolution image is on screen
    full_render_failed = Signal(str)    # the error of a full render of the current edit

    def __init__(self, gen, state: EditState | None = None, settings: QSettings | None = None):
        super().__init__()
        collect_in_gui_thread()  # before any worker thread starts allocating
        self.setWindowTitle("Face editor")
        self.settings = settings or QSettings("face-editor", "face-editor")
        self.gen = gen
        self.info = ModelInfo.of(gen)
        self.library_dirs, problems = load_library(gen.name, gen.fingerprint, gen.w_dim, gen.num_ws)
        self.sefa_dirs: dict = {}
        self.directions = dict(self.library_dirs)
        self.doc = Document(state or EditState.new(gen.fingerprint, gen.num_ws, seed_a=0, seed_b=1))
        self._stamps = itertools.count(1)
        self._shown_stamp = 0
        self._render_ms: dict[int, float] = {}  # running mean render time per size (full included)
        self._jobs: dict = {}  # stamp -> (job name, callback(value, error))
        self.last_full: RenderResult | None = None
        self._last_full_request = None  # (state, None) of the newest full render asked for
        self._gallery_page = {"seeds": (), "images": []}  # the page being rendered, chunk by chunk
        self.blend_gen = None  # a blended generator the face is rendered with (BlendPanel), or None
        self.animation_dialog = None  # File › Export animation…, made on first use
        self.worker = RenderWorker(self._render_fn())
        self.worker.rendered.connect(self._on_rendered)
        # Long work shares the render worker's one thread, ranked behind the view (editor.pipeline.scheduler).
        self.background = BackgroundWorker(self._background_gen, self.worker.scheduler, self)
        self.background.done.connect(self._on_background_done)
        self._rest = QTimer(self, singleShot=True, interval=REST_MS)
        self._rest.timeout.connect(lambda: self._request(full=True))

        self.view = FaceView(gen.resolution)
        self._build_controls()
        central = QWidget()
        column = QVBoxLayout(central)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(0)
        column.addWidget(self.view, 1)
        column.addWidget(self.meters)  # beside the face: in sight whichever control is dragged
        self.setCentralWidget(central)
        self._build_gallery()
        self._build_status()
        self.lock_loop = LockLoop(self)
        self.source_faces = SourceFaces(self)
        self.source_faces.changed.connect(self._show_source_faces)
        self._on_screen = None  # the newest result image, shown unless the compare view is on
        self.files = FileActions(self)
        self.photos = PhotoImporter(self)
        self._build_menus()
        self.setAcceptDrops(True)
        self.doc.changed.connect(self._on_state)
        self.doc.undo_stack.cleanChanged.connect(self._on_clean_changed)
        self._sync(self.doc.state)
        self._request(full=True)
        self.source_faces.update(self.doc.state)
        self.gallery.show_page(0)
        for p in problems:
            self.statusBar().showMessage(p, 10_000)
        geometry = self.settings.value("window/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        else:
            self.resize(1400, 900)
        # Docks at their narrowest useful width: the face gets the rest of the window.
        self.resizeDocks([self.gallery_dock, self.controls_dock], [GALLERY_WIDTH, CONTROLS_WIDTH], Qt.Horizontal)
        state = self.settings.value("window/state")
        if state is not None:
            self.restoreState(state)  # the docks as the user left them: a closed gallery stays closed

    # ---------------------------------------------------------------------------------- building
    def _render_fn(self):
        gen, blended, directions = self.gen, self.blend_gen, self.directions
        # Only the face on screen is blended: thumbnails pick identities, jobs (projection, SeFa,
        # teaching) work in the base model's latent space.
        return lambda request: render(blended if blended is not None and request.kind == "view" else gen,
                                      request, directions)

    def _refresh_render_fn(self) -> None:
        """New model, blend or directions: the same edit may now render differently."""
        self.worker.set_render_fn(self._render_fn())
        self._last_full_request = None

    def _build_controls(self) -> None:
        box = QWidget()
        layout = QVBoxLayout(box)
        self.source_a, self.source_b = SourcePanel("a", self.doc), SourcePanel("b", self.doc)
        self.mix = MixPanel(self.doc, self.info)
        self.breed = BreedPanel(self.doc, self.gen.layer_groups, self.gen.w_dim)
        self.adjust = AdjustPanel(self.doc)
        self.adjust.set_transform_supported(self.gen.supports_input_transform)
        self.paint = PaintPanel(self.doc)
        self.blend = BlendPanel(self)
        self.directions_panel = DirectionsPanel(self.doc)
        self.directions_panel.set_directions(self.library_dirs)
        self.meters = MeterPanel()
        self.full_render_shown.connect(self.meters.measure)
        self.sefa = SefaPanel(self)
        self.sefa.directions_changed.connect(self._set_sefa)
        self.teach = TeachPanel(self)
        self.fit_runner = FitDirectionsRunner(self)
        for w in (self.source_a, self.source_b, self.mix, self.breed, self.adjust, self.directions_panel,
                  self.paint, self.blend, self.sefa, self.teach):
            layout.addWidget(w)
        layout.addStretch(1)
        self.plot = RenderTimePlot()
        timing = QGroupBox("Render time (ms)")
        QVBoxLayout(timing).addWidget(self.plot)
        layout.addWidget(timing)
        scroll = QScrollArea()
        scroll.setWidget(box)
        scroll.setWidgetResizable(True)
        scroll.setMinimumWidth(CONTROLS_WIDTH)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)  # the panels fit its width; never scroll sideways
        dock = QDockWidget("Controls", self)
        dock.setObjectName("controls")
        dock.setFeatures(QDockWidget.DockWidgetMovable | QDockWidget.DockWidgetFloatable)
        dock.setWidget(scroll)
        self.addDockWidget(Qt.RightDockWidgetArea, dock)
        self.controls_dock = dock

    def _build_gallery(self) -> None:
        self.gallery = Gallery()
        self.gallery.picked.connect(self._pick_from_gallery)
        self.gallery.page_requested.connect(self._request_gallery)
        self.gallery_dock = QDockWidget("Gallery", self)
        self.gallery_dock.setObjectName("gallery")
        self.gallery_dock.setWidget(self.gallery)
        self.addDockWidget(Qt.LeftDockWidgetArea, self.gallery_dock)

    def _build_status(self) -> None:
        bar = self.statusBar()
        self.model_label = QLabel()
        self.ms_label = QLabel("—")
        self.ms_label.setMinimumWidth(150)
        self.busy = QProgressBar()  # indeterminate: shown while the face on screen is not yet the edit's
        self.busy.setRange(0, 0)
        self.busy.setMaximumWidth(90)
        self.busy.setTextVisible(False)
        self.busy.setToolTip("Rendering the current edit")
        self.busy.hide()
        self._busy_timer = QTimer(self, singleShot=True, interval=BUSY_AFTER_MS)
        self._busy_timer.timeout.connect(self.busy.show)
        self._view_stamp = 0  # the newest view request
        bar.addPermanentWidget(self.busy)
        bar.addPermanentWidget(self.model_label)
        bar.addPermanentWidget(self.ms_label)
        self._update_model_label()

    def _update_model_label(self) -> None:
        i = self.info
        blended = f" + {self.blend_gen.info['blended_with']}" if self.blend_gen is not None else ""
        self.model_label.setText(f"{i.name}{blended} · {self.gen.resolution}² · {i.device} {i.dtype}")
        self.model_label.setToolTip(f"fingerprint {i.fingerprint}")

    def _build_menus(self) -> None:
        build_menus(self)

    # ---------------------------------------------------------------------------------- rendering
    def _on_state(self, state: EditState) -> None:
        if self.compare_action.isChecked():
            self.compare_action.setChecked(False)
            self.show_before(False)
        self._sync(state)
        self._update_title()
        self.files.schedule_autosave()
        if self.doc.dragging:
            self._request(full=False)
            self._rest.start()
        else:
            self._rest.stop()
            self._request(full=True)
        self.source_faces.update(state)  # after the view's request: the worker takes that first

    def show_before(self, on: bool) -> None:
        """The compare toggle: face A unedited in place of the result, or back."""
        before = self.source_faces.images["a"]
        if on and before is None:
            self.compare_action.setChecked(False)
            self.statusBar().showMessage("Face A on its own is still rendering; try again in a moment", 4000)
            return
        image = before if on else self._on_screen
        if image is not None:
            self.view.show_image(image)
        if on:
            self.statusBar().showMessage("Showing A before the edit (\\ again, or any edit, returns)", 4000)

    def _show_source_faces(self) -> None:
        for which, panel in (("a", self.source_a), ("b", self.source_b)):
            if self.source_faces.images[which] is not None:
                panel.set_face(self.source_faces.images[which])
        if self.compare_action.isChecked():
            self.view.show_image(self.source_faces.images["a"])

    def _sync(self, state: EditState) -> None:
        for panel in (self.source_a, self.source_b, self.mix, self.breed, self.adjust, self.directions_panel,
                      self.paint, self.sefa):
            panel.sync(state)
        self.gallery.mark(*(s.seed if s.kind == "seed" else None for s in (state.source_a, state.source_b)))

    def _on_clean_changed(self, clean: bool) -> None:
        self.setWindowModified(not clean)  # a slot of ours: Qt disconnects it when the window goes

    def _update_title(self, *_) -> None:
        s = self.doc.state
        # [*] shows as "*" while the edit has changes not saved in a session or an exported image.
        self.setWindowTitle(f"Face editor — {s.source_a.display_name} × {s.source_b.display_name}[*]")

    def _pick_from_gallery(self, seed: int, which: str) -> None:
        self.doc.set_state(self.doc.state.with_source(which, Source.from_seed(seed)),
                           f"Seed {which.upper()} {seed} from gallery")

    def set_generator(self, gen, state: EditState | None = None) -> None:
        """Swap in another model: new widgets for its layers, directions, and a fresh history."""
        self.gen, self.info = gen, ModelInfo.of(gen)
        self.blend_gen = None
        self.blend.reset()
        self.library_dirs, problems = load_library(gen.name, gen.fingerprint, gen.w_dim, gen.num_ws)
        self.sefa_dirs = {}
        self.directions = dict(self.library_dirs)
        self._refresh_render_fn()
        old_mix = self.mix
        self.mix = MixPanel(self.doc, self.info)
        old_mix.parentWidget().layout().replaceWidget(old_mix, self.mix)
        old_mix.deleteLater()
        self.directions_panel.set_directions(self.library_dirs)
        self.sefa._found({}, None)
        self.sefa.model_changed()
        self.view.set_world_size(gen.resolution)
        self.last_full, self._render_ms = None, {}  # stamps keep increasing: old results stay stale
        self._update_model_label()
        self.breed.set_model(gen.layer_groups, gen.w_dim)
        self.adjust.set_transform_supported(gen.supports_input_transform)
        self._slow_noted = False
        self.doc.reset(state or EditState.new(gen.fingerprint, gen.num_ws))
        self.gallery.show_page(self.gallery.page)
        for p in problems:
            self.statusBar().showMessage(p, 10_000)

    def set_blend(self, blended) -> None:
        """Render the face with a blended generator (editor.model.blend), or the plain model (None)."""
        self.blend_gen = blended
        self._refresh_render_fn()
        self.last_full, self._render_ms = None, {}
        self._shown_stamp = next(self._stamps)  # anything rendered before now is of the other generator
        self._update_model_label()
        self._request(full=True)

    def set_directions(self, directions: dict) -> None:
        """New library directions (after an import, a fit, a save); SeFa components stay."""
        self.library_dirs = directions
        self.directions = {**directions, **self.sefa_dirs}
        self._refresh_render_fn()
        self.directions_panel.set_directions(directions)

    def reload_directions(self) -> None:
        directions, problems = load_library(self.gen.name, self.gen.fingerprint, self.gen.w_dim, self.gen.num_ws)
        self.set_directions(directions)
        for p in problems:
            self.statusBar().showMessage(p, 10_000)

    def _set_sefa(self, directions: dict) -> None:
        # Amounts on components that are gone would name directions the renderer no longer has.
        state = self.doc.state
        for name, _ in state.directions:
            if name.startswith("sefa") and name not in directions:
                state = state.with_direction(name, 0.0)
        self.sefa_dirs = directions
        self.directions = {**self.library_dirs, **directions}
        self._refresh_render_fn()
        if state != self.doc.state:
            self.doc.set_state(state, "New SeFa components")

    # ---------------------------------------------------------------------------------- events
    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        for url in event.mimeData().urls():
            if url.isLocalFile():
                self.files.open_any(url.toLocalFile())
        event.acceptProposedAction()

    def closeEvent(self, event) -> None:
        if not self.doc.undo_stack.isClean():
            answer = self.ask_unsaved()
            if answer == "save":
                self.files.save_session_dialog()
                if not self.doc.undo_stack.isClean():  # the user cancelled the file dialog
                    event.ignore()
                    return
            elif answer != "discard":
                event.ignore()  # cancel: the edit, and its autosave, stay
                return
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/state", self.saveState())
        self.files.clean_exit()  # saved or discarded: nothing to recover next time
        self.worker.stop()  # the scheduler's thread: stops its work at the next network block, then ends
        if self.animation_dialog is not None:
            self.animation_dialog.stop()  # an export under way is cancelled; its partial file removed
        self.meters.stop()
        # Drop the undo history while every command is alive: left for the garbage collector, the stack
        # could be destroyed after some of its (Python) commands and delete them again (a segfault, seen
        # when test windows were deleted).
        self.doc.undo_stack.clear()
        super().closeEvent(event)

    def ask_unsaved(self) -> str:
        """'save', 'discard' or 'cancel' for an edit not saved since its last change."""
        box = QMessageBox(QMessageBox.Warning, "Unsaved edit",
                          "This edit has changes that are not saved in a session or an exported image.",
                          QMessageBox.Save | QMessageBox.Discard | QMessageBox.Cancel, self)
        box.setInformativeText("Save it as a session first? (Discard also forgets the crash-recovery copy.)")
        box.setDefaultButton(QMessageBox.Save)
        return {QMessageBox.Save: "save", QMessageBox.Discard: "discard"}.get(box.exec(), "cancel")

    def error(self, title: str, message: str) -> None:
        QMessageBox.warning(self, title, message)
