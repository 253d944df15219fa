"""Readers and writers: PFM, KITTI 16-bit PNG, images; clear errors on bad files."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from stereo_tv.cli import UserError
from stereo_tv.io import (
    read_disparity,
    read_image,
    read_kitti_disp,
    read_pfm,
    write_image,
    write_kitti_disp,
    write_pfm,
)


def test_pfm_round_trip_gray_and_colour(tmp_path):
    rng = np.random.default_rng(0)
    gray = rng.normal(size=(9, 7)).astype(np.float32)
    colour = rng.normal(size=(5, 3, 3)).astype(np.float32)
    write_pfm(tmp_path / "g.pfm", gray)
    write_pfm(tmp_path / "c.pfm", colour)
    assert np.array_equal(read_pfm(tmp_path / "g.pfm"), gray)
    assert np.array_equal(read_pfm(tmp_path / "c.pfm"), colour)


def test_pfm_big_endian_and_bottom_to_top_rows(tmp_path):
    # rows are stored bottom first; a positive scale means big-endian
    data = np.array([[3.0, 4.0], [1.0, 2.0]], dtype=">f4")  # stored order: last row first
    (tmp_path / "b.pfm").write_bytes(b"Pf \n2 2 \n1.0\n" + data.tobytes())
    assert read_pfm(tmp_path / "b.pfm").tolist() == [[1.0, 2.0], [3.0, 4.0]]


def test_pfm_errors(tmp_path):
    (tmp_path / "bad.pfm").write_bytes(b"P6\n2 2\n255\n" + bytes(12))
    with pytest.raises(UserError, match="bad header"):
        read_pfm(tmp_path / "bad.pfm")
    (tmp_path / "short.pfm").write_bytes(b"Pf\n4 4\n-1\n" + bytes(8))
    with pytest.raises(UserError, match="truncated"):
        read_pfm(tmp_path / "short.pfm")
    with pytest.raises(FileNotFoundError):
        read_pfm(tmp_path / "absent.pfm")


def test_kitti_png_round_trip_and_validity(tmp_path):
    disp = np.array([[0.0, 1.5, 100.25], [np.nan, -3.0, 255.99609375]], dtype=np.float32)
    write_kitti_disp(tmp_path / "d.png", disp)
    raw = cv2.imread(str(tmp_path / "d.png"), cv2.IMREAD_UNCHANGED)
    assert raw.dtype == np.uint16 and raw.tolist() == [[0, 384, 25664], [0, 0, 65535]]
    out, valid = read_kitti_disp(tmp_path / "d.png")
    assert out.tolist() == [[0.0, 1.5, 100.25], [0.0, 0.0, 255.99609375]]
    assert valid.tolist() == [[False, True, True], [False, False, True]]


def test_kitti_reader_rejects_8bit(tmp_path):
    cv2.imwrite(str(tmp_path / "rgb.png"), np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(UserError, match="not a KITTI disparity map"):
        read_kitti_disp(tmp_path / "rgb.png")


def test_middlebury_inf_is_invalid(tmp_path):
    write_pfm(tmp_path / "disp0GT.pfm", np.array([[np.inf, 2.5], [0.0, 7.0]], np.float32))
    disp, valid = read_disparity(tmp_path / "disp0GT.pfm")
    assert disp.tolist() == [[0.0, 2.5], [0.0, 7.0]]
    assert valid.tolist() == [[False, True], [False, True]]


def test_read_image_rgb_rgba_gray_and_16bit(tmp_path):
    rgb = np.zeros((3, 5, 3), np.uint8)
    rgb[..., 0] = 200  # red
    write_image(tmp_path / "rgb.png", rgb)
    assert np.array_equal(read_image(tmp_path / "rgb.png"), rgb)
    rgba = np.dstack([cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), np.full((3, 5), 7, np.uint8)])
    cv2.imwrite(str(tmp_path / "rgba.png"), rgba)
    assert np.array_equal(read_image(tmp_path / "rgba.png"), rgb)
    cv2.imwrite(str(tmp_path / "gray.png"), np.full((3, 5), 9, np.uint8))
    assert read_image(tmp_path / "gray.png").shape == (3, 5)
    cv2.imwrite(str(tmp_path / "g16.png"), np.full((3, 5), 256 * 9, np.uint16))
    assert read_image(tmp_path / "g16.png").max() == 9


def test_read_image_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_image(tmp_path / "absent.png")
    (tmp_path / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    with pytest.raises(UserError, match="corrupt"):
        read_image(tmp_path / "corrupt.png")
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(UserError, match="corrupt"):
        read_image(tmp_path / "empty.png")
