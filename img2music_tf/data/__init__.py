"""Data: music and image sources with valence-arousal labels, emotion pairing, splits (paper Section 3.1).

Every source module (`eimg`, `emotion6`, `emid`, `builtin`, `folder`) has a
`load(source=None, ...) -> SourceResult`; `pairing` pairs music with images by
the paper's similarity score; `prepare` writes pairs and split as plain files.
"""
