"""Model Registry: the catalogue of AI/LLM models (providers, limits, prices, capabilities)."""
