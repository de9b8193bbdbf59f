"""img2music_tf: emotion-guided image-to-music generation in Keras 3.

A reproduction of Kundu, Singh, Iwahori, "Emotion-Guided Image to Music
Generation" (arXiv 2410.22299). Data flows one way: files -> tokens -> batches
-> model -> tokens -> MIDI -> metrics/audio.
"""

__version__ = "0.1.0"
