"""Stereo data: datasets (KITTI 2015 / 2012, SceneFlow, Middlebury, folders), fixed splits and
joint augmentation. See :mod:`stereo_tv.data.stereo` for the layouts and the split convention."""

from stereo_tv.data.stereo import (
    DATASETS,
    KITTI2012,
    KITTI2015,
    FolderPairs,
    Middlebury,
    SceneFlow,
    StereoDataset,
    StereoFrame,
    build_dataset,
    read_split,
)
from stereo_tv.data.transforms import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    JointAugment,
    image_to_tensor,
    tensor_to_image,
)

__all__ = [
    "DATASETS",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "FolderPairs",
    "JointAugment",
    "KITTI2012",
    "KITTI2015",
    "Middlebury",
    "SceneFlow",
    "StereoDataset",
    "StereoFrame",
    "build_dataset",
    "image_to_tensor",
    "read_split",
    "tensor_to_image",
]
