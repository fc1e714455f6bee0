"""An IAM subset: roles, their inline and attached policies, AWS managed policies as data, and
IAM's policy evaluation, used to authorise calls made with a function's role credentials."""
