"""The networks of the paper (Section 3.3): image encoder, MIDI encoder, decoder, and the whole model.

Importing this package is cheap; Keras is imported by the submodules that need it.
"""
