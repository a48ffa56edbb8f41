"""The end-to-end fixtures (local stack, fake Fakturownia, a connected shop) of tests/stack."""

from stack.conftest import fake, shop, stack  # noqa: F401  (pytest finds fixtures by name)
from stack_guards import sqs_as_in_aws  # noqa: F401  (autouse)
