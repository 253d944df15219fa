"""Disparity -> coloured point cloud -> ``.ply`` file and picture.

Three calls do everything (``predict.py`` and ``scripts/demo.py`` use them)::

    camera = StereoCamera.from_calib_file("calib_cam_to_cam.txt")      # or StereoCamera(...)
    cloud = disparity_to_pointcloud(disp, left_rgb, camera, max_depth=50.0)
    write_ply(cloud, "out.ply")
    render_png(cloud, "out.png")            # .backend says "open3d" or "numpy" (the fallback)

or :func:`save_pointcloud` for all three. A pixel becomes a point (see
:mod:`stereo_tv.viz.camera` for the geometry) only when its disparity is finite, gives a
positive depth no farther than ``max_depth``, has a match inside the right image
(``x - d >= 0``), passes the optional left-right check against the right view's disparity,
and is inside the optional ``valid`` mask. Open3d's statistical outlier removal can follow.

Command line::

    python -m stereo_tv.viz.pointcloud DISP.npy LEFT.png (--calib FILE | --focal F
        --baseline B [--cx CX --cy CY] | --q Q.npy) --out OUT.ply [--render OUT.png]
        [--max-depth M] [--show]

``DISP`` is read by :func:`stereo_tv.io.read_disparity`: a float ``.npy`` or ``.pfm``
``(H, W)``, or a KITTI 16-bit PNG; non-finite and non-positive values are invalid.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stereo_tv.cli import UserError, atomic_path, run_cli
from stereo_tv.io import read_disparity, read_image
from stereo_tv.models.classical import left_right_check
from stereo_tv.viz.camera import StereoCamera, reproject
from stereo_tv.viz.colormap import depth_to_color
from stereo_tv.viz.render import RenderResult, View, render_points

__all__ = ["PointCloud", "StereoCamera", "View", "disparity_to_pointcloud", "remove_outliers",
           "write_ply", "read_ply", "render_png", "save_pointcloud", "show",
           "get_args_parser", "main"]


@dataclass
class PointCloud:
    """Coloured 3-D points: ``points`` float32 ``(N, 3)`` (left-camera frame, X right, Y down,
    Z forward), ``colors`` uint8 RGB ``(N, 3)``, ``pixels`` int32 ``(N, 2)`` = (row, column)
    of the source pixel (``-1`` when unknown, e.g. after :func:`read_ply`)."""

    points: np.ndarray
    colors: np.ndarray
    pixels: np.ndarray

    def __len__(self) -> int:
        return len(self.points)

    def subset(self, index) -> PointCloud:
        return PointCloud(self.points[index], self.colors[index], self.pixels[index])


def _open3d():
    try:
        import open3d
    except Exception as exc:  # ImportError, or OSError from a missing system library
        raise RuntimeError(f"open3d is not usable ({exc}); install it with "
                           "`pip install open3d` and `apt-get install libusb-1.0-0`") from None
    return open3d


def _as_2d(x, name: str) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().float().cpu().numpy()
    x = np.asarray(x)
    while x.ndim > 2 and x.shape[0] == 1:
        x = x[0]
    if x.ndim != 2:
        raise ValueError(f"{name} must be (H, W) (leading 1-dims allowed), got {x.shape}")
    return x


def disparity_to_pointcloud(disp, left_rgb, camera: StereoCamera,
                            max_depth: float | None = None, disp_right=None,
                            lr_thresh: float = 1.0, valid=None) -> PointCloud:
    """Back-project the left view's disparity into a coloured point cloud.

    Args:
        disp: left disparity ``(H, W)`` in pixels (numpy or torch; leading 1-dims allowed).
        left_rgb: left image, uint8 RGB ``(H, W, 3)`` or grey ``(H, W)``; ``None`` colours
            points by depth.
        camera: the rectified pair's :class:`StereoCamera` (for the same image size).
        max_depth: drop points farther than this (units of ``camera.baseline``).
        disp_right: optional right-view disparity ``(H, W)``; keeps only pixels with
            ``|dL(x) - dR(x - dL(x))| <= lr_thresh``.
        lr_thresh: left-right tolerance in pixels.
        valid: optional boolean mask ``(H, W)`` of pixels to keep.

    Returns:
        :class:`PointCloud` in row-major pixel order.
    """
    d = _as_2d(disp, "disp").astype(np.float64)
    h, w = d.shape
    xyz = reproject(d, camera)
    keep = np.isfinite(xyz).all(axis=2)
    keep &= (np.arange(w)[None, :] - d) >= 0          # the match must lie inside the right view
    if max_depth is not None:
        keep &= np.where(keep, xyz[..., 2], np.inf) <= max_depth
    if disp_right is not None:
        dr = _as_2d(disp_right, "disp_right").astype(np.float64)
        if dr.shape != d.shape:
            raise ValueError(f"disp_right must have shape {d.shape}, got {dr.shape}")
        with np.errstate(invalid="ignore"):
            keep &= left_right_check(d, dr) <= lr_thresh
    if valid is not None:
        v = _as_2d(valid, "valid").astype(bool)
        if v.shape != d.shape:
            raise ValueError(f"valid must have shape {d.shape}, got {v.shape}")
        keep &= v
    if left_rgb is None:
        rgb = depth_to_color(xyz[..., 2], valid=keep)
    else:
        rgb = np.asarray(left_rgb)
        if rgb.ndim == 2:
            rgb = np.repeat(rgb[..., None], 3, axis=2)
        if rgb.shape != (h, w, 3):
            raise ValueError(f"left image must be ({h}, {w}, 3) like the disparity, "
                             f"got {rgb.shape}")
        if rgb.dtype != np.uint8:
            raise ValueError(f"left image must be uint8 RGB, got {rgb.dtype}")
    rows, cols = np.nonzero(keep)
    return PointCloud(points=xyz[rows, cols].astype(np.float32),
                      colors=np.ascontiguousarray(rgb[rows, cols]),
                      pixels=np.stack([rows, cols], axis=1).astype(np.int32))


def _to_o3d(cloud: PointCloud):
    o3d = _open3d()
    pcd = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(cloud.points.astype(np.float64)))
    pcd.colors = o3d.utility.Vector3dVector(cloud.colors.astype(np.float64) / 255.0)
    return pcd


def remove_outliers(cloud: PointCloud, nb_neighbors: int = 20,
                    std_ratio: float = 2.0) -> PointCloud:
    """open3d statistical outlier removal: drop points whose mean distance to their
    ``nb_neighbors`` nearest neighbours exceeds the global mean by ``std_ratio`` std."""
    if len(cloud) <= nb_neighbors:
        return cloud
    _, index = _to_o3d(cloud).remove_statistical_outlier(nb_neighbors=nb_neighbors,
                                                         std_ratio=std_ratio)
    return cloud.subset(np.asarray(index, dtype=np.int64))


def write_ply(cloud: PointCloud, path: str | os.PathLike, write_ascii: bool = False) -> Path:
    """Write a binary (or ASCII) ``.ply`` with open3d, atomically; returns the path."""
    path = Path(path)
    if path.suffix.lower() != ".ply":
        raise ValueError(f"point cloud file must end in .ply, got {path.name}")
    o3d = _open3d()
    pcd = _to_o3d(cloud)
    with atomic_path(path) as tmp:
        if not o3d.io.write_point_cloud(str(tmp), pcd, write_ascii=write_ascii):
            raise OSError(f"open3d could not write {path}")
    return path


def read_ply(path: str | os.PathLike) -> PointCloud:
    """Read a ``.ply`` written by :func:`write_ply` (``pixels`` are unknown: -1)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such point cloud: {path}")
    pcd = _open3d().io.read_point_cloud(str(path))
    pts = np.asarray(pcd.points, dtype=np.float32)
    cols = np.round(np.asarray(pcd.colors) * 255.0).astype(np.uint8) if pcd.has_colors() \
        else np.full(pts.shape, 255, np.uint8)
    return PointCloud(pts, cols, np.full((len(pts), 2), -1, np.int32))


