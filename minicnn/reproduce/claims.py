"""ZFNet's eight testable claims: what the paper says, where, and what minicnn measures.

Section numbers are those of the arXiv version, as docs/sources.md
("How the code cites papers") gives them; section 4 of that page retells
each experiment. The measurement of claim N is measure_*.py's; its verdict
is verdicts.py's function named in ``verdict``.
"""

import dataclasses


@dataclasses.dataclass(frozen=True)
class Claim:
    id: int
    title: str
    section: str          # where in ZFNet
    statement: str        # what the paper claims, in our words
    measured: str         # what minicnn measures, and on what
    verdict: str          # the function of verdicts.py that decides
    tutorial: str         # the tutorial that shows it at a small budget


CLAIMS = (
    Claim(1, "Top-9 images: class-specific at the top, generic at the bottom", "ZFNet section 4, Fig. 2",
          "The nine strongest activations of a map in a low layer come from images of many classes (it "
          "responds to generic patterns: edges, corners, textures); in higher layers they come from fewer "
          "classes (parts and whole objects of one class, in varied poses).",
          "For every map of layers 1-7 of each trained main network, the nine test images with the strongest "
          "activation (one unit per image, minicnn.visualize.topk); purity = the share of the nine in their "
          "commonest class, averaged over the maps that fire. The verdict compares layers 1-5, Fig. 2's.",
          "top9_verdict", "tutorials/08_deconvnet.py"),
    Claim(2, "Feature evolution: lower layers settle first", "ZFNet section 4, Fig. 4",
          "During training the lower layers' features converge within a few epochs; the upper layers only "
          "develop after many more (40-50 of 70 epochs).",
          "The main network's weights after every epoch. For each map, its response profile (its strongest "
          "activation on each of the probe test images) is correlated with the final epoch's; a layer has "
          "settled at the first epoch from which the mean correlation over its maps stays at or above "
          "0.9 (SETTLED_CORRELATION, measure_evolution.py). Also: the share of maps whose strongest image is "
          "already the final one.",
          "evolution_verdict", "tutorials/08_deconvnet.py"),
    Claim(3, "Invariance: the top layer changes less than layer 1", "ZFNet section 4, Fig. 5",
          "Small translations, scalings and rotations change the layer-1 feature vector a lot and the top "
          "(layer-7) one much less; the class probability is stable under translation and scaling but not "
          "under rotation (except for objects with rotational symmetry).",
          "Correctly classified test images shifted vertically, scaled and rotated (minicnn.visualize."
          "invariance_curves). Relative change ||f(Tx) - f(x)|| / ||f(x)|| of layer 1 and layer 7 under "
          "small transforms (ones that move the image's edge by about 4 of its 28 pixels at most: shifts up "
          "to 4 pixels, scalings 0.8-1.25, turns within 15 degrees), and the share of the true class's "
          "clean probability kept.",
          "invariance_verdict", "tutorials/09_occlusion_invariance.py"),
    Claim(4, "Architecture selection: a smaller first layer is better", "ZFNet section 4.1, Fig. 6",
          "AlexNet's first layer (11x11 filters, stride 4) has dead filters and high/low-frequency filters with "
          "little in between, and its large stride aliases the second layer's features; 7x7 filters with "
          "stride 2 fix both and lower the test error.",
          "zfnet_small with its own first layer (5x5, stride 1: ZFNet's choice at 28x28) against a 9x9, "
          "stride-2 one (AlexNet's, scaled: twice the stride, 11/7 the width), trained the same way. Test "
          "error; dead filters in layers 1 and 2; aliased first-layer filters (spectral energy beyond the "
          "stride's Nyquist frequency); layer-2 aliasing as the change of its spatially averaged features "
          "under 1-pixel shifts.",
          "architecture_verdict", "tutorials/10_architecture_selection.py"),
    Claim(5, "Occlusion: the network looks at the object", "ZFNet section 4.2, Fig. 7",
          "Covering the object with a grey square lowers the correct class's probability sharply; covering the "
          "background does not. Covering the part of the image that a top-layer map's deconvnet projection "
          "shows lowers that map's activity.",
          "An 8x8 square (the image's mean) moved 2 pixels at a time over correctly classified test images "
          "(minicnn.visualize.occlusion_maps). Drop of p(true class) where the square lies on the garment "
          "against on the background; relative drop of the strongest layer-5 map's summed activity where the "
          "square covers most of that map's deconvnet projection against where it covers the least.",
          "occlusion_verdict", "tutorials/09_occlusion_invariance.py"),
    Claim(6, "Ablation: depth matters more than any layer", "ZFNet section 5.1, Tables 2-3",
          "Removing the fully connected layers 6 and 7, or the middle convolutions 3 and 4, costs little; "
          "removing both costs a lot: the depth of the network matters more than any single layer.",
          "zfnet_small and four variants retrained from scratch the same way (layers 6-7 removed; 3-4 removed; "
          "both; 2-5 removed), top-1 test error over the seeds.",
          "ablation_verdict", "tutorials/11_transfer_and_depth.py"),
    Claim(7, "Discriminability rises with depth", "ZFNet section 5.3, Table 7",
          "A softmax trained on the frozen features of layer k classifies a new data set better the higher the "
          "layer, best at the top.",
          "zfnet_small pretrained on five classes (T-shirt/top .. Coat); a softmax trained on the frozen "
          "features of each of its layers 1-7 with a few images per class of the five other classes, tested on "
          "all their test images. Also on the pretraining classes, as evidence.",
          "discriminability_verdict", "tutorials/11_transfer_and_depth.py"),
    Claim(8, "Transfer: pretrained features beat training from scratch", "ZFNet section 5.2, Tables 4-5, Fig. 9",
          "Features pretrained on a large data set, with only a new softmax trained on a few images per class "
          "of a new data set, beat the same network trained from scratch on those images; the fewer the "
          "images, the larger the gap.",
          "The five-class network of claim 7: a new softmax on its frozen layer 7 trained with n images per "
          "new class, against zfnet_small trained from scratch on the same images, for several n; test "
          "accuracy on the new classes.",
          "transfer_verdict", "tutorials/11_transfer_and_depth.py"),
)

BY_ID = {claim.id: claim for claim in CLAIMS}
