"""Child process of :func:`stereo_tv.viz.render.render_points`: one open3d offscreen render.

Usage: ``python _o3d_render.py SCENE.npz OUT.png``. Kept separate (and free of stereo_tv
imports) because Filament aborts the process when no graphics driver is usable; the parent
then falls back to its numpy renderer.
"""

from __future__ import annotations

import sys

import cv2
import numpy as np


def main(scene_path: str, out_path: str) -> int:
    import open3d as o3d
    from open3d.visualization import rendering

    s = np.load(scene_path)
    width, height = int(s["width"]), int(s["height"])
    cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(s["points"]))
    cloud.colors = o3d.utility.Vector3dVector(s["colors"].astype(np.float64) / 255.0)
    material = rendering.MaterialRecord()
    material.shader = "defaultUnlit"
    material.point_size = float(s["point_size"])
    renderer = rendering.OffscreenRenderer(width, height)
    # Show the stored colours as they are: Filament's post-processing (tone mapping, colour
    # grading) otherwise tints the background and washes the colours out.
    renderer.scene.view.set_post_processing(False)
    renderer.scene.set_background(np.append(s["background"] / 255.0, 1.0))
    renderer.scene.add_geometry("cloud", cloud, material)
    renderer.setup_camera(float(s["fov"]), s["center"].astype(np.float32),
                          s["eye"].astype(np.float32), s["up"].astype(np.float32))
    image = np.asarray(renderer.render_to_image())
    if image.shape[:2] != (height, width):
        print(f"open3d returned an image of shape {image.shape}", file=sys.stderr)
        return 1
    ok = cv2.imwrite(out_path, np.ascontiguousarray(image[..., :3][..., ::-1]))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1], sys.argv[2]))