def render_png(cloud: PointCloud, path: str | os.PathLike | None = None,
               view: View | None = None, **kwargs) -> RenderResult:
    """Headless picture of ``cloud`` (see :func:`stereo_tv.viz.render.render_points` for
    ``width``, ``height``, ``point_size``, ``background``, ``backend``); saved if ``path``."""
    return render_points(cloud.points, cloud.colors, path, view=view, **kwargs)


def save_pointcloud(disp, left_rgb, camera: StereoCamera, ply_path, render_path=None,
                    max_depth: float | None = None, outliers: bool = False,
                    view: View | None = None, **render_kwargs) -> dict:
    """All in one: back-project, optionally clean, write the ``.ply`` and optionally a PNG.

    Returns:
        ``{"points": N, "ply": path, "render": path or None, "renderer": name or None,
        "renderer_note": why open3d was not used or None}``.
    """
    cloud = disparity_to_pointcloud(disp, left_rgb, camera, max_depth=max_depth)
    if outliers:
        cloud = remove_outliers(cloud)
    write_ply(cloud, ply_path)
    info = {"points": len(cloud), "ply": str(ply_path), "render": None, "renderer": None,
            "renderer_note": None}
    if render_path is not None:
        result = render_png(cloud, render_path, view=view, **render_kwargs)
        info.update(render=str(render_path), renderer=result.backend,
                    renderer_note=result.reason)
    return info


