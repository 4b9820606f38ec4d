"""Seeing what each layer learned: ZFNet's deconvnet and diagnostics (Zeiler & Fergus 2014).

    from minicnn.visualize import Deconvnet, top_k, occlusion
    pixels = Deconvnet(model).project(x, layer=1, channel=5)      # (N, C, H, W), like x

One idea per module, each named after what it makes (the functions keep the
experiments' names: ``from minicnn.visualize import occlusion``):

    deconvnet.py               Deconvnet: one activation projected back to pixels (ZFNet 2.1)
    receptive_field.py         which input box a unit sees
    topk.py                    the k strongest activations of a map over a dataset
    projection_grids.py        feature_visualization: top-9 projections beside their patches (Fig. 2)
    evolution.py               FeatureEvolution: projections during training (Fig. 4)
    invariance_curves.py       invariance: translation, rotation, scale (Fig. 5)
    architecture.py            first-layer filters, dead filters, spectra (Fig. 6)
    occlusion_maps.py          occlusion: occlusion sensitivity (Fig. 7); occlusion_attribution
    correspondence_table.py    correspondence: Delta_l from masking the same part (Table 1)
    discriminability_table.py  discriminability: softmax on frozen features of each layer (Table 7)
    ablation_table.py          ablation: layers removed or resized, retrained (Tables 2-3)
    feature_map_grids.py       feature_maps: every map of a layer for one image
    gradient_ascent.py         input patterns that maximize a map
    gradcam.py                 Grad-CAM class activation heatmaps
    probe.py, resample.py, figures.py   shared helpers

Every experiment returns arrays; each has a ``plot_...`` function that
writes a PNG (matplotlib, Agg) and returns its path. Models are read in
evaluation mode and left exactly as they were.
"""

from .ablation_table import AblationRow, ablation, format_rows, plot_ablation, rebuild, top_errors
from .architecture import FilterReport, compare_first_layers, filter_report, filter_spectrum, plot_first_layers
from .correspondence_table import (
    CorrespondenceTable, correspondence, format_table, mask_regions, plot_correspondence, sign_disagreements,
)
from .deconvnet import Deconvnet, Trace, down_through_conv, strongest_positions
from .discriminability_table import (
    SoftmaxClassifier, discriminability, extract_features, plot_discriminability, train_softmax,
)
from .evolution import FeatureEvolution, Snapshot, plot_evolution
from .feature_map_grids import feature_maps, plot_feature_maps
from .projection_grids import feature_visualization, plot_feature_visualization
from .gradcam import GradCam, grad_cam, plot_grad_cam
from .gradient_ascent import maximize_activation, plot_patterns
from .invariance_curves import InvarianceCurves, invariance, plot_invariance
from .occlusion_maps import OcclusionMaps, occlusion, occlusion_attribution, occlusion_starts, plot_occlusion
from .receptive_field import receptive_box, receptive_boxes
from .resample import resize_bilinear
from .topk import TopK, top_k, top_k_many

__all__ = [
    "Deconvnet", "Trace", "down_through_conv", "strongest_positions",
    "receptive_box", "receptive_boxes",
    "TopK", "top_k", "top_k_many",
    "feature_visualization", "plot_feature_visualization",
    "FeatureEvolution", "Snapshot", "plot_evolution",
    "InvarianceCurves", "invariance", "plot_invariance",
    "FilterReport", "filter_report", "filter_spectrum", "compare_first_layers", "plot_first_layers",
    "OcclusionMaps", "occlusion", "occlusion_attribution", "occlusion_starts", "plot_occlusion",
    "CorrespondenceTable", "correspondence", "mask_regions", "sign_disagreements", "format_table",
    "plot_correspondence",
    "SoftmaxClassifier", "extract_features", "train_softmax", "discriminability", "plot_discriminability",
    "AblationRow", "rebuild", "ablation", "top_errors", "format_rows", "plot_ablation",
    "feature_maps", "plot_feature_maps",
    "maximize_activation", "plot_patterns",
    "GradCam", "grad_cam", "plot_grad_cam",
    "resize_bilinear",
]
