"""Notebook source for the end-to-end tests: the bundled, trained shapes CNN
(``insight_widget.examples.shapes``) and its visualiser, written as a user would."""

SETUP = '''
import torch
import torch.nn.functional as F
from insight_widget import AttributionVisualizer, Batch, ImageFeature
from insight_widget.examples import shapes

torch.set_num_threads(1)
model = shapes.load_model()                          # eval mode, bundled weights
images, labels = shapes.make_dataset(64, seed=1)     # images in [0, 1], ready to show
dataset = [Batch(images[k:k + 8], labels[k:k + 8]) for k in range(0, 64, 8)]

def zeros(x):                                        # the normalised mean: average grey
    return x * 0

visualizer = AttributionVisualizer(
    models=[model], classes=shapes.CLASSES,
    features=[ImageFeature("Photo", baseline_transforms=[zeros],
                           input_transforms=[shapes.normalize])],
    dataset=dataset, score_func=lambda o: F.softmax(o, 1))
'''
