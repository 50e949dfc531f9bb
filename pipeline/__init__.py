"""fsenet: temporal sentiment localization in untrimmed videos (the pipeline's stages)."""

__version__ = "0.2.0"
