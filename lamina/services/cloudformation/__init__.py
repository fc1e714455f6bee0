"""CloudFormation's read API over the stacks ``lamina up`` deployed (query protocol)."""
