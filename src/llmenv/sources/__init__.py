"""Where prebuilt wheels of CUDA extensions come from, and what their names say.

- :mod:`~llmenv.sources.catalog`: the known sources as data (format, URLs, mirroring, trust);
- :mod:`~llmenv.sources.normalize`: the local-version dialects of their file names -> one build description;
- :mod:`~llmenv.sources.listing`: what each source offers (the listings snapshot, bundled or refreshed);
- :mod:`~llmenv.sources.index`, :mod:`~llmenv.sources.releases`, :mod:`~llmenv.sources.local`: readers of
  simple / flat indexes, GitHub release assets and local folders (HTTP injected);
- :mod:`~llmenv.sources.refresh`: refresh the listings, all or nothing per source;
- :mod:`~llmenv.sources.facts`: listings made from the cited facts for hosts that cannot be reached.

Nothing here is imported by ``import llmenv.sources``: import the module you need.
"""
