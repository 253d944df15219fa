"""Rectified stereo camera: intrinsics, baseline, and disparity-to-3-D reprojection.

For a rectified pair whose left camera has focal length ``f`` and principal point
``(cx, cy)`` (pixels), whose right camera sits ``baseline`` to the right, and whose principal
points differ by ``doffs = cx_right - cx_left`` pixels (0 for KITTI, non-zero for Middlebury),
a left pixel ``(x, y)`` with disparity ``d`` lies at depth and position

    Z = f * baseline / (d + doffs),   X = (x - cx) * Z / f,   Y = (y - cy) * Z / f

in the left camera frame (OpenCV axes: X right, Y down, Z forward; units of ``baseline``).
This is exactly ``cv2.reprojectImageTo3D`` with the matrix :meth:`StereoCamera.to_q`:

    Q = [[1, 0, 0,      -cx           ],
         [0, 1, 0,      -cy           ],
         [0, 0, 0,       f            ],
         [0, 0, 1/baseline, doffs/baseline]]

Cameras come from a KITTI calibration file (``calib_cam_to_cam.txt``: rectified projections
``P_rect_02`` / ``P_rect_03``, or ``P2`` / ``P3`` in the object-benchmark files), a Middlebury
``calib.txt`` (millimetres, converted to metres), a 4x4 ``Q`` matrix, or plain numbers.

Example:
    >>> cam = StereoCamera(f=100.0, cx=4.0, cy=3.0, baseline=0.5)
    >>> float(cam.depth(np.array(10.0)))     # 100 * 0.5 / 10
    5.0
    >>> StereoCamera.from_q(cam.to_q()) == cam
    True
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

__all__ = ["StereoCamera", "reproject"]


@dataclass(frozen=True)
class StereoCamera:
    """Left camera of a rectified stereo pair.

    Attributes:
        f: focal length in pixels (same horizontally and vertically after rectification).
        cx, cy: principal point of the left camera in pixels.
        baseline: distance between the two camera centres; the unit of every 3-D coordinate.
        doffs: ``cx_right - cx_left`` in pixels (Middlebury's ``doffs``; 0 for KITTI).
    """

    f: float
    cx: float
    cy: float
    baseline: float
    doffs: float = 0.0

    def __post_init__(self):
        for name in ("f", "cx", "cy", "baseline", "doffs"):
            if not np.isfinite(getattr(self, name)):
                raise ValueError(f"camera {name} must be finite, got {getattr(self, name)}")
        if self.f <= 0:
            raise ValueError(f"camera focal length must be > 0, got {self.f}")
        if self.baseline <= 0:
            raise ValueError(f"camera baseline must be > 0 (right camera to the right of the "
                             f"left one), got {self.baseline}")

    # ----------------------------------------------------------------------------- builders
    @classmethod
    def from_q(cls, q) -> StereoCamera:
        """Camera from a 4x4 reprojection matrix in OpenCV's ``reprojectImageTo3D`` layout.

        The matrix may be any non-zero multiple of the layout in the module docstring (it acts
        on homogeneous coordinates), as returned by ``cv2.stereoRectify``.
        """
        q = np.asarray(q, dtype=np.float64)
        if q.shape != (4, 4) or not np.isfinite(q).all():
            raise ValueError(f"Q must be a finite 4x4 matrix, got shape {q.shape}")
        if q[0, 0] == 0:
            raise ValueError("Q[0, 0] must be non-zero (OpenCV reprojectImageTo3D layout)")
        q = q / q[0, 0]
        pattern = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 0]], dtype=np.float64)
        if not (np.allclose(q[:3, :3], pattern) and np.allclose(q[3, :2], 0)):
            raise ValueError("Q does not have OpenCV's reprojectImageTo3D layout "
                             "[[1,0,0,-cx],[0,1,0,-cy],[0,0,0,f],[0,0,1/B,doffs/B]]")
        if q[3, 2] <= 0:
            raise ValueError(f"Q[3, 2] = 1/baseline must be > 0, got {q[3, 2]:g} (flip the "
                             "sign of the last row for a right camera on the right)")
        baseline = 1.0 / q[3, 2]
        return cls(f=float(q[2, 3]), cx=float(-q[0, 3]), cy=float(-q[1, 3]),
                   baseline=float(baseline), doffs=float(q[3, 3] * baseline))

    @classmethod
    def from_projections(cls, p_left, p_right) -> StereoCamera:
        """Camera from the 3x4 rectified projection matrices ``K [I | t]`` of both views."""
        pl = np.asarray(p_left, dtype=np.float64).reshape(3, 4)
        pr = np.asarray(p_right, dtype=np.float64).reshape(3, 4)
        f = pl[0, 0]
        if f <= 0:
            raise ValueError(f"projection matrix has a non-positive focal length {f:g}")
        # t_x of each camera from P[0, 3] = f * t_x + cx * t_z.
        tx_left = (pl[0, 3] - pl[0, 2] * pl[2, 3]) / pl[0, 0]
        tx_right = (pr[0, 3] - pr[0, 2] * pr[2, 3]) / pr[0, 0]
        return cls(f=float(f), cx=float(pl[0, 2]), cy=float(pl[1, 2]),
                   baseline=float(tx_left - tx_right), doffs=float(pr[0, 2] - pl[0, 2]))

    @classmethod
    def from_kitti_calib(cls, path: str | os.PathLike, left: str = "02",
                         right: str = "03") -> StereoCamera:
        """Camera from a KITTI calibration file.

        Reads ``P_rect_{left}`` / ``P_rect_{right}`` (``calib_cam_to_cam.txt``), or ``P2`` /
        ``P3`` (object benchmark ``calib/*.txt``, where ``left="02"`` means ``P2``).
        Lines are ``key: v1 v2 ...``; the baseline is in metres.
        """
        path = Path(path)
        entries = {}
        for line in path.read_text().splitlines():
            key, sep, values = line.partition(":")
            if sep:
                entries[key.strip()] = values.split()
        names = [(f"P_rect_{left}", f"P_rect_{right}"), (f"P{int(left)}", f"P{int(right)}")]
        for kl, kr in names:
            if kl in entries and kr in entries:
                try:
                    pl = np.array(entries[kl], dtype=np.float64)
                    pr = np.array(entries[kr], dtype=np.float64)
                except ValueError:
                    raise ValueError(f"{path}: {kl}/{kr} hold non-numeric values") from None
                if pl.size != 12 or pr.size != 12:
                    raise ValueError(f"{path}: {kl} and {kr} must hold 12 numbers (3x4), "
                                     f"got {pl.size} and {pr.size}")
                return cls.from_projections(pl, pr)
        raise ValueError(f"{path}: no KITTI rectified projections found (expected "
                         f"'P_rect_{left}:' and 'P_rect_{right}:' or 'P{int(left)}:' and "
                         f"'P{int(right)}:' lines)")

    @classmethod
    def from_middlebury_calib(cls, path: str | os.PathLike) -> StereoCamera:
        """Camera from a Middlebury ``calib.txt`` (``cam0=[f 0 cx; 0 f cy; 0 0 1]``,
        ``doffs=``, ``baseline=`` in mm); the baseline is converted to metres."""
        path = Path(path)
        entries = {}
        for line in path.read_text().splitlines():
            key, sep, value = line.partition("=")
            if sep:
                entries[key.strip()] = value.strip()
        try:
            k = np.array(re.split(r"[\s;]+", entries["cam0"].strip("[] ")), dtype=np.float64)
            baseline_mm = float(entries["baseline"])
            doffs = float(entries.get("doffs", 0.0))
        except KeyError as exc:
            raise ValueError(f"{path}: missing Middlebury key {exc}") from None
        except ValueError:
            raise ValueError(f"{path}: unreadable Middlebury calibration values") from None
        if k.size != 9:
            raise ValueError(f"{path}: cam0 must be a 3x3 matrix, got {k.size} numbers")
        return cls(f=float(k[0]), cx=float(k[2]), cy=float(k[5]),
                   baseline=baseline_mm / 1000.0, doffs=doffs)

    @classmethod
    def from_calib_file(cls, path: str | os.PathLike) -> StereoCamera:
        """KITTI or Middlebury calibration file, recognised by its content."""
        path = Path(path)
        text = path.read_text()
        if re.search(r"^\s*cam0\s*=", text, flags=re.MULTILINE):
            return cls.from_middlebury_calib(path)
        return cls.from_kitti_calib(path)

    # ----------------------------------------------------------------------------- use
    def to_q(self) -> np.ndarray:
        """4x4 float64 matrix for ``cv2.reprojectImageTo3D`` (see the module docstring)."""
        return np.array([[1.0, 0.0, 0.0, -self.cx],
                         [0.0, 1.0, 0.0, -self.cy],
                         [0.0, 0.0, 0.0, self.f],
                         [0.0, 0.0, 1.0 / self.baseline, self.doffs / self.baseline]])

    def scaled(self, factor: float) -> StereoCamera:
        """Camera of the images resized by ``factor`` (pixel-centre convention); the
        disparities of the resized images are ``factor`` times the original ones."""
        if factor <= 0:
            raise ValueError(f"scale factor must be > 0, got {factor}")
        return replace(self, f=self.f * factor, cx=(self.cx + 0.5) * factor - 0.5,
                       cy=(self.cy + 0.5) * factor - 0.5, doffs=self.doffs * factor)

    def depth(self, disp: np.ndarray) -> np.ndarray:
        """Depth ``Z = f * baseline / (d + doffs)``; NaN where ``d + doffs <= 0`` or d is not
        finite."""
        d = np.asarray(disp, dtype=np.float64) + self.doffs
        with np.errstate(divide="ignore", invalid="ignore"):
            z = self.f * self.baseline / d
        return np.where(np.isfinite(d) & (d > 0), z, np.nan)


def reproject(disp: np.ndarray, camera: StereoCamera) -> np.ndarray:
    """3-D point of every left pixel, like ``cv2.reprojectImageTo3D(disp, camera.to_q())``.

    Args:
        disp: disparity ``(H, W)`` of the left image, in pixels.
        camera: the pair's :class:`StereoCamera`.

    Returns:
        float64 ``(H, W, 3)`` array of ``(X, Y, Z)``; NaN where the depth is undefined.
    """
    disp = np.asarray(disp)
    if disp.ndim != 2:
        raise ValueError(f"disp must be (H, W), got shape {disp.shape}")
    h, w = disp.shape
    z = camera.depth(disp)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    return np.stack([(x - camera.cx) * z / camera.f, (y - camera.cy) * z / camera.f, z], -1)
