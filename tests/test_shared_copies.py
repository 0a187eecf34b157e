"""tests/shared/ holds copies of the project's shared files, so a clone runs its suite alone.

The evaluation vectors and the OFREP documents come from `../shared`, a folder beside the
maintainers' checkouts (and beside CI's clone) that a user's clone never has. The suite
reads the copies only; these tests keep each copied folder equal to its `../shared` twin,
file for file and byte for byte, wherever `../shared` exists, so the copies cannot drift.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import IN_CI, OFREP_DOCUMENTS, REPO, SHARED_COPIES, VECTORS, VECTORS_V2

SHARED = REPO.parent / "shared"
COPIED_FOLDERS = ("vectors", "ofrep")


def files_in(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir()) if path.is_file()}


def test_the_tests_read_the_copies_in_the_repository() -> None:
    for folder in COPIED_FOLDERS:
        assert files_in(SHARED_COPIES / folder), f"tests/shared/{folder} is empty"
    for path in (VECTORS, VECTORS_V2, OFREP_DOCUMENTS):
        assert path.exists() and path.is_relative_to(SHARED_COPIES), path


@pytest.mark.parametrize("folder", COPIED_FOLDERS)
def test_the_copies_equal_the_shared_files(folder: str) -> None:
    if not SHARED.is_dir():
        # A clone on its own (every user's, and CI's fresh-clone step): there is no
        # ../shared to drift from, so there is nothing to compare and the test passes. In CI
        # the skip is reported instead, so the log shows that no comparison ran.
        if IN_CI:
            pytest.skip(f"no {SHARED} beside this checkout: the copies cannot be compared")
        return
    shared, copies = files_in(SHARED / folder), files_in(SHARED_COPIES / folder)
    refresh = f"cp ../shared/{folder}/* tests/shared/{folder}/"
    assert sorted(copies) == sorted(shared), f"the file lists differ; run `{refresh}`"
    differing = sorted(name for name in shared if copies[name] != shared[name])
    assert differing == [], f"tests/shared/{folder}: {differing} differ; run `{refresh}`"
