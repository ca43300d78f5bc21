"""Scratch folders (shims.runtime.scratch) on real files: private, under $TMPDIR, removed whole,
and a symbolic link inside is removed without touching what it points to."""

from __future__ import annotations

import os
import stat

from shims.runtime.scratch import make_private_dir, private_dir, remove_tree


def test_made_private_under_tmpdir_with_a_fallback(tmp_path):
    made = make_private_dir("shim-x-", {"TMPDIR": str(tmp_path)})
    assert os.path.dirname(made) == str(tmp_path) and os.path.basename(made).startswith("shim-x-")
    assert stat.S_IMODE(os.stat(made).st_mode) == 0o700
    fallback = make_private_dir("shim-x-", {"TMPDIR": str(tmp_path / "missing")})
    try:
        assert os.path.dirname(fallback) == "/tmp"
    finally:
        remove_tree(fallback)


def test_removed_whole_without_following_links(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("mine")
    with private_dir("shim-y-") as scratch:
        os.makedirs(os.path.join(scratch, "a", "b"))
        for rel in ("top.txt", "a/one.txt", "a/b/two.txt"):
            with open(os.path.join(scratch, rel), "w") as f:
                f.write(rel)
        os.symlink(outside, os.path.join(scratch, "a", "link-to-dir"))
        os.symlink(outside / "keep.txt", os.path.join(scratch, "link-to-file"))
        os.chmod(os.path.join(scratch, "a", "b"), 0o500)  # read-only folder: its file stays, no error
    assert (outside / "keep.txt").read_text() == "mine"
    if os.path.exists(scratch):  # root may remove from a read-only folder; others keep that part
        os.chmod(os.path.join(scratch, "a", "b"), 0o700)
        remove_tree(scratch)
    assert not os.path.exists(scratch)
    remove_tree(scratch)  # already gone: no error


def test_a_folder_replaced_by_a_link_is_not_followed(tmp_path):
    target = tmp_path / "target"
    (target / "sub").mkdir(parents=True)
    (target / "keep").write_text("k")
    (target / "sub" / "keep2").write_text("k2")
    link = tmp_path / "scratch"
    link.symlink_to(target)
    remove_tree(str(link))
    assert (target / "keep").exists() and (target / "sub" / "keep2").exists()
