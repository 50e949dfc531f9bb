"""What is known of ResEmoteNet without importing torch (extractors/resemotenet.py, the
network, imports it): the width of its face embedding and the class names of the
authors' checkpoints, so the face stream's config and identity need no network.
"""

from __future__ import annotations

EMBEDDING_DIM = 1024  # width of fc1, the face embedding

# Class orders of the authors' code (see extractors/resemotenet.py's docstring).
FER2013_LABELS: tuple[str, ...] = ("happy", "surprise", "sad", "anger", "disgust", "fear", "neutral")
# The 6-class variant (fc4 with 6 outputs, before commit fb67963): the same order without
# neutral, as in the FER2013 classification report of that time (RESULTS.md, removed in
# fb67963). The authors' scripts of that time disagree on the order of fear and disgust,
# so name the classes in config if your 6-class checkpoint says otherwise.
SIX_CLASS_LABELS: tuple[str, ...] = FER2013_LABELS[:6]
