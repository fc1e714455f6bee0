"""Building function packages from a project's sources: Python, Node.js, Rust, Makefile, layers."""
