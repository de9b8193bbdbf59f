"""The study around the method: the drivers that reproduce the paper's artefacts, the demo, the GPU queue.

The method (data, tokens, models, losses, train, decode, render, metrics) never imports this package.
"""
