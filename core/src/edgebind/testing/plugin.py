"""pytest plugin for the Edgebind contract suite."""
