"""Several composes at once from several Python threads."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import ocicompose
from conftest import Images, build_images


def test_threads_composing_at_once_give_the_same_image(images: Images, tmp_path: Path) -> None:
    expected = ocicompose.compose(images.spec(f"oci:{tmp_path / 'serial'}"), jobs=1).manifest_digest
    start = threading.Barrier(6)

    def one(i: int) -> str:
        start.wait()
        return ocicompose.compose(images.spec(f"oci:{tmp_path / f'out{i}'}"), jobs=1 + i % 3).manifest_digest

    with ThreadPoolExecutor(max_workers=6) as pool:
        digests = list(pool.map(one, range(6)))
    assert digests == [expected] * 6


def test_threads_with_progress_callbacks_and_a_failure(tmp_path: Path) -> None:
    # One thread's callback raises; the others finish, each with its own progress calls.
    images = build_images(tmp_path / "images")
    seen: dict[int, int] = {i: 0 for i in range(4)}
    lock = threading.Lock()

    class Stop(Exception):
        pass

    def one(i: int) -> object:
        def progress(stage: str, done: int, total: int) -> None:
            with lock:
                seen[i] += 1
            if i == 0 and stage == "write_layer":
                raise Stop()

        try:
            return ocicompose.compose(images.spec(f"oci:{tmp_path / f'out{i}'}"), progress=progress)
        except Stop as e:
            return e

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(one, range(4)))
    assert isinstance(results[0], Stop)
    assert not (tmp_path / "out0" / "index.json").exists()
    digests = {r.manifest_digest for r in results[1:] if isinstance(r, ocicompose.ComposeResult)}
    assert len(digests) == 1
    assert all(n > 0 for n in seen.values())


def test_other_threads_run_while_composing(images: Images, tmp_path: Path) -> None:
    # A pure-Python thread keeps counting while compose() works: the count read at the
    # first and the last progress call differ, so Python ran between them.
    ticks = 0
    stop = threading.Event()
    seen: list[int] = []

    def count() -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            time.sleep(0.0001)

    def progress(stage: str, done: int, total: int) -> None:
        seen.append(ticks)
        time.sleep(0.002)  # a slow callback, as a progress bar's redraw can be

    counter = threading.Thread(target=count)
    counter.start()
    try:
        ocicompose.compose(images.spec(f"oci:{tmp_path / 'out'}"), jobs=1, progress=progress)
    finally:
        stop.set()
        counter.join()
    assert len(seen) > 2
    assert seen[-1] > seen[0]
