"""Headless pictures of a coloured point cloud: open3d when it works, a numpy splat otherwise.

Both renderers share one pinhole virtual camera, :class:`View`, that orbits the cloud: it
starts at the stereo camera (the origin, looking along +Z with -Y up), then turns ``yaw_deg``
about the vertical axis and ``pitch_deg`` upwards around the cloud's median point, and moves
``distance`` times as far from it.

* ``backend="open3d"``: ``open3d.visualization.rendering.OffscreenRenderer`` (Filament). It
  runs in a child process, because Filament aborts the whole process when no graphics driver
  is usable (no Vulkan / EGL); on a CPU-only Linux machine it works with Mesa's llvmpipe
  (packages ``mesa-vulkan-drivers libvulkan1 libegl1 libgl1``).
* ``backend="numpy"``: :func:`splat`, a z-buffered square-splat renderer in numpy. It always
  works and gives the same framing, without lighting or anti-aliasing.
* ``backend="auto"`` (default) tries open3d, then falls back to numpy; the result says which
  one ran and why open3d did not.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from stereo_tv.cli import atomic_path

__all__ = ["View", "RenderResult", "look_at", "splat", "render_points", "auto_point_size"]

_BACKENDS = ("auto", "open3d", "numpy")
_CHILD = Path(__file__).with_name("_o3d_render.py")


@dataclass(frozen=True)
class View:
    """Virtual camera orbiting the cloud (angles in degrees).

    Attributes:
        yaw_deg: turn about the vertical axis; positive moves the eye to the right.
        pitch_deg: elevation; positive looks from above.
        distance: eye-to-centre distance relative to the stereo camera's.
        fov_deg: vertical field of view.
        center: point looked at; ``None`` takes the median of the points.
    """

    yaw_deg: float = 30.0
    pitch_deg: float = 15.0
    distance: float = 1.0
    fov_deg: float = 50.0
    center: tuple[float, float, float] | None = None


@dataclass
class RenderResult:
    """A render: ``image`` uint8 RGB ``(H, W, 3)``, the ``backend`` that drew it
    (``"open3d"`` or ``"numpy"``) and, after a fallback, the ``reason`` open3d was not used."""

    image: np.ndarray
    backend: str
    reason: str | None = None


def look_at(points: np.ndarray, view: View) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Eye, centre and up vector (float64 (3,)) of ``view`` for a cloud ``(N, 3)``."""
    if view.center is not None:
        center = np.asarray(view.center, dtype=np.float64)
    elif len(points):
        center = np.median(np.asarray(points, dtype=np.float64), axis=0)
    else:
        center = np.array([0.0, 0.0, 1.0])
    offset = -center                       # from the centre to the stereo camera (origin)
    radius = np.linalg.norm(offset) * view.distance
    if radius == 0:
        offset, radius = np.array([0.0, 0.0, -1.0]), view.distance
    yaw, pitch = np.deg2rad(view.yaw_deg), np.deg2rad(view.pitch_deg)
    rot_yaw = np.array([[np.cos(yaw), 0, -np.sin(yaw)], [0, 1, 0], [np.sin(yaw), 0, np.cos(yaw)]])
    rot_pitch = np.array([[1, 0, 0], [0, np.cos(pitch), np.sin(pitch)],
                          [0, -np.sin(pitch), np.cos(pitch)]])
    direction = rot_yaw @ rot_pitch @ (offset / np.linalg.norm(offset))
    up = rot_yaw @ rot_pitch @ np.array([0.0, -1.0, 0.0])
    return center + radius * direction, center, up