def show(cloud: PointCloud, title: str = "stereo_tv point cloud") -> None:
    """Open open3d's interactive viewer (needs a display)."""
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        raise RuntimeError("--show needs a display (DISPLAY / WAYLAND_DISPLAY is not set)")
    _open3d().visualization.draw_geometries([_to_o3d(cloud)], window_name=title)


# --------------------------------------------------------------------------- command line
def _read_disp(path: str) -> np.ndarray:
    """Disparity file (``.npy``, ``.pfm``, KITTI ``.png``) with invalid pixels as NaN."""
    disp, valid = read_disparity(path)
    return np.where(valid, disp, np.nan).astype(np.float32)


def camera_from_args(args, shape) -> StereoCamera:
    """Camera from the options of :func:`add_camera_args` for an image of ``shape`` (H, W)."""
    h, w = shape
    if args.calib:
        if not Path(args.calib).is_file():
            raise FileNotFoundError(f"no such calibration file: {args.calib}")
        return StereoCamera.from_calib_file(args.calib)
    if args.q:
        if not Path(args.q).is_file():
            raise FileNotFoundError(f"no such Q matrix file: {args.q}")
        try:
            q = np.load(args.q) if args.q.endswith(".npy") else np.loadtxt(args.q)
        except (ValueError, OSError) as exc:
            raise UserError(f"cannot read the Q matrix {args.q}: {exc}") from None
        return StereoCamera.from_q(q)
    if args.baseline is None:
        raise UserError("--focal needs --baseline")
    cx = (w - 1) / 2 if args.cx is None else args.cx
    cy = (h - 1) / 2 if args.cy is None else args.cy
    return StereoCamera(f=args.focal, cx=cx, cy=cy, baseline=args.baseline, doffs=args.doffs)


