"""Progress callbacks, cancellation (False, exceptions, Ctrl-C) and the untouched output."""

from __future__ import annotations

import _thread
import threading
import time
from pathlib import Path

import pytest

import ocicompose
from conftest import Images, snapshot

STAGES = ["resolve", "read_base", "read_artifacts", "write_layer", "copy_blobs", "commit"]


def test_stages_are_the_cores() -> None:
    # ocicompose.STAGES comes from the core; a stage added there fails here until the
    # tests below (which expect every stage reported) know it.
    assert ocicompose.STAGES == tuple(STAGES)


class Boom(Exception):
    """Raised by a test's progress callback."""


def existing_output(images: Images, tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """An output layout that already holds one image, and a snapshot of its files."""
    out = tmp_path / "out"
    ocicompose.compose(images.spec(f"oci:{out}", tools=False, tag="before"))
    return out, snapshot(out)


def test_progress_reports_every_stage_with_the_gil_held(images: Images, tmp_path: Path) -> None:
    calls: list[tuple[str, int, int]] = []
    lock = threading.Lock()

    def progress(stage: str, done: int, total: int) -> None:
        # Creating Python objects here proves the GIL is held.
        with lock:
            calls.append((str(stage), int(done), int(total)))

    result = ocicompose.compose(images.spec(f"oci:{tmp_path / 'out'}"), progress=progress)
    assert result.manifest_digest.startswith("sha256:")
    seen = [s for s in STAGES if any(c[0] == s for c in calls)]
    assert seen == STAGES, calls
    assert all(0 <= done <= total for _, done, total in calls), calls
    assert {c[0] for c in calls} <= set(STAGES)
    assert ("commit", 1, 1) in calls


def test_the_gil_is_released_while_composing(images: Images, tmp_path: Path) -> None:
    # compose() blocks this thread; the callback runs on another one and needs the GIL,
    # so it could not run at all unless compose() released it.
    caller = threading.get_ident()
    threads: set[int] = set()
    ocicompose.compose(images.spec(f"oci:{tmp_path / 'out'}"), progress=lambda s, d, t: threads.add(threading.get_ident()))
    assert threads and caller not in threads


def test_returning_false_cancels_and_leaves_the_output(images: Images, tmp_path: Path) -> None:
    out, before = existing_output(images, tmp_path)
    calls: list[str] = []

    def progress(stage: str, done: int, total: int) -> bool:
        calls.append(stage)
        return stage != "write_layer"

    with pytest.raises(ocicompose.CancelledError):
        ocicompose.compose(images.spec(f"oci:{out}", tag="after"), progress=progress)
    assert "write_layer" in calls
    assert snapshot(out) == before


@pytest.mark.parametrize("stage", ["resolve", "read_artifacts", "write_layer", "commit"])
def test_an_exception_in_progress_cancels_and_propagates(images: Images, tmp_path: Path, stage: str) -> None:
    out, before = existing_output(images, tmp_path)

    def progress(s: str, done: int, total: int) -> None:
        if s == stage:
            raise Boom(s)

    with pytest.raises(Boom, match=stage):
        ocicompose.compose(images.spec(f"oci:{out}", tag="after"), progress=progress)
    assert snapshot(out) == before
    # The layout is still usable and still has only the first image.
    assert [e.path for e in ocicompose.list_files(f"oci:{out}:before") if e.path == "/usr/bin/jq"] == []
    with pytest.raises(ocicompose.NotFoundError):
        ocicompose.inspect(f"oci:{out}:after")


def test_only_the_first_exception_is_raised_and_the_callback_stops(images: Images, tmp_path: Path) -> None:
    calls = 0

    def progress(stage: str, done: int, total: int) -> None:
        nonlocal calls
        calls += 1
        raise Boom(f"call {calls}")

    with pytest.raises(Boom, match="call 1$"):
        ocicompose.compose(images.spec(f"oci:{tmp_path / 'out'}"), progress=progress, jobs=4)
    assert calls == 1


def test_ctrl_c_cancels_then_raises_keyboard_interrupt(images: Images, tmp_path: Path) -> None:
    out, before = existing_output(images, tmp_path)
    interrupted = False

    def progress(stage: str, done: int, total: int) -> None:
        nonlocal interrupted
        if not interrupted:
            interrupted = True
            # What Ctrl-C does: flag SIGINT for the main thread. Sleeping releases the
            # GIL, so compose()'s waiting loop runs the handler before the next stage.
            _thread.interrupt_main()
            time.sleep(0.5)

    assert threading.current_thread() is threading.main_thread()
    with pytest.raises(KeyboardInterrupt):
        ocicompose.compose(images.spec(f"oci:{out}", tag="after"), progress=progress)
    assert interrupted
    assert snapshot(out) == before


def test_ctrl_c_is_never_swallowed_without_a_callback(images: Images, tmp_path: Path) -> None:
    # No callback: the interrupt must still stop the compose. Timed from another thread
    # so it lands while compose() waits; if the compose wins the race the interrupt
    # still surfaces as KeyboardInterrupt (it is never swallowed).
    out = tmp_path / "out"
    timer = threading.Timer(0.0, _thread.interrupt_main)
    with pytest.raises(KeyboardInterrupt):
        timer.start()
        try:
            ocicompose.compose(images.spec(f"oci:{out}"))
        finally:
            timer.join()
        # The compose finished before the timer fired: let the pending signal run here.
        time.sleep(1)


def test_a_compose_after_a_cancel_works(images: Images, tmp_path: Path) -> None:
    out = tmp_path / "out"
    with pytest.raises(Boom):
        ocicompose.compose(images.spec(f"oci:{out}"), progress=lambda s, d, t: (_ for _ in ()).throw(Boom()))
    result = ocicompose.compose(images.spec(f"oci:{out}"))
    assert ocicompose.inspect(f"oci:{out}:{result.tag}")
