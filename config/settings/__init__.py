"""Settings modules: base (shared), dev (make run), test (make test), production."""