def splat(points: np.ndarray, colors: np.ndarray, eye, center, up, fov_deg: float = 50.0,
          width: int = 800, height: int = 600, point_size: int = 2,
          background=(255, 255, 255)) -> np.ndarray:
    """Draw points as ``point_size`` x ``point_size`` squares with a z-buffer (nearest wins).

    Args:
        points: ``(N, 3)`` positions; colors: ``(N, 3)`` uint8 RGB.
        eye, center, up: virtual camera (see :func:`look_at`); fov_deg: vertical field of view.
        width, height: image size; point_size: splat side in pixels; background: RGB.

    Returns:
        uint8 RGB image ``(height, width, 3)``.
    """
    eye, center, up = (np.asarray(v, dtype=np.float64) for v in (eye, center, up))
    forward = (center - eye) / np.linalg.norm(center - eye)
    right = np.cross(forward, up)
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    cam = (np.asarray(points, dtype=np.float64) - eye) @ np.stack([right, down, forward]).T
    focal = 0.5 * height / np.tan(np.deg2rad(fov_deg) / 2)
    front = cam[:, 2] > 1e-6
    cam, cols = cam[front], np.asarray(colors, dtype=np.uint8)[front]
    u = np.floor(focal * cam[:, 0] / cam[:, 2] + width / 2).astype(np.int64)
    v = np.floor(focal * cam[:, 1] / cam[:, 2] + height / 2).astype(np.int64)
    lo = -(point_size // 2)
    offsets = np.arange(lo, lo + max(int(point_size), 1))
    du, dv = (a.ravel() for a in np.meshgrid(offsets, offsets))
    uu = (u[:, None] + du[None]).ravel()
    vv = (v[:, None] + dv[None]).ravel()
    depth = np.repeat(cam[:, 2], du.size)
    src = np.repeat(np.arange(len(cam)), du.size)
    keep = (uu >= 0) & (uu < width) & (vv >= 0) & (vv < height)
    pix, depth, src = (vv * width + uu)[keep], depth[keep], src[keep]
    order = np.lexsort((depth, pix))       # by pixel, nearest first
    first = np.unique(pix[order], return_index=True)[1]
    image = np.empty((height * width, 3), dtype=np.uint8)
    image[:] = np.asarray(background, dtype=np.uint8)
    image[pix[order][first]] = cols[src[order][first]]
    return image.reshape(height, width, 3)


def _render_open3d(points, colors, eye, center, up, fov_deg, width, height, point_size,
                   background, timeout: float) -> np.ndarray:
    """Run ``_o3d_render.py`` in a child process; raise RuntimeError with the reason."""
    with tempfile.TemporaryDirectory(prefix="stereo_tv_render_") as tmp:
        scene, out = Path(tmp) / "scene.npz", Path(tmp) / "render.png"
        np.savez(scene, points=np.asarray(points, np.float64), colors=np.asarray(colors, np.uint8),
                 eye=eye, center=center, up=up, fov=fov_deg, width=width, height=height,
                 point_size=point_size, background=np.asarray(background, np.float64))
        env = dict(os.environ)
        env.setdefault("EGL_PLATFORM", "surfaceless")
        try:
            proc = subprocess.run([sys.executable, str(_CHILD), str(scene), str(out)],
                                  capture_output=True, text=True, timeout=timeout, env=env)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"open3d render timed out after {timeout:g} s") from None
        if proc.returncode != 0 or not out.exists():
            lines = [ln for ln in (proc.stderr + proc.stdout).splitlines() if ln.strip()]
            tail = " | ".join(lines[-2:]) if lines else "no output"
            raise RuntimeError(f"open3d render failed (exit {proc.returncode}): {tail}")
        bgr = cv2.imread(str(out), cv2.IMREAD_COLOR)
    if bgr is None:
        raise RuntimeError("open3d render wrote an unreadable PNG")
    return np.ascontiguousarray(bgr[..., ::-1])


def auto_point_size(n_points: int, width: int) -> int:
    """Point side in pixels that closes the gaps between ``n_points`` spread over about the
    render's width (a cloud from a W x H image has ~sqrt(N * 4/3) points per row): 2 for a
    741 x 500 disparity in an 800-pixel render, 6 for a quarter of it; clipped to [1, 8]."""
    per_row = np.sqrt(max(n_points, 1) * 4.0 / 3.0)
    return int(np.clip(np.ceil(1.2 * width / per_row), 1, 8))


def render_points(points: np.ndarray, colors: np.ndarray, path: str | os.PathLike | None = None,
                  view: View | None = None, width: int = 800, height: int = 600,
                  point_size: int | None = None, background=(255, 255, 255),
                  backend: str = "auto", timeout: float = 120.0) -> RenderResult:
    """Render a coloured cloud from ``view`` and optionally save it as a PNG (atomically).

    Args:
        points: ``(N, 3)`` float positions; colors: ``(N, 3)`` uint8 RGB.
        path: PNG to write, or ``None``.
        view: virtual camera, default :class:`View()`.
        width, height, background: image size and RGB background.
        point_size: point side in pixels; ``None`` picks :func:`auto_point_size`.
        backend: ``"auto"`` (open3d, else numpy), ``"open3d"`` (error if it fails) or
            ``"numpy"``.
        timeout: seconds allowed to the open3d child process.

    Returns:
        :class:`RenderResult` with the image and the backend that ran.
    """
    if backend not in _BACKENDS:
        raise ValueError(f"backend must be one of {_BACKENDS}, got {backend!r}")
    points = np.asarray(points)
    if points.ndim != 2 or points.shape[1] != 3 or np.shape(colors) != points.shape:
        raise ValueError(f"points and colors must both be (N, 3), got {points.shape} and "
                         f"{np.shape(colors)}")
    view = View() if view is None else view
    if point_size is None:
        point_size = auto_point_size(len(points), width)
    eye, center, up = look_at(points, view)
    args = (points, colors, eye, center, up, view.fov_deg, int(width), int(height),
            int(point_size), tuple(background))
    result = None
    if backend in ("auto", "open3d"):
        try:
            result = RenderResult(_render_open3d(*args, timeout=timeout), "open3d")
        except RuntimeError as exc:
            if backend == "open3d":
                raise
            reason = str(exc)
    if result is None:
        result = RenderResult(splat(*args), "numpy", None if backend == "numpy" else reason)
    if path is not None:
        with atomic_path(path) as tmp:
            if not cv2.imwrite(str(tmp), result.image[..., ::-1]):
                raise OSError(f"could not write {path}")
    return result