def add_camera_args(p: argparse.ArgumentParser, required: bool = False) -> None:
    """Camera options shared by every script that writes point clouds."""
    cam = p.add_mutually_exclusive_group(required=required)
    cam.add_argument("--calib", help="KITTI calib_cam_to_cam.txt (P_rect_02/03) or "
                                     "Middlebury calib.txt")
    cam.add_argument("--focal", type=float, help="focal length in pixels (with --baseline)")
    cam.add_argument("--q", help="4x4 reprojection matrix (.npy or text), OpenCV layout")
    p.add_argument("--baseline", type=float, help="baseline (unit of the output points)")
    p.add_argument("--cx", type=float, help="principal point x (default: image centre)")
    p.add_argument("--cy", type=float, help="principal point y (default: image centre)")
    p.add_argument("--doffs", type=float, default=0.0, help="cx_right - cx_left in pixels")


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description="Disparity + left image -> coloured point cloud (.ply) and a picture.")
    p.add_argument("disp", help="left disparity: .npy / .pfm (H, W) or KITTI 16-bit PNG")
    p.add_argument("left", help="left image (colours)")
    add_camera_args(p, required=True)
    p.add_argument("--out", required=True, help="output .ply")
    p.add_argument("--render", help="also write a PNG picture of the cloud")
    p.add_argument("--max-depth", type=float, help="drop points farther than this")
    p.add_argument("--right-disp", help="right-view disparity file for a left-right check")
    p.add_argument("--lr-thresh", type=float, default=1.0, help="left-right tolerance (px)")
    p.add_argument("--remove-outliers", action="store_true",
                   help="open3d statistical outlier removal (20 neighbours, 2 std)")
    p.add_argument("--renderer", choices=["auto", "open3d", "numpy"], default="auto")
    p.add_argument("--view-yaw", type=float, default=View.yaw_deg, help="degrees")
    p.add_argument("--view-pitch", type=float, default=View.pitch_deg, help="degrees")
    p.add_argument("--view-distance", type=float, default=View.distance)
    p.add_argument("--fov", type=float, default=View.fov_deg, help="vertical, degrees")
    p.add_argument("--width", type=int, default=800)
    p.add_argument("--height", type=int, default=600)
    p.add_argument("--point-size", type=int, default=None, help="pixels (default: automatic)")
    p.add_argument("--show", action="store_true", help="open an interactive viewer")
    return p


def main(args: argparse.Namespace) -> int:
    if not args.out.lower().endswith(".ply"):
        raise UserError(f"--out must end in .ply, got {args.out}")
    if args.show and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        raise UserError("--show needs a display (DISPLAY / WAYLAND_DISPLAY is not set)")
    disp = _read_disp(args.disp)
    left = read_image(args.left)
    if left.shape[:2] != disp.shape:
        raise UserError(f"disparity {args.disp} is {disp.shape[1]}x{disp.shape[0]} but image "
                        f"{args.left} is {left.shape[1]}x{left.shape[0]}")
    disp_right = _read_disp(args.right_disp) if args.right_disp else None
    if disp_right is not None and disp_right.shape != disp.shape:
        raise UserError(f"--right-disp has shape {disp_right.shape}, expected {disp.shape}")
    try:
        camera = camera_from_args(args, disp.shape)
        cloud = disparity_to_pointcloud(disp, left, camera, max_depth=args.max_depth,
                                        disp_right=disp_right, lr_thresh=args.lr_thresh)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    if len(cloud) == 0:
        raise UserError("no valid points: check the disparity, the camera and --max-depth")
    try:
        if args.remove_outliers:
            cloud = remove_outliers(cloud)
        write_ply(cloud, args.out)
    except RuntimeError as exc:  # open3d missing
        raise UserError(str(exc)) from None
    print(f"wrote {len(cloud)} points to {args.out}")
    if args.render:
        view = View(yaw_deg=args.view_yaw, pitch_deg=args.view_pitch,
                    distance=args.view_distance, fov_deg=args.fov)
        try:
            result = render_png(cloud, args.render, view=view, width=args.width,
                                height=args.height, point_size=args.point_size,
                                backend=args.renderer)
        except RuntimeError as exc:  # --renderer open3d and it failed
            raise UserError(str(exc)) from None
        note = f" (open3d unavailable: {result.reason})" if result.reason else ""
        print(f"rendered {args.render} with the {result.backend} renderer{note}")
    if args.show:
        try:
            show(cloud)
        except RuntimeError as exc:
            raise UserError(str(exc)) from None
    return 0


if __name__ == "__main__":
    raise SystemExit(run_cli(main, get_args_parser()))
