"""Cameras, back-projection, .ply files, renders and the point-cloud command line."""

from dataclasses import astuple

import cv2
import numpy as np
import pytest

from stereo_tv.cli import run_cli
from stereo_tv.viz import render as render_mod
from stereo_tv.viz.camera import StereoCamera, reproject
from stereo_tv.viz.pointcloud import (
    PointCloud,
    disparity_to_pointcloud,
    get_args_parser,
    main,
    read_ply,
    render_png,
    save_pointcloud,
    write_ply,
)
from stereo_tv.viz.render import View, look_at, splat

CAM = StereoCamera(f=50.0, cx=5.5, cy=3.25, baseline=0.2)

# A KITTI calib_cam_to_cam.txt in the real layout (values of the form found in the raw data).
KITTI_CALIB = """calib_time: 09-Jan-2012 13:57:47
corner_dist: 9.950000e-02
S_00: 1.392000e+03 5.120000e+02
K_00: 9.842439e+02 0.000000e+00 6.900000e+02 0.000000e+00 9.808141e+02 2.331966e+02 0.000000e+00 0.000000e+00 1.000000e+00
D_00: -3.728755e-01 2.037299e-01 2.219027e-03 1.383707e-03 -7.233722e-02
R_00: 1.000000e+00 0.000000e+00 0.000000e+00 0.000000e+00 1.000000e+00 0.000000e+00 0.000000e+00 0.000000e+00 1.000000e+00
T_00: 2.573699e-16 -1.059758e-16 1.614870e-16
S_rect_00: 1.242000e+03 3.750000e+02
R_rect_00: 9.999239e-01 9.837760e-03 -7.445048e-03 -9.869795e-03 9.999421e-01 -4.278459e-03 7.402527e-03 4.351614e-03 9.999631e-01
P_rect_00: 7.215377e+02 0.000000e+00 6.095593e+02 0.000000e+00 0.000000e+00 7.215377e+02 1.728540e+02 0.000000e+00 0.000000e+00 0.000000e+00 1.000000e+00 0.000000e+00
S_rect_02: 1.242000e+03 3.750000e+02
P_rect_02: 7.215377e+02 0.000000e+00 6.095593e+02 4.485728e+01 0.000000e+00 7.215377e+02 1.728540e+02 2.163791e-01 0.000000e+00 0.000000e+00 1.000000e+00 2.745884e-03
S_rect_03: 1.242000e+03 3.750000e+02
P_rect_03: 7.215377e+02 0.000000e+00 6.095593e+02 -3.395242e+02 0.000000e+00 7.215377e+02 1.728540e+02 2.199936e+00 0.000000e+00 0.000000e+00 1.000000e+00 2.729905e-03
"""  # noqa: E501


def _plane(h=7, w=13, d=4.0):
    return np.full((h, w), d, dtype=np.float32)


def _rgb(h=7, w=13):
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)


# --------------------------------------------------------------------------- geometry
def test_fronto_parallel_plane_back_projects_to_the_plane():
    disp, rgb = _plane(), _rgb()
    cloud = disparity_to_pointcloud(disp, rgb, CAM)
    z = CAM.f * CAM.baseline / 4.0                      # 2.5
    # columns x < d have no match in the right image and are dropped
    assert len(cloud) == 7 * (13 - 4)
    assert cloud.pixels[:, 1].min() == 4
    np.testing.assert_allclose(cloud.points[:, 2], z, rtol=1e-6)
    rows, cols = cloud.pixels[:, 0], cloud.pixels[:, 1]
    np.testing.assert_allclose(cloud.points[:, 0], (cols - CAM.cx) * z / CAM.f, rtol=1e-6)
    np.testing.assert_allclose(cloud.points[:, 1], (rows - CAM.cy) * z / CAM.f, rtol=1e-6)
    assert np.array_equal(cloud.colors, rgb[rows, cols])


def test_reproject_matches_opencv():
    disp = np.random.default_rng(1).uniform(1, 20, size=(9, 7)).astype(np.float32)
    cam = StereoCamera(f=80.0, cx=3.3, cy=4.1, baseline=0.3, doffs=2.5)
    ours = reproject(disp, cam)
    ref = cv2.reprojectImageTo3D(disp, cam.to_q())
    np.testing.assert_allclose(ours, ref, rtol=1e-5)


