"""What ``llmenv kb refresh`` reads each table from (the loader in ``llmenv.knowledge`` never imports this)."""
