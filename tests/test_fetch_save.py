"""``ImageResult.save()``: files written whole and exclusively, never through a planted link,
always inside the target folder, never over another file unless ``overwrite=True``."""

from __future__ import annotations

import base64
import hashlib
import os
import threading
from pathlib import Path

import pytest

import llmcfg
from tests.images import png


def result_of(*images: bytes) -> llmcfg.ImageResult:
    generated = tuple(llmcfg.GeneratedImage(b64_json=base64.b64encode(data).decode()) for data in images)
    return llmcfg.ImageResult(images=generated, model="m", alias="a", requested="a")


def name_of(data: bytes, suffix: str = ".png") -> str:
    return hashlib.sha256(data).hexdigest()[:16] + suffix


@pytest.fixture
def victim(tmp_path: Path) -> Path:
    """A file outside the target folder that an attacker wants overwritten."""
    path = tmp_path / "victim.txt"
    path.write_text("precious")
    return path


def only_files(folder: Path) -> list[str]:
    return sorted(entry.name for entry in folder.iterdir())


def test_a_planted_part_link_is_never_written_through(tmp_path: Path, victim: Path) -> None:
    data, folder = png(), tmp_path / "out"
    folder.mkdir()
    (folder / (name_of(data) + ".part")).symlink_to(victim)
    [saved] = result_of(data).save(folder)
    assert victim.read_text() == "precious"
    assert saved == folder / name_of(data)
    assert saved.read_bytes() == data
    assert not saved.is_symlink()
    assert only_files(folder) == sorted([name_of(data), name_of(data) + ".part"])  # no temporary left


@pytest.mark.parametrize("dangling", [False, True])
def test_a_link_at_the_final_name_is_left_alone(tmp_path: Path, victim: Path, dangling: bool) -> None:
    data, folder = png(), tmp_path / "out"
    folder.mkdir()
    target = tmp_path / "nowhere.png" if dangling else victim
    (folder / name_of(data)).symlink_to(target)
    [saved] = result_of(data).save(folder)
    assert saved.name == name_of(data).replace(".png", "-2.png")
    assert saved.read_bytes() == data
    assert not saved.is_symlink()
    assert (folder / name_of(data)).is_symlink()
    assert victim.read_text() == "precious"
    assert not (tmp_path / "nowhere.png").exists()


def test_another_file_of_the_same_name_is_kept_unless_overwrite(tmp_path: Path) -> None:
    data, folder = png(), tmp_path / "out"
    folder.mkdir()
    (folder / name_of(data)).write_bytes(b"someone else's file")
    [saved] = result_of(data).save(folder)
    assert saved.name.endswith("-2.png")
    assert (folder / name_of(data)).read_bytes() == b"someone else's file"
    assert result_of(data).save(folder) == [saved]  # same bytes again: the same file, nothing new
    [forced] = result_of(data).save(folder, overwrite=True)
    assert forced == folder / name_of(data)
    assert forced.read_bytes() == data


def test_saved_files_stay_inside_the_folder_and_no_temporary_remains(tmp_path: Path) -> None:
    images = [png(), png(8, 8), png(8, 8)]
    folder = tmp_path / "deep" / "out"
    saved = result_of(*images).save(folder)
    assert [path.parent.resolve() for path in saved] == [folder.resolve()] * 3
    assert saved[1] == saved[2]
    assert only_files(folder) == sorted({name_of(images[0]), name_of(images[1])})
    assert all(os.stat(path).st_nlink == 1 for path in saved)  # the temporary name is gone


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
def test_a_named_pipe_at_the_final_name_does_not_hang_the_save(tmp_path: Path) -> None:
    """A FIFO planted at the content-hash name: comparing it with the image must not open it for
    a blocking read (that waits forever for a writer); it is left alone and the next name taken."""
    data, folder = png(), tmp_path / "out"
    folder.mkdir()
    os.mkfifo(folder / name_of(data))
    saved: list[Path] = []
    worker = threading.Thread(target=lambda: saved.extend(result_of(data).save(folder)), daemon=True)
    worker.start()
    worker.join(5)
    if worker.is_alive():  # unblock the stuck open() so the thread ends with the test
        os.close(os.open(folder / name_of(data), os.O_WRONLY | os.O_NONBLOCK))
        pytest.fail("save() blocked opening a named pipe planted at the final name")
    assert saved == [folder / name_of(data).replace(".png", "-2.png")]
    assert saved[0].read_bytes() == data
