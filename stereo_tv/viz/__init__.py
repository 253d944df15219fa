"""Pictures of stereo results: colour maps, side-by-side figures and point clouds.

* :mod:`stereo_tv.viz.colormap` -- disparity / error / depth / confidence colour maps (numpy).
* :mod:`stereo_tv.viz.figure` -- one labelled side-by-side figure drawn with OpenCV.
* :mod:`stereo_tv.viz.pointcloud` -- camera models, disparity -> coloured 3-D points, ``.ply``
  files and headless renders (open3d when it works, a numpy splat renderer otherwise); also a
  command line, ``python -m stereo_tv.viz.pointcloud``.

Importing this package loads only numpy and OpenCV; open3d is imported when first needed.
"""

from stereo_tv.viz.colormap import (
    confidence_to_color,
    depth_to_color,
    disparity_to_color,
    error_to_color,
)

__all__ = ["disparity_to_color", "error_to_color", "depth_to_color", "confidence_to_color"]
