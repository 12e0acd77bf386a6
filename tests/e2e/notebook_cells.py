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

# transformers' ResNet-50 architecture at ImageNet size (224x224, 1000 classes), seeded random
# weights from its config (no download), wrapped to return logits: the issue's "real model
# size" case
RESNET50_SETUP = '''
import torch
import torch.nn.functional as F
from transformers import ResNetConfig, ResNetForImageClassification
from insight_widget import AttributionVisualizer, Batch, ImageFeature

class Logits(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, pixel_values):
        return self.model(pixel_values=pixel_values).logits

torch.manual_seed(0)
model = Logits(ResNetForImageClassification(ResNetConfig(num_labels=1000))).eval()
images = torch.rand(4, 3, 224, 224, generator=torch.Generator().manual_seed(1))
visualizer = AttributionVisualizer(
    models=[model], classes=[f"class {i}" for i in range(1000)],
    features=[ImageFeature("Photo", baseline_transforms=[lambda x: x * 0], input_transforms=[])],
    dataset=[Batch(images, torch.arange(4))], score_func=lambda o: F.softmax(o, 1))
visualizer.render()
'''
