"""Sub-commands of the ``fieldrec`` CLI: one module each, with ``register(subparsers)``.

A command's handler returns the process exit code: 0 done, 1 the job could not finish,
2 the command line or its inputs are wrong (``UsageError``).
"""


class UsageError(Exception):
    """The command line or an input named on it is wrong: exit code 2."""


class RunError(Exception):
    """The job could not finish (archive not writable, disk full): exit code 1."""