def test_invalid_pixels_max_depth_mask_and_lr_check():
    disp = _plane()
    disp[0, 10] = np.nan
    disp[1, 10] = -3.0
    disp[2, 10] = 1.0                       # Z = 10, beyond max_depth
    valid = np.ones_like(disp, bool)
    valid[3, 10] = False
    right = _plane()
    right[4, 6] = 9.0                       # left (4, 10) lands on right x = 6: inconsistent
    cloud = disparity_to_pointcloud(disp, None, CAM, max_depth=5.0, valid=valid,
                                    disp_right=right, lr_thresh=1.0)
    kept = {tuple(p) for p in cloud.pixels}
    for y in range(5):
        assert (y, 10) not in kept
    assert (5, 10) in kept and (6, 10) in kept
    assert len(cloud) == 7 * 9 - 5
    assert cloud.colors.dtype == np.uint8    # coloured by depth without an image


def test_shape_errors_name_the_problem():
    with pytest.raises(ValueError, match="left image must be"):
        disparity_to_pointcloud(_plane(), _rgb(7, 12), CAM)
    with pytest.raises(ValueError, match="baseline must be > 0"):
        StereoCamera(f=1.0, cx=0.0, cy=0.0, baseline=-1.0)


# --------------------------------------------------------------------------- cameras
def test_q_matrix_agrees_with_focal_baseline():
    cam = StereoCamera(f=700.0, cx=600.5, cy=180.25, baseline=0.54)
    assert StereoCamera.from_q(cam.to_q()) == cam
    # any multiple of Q is the same (homogeneous coordinates)
    assert astuple(StereoCamera.from_q(3.0 * cam.to_q())) == pytest.approx(astuple(cam))
    # A Q from cv2.stereoRectify of an ideal horizontal pair (right camera at +B on x).
    k = np.array([[700.0, 0, 600.5], [0, 700.0, 180.25], [0, 0, 1]])
    _, _, p1, p2, q_cv, _, _ = cv2.stereoRectify(
        k, np.zeros(5), k, np.zeros(5), (1241, 376), np.eye(3), np.array([[-0.54], [0], [0.]]),
        flags=cv2.CALIB_ZERO_DISPARITY, alpha=-1)
    from_cv = StereoCamera.from_q(q_cv)
    assert from_cv.f == pytest.approx(700.0, rel=1e-6)
    assert from_cv.baseline == pytest.approx(0.54, rel=1e-6)
    assert astuple(StereoCamera.from_projections(p1, p2)) == pytest.approx(astuple(from_cv))
    disp = np.random.default_rng(2).uniform(5, 50, size=(9, 7))
    np.testing.assert_allclose(reproject(disp, from_cv), cv2.reprojectImageTo3D(
        disp.astype(np.float32), q_cv), rtol=1e-5)
    with pytest.raises(ValueError, match="layout"):
        StereoCamera.from_q(np.eye(4))


def test_kitti_calib_file(tmp_path):
    path = tmp_path / "calib_cam_to_cam.txt"
    path.write_text(KITTI_CALIB)
    cam = StereoCamera.from_calib_file(path)
    assert cam.f == pytest.approx(721.5377)
    assert (cam.cx, cam.cy) == pytest.approx((609.5593, 172.854))
    t2 = (44.85728 - 609.5593 * 2.745884e-03) / 721.5377
    t3 = (-339.5242 - 609.5593 * 2.729905e-03) / 721.5377
    assert cam.baseline == pytest.approx(t2 - t3)
    assert cam.baseline == pytest.approx(0.5327, abs=1e-3)   # KITTI's ~0.54 m rig
    assert cam.doffs == 0.0
    # object-benchmark layout: "P2:" / "P3:"
    obj = tmp_path / "000000.txt"
    lines = [ln.replace("P_rect_02", "P2").replace("P_rect_03", "P3")
             for ln in KITTI_CALIB.splitlines() if ln.startswith("P_rect_0")]
    obj.write_text("\n".join(lines) + "\n")
    assert StereoCamera.from_kitti_calib(obj) == cam
    bad = tmp_path / "bad.txt"
    bad.write_text("P_rect_02: 1 2 3\n")
    with pytest.raises(ValueError, match="P_rect_02"):
        StereoCamera.from_calib_file(bad)


