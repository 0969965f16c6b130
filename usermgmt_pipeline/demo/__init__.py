"""A synthetic but realistic CASE dataset and a one-command demo on a local FerretDB."""
