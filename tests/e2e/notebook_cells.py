"""Notebook source for the end-to-end tests: a small CNN trained in a couple of seconds on
generated shapes, and its visualiser."""

SETUP = '''
import time
import torch
import torch.nn as nn
import torch.nn.functional as F
from insight_widget import AttributionVisualizer, Batch, ImageFeature

torch.manual_seed(0)
torch.set_num_threads(1)
CLASSES = ["horizontal bar", "vertical bar", "square"]

def make_shapes(n, seed):
    """3x32x32 images in [0, 1]: a bright bar or square at a random place on dim noise."""
    g = torch.Generator().manual_seed(seed)
    images = 0.25 * torch.rand(n, 3, 32, 32, generator=g)
    labels = torch.randint(0, 3, (n,), generator=g)
    colour = 0.6 + 0.4 * torch.rand(n, 3, generator=g)
    for i in range(n):
        y, x = (int(v) for v in torch.randint(4, 20, (2,), generator=g))
        h, w = {0: (4, 12), 1: (12, 4), 2: (9, 9)}[int(labels[i])]
        images[i, :, y:y + h, x:x + w] = colour[i].view(3, 1, 1)
    return images, labels

class ShapesNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.relu1 = nn.ReLU()
        self.pool1 = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(8, 16, 3, padding=1)
        self.relu2 = nn.ReLU()
        self.pool2 = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(16, 3)

    def forward(self, x):
        x = self.pool1(self.relu1(self.conv1(x)))
        return self.fc(self.pool2(self.relu2(self.conv2(x))).flatten(1))

model = ShapesNet()
images, labels = make_shapes(512, 0)
optimiser = torch.optim.Adam(model.parameters(), lr=0.01)
started = time.time()
while time.time() - started < 2.0:
    for k in range(0, 512, 64):
        loss = F.cross_entropy(model(images[k:k + 64]), labels[k:k + 64])
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
model.eval()
test_images, test_labels = make_shapes(64, 1)
dataset = [Batch(test_images[k:k + 8], test_labels[k:k + 8]) for k in range(0, 64, 8)]
visualizer = AttributionVisualizer(
    models=[model], classes=CLASSES,
    features=[ImageFeature("Photo", baseline_transforms=[lambda x: x * 0], input_transforms=[])],
    dataset=dataset, score_func=lambda o: F.softmax(o, 1))
'''