def test_middlebury_calib_and_scaling(tmp_path):
    path = tmp_path / "calib.txt"
    path.write_text("cam0=[3979.911 0 1244.772; 0 3979.911 1019.507; 0 0 1]\n"
                    "cam1=[3979.911 0 1369.115; 0 3979.911 1019.507; 0 0 1]\n"
                    "doffs=124.343\nbaseline=193.001\nwidth=2964\nheight=1988\nndisp=270\n")
    cam = StereoCamera.from_calib_file(path)
    assert cam.baseline == pytest.approx(0.193001) and cam.doffs == pytest.approx(124.343)
    half = cam.scaled(0.5)
    assert half.f == pytest.approx(cam.f / 2) and half.doffs == pytest.approx(cam.doffs / 2)
    # depth is unchanged when disparities scale with the image
    assert half.depth(np.array(50.0)) == pytest.approx(cam.depth(np.array(100.0)))


# --------------------------------------------------------------------------- files
def test_ply_round_trip(tmp_path):
    pytest.importorskip("open3d", reason="open3d is not installed or not loadable")
    cloud = disparity_to_pointcloud(_plane(), _rgb(), CAM)
    path = write_ply(cloud, tmp_path / "sub" / "cloud.ply")
    assert path.is_file() and not list(path.parent.glob(".*tmp*"))
    back = read_ply(path)
    np.testing.assert_allclose(back.points, cloud.points, rtol=1e-6)
    assert np.array_equal(back.colors, cloud.colors)
    with pytest.raises(ValueError, match=".ply"):
        write_ply(cloud, tmp_path / "cloud.xyz")


# --------------------------------------------------------------------------- renders
def _red_wall():
    y, x = np.mgrid[-1:1:41j, -1:1:41j]
    pts = np.stack([x.ravel(), y.ravel(), np.full(x.size, 3.0)], 1)
    return PointCloud(pts.astype(np.float32), np.tile([[255, 0, 0]], (len(pts), 1)).astype(
        np.uint8), np.zeros((len(pts), 2), np.int32))


def test_splat_renderer_frames_the_cloud_and_uses_the_zbuffer():
    cloud = _red_wall()
    front = View(yaw_deg=0, pitch_deg=0)
    res = render_png(cloud, view=front, width=64, height=48, backend="numpy")
    assert res.backend == "numpy" and res.reason is None
    assert res.image.shape == (48, 64, 3)
    assert res.image[24, 32].tolist() == [255, 0, 0]
    assert res.image[0, 0].tolist() == [255, 255, 255]
    # two points on one pixel: the nearer (green) wins whatever the order
    pts = np.array([[0, 0, 2.0], [0, 0, 1.0]])
    cols = np.array([[255, 0, 0], [0, 255, 0]], np.uint8)
    for order in ([0, 1], [1, 0]):
        img = splat(pts[order], cols[order], eye=[0, 0, 0], center=[0, 0, 1], up=[0, -1, 0],
                    width=9, height=7, point_size=1)
        assert img[3, 4].tolist() == [0, 255, 0]


def test_view_orbits_about_the_median():
    pts = np.array([[0, 0, 4.0], [0, 0, 6.0], [0, 0, 5.0]])
    eye, center, up = look_at(pts, View(yaw_deg=0, pitch_deg=0))
    np.testing.assert_allclose(center, [0, 0, 5]) and np.testing.assert_allclose(eye, 0,
                                                                                 atol=1e-12)
    eye, _, _ = look_at(pts, View(yaw_deg=0, pitch_deg=30, distance=2))
    assert eye[1] < 0 and np.linalg.norm(eye - center) == pytest.approx(10)   # from above


def test_auto_falls_back_to_numpy_with_the_reason(tmp_path, monkeypatch):
    monkeypatch.setattr(render_mod, "_CHILD", tmp_path / "missing_renderer.py")
    out = tmp_path / "r.png"
    res = render_png(_red_wall(), out, width=32, height=24)
    assert res.backend == "numpy" and "open3d render failed" in res.reason
    assert cv2.imread(str(out)).shape == (24, 32, 3)
    with pytest.raises(RuntimeError, match="open3d render failed"):
        render_png(_red_wall(), width=32, height=24, backend="open3d")


