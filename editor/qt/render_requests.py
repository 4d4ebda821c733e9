"""What the main window asks of the render scheduler, and what it does with the answers: the view's renders
(drags render full frames unless a preview size is trusted), gallery pages a few thumbnails at a time, jobs,
and long background work, each in its slot of the one scheduler (editor.pipeline.scheduler: view >
gallery > job > background). A mixin of MainWindow: these methods use its worker, document, view and
status bar.
"""

from __future__ import annotations

from ..render import PREVIEW_SIZE, RenderRequest, RenderResult

PREVIEW_BUDGET_MS = 80  # drag previews must keep up >= 10 per second with GUI work on top
GALLERY_SIZE = 256
GALLERY_CHUNK = 3  # thumbnails a render request
SLOW_RENDER_MS = 2000  # a full render slower than this gets a one-time note in the status bar
EXACT_UPSCALE = 1.5  # an exact half-size frame is used while the face on screen is at most this much larger
# ... and up to this much larger where full frames cannot keep up (a CPU): softer while dragging, sharp on
# release, rather than 5-8 frames/s. Beyond it (zoomed in past the full render's own pixels) frames are full.
EXACT_UPSCALE_SLOW = 2.0


class RenderRequests:
    def _request(self, full: bool) -> None:
        size = None if full else self._preview_size()
        key = (self.doc.state, size)
        if size is None and key == self._last_full_request:
            return  # this exact full render is already on screen or on its way (drags render full too)
        self._last_full_request = key if size is None else None
        self._view_stamp = next(self._stamps)
        self.worker.submit(RenderRequest(self._view_stamp, self.doc.state, size))
        if not self.busy.isVisible():
            self._busy_timer.start()

    def _preview_size(self) -> int | None:
        """What a drag renders. An *exact* size (the full render's own area-downsample, e.g. MobileStyleGAN's
        half size from its wavelet low band) when the face on screen is at most EXACT_UPSCALE times larger
        than it: the same face without detail the screen could barely show (21% less render time, a quarter of the
        pixels to convert and paint); up to EXACT_UPSCALE_SLOW times larger when full renders are slower than
        the drag budget (2 AVX512-BF16 cores at 1400x900: 7.7-8.3 full frames/s, 7.1-9.3 exact ones on a
        noisier day). Else the largest *trusted* preview (measured faithful to the full
        render, editor.model.fidelity) whose recent render time fits the budget, else the fastest trusted
        one. None: drags render the full image (each frame the face the user will get; the last one stays
        on screen, with the busy sign, until the next is ready)."""
        shown = self.view.shown_pixels()
        full_keeps_up = self._render_ms.get(self.gen.resolution, float("inf")) <= PREVIEW_BUDGET_MS
        upscale = EXACT_UPSCALE if full_keeps_up else EXACT_UPSCALE_SLOW
        exact = [s for s in self.gen.exact_sizes if s * upscale >= shown]
        if exact:
            return min(exact)
        sizes = sorted((s for s in self.gen.trusted_preview_sizes if s <= PREVIEW_SIZE), reverse=True)
        for s in sizes:
            if self._render_ms.get(s, 0.0) <= PREVIEW_BUDGET_MS:
                return s
        return sizes[-1] if sizes else None

    def _request_gallery(self, seeds: tuple) -> None:
        self._gallery_page = {"seeds": tuple(seeds), "images": []}
        self._request_gallery_chunk()

    def _request_gallery_chunk(self) -> None:
        """A page renders a few thumbnails at a time, each chunk a request of the gallery slot: a view render
        stops a chunk under way at its next block (the chunk runs again after it), so a drag right after start
        or a page turn never waits for thumbnails."""
        page = self._gallery_page
        chunk = page["seeds"][len(page["images"]):len(page["images"]) + GALLERY_CHUNK]
        if chunk:
            size = GALLERY_SIZE if GALLERY_SIZE in self.gen.preview_sizes else None
            self.worker.submit(RenderRequest(next(self._stamps), self.doc.state, size, "gallery", chunk))

    def run_job(self, name: str, job, on_done) -> None:
        """Run job(gen) on the scheduler's thread (slot "job:<name>": after the view and the gallery; a view
        render stops it at its next block and it runs again after); on_done(value, error) back on the GUI
        thread. A job must not keep partial results across a restart."""
        stamp = next(self._stamps)
        self._jobs[stamp] = (name, on_done)
        self.worker.submit(RenderRequest(stamp, self.doc.state, None, f"job:{name}", job=job))

    def run_background(self, name: str, job, on_done) -> None:
        """Run job(gen) in the scheduler's background slot (seconds to minutes of work: it pauses for the
        view's renders, so the view stays live); on_done(value, error) back on the GUI thread. A waiting job
        of the same name is replaced, a running one stopped."""
        stamp = next(self._stamps)
        for s in [s for s, (n, _) in self._jobs.items() if n == f"bg:{name}"]:
            del self._jobs[s]  # replaced unstarted, or running and superseded: its result is dropped
        self._jobs[stamp] = (f"bg:{name}", on_done)
        self.background.submit(name, stamp, job)

    def _background_gen(self):
        """The model background work runs on: the view's own. Renders of photo sources take their deltas as
        per-call inputs (editor.model.call_inputs) and never change its weights, so no copy is needed."""
        return self.gen

    def _on_background_done(self, stamp: int, value, error) -> None:
        _name, callback = self._jobs.pop(stamp, (None, None))
        if callback is not None:
            callback(value, error)

    def _on_rendered(self, result: RenderResult) -> None:
        if result.kind.startswith("job:"):
            name, callback = self._jobs.pop(result.stamp, (None, None))
            # Same-name jobs submitted before this one were replaced unstarted (one thread, in order).
            for stamp in [s for s, (n, _) in self._jobs.items() if n == name and s < result.stamp]:
                del self._jobs[stamp]
            if callback is not None:
                callback(result.value, result.error)
            return
        if result.kind == "gallery":
            page = self._gallery_page
            done = len(page["images"])
            if result.error is None and result.seeds == page["seeds"][done:done + len(result.seeds)]:
                page["images"].extend(result.images)
                self.gallery.set_thumbnails(page["seeds"], page["images"])
                self._request_gallery_chunk()
            return
        if result.stamp >= self._view_stamp:
            self._busy_timer.stop()
            self.busy.hide()
        if result.state.model_fingerprint == self.gen.fingerprint and not result.error:
            self._note_ms(result.size, result.ms)  # stale frames too: they took as long
        if result.stamp < self._shown_stamp or result.state.model_fingerprint != self.gen.fingerprint:
            return  # stale: a newer image is on screen, or it was asked of the previous model
        if result.error:
            self._last_full_request = None  # let the same full render be asked for again
            self.statusBar().showMessage(f"Render failed: {result.error}", 10_000)
            if result.size == self.gen.resolution and result.state == self.doc.state:
                self.full_render_failed.emit(result.error)
            return
        self._shown_stamp = result.stamp
        self._on_screen = result.images[0]
        if not self.compare_action.isChecked():
            self.view.show_image(result.images[0])
        full = result.size == self.gen.resolution
        exact = result.size in self.gen.exact_sizes
        self.plot.add("full" if full else "preview", result.ms)
        if exact:
            self.meters.measure(result, full=False)  # the read-outs follow the drag
        kind = "full" if full else "exact" if exact else "preview"
        self.ms_label.setText(f"{kind} {result.size}² · {self.info.dtype} · {result.ms:.0f} ms")
        self.ms_label.setToolTip("What is on screen: the full render; while dragging, 'exact': the full render "
                                 "computed at a smaller size (its own area-downsample, identical to shrinking it), "
                                 "or a preview measured faithful to it (trusted preview sizes: "
                                 f"{list(self.gen.trusted_preview_sizes) or 'none'})")
        if full:
            self.last_full = result
            self.source_faces.offer(result.state, result.images[0])  # A alone is often the view itself
            self.full_render_shown.emit(result)
            if result.ms > SLOW_RENDER_MS and not getattr(self, "_slow_noted", False):
                self._slow_noted = True  # once per model: the render-time plot keeps showing it
                self.statusBar().showMessage(
                    f"This model is slow here: {result.ms / 1000:.1f} s per full {result.size}² render on "
                    f"{self.info.device}" + (" (StyleGAN3 on a CPU is)" if self.gen.supports_input_transform
                                             else "") + "; edits show when each render finishes", 15_000)

    def _note_ms(self, size: int, ms: float) -> None:
        """Running mean render time per size, full renders included: whether those keep up decides what a
        drag shows where the face is large (_preview_size)."""
        old = self._render_ms.get(size, ms)
        self._render_ms[size] = 0.7 * old + 0.3 * ms

    def current_full_render(self) -> RenderResult | None:
        """The full-resolution render of exactly the current state, if it is on screen."""
        r = self.last_full
        return r if r is not None and r.state == self.doc.state else None

    # ---------------------------------------------------------------------------------- syncing
