"""EventBridge's rule API (JSON 1.1) for schedule rules and their targets."""