def test_open3d_offscreen_render_is_not_blank(tmp_path):
    pytest.importorskip("open3d", reason="open3d is not installed or not loadable")
    try:
        res = render_png(_red_wall(), tmp_path / "o3d.png", view=View(yaw_deg=0, pitch_deg=0),
                         width=64, height=48, point_size=3, backend="open3d")
    except RuntimeError as exc:
        pytest.skip(f"open3d offscreen rendering unavailable here (Vulkan/EGL): {exc}")
    assert res.backend == "open3d"
    img = cv2.imread(str(tmp_path / "o3d.png"))[..., ::-1]
    assert img[24, 32].tolist() == [255, 0, 0]
    assert img[0, 0].tolist() == [255, 255, 255]


# --------------------------------------------------------------------------- one call + CLI
def test_save_pointcloud_one_call(tmp_path):
    pytest.importorskip("open3d", reason="open3d is not installed or not loadable")
    info = save_pointcloud(_plane(), _rgb(), CAM, tmp_path / "c.ply", tmp_path / "c.png",
                           width=40, height=30, backend="numpy")
    assert info["points"] == 63 and info["renderer"] == "numpy"
    assert (tmp_path / "c.ply").is_file() and (tmp_path / "c.png").is_file()


def _files(tmp_path):
    disp, rgb = tmp_path / "disp.npy", tmp_path / "left.png"
    np.save(disp, _plane())
    cv2.imwrite(str(rgb), _rgb()[..., ::-1])
    calib = tmp_path / "calib_cam_to_cam.txt"
    calib.write_text(KITTI_CALIB)
    return str(disp), str(rgb), str(calib)


def test_cli_writes_ply_and_render(tmp_path, capsys):
    pytest.importorskip("open3d", reason="open3d is not installed or not loadable")
    disp, rgb, calib = _files(tmp_path)
    out, png = tmp_path / "o.ply", tmp_path / "o.png"
    argv = [disp, rgb, "--calib", calib, "--out", str(out), "--render", str(png),
            "--renderer", "numpy", "--width", "40", "--height", "30", "--max-depth", "1000"]
    assert run_cli(main, get_args_parser(), argv) == 0
    text = capsys.readouterr().out
    assert "wrote 63 points" in text and "numpy renderer" in text
    assert len(read_ply(out)) == 63 and png.is_file()
    q = tmp_path / "q.npy"
    np.save(q, CAM.to_q())
    argv = [disp, rgb, "--q", str(q), "--out", str(out)]
    assert run_cli(main, get_args_parser(), argv) == 0
    argv = [disp, rgb, "--focal", "50", "--baseline", "0.2", "--cx", "5.5", "--cy", "3.25",
            "--out", str(tmp_path / "f.ply")]
    assert run_cli(main, get_args_parser(), argv) == 0
    np.testing.assert_allclose(read_ply(out).points, read_ply(tmp_path / "f.ply").points)


@pytest.mark.parametrize("case, message", [
    ("missing", "file not found"),
    ("calib", "no KITTI rectified projections"),
    ("shape", "but image"),
    ("baseline", "--focal needs --baseline"),
    ("suffix", "--out must end in .ply"),
    ("show", "--show needs a display"),
])
def test_cli_one_line_errors(tmp_path, capsys, monkeypatch, case, message):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    disp, rgb, calib = _files(tmp_path)
    out = str(tmp_path / "o.ply")
    argv = {
        "missing": [str(tmp_path / "nope.npy"), rgb, "--calib", calib, "--out", out],
        "calib": [disp, rgb, "--calib", rgb, "--out", out],
        "shape": [disp, rgb, "--calib", calib, "--out", out],
        "baseline": [disp, rgb, "--focal", "50", "--out", out],
        "suffix": [disp, rgb, "--calib", calib, "--out", str(tmp_path / "o.txt")],
        "show": [disp, rgb, "--calib", calib, "--out", out, "--show"],
    }[case]
    if case == "calib":
        (tmp_path / "bad_calib.txt").write_text("nothing: here\n")
        argv[3] = str(tmp_path / "bad_calib.txt")
    if case == "shape":
        np.save(disp, np.ones((5, 5), np.float32))
    assert run_cli(main, get_args_parser(), argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and "\n" not in err
